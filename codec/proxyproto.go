package codec

// The PROXY protocol header that a load balancer in front of throng puts
// before a client's bytes, and that throng puts before its own to a backend
// (haproxy.org's proxy-protocol.txt, "the spec" below: §2.1 the v1 text
// line, §2.2 the v2 binary header).

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"strconv"
)

// ProxyVersion selects which PROXY header a listener expects or a dial
// writes. The zero value is ProxyOff.
type ProxyVersion uint8

const (
	// ProxyOff is no PROXY header at all.
	ProxyOff ProxyVersion = iota
	// ProxyV1 is the text line, "PROXY TCP4 <src> <dst> <sport> <dport>\r\n"
	// (spec §2.1).
	ProxyV1
	// ProxyV2 is the binary header: a 16-byte fixed part and an address
	// block (spec §2.2).
	ProxyV2
)

// String returns the config spelling of v: "off", "v1" or "v2".
func (v ProxyVersion) String() string {
	switch v {
	case ProxyOff:
		return "off"
	case ProxyV1:
		return "v1"
	case ProxyV2:
		return "v2"
	}
	return "ProxyVersion(" + strconv.Itoa(int(v)) + ")"
}

// ParseProxyVersion maps the config spellings "off", "v1" and "v2" to a
// ProxyVersion. The empty string is ProxyOff, as config takes a missing key
// to mean the default. Anything else is ErrProxyVersion.
func ParseProxyVersion(s string) (ProxyVersion, error) {
	switch s {
	case "off", "":
		return ProxyOff, nil
	case "v1":
		return ProxyV1, nil
	case "v2":
		return ProxyV2, nil
	}
	return ProxyOff, ErrProxyVersion
}

// MaxProxyV1Bytes is the longest v1 line, CRLF included: the spec's
// "PROXY UNKNOWN" worst case with two full IPv6 addresses (§2.1). A line
// whose CRLF is not within it is refused.
const MaxProxyV1Bytes = 107

// MaxProxyV2Bytes is the longest v2 header accepted, the 16 fixed bytes
// included. The spec allows 16+65535; TLVs after the addresses (ALPN, SNI,
// a cloud's endpoint ID) take tens of bytes in practice, and the limit keeps
// what a connection can make the loop buffer before it is known small.
const MaxProxyV2Bytes = 1024

// ProxyHeader is a parsed PROXY header.
type ProxyHeader struct {
	// Local is a v2 LOCAL or a v1 UNKNOWN header: it carries no address,
	// so the socket's own are the connection's (a balancer's health check,
	// or a protocol the sender could not describe). Source and Dest are
	// then zero.
	Local bool
	// Source is the original client. An IPv4 address is unmapped even
	// where the header carried it mapped into IPv6 (TCP6 with ::ffff:a.b.c.d).
	Source netip.AddrPort
	// Dest is the address the client connected to, unmapped the same way.
	Dest netip.AddrPort
}

var (
	// ErrProxyIncomplete is returned by ParseProxyHeader while its input is
	// a valid start of a header: read more, then call again with all the
	// bytes.
	ErrProxyIncomplete = errors.New("codec: PROXY header incomplete")
	// ErrProxyHeader is a PROXY header that is not valid, or not one throng
	// accepts: the connection is to be closed, as the spec asks (§2.1). The
	// errors ParseProxyHeader returns wrap it and say what was wrong;
	// compare them with errors.Is.
	ErrProxyHeader = errors.New("codec: bad PROXY header")
	// ErrProxyVersion is a PROXY protocol mode other than off, v1 and v2,
	// returned by ParseProxyVersion.
	ErrProxyVersion = errors.New("codec: PROXY protocol version is not off, v1 or v2")
)

// detailError is a preallocated error that says more than the sentinel it
// wraps, for the log, without being built per connection.
type detailError struct {
	msg  string
	kind error // the exported sentinel: errors.Is matches it
}

// Error returns the log message. It does not allocate.
func (e *detailError) Error() string { return e.msg }

// Unwrap returns the sentinel e details.
func (e *detailError) Unwrap() error { return e.kind }

// ParseProxyHeader's failures, each wrapping ErrProxyHeader.
var (
	errProxyMode    = &detailError{"codec: bad PROXY header: unknown ProxyVersion", ErrProxyHeader}
	errV1Signature  = &detailError{"codec: bad PROXY header: v1 line does not start with \"PROXY \"", ErrProxyHeader}
	errV1Protocol   = &detailError{"codec: bad PROXY header: v1 protocol is not TCP4, TCP6 or UNKNOWN followed by one space", ErrProxyHeader}
	errV1TooLong    = &detailError{"codec: bad PROXY header: v1 line has no CRLF within 107 bytes", ErrProxyHeader}
	errV1LineEnd    = &detailError{"codec: bad PROXY header: v1 line ends early or holds a bare CR or LF", ErrProxyHeader}
	errV1Address    = &detailError{"codec: bad PROXY header: v1 address malformed or not of the line's family", ErrProxyHeader}
	errV1Port       = &detailError{"codec: bad PROXY header: v1 port malformed", ErrProxyHeader}
	errV2Signature  = &detailError{"codec: bad PROXY header: no v2 signature", ErrProxyHeader}
	errV2Version    = &detailError{"codec: bad PROXY header: v2 version is not 2", ErrProxyHeader}
	errV2Command    = &detailError{"codec: bad PROXY header: v2 command is not LOCAL or PROXY", ErrProxyHeader}
	errV2Family     = &detailError{"codec: bad PROXY header: v2 PROXY family is not TCP over IPv4 or IPv6", ErrProxyHeader}
	errV2TooLong    = &detailError{"codec: bad PROXY header: v2 header longer than MaxProxyV2Bytes", ErrProxyHeader}
	errV2AddrLength = &detailError{"codec: bad PROXY header: v2 length does not cover the addresses", ErrProxyHeader}
)

// ParseProxyHeader parses the PROXY header at the start of b, which must be
// of version v (the spec forbids guessing whether one is there, §2). It
// returns the header and its length n; b[n:] is the client's first byte.
//
// While b is a valid start of a header, it returns ErrProxyIncomplete: the
// caller reads more and calls again with all the bytes. Anything that is not
// the start of a header throng accepts is an error wrapping ErrProxyHeader,
// returned as soon as the bytes show it: a wrong signature; a v1 line with a
// protocol other than TCP4, TCP6 or UNKNOWN, with a field not separated by
// exactly one space, with a bare CR or LF, or without its CRLF within
// MaxProxyV1Bytes; a v1 address not in the line's family, with an IPv6 zone,
// or an IPv4 octet or port with a leading zero (the spec forbids them, §2.1);
// a port over 65535; a v2 version other than 2, a command other than LOCAL
// and PROXY, a PROXY family other than TCP over IPv4 or IPv6 (UDP and UNIX
// are refused; LOCAL's family is ignored, §2.2), a length that does not cover
// the addresses, or a header longer than MaxProxyV2Bytes. Within one v1 field
// only the characters and length are checked until its end arrives, so the
// verdict on a malformed address may wait for the space after it.
//
// v2 TLVs are skipped unread. With v == ProxyOff there is no header: it
// returns a Local header and n == 0.
//
// It does not allocate; h does not refer to b.
func ParseProxyHeader(b []byte, v ProxyVersion) (h ProxyHeader, n int, err error) {
	switch v {
	case ProxyV1:
		return parseProxyV1(b)
	case ProxyV2:
		return parseProxyV2(b)
	case ProxyOff:
		return ProxyHeader{Local: true}, 0, nil
	}
	return ProxyHeader{}, 0, errProxyMode
}

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

// v2 header layout (spec §2.2).
const (
	proxyV2Sig      = "\r\n\r\n\x00\r\nQUIT\n" // the 12-byte signature
	proxyV2Fixed    = 16                       // signature, ver_cmd, fam, len
	proxyV2Local    = 0x20                     // version 2, command LOCAL
	proxyV2Proxy    = 0x21                     // version 2, command PROXY
	proxyV2TCP4     = 0x11                     // AF_INET, STREAM
	proxyV2TCP6     = 0x21                     // AF_INET6, STREAM
	proxyV2Unspec   = 0x00                     // AF_UNSPEC, UNSPEC
	proxyV2TCP4Addr = 2*4 + 2*2                // addresses and ports
	proxyV2TCP6Addr = 2*16 + 2*2
)

// parseProxyV2 parses a v2 header (spec §2.2) at the start of b. Each byte
// is judged as soon as it is there, so a prefix gets the verdict the whole
// header would, or ErrProxyIncomplete.
func parseProxyV2(b []byte) (h ProxyHeader, n int, err error) {
	for i := 0; i < len(proxyV2Sig); i++ {
		if i == len(b) {
			return h, 0, ErrProxyIncomplete
		}
		if b[i] != proxyV2Sig[i] {
			return h, 0, errV2Signature
		}
	}
	if len(b) <= 12 {
		return h, 0, ErrProxyIncomplete
	}
	if b[12]>>4 != 2 {
		return h, 0, errV2Version
	}
	local := b[12] == proxyV2Local
	if !local && b[12] != proxyV2Proxy {
		return h, 0, errV2Command
	}
	if len(b) <= 13 {
		return h, 0, ErrProxyIncomplete
	}
	addrLen := 0
	if !local {
		switch b[13] {
		case proxyV2TCP4:
			addrLen = proxyV2TCP4Addr
		case proxyV2TCP6:
			addrLen = proxyV2TCP6Addr
		default:
			return h, 0, errV2Family
		}
	}
	if len(b) <= 14 {
		return h, 0, ErrProxyIncomplete
	}
	// The length's high byte alone can put the header over the limit.
	if proxyV2Fixed+int(b[14])<<8 > MaxProxyV2Bytes {
		return h, 0, errV2TooLong
	}
	if len(b) <= 15 {
		return h, 0, ErrProxyIncomplete
	}
	length := int(binary.BigEndian.Uint16(b[14:16]))
	n = proxyV2Fixed + length
	if n > MaxProxyV2Bytes {
		return h, 0, errV2TooLong
	}
	if length < addrLen {
		return h, 0, errV2AddrLength
	}
	if len(b) < n {
		return h, 0, ErrProxyIncomplete
	}
	if local {
		// The receiver must discard the block, family included (§2.2).
		return ProxyHeader{Local: true}, n, nil
	}
	a := b[proxyV2Fixed:n]
	if addrLen == proxyV2TCP4Addr {
		h.Source = netip.AddrPortFrom(netip.AddrFrom4([4]byte(a[0:4])), binary.BigEndian.Uint16(a[8:10]))
		h.Dest = netip.AddrPortFrom(netip.AddrFrom4([4]byte(a[4:8])), binary.BigEndian.Uint16(a[10:12]))
	} else {
		h.Source = netip.AddrPortFrom(netip.AddrFrom16([16]byte(a[0:16])).Unmap(), binary.BigEndian.Uint16(a[32:34]))
		h.Dest = netip.AddrPortFrom(netip.AddrFrom16([16]byte(a[16:32])).Unmap(), binary.BigEndian.Uint16(a[34:36]))
	}
	return h, n, nil
}

// proxyAddrs readies src and dst for a header: unmapped, since a dual-stack
// socket reports an IPv4 peer as ::ffff:a.b.c.d, and without a zone, which
// the header cannot carry. v4 is true when both are IPv4 (TCP4); otherwise
// an IPv4 one is mapped into IPv6, as HAProxy does for mixed families. ok is
// false when either is invalid.
func proxyAddrs(src, dst netip.AddrPort) (s, d netip.Addr, v4, ok bool) {
	s, d = src.Addr().Unmap().WithZone(""), dst.Addr().Unmap().WithZone("")
	if !s.IsValid() || !d.IsValid() {
		return s, d, false, false
	}
	if s.Is4() && d.Is4() {
		return s, d, true, true
	}
	return netip.AddrFrom16(s.As16()), netip.AddrFrom16(d.As16()), false, true
}

// AppendProxyV1 appends to b the v1 line for a TCP connection from src to
// dst (spec §2.1): TCP4 when both are IPv4 (IPv4-mapped ones count as IPv4),
// else TCP6 with an IPv4 address mapped into IPv6; zones are dropped. When
// either address is invalid it appends "PROXY UNKNOWN\r\n", so the receiver
// uses the socket's addresses. It does not allocate when b has room for
// MaxProxyV1Bytes more.
func AppendProxyV1(b []byte, src, dst netip.AddrPort) []byte {
	s, d, v4, ok := proxyAddrs(src, dst)
	switch {
	case !ok:
		return append(b, "PROXY UNKNOWN\r\n"...)
	case v4:
		b = append(b, "PROXY TCP4 "...)
	default:
		b = append(b, "PROXY TCP6 "...)
	}
	b = s.AppendTo(b)
	b = append(b, ' ')
	b = d.AppendTo(b)
	b = append(b, ' ')
	b = strconv.AppendUint(b, uint64(src.Port()), 10)
	b = append(b, ' ')
	b = strconv.AppendUint(b, uint64(dst.Port()), 10)
	return append(b, '\r', '\n')
}

// AppendProxyV2 appends to b the v2 header for a TCP connection from src to
// dst (spec §2.2), without TLVs: TCP over IPv4 when both are IPv4
// (IPv4-mapped ones count as IPv4), else TCP over IPv6 with an IPv4 address
// mapped into IPv6; zones are dropped. When either address is invalid it
// appends a LOCAL header with no addresses, as HAProxy does, so the
// receiver uses the socket's. It does not allocate when b has room for 52
// more bytes.
func AppendProxyV2(b []byte, src, dst netip.AddrPort) []byte {
	s, d, v4, ok := proxyAddrs(src, dst)
	b = append(b, proxyV2Sig...)
	switch {
	case !ok:
		return append(b, proxyV2Local, proxyV2Unspec, 0, 0)
	case v4:
		b = append(b, proxyV2Proxy, proxyV2TCP4, 0, proxyV2TCP4Addr)
		sa, da := s.As4(), d.As4()
		b = append(b, sa[:]...)
		b = append(b, da[:]...)
	default:
		b = append(b, proxyV2Proxy, proxyV2TCP6, 0, proxyV2TCP6Addr)
		sa, da := s.As16(), d.As16()
		b = append(b, sa[:]...)
		b = append(b, da[:]...)
	}
	b = binary.BigEndian.AppendUint16(b, src.Port())
	return binary.BigEndian.AppendUint16(b, dst.Port())
}
