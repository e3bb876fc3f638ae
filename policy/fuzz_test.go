package policy

import (
	"net/netip"
	"testing"
)

// FuzzOrigins: parsing any pattern and matching any origin never panics,
// and a pattern that parses admits its own exact text when it is not a
// wildcard.
func FuzzOrigins(f *testing.F) {
	for _, s := range []string{"https://app.example.com", "https://*.example.com", "http://[::1]:8080", "null", "https://a:443", "x://"} {
		f.Add(s, s)
	}
	f.Fuzz(func(t *testing.T, pattern, origin string) {
		o, err := ParseOrigins([]string{pattern})
		if err != nil {
			return
		}
		o.Allowed([]byte(origin))
		if len(pattern) <= 256 && !o.pats[0].wild && !o.Allowed([]byte(pattern)) {
			t.Fatalf("pattern %q does not admit itself", pattern)
		}
	})
}

// FuzzParsePrefix: an entry that parses contains its own address.
func FuzzParsePrefix(f *testing.F) {
	for _, s := range []string{"10.0.0.0/8", "192.0.2.1", "2001:db8::/32", "::ffff:1.2.3.4", "::ffff:0.0.0.0/96", "bad"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParsePrefix(s)
		if err != nil {
			return
		}
		if !p.IsValid() || !p.Contains(p.Addr()) {
			t.Fatalf("ParsePrefix(%q) = %v", s, p)
		}
		if a, err := netip.ParseAddr(s); err == nil && !p.Contains(a.Unmap()) {
			t.Fatalf("ParsePrefix(%q) = %v does not hold the address", s, p)
		}
	})
}
