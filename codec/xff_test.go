package codec

import (
	"net/netip"
	"testing"
)

func TestClientFromForwardedFor(t *testing.T) {
	trusted := func(a netip.Addr) bool { return netip.MustParsePrefix("10.0.0.0/8").Contains(a) }
	tests := []struct {
		name   string
		values []string
		want   string // "" = not ok
	}{
		{"none", nil, ""},
		{"one", []string{"192.0.2.1"}, "192.0.2.1"},
		{"trusted chain", []string{"192.0.2.1, 10.0.0.2, 10.0.0.3"}, "192.0.2.1"},
		{"forged start ignored", []string{"1.1.1.1, 192.0.2.1, 10.0.0.2"}, "192.0.2.1"},
		{"two headers", []string{"192.0.2.1", "10.0.0.2"}, "192.0.2.1"},
		{"port", []string{"192.0.2.1:4711"}, "192.0.2.1"},
		{"v6 bracket port", []string{"[2001:db8::1]:80"}, "2001:db8::1"},
		{"v6", []string{"2001:db8::1"}, "2001:db8::1"},
		{"mapped", []string{"::ffff:192.0.2.1"}, "192.0.2.1"},
		{"all trusted", []string{"10.0.0.1, 10.0.0.2"}, ""},
		{"garbage before client", []string{"192.0.2.1, junk"}, ""},
		{"empty entries", []string{" , 192.0.2.1 ,"}, "192.0.2.1"},
		{"zone", []string{"fe80::1%eth0"}, ""},
	}
	for _, tt := range tests {
		var hs []Header
		for _, v := range tt.values {
			hs = append(hs, Header{Name: []byte("X-Forwarded-For"), Value: []byte(v)})
		}
		hs = append(hs, Header{Name: []byte("Host"), Value: []byte("x")})
		got, ok := ClientFromForwardedFor(hs, trusted)
		if tt.want == "" {
			if ok {
				t.Errorf("%s: got %v, want none", tt.name, got)
			}
			continue
		}
		if !ok || got.String() != tt.want {
			t.Errorf("%s: got %v %v, want %s", tt.name, got, ok, tt.want)
		}
	}
}

func FuzzClientFromForwardedFor(f *testing.F) {
	for _, s := range []string{"192.0.2.1, 10.0.0.2", "[2001:db8::1]:80", "a,b,,c", "::ffff:1.2.3.4:5"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		hs := []Header{{Name: []byte("x-forwarded-for"), Value: []byte(v)}}
		a, ok := ClientFromForwardedFor(hs, func(netip.Addr) bool { return false })
		if ok && (!a.IsValid() || a.Is4In6()) {
			t.Fatalf("%q gave %v", v, a)
		}
	})
}
