package codec

// The PROXY protocol v1 text line (spec §2.1): parsed byte by byte, so a
// prefix gets the verdict the whole line would.

import "net/netip"

// v1 field kinds, for v1Field.
const (
	v1IPv4 = iota // dotted decimal
	v1IPv6        // RFC 4291 §2.2 text
	v1Port        // decimal 0–65535
)

// Longest v1 field of each kind: "255.255.255.255";
// "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255"; "65535".
const (
	v1MaxIPv4 = 15
	v1MaxIPv6 = 45
	v1MaxPort = 5
)

// parseProxyV1 parses a v1 line (spec §2.1) at the start of b.
func parseProxyV1(b []byte) (h ProxyHeader, n int, err error) {
	i, err := v1Literal(b, 0, "PROXY ", errV1Signature)
	if err != nil {
		return h, 0, err
	}
	c, err := v1Byte(b, i)
	if err != nil {
		return h, 0, err
	}
	addrKind, maxAddr := v1IPv4, v1MaxIPv4
	switch c {
	case 'U':
		return parseProxyV1Unknown(b, i)
	case 'T':
		if i, err = v1Literal(b, i, "TCP", errV1Protocol); err != nil {
			return h, 0, err
		}
		if c, err = v1Byte(b, i); err != nil {
			return h, 0, err
		}
		switch c {
		case '4':
		case '6':
			addrKind, maxAddr = v1IPv6, v1MaxIPv6
		default:
			return h, 0, errV1Protocol
		}
		if i, err = v1Literal(b, i+1, " ", errV1Protocol); err != nil {
			return h, 0, err
		}
	default:
		return h, 0, errV1Protocol
	}

	var src, dst netip.Addr
	var sport, dport uint16
	var f []byte
	if f, i, err = v1Field(b, i, addrKind, maxAddr, ' '); err != nil {
		return h, 0, err
	}
	if src, err = v1Addr(f, addrKind); err != nil {
		return h, 0, err
	}
	if f, i, err = v1Field(b, i, addrKind, maxAddr, ' '); err != nil {
		return h, 0, err
	}
	if dst, err = v1Addr(f, addrKind); err != nil {
		return h, 0, err
	}
	if f, i, err = v1Field(b, i, v1Port, v1MaxPort, ' '); err != nil {
		return h, 0, err
	}
	if sport, err = v1PortValue(f); err != nil {
		return h, 0, err
	}
	if f, i, err = v1Field(b, i, v1Port, v1MaxPort, '\r'); err != nil {
		return h, 0, err
	}
	if dport, err = v1PortValue(f); err != nil {
		return h, 0, err
	}
	if i, err = v1LF(b, i); err != nil {
		return h, 0, err
	}
	h.Source = netip.AddrPortFrom(src, sport)
	h.Dest = netip.AddrPortFrom(dst, dport)
	return h, i, nil
}

// parseProxyV1Unknown parses the rest of a v1 line from "UNKNOWN" at b[i]:
// the receiver ignores whatever precedes the CRLF (spec §2.1), but it must
// still come within MaxProxyV1Bytes and hold no bare CR or LF.
func parseProxyV1Unknown(b []byte, i int) (h ProxyHeader, n int, err error) {
	if i, err = v1Literal(b, i, "UNKNOWN", errV1Protocol); err != nil {
		return h, 0, err
	}
	c, err := v1Byte(b, i)
	if err != nil {
		return h, 0, err
	}
	if c != ' ' && c != '\r' {
		return h, 0, errV1Protocol
	}
	for c != '\r' {
		i++
		if c, err = v1Byte(b, i); err != nil {
			return h, 0, err
		}
		if c == '\n' {
			return h, 0, errV1LineEnd
		}
	}
	if i, err = v1LF(b, i+1); err != nil {
		return h, 0, err
	}
	return ProxyHeader{Local: true}, i, nil
}

// v1Byte returns b[i], ErrProxyIncomplete when b ends before it, or
// errV1TooLong when i is where only the final LF may stand, or past it (the
// final LF is read by v1LF). The length check comes first so that the
// verdict at a position does not depend on how much of b has arrived.
func v1Byte(b []byte, i int) (byte, error) {
	if i >= MaxProxyV1Bytes-1 {
		return 0, errV1TooLong
	}
	if i >= len(b) {
		return 0, ErrProxyIncomplete
	}
	return b[i], nil
}

// v1Literal matches lit at b[i:], byte by byte so a valid prefix is
// incomplete rather than wrong, and returns the index past it or fail.
func v1Literal(b []byte, i int, lit string, fail error) (int, error) {
	for j := 0; j < len(lit); j++ {
		c, err := v1Byte(b, i+j)
		if err != nil {
			return 0, err
		}
		if c != lit[j] {
			return 0, fail
		}
	}
	return i + len(lit), nil
}

// v1LF expects the LF of the final CRLF at b[i] and returns the line length.
func v1LF(b []byte, i int) (int, error) {
	switch {
	case i >= MaxProxyV1Bytes:
		return 0, errV1TooLong
	case i >= len(b):
		return 0, ErrProxyIncomplete
	case b[i] != '\n':
		return 0, errV1LineEnd
	}
	return i + 1, nil
}

// v1Field returns the field of the given kind that starts at b[i] and ends
// at the byte end, and the index past end. Until end arrives it checks only
// that each byte may appear in such a field and that the field is no longer
// than maxLen; the caller parses it whole.
func v1Field(b []byte, i, kind, maxLen int, end byte) (field []byte, next int, err error) {
	start := i
	for {
		c, err := v1Byte(b, i)
		if err != nil {
			return nil, 0, err
		}
		if c == end {
			return b[start:i], i + 1, nil
		}
		if c == '\r' || c == '\n' {
			return nil, 0, errV1LineEnd
		}
		if i-start == maxLen || !v1FieldByte(c, kind) {
			if kind == v1Port {
				return nil, 0, errV1Port
			}
			return nil, 0, errV1Address
		}
		i++
	}
}

// v1FieldByte reports whether c may appear in a v1 field of the given kind.
func v1FieldByte(c byte, kind int) bool {
	switch {
	case '0' <= c && c <= '9':
		return true
	case c == '.':
		return kind != v1Port
	case c == ':', 'a' <= c && c <= 'f', 'A' <= c && c <= 'F':
		return kind == v1IPv6
	}
	return false
}

// v1Addr parses a v1 address field of the given kind. A TCP6 line's
// IPv4-mapped address is unmapped: it is an IPv4 client.
func v1Addr(f []byte, kind int) (netip.Addr, error) {
	if kind == v1IPv4 {
		a, ok := parseIPv4(f)
		if !ok {
			return netip.Addr{}, errV1Address
		}
		return netip.AddrFrom4(a), nil
	}
	a, ok := parseIPv6(f)
	if !ok {
		return netip.Addr{}, errV1Address
	}
	return netip.AddrFrom16(a).Unmap(), nil
}

// v1PortValue parses a v1 port: decimal 0–65535 without a leading zero
// (spec §2.1, against confusion with octal).
func v1PortValue(f []byte) (uint16, error) {
	if len(f) == 0 || len(f) > 1 && f[0] == '0' {
		return 0, errV1Port
	}
	p := 0
	for _, c := range f {
		p = p*10 + int(c-'0') // v1Field let only digits through
	}
	if p > 0xffff {
		return 0, errV1Port
	}
	return uint16(p), nil
}

// parseIPv4 parses exactly four decimal octets 0–255 separated by single
// dots, without leading zeros (spec §2.1; netip.ParseAddr agrees, but takes
// a string, which a []byte cannot become without allocating).
func parseIPv4(s []byte) (ip [4]byte, ok bool) {
	field, val, digits := 0, 0, 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case '0' <= c && c <= '9':
			if digits == 1 && val == 0 {
				return ip, false // leading zero
			}
			val = val*10 + int(c-'0')
			digits++
			if val > 255 {
				return ip, false
			}
		case c == '.' && digits > 0 && field < 3:
			ip[field] = byte(val)
			field++
			val, digits = 0, 0
		default:
			return ip, false
		}
	}
	if field != 3 || digits == 0 {
		return ip, false
	}
	ip[3] = byte(val)
	return ip, true
}

// parseIPv6 parses an IPv6 address in any RFC 4291 §2.2 text form: groups
// of 1–4 hex digits, at most one "::" standing for at least one zero group,
// and an optional dotted IPv4 address as the last 32 bits. Zones are not
// accepted. The spec's "sets of 4 hexadecimal digits" (§2.1) is read as
// inet_pton does, since senders write inet_ntop's compressed form. The
// algorithm follows net/netip's parseIPv6 (BSD licence, The Go Authors).
func parseIPv6(s []byte) (ip [16]byte, ok bool) {
	ellipsis := -1 // index in ip where "::" stands
	if len(s) >= 2 && s[0] == ':' && s[1] == ':' {
		ellipsis = 0
		s = s[2:]
		if len(s) == 0 {
			return ip, true // "::"
		}
	}
	i := 0
	for i < 16 {
		off, acc := 0, 0
		for ; off < len(s); off++ {
			v, isHex := hexValue(s[off])
			if !isHex {
				break
			}
			if off == 4 {
				return ip, false // a group of more than 4 digits
			}
			acc = acc<<4 | int(v)
		}
		if off == 0 {
			return ip, false
		}
		if off < len(s) && s[off] == '.' {
			// The IPv4 tail: the rest of s, 4 bytes, ending the address.
			if ellipsis < 0 && i != 12 || i+4 > 16 {
				return ip, false
			}
			v4, ok := parseIPv4(s)
			if !ok {
				return ip, false
			}
			copy(ip[i:], v4[:])
			i += 4
			s = nil
			break
		}
		ip[i], ip[i+1] = byte(acc>>8), byte(acc)
		i += 2
		s = s[off:]
		if len(s) == 0 {
			break
		}
		if s[0] != ':' || len(s) == 1 {
			return ip, false
		}
		s = s[1:]
		if s[0] == ':' {
			if ellipsis >= 0 {
				return ip, false // a second "::"
			}
			ellipsis = i
			s = s[1:]
			if len(s) == 0 {
				break
			}
		}
	}
	if len(s) != 0 {
		return ip, false // more than 8 groups
	}
	if i < 16 {
		if ellipsis < 0 {
			return ip, false // fewer than 8 groups and no "::"
		}
		shift := 16 - i
		for j := i - 1; j >= ellipsis; j-- {
			ip[j+shift] = ip[j]
		}
		for j := ellipsis; j < ellipsis+shift; j++ {
			ip[j] = 0
		}
	} else if ellipsis >= 0 {
		return ip, false // "::" standing for no group
	}
	return ip, true
}

// hexValue returns the value of the hex digit c.
func hexValue(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}
