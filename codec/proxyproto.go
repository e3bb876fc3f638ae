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
