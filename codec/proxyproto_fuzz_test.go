package codec

import (
	"bytes"
	"errors"
	"net/netip"
	"testing"
)

// FuzzProxyHeader parses data as both versions and checks that every prefix
// of it is incomplete or gets the whole input's verdict (the same header and
// n when the whole succeeds, n bytes being enough), that a header written
// back by the Append functions parses to the same header, and that the v1
// address parser agrees with net/netip on data taken as an address.
func FuzzProxyHeader(f *testing.F) {
	ap := netip.MustParseAddrPort
	for _, seed := range [][]byte{
		[]byte("PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\nGET / HTTP/1.1\r\n"),
		[]byte("PROXY TCP6 2001:db8::1 ::ffff:192.0.2.1 1 65535\r\n"),
		[]byte("PROXY TCP6 1:2:3:4:5:6:255.255.255.255 ::1 1 2\r\n"),
		[]byte("PROXY UNKNOWN\r\n"),
		[]byte("PROXY UNKNOWN ffff:f::f:ffff ffff:f::f:ffff 65535 65535\r\n"),
		[]byte("PROXY TCP4 01.2.3.4 5.6.7.8 1 2\r\n"),
		AppendProxyV2(nil, ap("192.0.2.1:56324"), ap("198.51.100.2:443")),
		AppendProxyV2([]byte{}, ap("[2001:db8::1]:1"), ap("192.0.2.1:2")),
		AppendProxyV2(nil, netip.AddrPort{}, netip.AddrPort{}),
		ppV2(0x21, 0x11, ppAddrs4("192.0.2.1", "198.51.100.2", 1, 2), []byte{0x01, 0, 2, 'h', '2'}),
		ppV2(0x20, 0x31, make([]byte, 216)),
		ppV2(0x21, 0x31, make([]byte, 216)),
		[]byte("2001:db8::1.2.3.4"),
		nil,
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, v := range []ProxyVersion{ProxyV1, ProxyV2} {
			h, n, err := ParseProxyHeader(data, v)
			switch {
			case err == nil:
				limit := MaxProxyV1Bytes
				if v == ProxyV2 {
					limit = MaxProxyV2Bytes
				}
				if n <= 0 || n > len(data) || n > limit {
					t.Fatalf("%v: n = %d of %d bytes", v, n, len(data))
				}
				if h.Local != (h.Source == netip.AddrPort{}) || h.Local != (h.Dest == netip.AddrPort{}) {
					t.Fatalf("%v: header %+v", v, h)
				}
				if h.Source.Addr().Is4In6() || h.Dest.Addr().Is4In6() || h.Source.Addr().Zone() != "" {
					t.Fatalf("%v: header %+v has a mapped or zoned address", v, h)
				}
			case err == ErrProxyIncomplete:
				if v == ProxyV1 && len(data) >= MaxProxyV1Bytes || v == ProxyV2 && len(data) >= MaxProxyV2Bytes {
					t.Fatalf("%v: incomplete after %d bytes", v, len(data))
				}
			case !errors.Is(err, ErrProxyHeader) || n != 0 || h != (ProxyHeader{}):
				t.Fatalf("%v: got %+v, %d, %v", v, h, n, err)
			}
			for k := range len(data) {
				ph, pn, perr := ParseProxyHeader(data[:k], v)
				switch {
				case err == nil && k >= n:
					if perr != nil || pn != n || ph != h {
						t.Fatalf("%v: prefix of %d bytes: got %+v, %d, %v; whole: %+v, %d", v, k, ph, pn, perr, h, n)
					}
				case perr != ErrProxyIncomplete && perr != err:
					t.Fatalf("%v: prefix of %d bytes: got %v; whole: %v", v, k, perr, err)
				}
			}
			if err == nil && !h.Local {
				var out []byte
				if v == ProxyV1 {
					out = AppendProxyV1(nil, h.Source, h.Dest)
				} else {
					out = AppendProxyV2(nil, h.Source, h.Dest)
				}
				if back, bn, berr := ParseProxyHeader(out, v); berr != nil || bn != len(out) || back != h {
					t.Fatalf("%v: %+v written as %q parses to %+v, %d, %v", v, h, out, back, bn, berr)
				}
			}
		}

		// data as a v1 address: accepted exactly when net/netip takes it
		// as an address of the line's family, without a zone.
		if len(data) > v1MaxIPv6 || bytes.ContainsAny(data, " \r\n") {
			return
		}
		want, werr := netip.ParseAddr(string(data))
		for _, proto := range []string{"TCP4", "TCP6"} {
			line := []byte("PROXY " + proto + " " + string(data) + " " + string(data) + " 1 2\r\n")
			h, _, err := ParseProxyHeader(line, ProxyV1)
			wantOK := werr == nil && want.Zone() == "" && (proto == "TCP4") == want.Is4() && len(data) > 0 &&
				(proto == "TCP6" || len(data) <= v1MaxIPv4)
			if (err == nil) != wantOK || err == nil && h.Source.Addr() != want.Unmap() {
				t.Fatalf("%s %q: got %v, %v; netip: %v, %v", proto, data, h.Source.Addr(), err, want, werr)
			}
		}
	})
}
