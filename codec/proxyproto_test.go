package codec

import (
	"bytes"
	"encoding/binary"
	"errors"
	"net/netip"
	"strings"
	"testing"
)

// ppV2 builds a v2 header: the signature, verCmd, fam, the length of rest,
// then rest.
func ppV2(verCmd, fam byte, rest ...[]byte) []byte {
	body := bytes.Join(rest, nil)
	b := append([]byte(proxyV2Sig), verCmd, fam)
	b = binary.BigEndian.AppendUint16(b, uint16(len(body)))
	return append(b, body...)
}

// ppAddrs4 and ppAddrs6 build v2 address blocks.
func ppAddrs4(src, dst string, sport, dport uint16) []byte {
	s, d := netip.MustParseAddr(src).As4(), netip.MustParseAddr(dst).As4()
	b := append(s[:], d[:]...)
	b = binary.BigEndian.AppendUint16(b, sport)
	return binary.BigEndian.AppendUint16(b, dport)
}

func ppAddrs6(src, dst string, sport, dport uint16) []byte {
	s, d := netip.MustParseAddr(src).As16(), netip.MustParseAddr(dst).As16()
	b := append(s[:], d[:]...)
	b = binary.BigEndian.AppendUint16(b, sport)
	return binary.BigEndian.AppendUint16(b, dport)
}

// ppHeader is the header of a connection from src to dst ("addr:port").
func ppHeader(src, dst string) ProxyHeader {
	return ProxyHeader{Source: netip.MustParseAddrPort(src), Dest: netip.MustParseAddrPort(dst)}
}

// ppCheckPrefixes checks that every proper prefix of in parses as
// incomplete, or, when the whole fails, with the same error as the whole.
func ppCheckPrefixes(t *testing.T, in []byte, v ProxyVersion) {
	t.Helper()
	_, n, whole := ParseProxyHeader(in, v)
	if whole == nil {
		in = in[:n]
	}
	for k := range len(in) {
		if _, _, err := ParseProxyHeader(in[:k], v); err != ErrProxyIncomplete && err != whole {
			t.Fatalf("prefix of %d bytes: got %v, want %v or %v", k, err, ErrProxyIncomplete, whole)
		}
	}
}

func TestParseProxyV1(t *testing.T) {
	full6 := "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"
	worst := "PROXY UNKNOWN " + full6 + " " + full6 + " 65535 65535\r\n"
	tests := []struct {
		name string
		in   string
		want ProxyHeader
		n    int // 0: len(in)
	}{
		{"spec example", "PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n", ppHeader("192.168.0.1:56324", "192.168.0.11:443"), 0},
		{"data after", "PROXY TCP4 192.0.2.1 198.51.100.2 1 2\r\nGET / HTTP/1.1\r\n", ppHeader("192.0.2.1:1", "198.51.100.2:2"), 39},
		{"longest TCP4", "PROXY TCP4 255.255.255.255 255.255.255.255 65535 65535\r\n", ppHeader("255.255.255.255:65535", "255.255.255.255:65535"), 0},
		{"zeros", "PROXY TCP4 0.0.0.0 10.0.0.1 0 0\r\n", ppHeader("0.0.0.0:0", "10.0.0.1:0"), 0},
		{"TCP6", "PROXY TCP6 2001:db8::1 2001:db8::2 49152 443\r\n", ppHeader("[2001:db8::1]:49152", "[2001:db8::2]:443"), 0},
		{"TCP6 longest", "PROXY TCP6 " + full6 + " " + full6 + " 65535 65535\r\n", ppHeader("["+full6+"]:65535", "["+full6+"]:65535"), 0},
		{"TCP6 upper case", "PROXY TCP6 2001:DB8:0:0:0:0:0:A ::1 1 2\r\n", ppHeader("[2001:db8::a]:1", "[::1]:2"), 0},
		{"TCP6 unspecified", "PROXY TCP6 :: ::1 1 2\r\n", ppHeader("[::]:1", "[::1]:2"), 0},
		{"TCP6 mapped is unmapped", "PROXY TCP6 ::ffff:192.0.2.1 2001:db8::2 1 2\r\n", ppHeader("192.0.2.1:1", "[2001:db8::2]:2"), 0},
		{"TCP6 mapped hex", "PROXY TCP6 ::ffff:c000:201 ::ffff:c000:202 1 2\r\n", ppHeader("192.0.2.1:1", "192.0.2.2:2"), 0},
		{"TCP6 IPv4 tail", "PROXY TCP6 64:ff9b::192.0.2.1 ::1 1 2\r\n", ppHeader("[64:ff9b::c000:201]:1", "[::1]:2"), 0},
		{"TCP6 IPv4 tails", "PROXY TCP6 1:2:3:4:5:6:255.255.255.255 1:2:3:4:5:6:1.2.3.4 65535 65535\r\n",
			ppHeader("[1:2:3:4:5:6:ffff:ffff]:65535", "[1:2:3:4:5:6:102:304]:65535"), 0},
		{"UNKNOWN", "PROXY UNKNOWN\r\n", ProxyHeader{Local: true}, 0},
		{"UNKNOWN with fields", "PROXY UNKNOWN 192.0.2.1 192.0.2.2 1 2\r\nGET", ProxyHeader{Local: true}, 39},
		{"UNKNOWN ignores the rest", "PROXY UNKNOWN anything at all\r\n", ProxyHeader{Local: true}, 0},
		{"UNKNOWN of 107 bytes", worst, ProxyHeader{Local: true}, 0},
	}
	if len(worst) != MaxProxyV1Bytes {
		t.Fatalf("worst case is %d bytes, want %d", len(worst), MaxProxyV1Bytes)
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			want := tc.n
			if want == 0 {
				want = len(tc.in)
			}
			h, n, err := ParseProxyHeader([]byte(tc.in), ProxyV1)
			if err != nil || n != want || h != tc.want {
				t.Fatalf("got %+v, %d, %v; want %+v, %d, nil", h, n, err, tc.want, want)
			}
			ppCheckPrefixes(t, []byte(tc.in), ProxyV1)
		})
	}
}

func TestParseProxyV1Errors(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want error
	}{
		{"HTTP", "GET / HTTP/1.1\r\n", errV1Signature},
		{"lower case", "proxy TCP4 1.2.3.4 5.6.7.8 1 2\r\n", errV1Signature},
		{"v2 signature", proxyV2Sig, errV1Signature},
		{"two spaces after PROXY", "PROXY  TCP4 1.2.3.4 5.6.7.8 1 2\r\n", errV1Protocol},
		{"TCP5", "PROXY TCP5 1.2.3.4 5.6.7.8 1 2\r\n", errV1Protocol},
		{"tcp4", "PROXY tcp4 1.2.3.4 5.6.7.8 1 2\r\n", errV1Protocol},
		{"UDP4", "PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n", errV1Protocol},
		{"TCP4 then CRLF", "PROXY TCP4\r\n", errV1Protocol},
		{"UNKNOWNX", "PROXY UNKNOWNX\r\n", errV1Protocol},
		{"two spaces before address", "PROXY TCP4  1.2.3.4 5.6.7.8 1 2\r\n", errV1Address},
		{"two spaces between addresses", "PROXY TCP4 1.2.3.4  5.6.7.8 1 2\r\n", errV1Address},
		{"two spaces before port", "PROXY TCP4 1.2.3.4 5.6.7.8  1 2\r\n", errV1Port},
		{"space before CRLF", "PROXY TCP4 1.2.3.4 5.6.7.8 1 2 \r\n", errV1Port},
		{"tab", "PROXY TCP4\t1.2.3.4 5.6.7.8 1 2\r\n", errV1Protocol},
		{"missing CR", "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n", errV1LineEnd},
		{"missing LF", "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\rGET", errV1LineEnd},
		{"CR mid line", "PROXY TCP4 1.2.3.4\r5.6.7.8 1 2\r\n", errV1LineEnd},
		{"UNKNOWN missing CR", "PROXY UNKNOWN\n", errV1Protocol},
		{"UNKNOWN bare LF", "PROXY UNKNOWN x\ny\r\n", errV1LineEnd},
		{"UNKNOWN bare CR", "PROXY UNKNOWN x\ry\r\n", errV1LineEnd},
		{"UNKNOWN of 108 bytes", "PROXY UNKNOWN " + strings.Repeat("a", 92) + "\r\n", errV1TooLong},
		{"no CRLF in 107 bytes", "PROXY UNKNOWN " + strings.Repeat("a", 93), errV1TooLong},
		{"TCP6 over 107 bytes", "PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255 ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255 65535 65535\r\n", errV1TooLong},
		{"port 65536", "PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n", errV1Port},
		{"port 99999", "PROXY TCP4 1.2.3.4 5.6.7.8 1 99999\r\n", errV1Port},
		{"port of 6 digits", "PROXY TCP4 1.2.3.4 5.6.7.8 100000 2\r\n", errV1Port},
		{"port leading zero", "PROXY TCP4 1.2.3.4 5.6.7.8 080 2\r\n", errV1Port},
		{"port 00", "PROXY TCP4 1.2.3.4 5.6.7.8 1 00\r\n", errV1Port},
		{"port sign", "PROXY TCP4 1.2.3.4 5.6.7.8 +1 2\r\n", errV1Port},
		{"port hex", "PROXY TCP4 1.2.3.4 5.6.7.8 1 a\r\n", errV1Port},
		{"missing port", "PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n", errV1LineEnd},
		{"octet leading zero", "PROXY TCP4 01.2.3.4 5.6.7.8 1 2\r\n", errV1Address},
		{"octet 00", "PROXY TCP4 1.2.3.00 5.6.7.8 1 2\r\n", errV1Address},
		{"octet 256", "PROXY TCP4 1.2.3.256 5.6.7.8 1 2\r\n", errV1Address},
		{"three octets", "PROXY TCP4 1.2.3 5.6.7.8 1 2\r\n", errV1Address},
		{"five octets", "PROXY TCP4 1.2.3.4.5 5.6.7.8 1 2\r\n", errV1Address},
		{"empty octet", "PROXY TCP4 1..3.4 5.6.7.8 1 2\r\n", errV1Address},
		{"trailing dot", "PROXY TCP4 1.2.3. 5.6.7.8 1 2\r\n", errV1Address},
		{"IPv4 field too long", "PROXY TCP4 1.2.3.4444444444444 5.6.7.8 1 2\r\n", errV1Address},
		{"TCP4 with IPv6", "PROXY TCP4 ::1 5.6.7.8 1 2\r\n", errV1Address},
		{"TCP6 with IPv4", "PROXY TCP6 1.2.3.4 ::1 1 2\r\n", errV1Address},
		{"TCP6 zone", "PROXY TCP6 fe80::1%eth0 ::1 1 2\r\n", errV1Address},
		{"TCP6 brackets", "PROXY TCP6 [::1] ::1 1 2\r\n", errV1Address},
		{"TCP6 two ellipses", "PROXY TCP6 1::2::3 ::1 1 2\r\n", errV1Address},
		{"TCP6 five digits", "PROXY TCP6 12345::1 ::1 1 2\r\n", errV1Address},
		{"TCP6 nine groups", "PROXY TCP6 1:2:3:4:5:6:7:8:9 ::1 1 2\r\n", errV1Address},
		{"TCP6 seven groups", "PROXY TCP6 1:2:3:4:5:6:7 ::1 1 2\r\n", errV1Address},
		{"TCP6 empty ellipsis", "PROXY TCP6 1:2:3:4:5:6:7::8 ::1 1 2\r\n", errV1Address},
		{"TCP6 trailing colon", "PROXY TCP6 1:: ::1: 1 2\r\n", errV1Address},
		{"TCP6 leading colon", "PROXY TCP6 :1::2 ::1 1 2\r\n", errV1Address},
		{"TCP6 IPv4 tail too early", "PROXY TCP6 1:2:3:4:5:1.2.3.4 ::1 1 2\r\n", errV1Address},
		{"TCP6 IPv4 tail leading zero", "PROXY TCP6 ::ffff:1.2.3.04 ::1 1 2\r\n", errV1Address},
		{"NUL", "PROXY TCP4 1.2.3.4\x005.6.7.8 1 2\r\n", errV1Address},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h, n, err := ParseProxyHeader([]byte(tc.in), ProxyV1)
			if err != tc.want || (err != nil && (n != 0 || h != ProxyHeader{})) {
				t.Fatalf("got %+v, %d, %v; want error %v", h, n, err, tc.want)
			}
			if err != nil && !errors.Is(err, ErrProxyHeader) {
				t.Fatalf("%v does not match ErrProxyHeader", err)
			}
			ppCheckPrefixes(t, []byte(tc.in), ProxyV1)
		})
	}
}

func TestParseProxyV1FailsEarly(t *testing.T) {
	// A prefix that no header can continue is refused without waiting for
	// the line end.
	tests := []struct {
		in   string
		want error
	}{
		{"G", errV1Signature},
		{"PROXY X", errV1Protocol},
		{"PROXY TCP7", errV1Protocol},
		{"PROXY TCP4 1.2.3.4:", errV1Address},
		{"PROXY TCP4 1.2.3.4 5.6.7.8 123456", errV1Port},
		{"PROXY TCP6 ::1\n", errV1LineEnd},
		{"PROXY UNKNOWN " + strings.Repeat("a", 92), errV1TooLong},
	}
	for _, tc := range tests {
		if _, _, err := ParseProxyHeader([]byte(tc.in), ProxyV1); err != tc.want {
			t.Errorf("%q: got %v, want %v", tc.in, err, tc.want)
		}
	}
}

func TestParseIPv6MatchesNetip(t *testing.T) {
	for _, s := range []string{
		"::", "::1", "1::", "1::2", "::ffff:1.2.3.4", "1:2:3:4:5:6:7:8", "1:2:3:4:5:6::8", "1:2:3:4:5:6:1.2.3.4",
		"::1.2.3.4", "1::1.2.3.4", "0000:0000:0000:0000:0000:0000:0000:0001", "fe80::1", "FE80::ABCD",
		":", ":::", "1:", ":1", "1::2::3", "12345::", "1:2:3:4:5:6:7:8:9", "1:2:3:4:5:6:7", "1:2:3:4:5:6:7::8",
		"::1.2.3", "::1.2.3.4.5", "1.2.3.4", "::1.2.3.4:1", "1:2:3:4:5:6:7:1.2.3.4", "::01.2.3.4", "g::", "",
		"::ffff:255.255.255.255", "1::2:3:4:5:6:7", "::2:3:4:5:6:7:8", "1:2:3:4:5:6:7::",
	} {
		want, err := netip.ParseAddr(s)
		ip, ok := parseIPv6([]byte(s))
		wantOK := err == nil && want.Is6() && want.Zone() == ""
		if ok != wantOK || ok && netip.AddrFrom16(ip) != want {
			t.Errorf("parseIPv6(%q) = %v, %v; netip: %v, %v", s, netip.AddrFrom16(ip), ok, want, err)
		}
	}
}

func TestParseProxyV2(t *testing.T) {
	tlvs := []byte{0x01, 0, 2, 'h', '2', 0x04, 0, 3, 0, 0, 0} // ALPN "h2", NOOP of 3
	unixAddrs := make([]byte, 216)
	tests := []struct {
		name string
		in   []byte
		want ProxyHeader
		n    int // 0: len(in)
	}{
		{"TCP4", ppV2(0x21, 0x11, ppAddrs4("192.0.2.1", "198.51.100.2", 56324, 443)), ppHeader("192.0.2.1:56324", "198.51.100.2:443"), 0},
		{"TCP4 data after", append(ppV2(0x21, 0x11, ppAddrs4("192.0.2.1", "198.51.100.2", 1, 2)), "GET"...), ppHeader("192.0.2.1:1", "198.51.100.2:2"), 28},
		{"TCP6", ppV2(0x21, 0x21, ppAddrs6("2001:db8::1", "2001:db8::2", 1, 65535)), ppHeader("[2001:db8::1]:1", "[2001:db8::2]:65535"), 0},
		{"TCP6 mapped is unmapped", ppV2(0x21, 0x21, ppAddrs6("::ffff:192.0.2.1", "2001:db8::2", 1, 2)), ppHeader("192.0.2.1:1", "[2001:db8::2]:2"), 0},
		{"TCP4 TLVs skipped", ppV2(0x21, 0x11, ppAddrs4("192.0.2.1", "198.51.100.2", 1, 2), tlvs), ppHeader("192.0.2.1:1", "198.51.100.2:2"), 0},
		{"TCP6 TLVs skipped", ppV2(0x21, 0x21, ppAddrs6("2001:db8::1", "::1", 1, 2), tlvs), ppHeader("[2001:db8::1]:1", "[::1]:2"), 0},
		{"TCP4 longest", ppV2(0x21, 0x11, ppAddrs4("192.0.2.1", "198.51.100.2", 1, 2), make([]byte, MaxProxyV2Bytes-16-12)), ppHeader("192.0.2.1:1", "198.51.100.2:2"), 0},
		{"LOCAL", ppV2(0x20, 0x00), ProxyHeader{Local: true}, 0},
		{"LOCAL with addresses", ppV2(0x20, 0x11, ppAddrs4("192.0.2.1", "198.51.100.2", 1, 2)), ProxyHeader{Local: true}, 0},
		{"LOCAL UNIX ignored", ppV2(0x20, 0x31, unixAddrs), ProxyHeader{Local: true}, 0},
		{"LOCAL unknown family ignored", ppV2(0x20, 0xff, []byte{1, 2, 3}), ProxyHeader{Local: true}, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			want := tc.n
			if want == 0 {
				want = len(tc.in)
			}
			h, n, err := ParseProxyHeader(tc.in, ProxyV2)
			if err != nil || n != want || h != tc.want {
				t.Fatalf("got %+v, %d, %v; want %+v, %d, nil", h, n, err, tc.want, want)
			}
			// Truncated at every length, a valid header is incomplete.
			for k := range want {
				if _, _, err := ParseProxyHeader(tc.in[:k], ProxyV2); err != ErrProxyIncomplete {
					t.Fatalf("truncated to %d bytes: got %v, want %v", k, err, ErrProxyIncomplete)
				}
			}
		})
	}
}

func TestParseProxyV2Errors(t *testing.T) {
	tcp4 := ppAddrs4("192.0.2.1", "198.51.100.2", 1, 2)
	tests := []struct {
		name string
		in   []byte
		want error
	}{
		{"v1 line", []byte("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n"), errV2Signature},
		{"HTTP", []byte("GET / HTTP/1.1\r\n\r\n"), errV2Signature},
		{"signature typo", append([]byte("\r\n\r\n\x00\r\nQUIT\r"), 0x21, 0x11, 0, 12), errV2Signature},
		{"version 1", ppV2(0x11, 0x11, tcp4), errV2Version},
		{"version 3", ppV2(0x31, 0x11, tcp4), errV2Version},
		{"command 2", ppV2(0x22, 0x11, tcp4), errV2Command},
		{"command 15", ppV2(0x2f, 0x11, tcp4), errV2Command},
		{"UDP4", ppV2(0x21, 0x12, tcp4), errV2Family},
		{"UDP6", ppV2(0x21, 0x22, make([]byte, 36)), errV2Family},
		{"UNIX stream", ppV2(0x21, 0x31, make([]byte, 216)), errV2Family},
		{"UNIX datagram", ppV2(0x21, 0x32, make([]byte, 216)), errV2Family},
		{"PROXY UNSPEC", ppV2(0x21, 0x00), errV2Family},
		{"AF_INET UNSPEC", ppV2(0x21, 0x10, tcp4), errV2Family},
		{"family 4", ppV2(0x21, 0x41, tcp4), errV2Family},
		{"TCP4 length 11", ppV2(0x21, 0x11, tcp4[:11]), errV2AddrLength},
		{"TCP6 length 12", ppV2(0x21, 0x21, tcp4), errV2AddrLength},
		{"TCP4 length 0", ppV2(0x21, 0x11), errV2AddrLength},
		{"one byte too long", ppV2(0x21, 0x11, tcp4, make([]byte, MaxProxyV2Bytes-16-12+1)), errV2TooLong},
		{"LOCAL too long", ppV2(0x20, 0x00, make([]byte, MaxProxyV2Bytes)), errV2TooLong},
		{"length 65535", append([]byte(proxyV2Sig), 0x21, 0x11, 0xff, 0xff), errV2TooLong},
		{"length high byte alone", append([]byte(proxyV2Sig), 0x21, 0x11, 0x04), errV2TooLong},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h, n, err := ParseProxyHeader(tc.in, ProxyV2)
			if err != tc.want || n != 0 || h != (ProxyHeader{}) {
				t.Fatalf("got %+v, %d, %v; want error %v", h, n, err, tc.want)
			}
			if !errors.Is(err, ErrProxyHeader) {
				t.Fatalf("%v does not match ErrProxyHeader", err)
			}
			ppCheckPrefixes(t, tc.in, ProxyV2)
		})
	}
}

func TestParseProxyHeaderVersions(t *testing.T) {
	v1 := []byte("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n")
	if h, n, err := ParseProxyHeader(v1, ProxyOff); err != nil || n != 0 || h != (ProxyHeader{Local: true}) {
		t.Errorf("ProxyOff: got %+v, %d, %v; want a Local header, 0, nil", h, n, err)
	}
	if _, _, err := ParseProxyHeader(v1, ProxyVersion(9)); !errors.Is(err, ErrProxyHeader) {
		t.Errorf("ProxyVersion(9): got %v, want %v", err, ErrProxyHeader)
	}
	if _, _, err := ParseProxyHeader(nil, ProxyV1); err != ErrProxyIncomplete {
		t.Errorf("v1 of nothing: got %v, want %v", err, ErrProxyIncomplete)
	}
	if _, _, err := ParseProxyHeader(nil, ProxyV2); err != ErrProxyIncomplete {
		t.Errorf("v2 of nothing: got %v, want %v", err, ErrProxyIncomplete)
	}
}

func TestParseProxyVersion(t *testing.T) {
	tests := []struct {
		in   string
		want ProxyVersion
		err  error
	}{
		{"off", ProxyOff, nil},
		{"", ProxyOff, nil},
		{"v1", ProxyV1, nil},
		{"v2", ProxyV2, nil},
		{"V1", ProxyOff, ErrProxyVersion},
		{"1", ProxyOff, ErrProxyVersion},
		{"on", ProxyOff, ErrProxyVersion},
	}
	for _, tc := range tests {
		got, err := ParseProxyVersion(tc.in)
		if got != tc.want || err != tc.err {
			t.Errorf("ParseProxyVersion(%q) = %v, %v; want %v, %v", tc.in, got, err, tc.want, tc.err)
		}
		if err == nil && tc.in != "" && got.String() != tc.in {
			t.Errorf("%v.String() = %q, want %q", got, got.String(), tc.in)
		}
	}
	if got := ProxyVersion(7).String(); got != "ProxyVersion(7)" {
		t.Errorf("ProxyVersion(7).String() = %q", got)
	}
}

func TestProxyErrorsArePrefixed(t *testing.T) {
	for _, err := range []error{
		ErrProxyIncomplete, ErrProxyHeader, ErrProxyVersion, errProxyMode, errV1Signature, errV1Protocol,
		errV1TooLong, errV1LineEnd, errV1Address, errV1Port, errV2Signature, errV2Version, errV2Command,
		errV2Family, errV2TooLong, errV2AddrLength,
	} {
		if !strings.HasPrefix(err.Error(), "codec: ") {
			t.Errorf("%q: want a \"codec: \" prefix", err)
		}
		if errors.Is(err, ErrProxyIncomplete) == errors.Is(err, ErrProxyHeader) && err != ErrProxyVersion {
			t.Errorf("%q: want exactly one of ErrProxyIncomplete and ErrProxyHeader to match", err)
		}
	}
}

func TestAppendProxy(t *testing.T) {
	ap := netip.MustParseAddrPort
	tests := []struct {
		name     string
		src, dst netip.AddrPort
		v1       string
		want     ProxyHeader // what both versions parse back to
	}{
		{"TCP4", ap("192.0.2.1:56324"), ap("198.51.100.2:443"), "PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\n",
			ppHeader("192.0.2.1:56324", "198.51.100.2:443")},
		{"TCP6", ap("[2001:db8::1]:1"), ap("[2001:db8::2]:65535"), "PROXY TCP6 2001:db8::1 2001:db8::2 1 65535\r\n",
			ppHeader("[2001:db8::1]:1", "[2001:db8::2]:65535")},
		{"mixed families", ap("192.0.2.1:1"), ap("[2001:db8::2]:2"), "PROXY TCP6 ::ffff:192.0.2.1 2001:db8::2 1 2\r\n",
			ppHeader("192.0.2.1:1", "[2001:db8::2]:2")},
		{"mapped counts as IPv4", ap("[::ffff:192.0.2.1]:1"), ap("198.51.100.2:2"), "PROXY TCP4 192.0.2.1 198.51.100.2 1 2\r\n",
			ppHeader("192.0.2.1:1", "198.51.100.2:2")},
		{"zone dropped", ap("[fe80::1%eth0]:1"), ap("[fe80::2%eth0]:2"), "PROXY TCP6 fe80::1 fe80::2 1 2\r\n",
			ppHeader("[fe80::1]:1", "[fe80::2]:2")},
		{"ports 0", ap("0.0.0.0:0"), ap("255.255.255.255:0"), "PROXY TCP4 0.0.0.0 255.255.255.255 0 0\r\n",
			ppHeader("0.0.0.0:0", "255.255.255.255:0")},
		{"invalid source", netip.AddrPort{}, ap("198.51.100.2:2"), "PROXY UNKNOWN\r\n", ProxyHeader{Local: true}},
		{"invalid destination", ap("192.0.2.1:1"), netip.AddrPort{}, "PROXY UNKNOWN\r\n", ProxyHeader{Local: true}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			prefix := []byte("x")
			got := AppendProxyV1(prefix, tc.src, tc.dst)
			if string(got) != "x"+tc.v1 {
				t.Fatalf("AppendProxyV1: got %q, want %q", got, "x"+tc.v1)
			}
			for _, v := range []ProxyVersion{ProxyV1, ProxyV2} {
				var out []byte
				if v == ProxyV1 {
					out = AppendProxyV1(nil, tc.src, tc.dst)
				} else {
					out = AppendProxyV2(nil, tc.src, tc.dst)
				}
				h, n, err := ParseProxyHeader(out, v)
				if err != nil || n != len(out) || h != tc.want {
					t.Fatalf("%v: %q parses to %+v, %d, %v; want %+v, %d, nil", v, out, h, n, err, tc.want, len(out))
				}
			}
		})
	}
}

func TestAppendProxyV2Bytes(t *testing.T) {
	ap := netip.MustParseAddrPort
	tests := []struct {
		name     string
		src, dst netip.AddrPort
		want     []byte
	}{
		{"TCP4", ap("192.0.2.1:56324"), ap("198.51.100.2:443"),
			[]byte("\r\n\r\n\x00\r\nQUIT\n\x21\x11\x00\x0c\xc0\x00\x02\x01\xc6\x33\x64\x02\xdc\x04\x01\xbb")},
		{"TCP6", ap("[2001:db8::1]:1"), ap("192.0.2.1:2"),
			ppV2(0x21, 0x21, ppAddrs6("2001:db8::1", "::ffff:192.0.2.1", 1, 2))},
		{"LOCAL", netip.AddrPort{}, netip.AddrPort{}, []byte("\r\n\r\n\x00\r\nQUIT\n\x20\x00\x00\x00")},
	}
	for _, tc := range tests {
		if got := AppendProxyV2(nil, tc.src, tc.dst); !bytes.Equal(got, tc.want) {
			t.Errorf("%s: got %x, want %x", tc.name, got, tc.want)
		}
	}
}

// The allocation tests live here rather than in allocation_test.go: the
// code holds no pools, so the race detector does not change the counts.
func TestProxyAllocations(t *testing.T) {
	ap := netip.MustParseAddrPort
	src, dst := ap("[2001:db8::1]:49152"), ap("[::ffff:192.0.2.1]:443")
	v1 := AppendProxyV1(nil, src, dst)
	v2 := AppendProxyV2(nil, src, dst)
	v1bad := []byte("PROXY TCP6 2001:db8::1 ::1 1 65536\r\n")
	dst1 := make([]byte, 0, MaxProxyV1Bytes)
	dst2 := make([]byte, 0, 64)
	tests := []struct {
		name string
		fn   func()
	}{
		{"ParseProxyHeader v1", func() { _, _, _ = ParseProxyHeader(v1, ProxyV1) }},
		{"ParseProxyHeader v1 rejecting", func() { _, _, _ = ParseProxyHeader(v1bad, ProxyV1) }},
		{"ParseProxyHeader v1 incomplete", func() { _, _, _ = ParseProxyHeader(v1[:20], ProxyV1) }},
		{"ParseProxyHeader v2", func() { _, _, _ = ParseProxyHeader(v2, ProxyV2) }},
		{"ParseProxyHeader v2 rejecting", func() { _, _, _ = ParseProxyHeader(v1, ProxyV2) }},
		{"AppendProxyV1", func() { dst1 = AppendProxyV1(dst1[:0], src, dst) }},
		{"AppendProxyV1 TCP4", func() { dst1 = AppendProxyV1(dst1[:0], dst, dst) }},
		{"AppendProxyV2", func() { dst2 = AppendProxyV2(dst2[:0], src, dst) }},
		{"error message", func() { _ = errV1Port.Error() }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := testing.AllocsPerRun(100, tc.fn); got != 0 {
				t.Errorf("allocs per run: got %v, want 0", got)
			}
		})
	}
}

func BenchmarkParseProxyHeaderV1(b *testing.B) {
	in := []byte("PROXY TCP6 2001:db8:85a3::8a2e:370:7334 2001:db8::2 49152 443\r\nGET / HTTP/1.1\r\n")
	b.ReportAllocs()
	b.SetBytes(int64(len(in)))
	for b.Loop() {
		_, _, _ = ParseProxyHeader(in, ProxyV1)
	}
}

func BenchmarkParseProxyHeaderV2(b *testing.B) {
	in := ppV2(0x21, 0x21, ppAddrs6("2001:db8::1", "2001:db8::2", 49152, 443))
	b.ReportAllocs()
	b.SetBytes(int64(len(in)))
	for b.Loop() {
		_, _, _ = ParseProxyHeader(in, ProxyV2)
	}
}

func BenchmarkAppendProxyV1(b *testing.B) {
	src, dst := netip.MustParseAddrPort("192.0.2.1:56324"), netip.MustParseAddrPort("198.51.100.2:443")
	buf := make([]byte, 0, MaxProxyV1Bytes)
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendProxyV1(buf[:0], src, dst)
	}
}
