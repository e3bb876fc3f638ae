package upstream

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/throngproxy/throng/codec"
	"github.com/throngproxy/throng/config"
)

// stickyTable builds a table with one upstream "chat" over addrs, sticky
// cookie "throng_backend" keyed by secret.
func stickyTable(t *testing.T, secret string, addrs ...string) *Upstream {
	t.Helper()
	c := config.Default()
	u := config.DefaultUpstream()
	u.Name, u.StickyCookie, u.StickySecret = "chat", "throng_backend", secret
	for _, a := range addrs {
		u.Backends = append(u.Backends, config.Backend{Addr: a, Weight: 1})
	}
	c.Upstreams = []config.Upstream{u}
	c.Routes = []config.Route{{Host: "*", PathPrefix: "/", Upstream: "chat"}}
	tab, err := NewTable(c, testStickyKey)
	if err != nil {
		t.Fatal(err)
	}
	return tab.Upstreams[0]
}

// cookieOf returns the cookie pair ("name=value") a Set-Cookie line sets.
func cookieOf(t *testing.T, line []byte) string {
	t.Helper()
	s, ok := strings.CutPrefix(string(line), "Set-Cookie: ")
	if !ok || !strings.HasSuffix(s, "; Path=/; HttpOnly; SameSite=Lax\r\n") {
		t.Fatalf("Set-Cookie line %q", line)
	}
	pair, _, _ := strings.Cut(s, ";")
	return pair
}

func cookieHeaders(values ...string) []codec.Header {
	var hs []codec.Header
	for _, v := range values {
		hs = append(hs, codec.Header{Name: []byte("Cookie"), Value: []byte(v)})
	}
	return hs
}

func TestStickyRoundTrip(t *testing.T) {
	u := stickyTable(t, "secret", "10.0.0.1:80", "10.0.0.2:80", "10.0.0.3:80")
	s := u.Sticky
	seen := map[string]bool{}
	for _, b := range u.Backends {
		pair := cookieOf(t, s.SetCookie(b))
		if seen[pair] {
			t.Fatalf("two backends share cookie %q", pair)
		}
		seen[pair] = true
		if strings.Contains(pair, "10.0.0") {
			t.Fatalf("cookie %q shows the address", pair)
		}
		_, value, _ := strings.Cut(pair, "=")
		tests := []struct {
			name    string
			headers []codec.Header
		}{
			{"alone", cookieHeaders(pair)},
			{"among others", cookieHeaders("a=1; " + pair + "; b=2")},
			{"second header", cookieHeaders("a=1", pair)},
			{"quoted", cookieHeaders(`throng_backend="` + value + `"`)},
			{"spaces", cookieHeaders("  " + pair + " ;x=y")},
		}
		for _, tt := range tests {
			if got := s.Find(tt.headers); got != b {
				t.Errorf("%s: Find(%q) = %v; want %s", tt.name, tt.headers[len(tt.headers)-1].Value, got, b.Addr)
			}
		}
	}
}

func TestStickyIgnoresForeignValues(t *testing.T) {
	u := stickyTable(t, "secret", "10.0.0.1:80", "10.0.0.2:80")
	other := stickyTable(t, "other secret", "10.0.0.1:80", "10.0.0.2:80")
	good := cookieOf(t, u.Sticky.SetCookie(u.Backends[0]))
	_, value, _ := strings.Cut(good, "=")
	flipped := []byte(value)
	flipped[0] ^= 1
	tests := []struct {
		name    string
		headers []codec.Header
	}{
		{"none", nil},
		{"other cookie name", cookieHeaders("session=" + value)},
		{"other secret", cookieHeaders(cookieOf(t, other.Sticky.SetCookie(other.Backends[0])))},
		{"tampered", cookieHeaders("throng_backend=" + string(flipped))},
		{"truncated", cookieHeaders("throng_backend=" + value[:10])},
		{"address", cookieHeaders("throng_backend=10.0.0.1:80")},
		{"empty", cookieHeaders("throng_backend=")},
	}
	for _, tt := range tests {
		if got := u.Sticky.Find(tt.headers); got != nil {
			t.Errorf("%s: Find = %s; want nil", tt.name, got.Addr)
		}
	}
}

// TestStickySurvivesReorder checks that a cookie names the backend by
// address: a reload that reorders and adds backends keeps it, and a
// process with the same secret honours it.
func TestStickySurvivesReorder(t *testing.T) {
	before := stickyTable(t, "secret", "10.0.0.1:80", "10.0.0.2:80")
	after := stickyTable(t, "secret", "10.0.0.9:80", "10.0.0.2:80", "10.0.0.1:80")
	for _, b := range before.Backends {
		got := after.Sticky.Find(cookieHeaders(cookieOf(t, before.Sticky.SetCookie(b))))
		if got == nil || got.Addr != b.Addr {
			t.Errorf("cookie for %s finds %v after the reload", b.Addr, got)
		}
	}
}

// testStickyKey is the process key of every Table the tests build, as the
// engine has one.
var testStickyKey = NewStickyKey()

// TestStickyProcessKey checks that without sticky_secret the cookie is
// keyed by the key NewTable is given: tables built with one key (reloads
// of one process) agree, another key (another process, a restart) does
// not, and neither equals a keyed one; without a key NewTable refuses.
func TestStickyProcessKey(t *testing.T) {
	a := stickyTable(t, "", "10.0.0.1:80")
	b := stickyTable(t, "", "10.0.0.1:80")
	keyed := stickyTable(t, "secret", "10.0.0.1:80")
	pa := cookieOf(t, a.Sticky.SetCookie(a.Backends[0]))
	if pa != cookieOf(t, b.Sticky.SetCookie(b.Backends[0])) {
		t.Fatal("two tables with one key disagree on the cookie")
	}
	if pa == cookieOf(t, keyed.Sticky.SetCookie(keyed.Backends[0])) {
		t.Fatal("process-key cookie equals the keyed one")
	}
	c := config.Default()
	u := config.DefaultUpstream()
	u.Name, u.StickyCookie = "chat", "throng_backend"
	u.Backends = []config.Backend{{Addr: "10.0.0.1:80", Weight: 1}}
	c.Upstreams = []config.Upstream{u}
	c.Routes = []config.Route{{Host: "*", PathPrefix: "/", Upstream: "chat"}}
	other, err := NewTable(c, NewStickyKey())
	if err != nil {
		t.Fatal(err)
	}
	if pa == cookieOf(t, other.Upstreams[0].Sticky.SetCookie(other.Upstreams[0].Backends[0])) {
		t.Fatal("tables with different keys agree on the cookie")
	}
	if _, err := NewTable(c, nil); !errors.Is(err, ErrNoStickyKey) {
		t.Fatalf("NewTable without a key: %v, want ErrNoStickyKey", err)
	}
}

func TestCanPick(t *testing.T) {
	c := config.Default()
	u := config.DefaultUpstream()
	u.Name, u.MaxFails = "chat", 1
	u.Backends = []config.Backend{{Addr: "10.0.0.1:80", Weight: 1}, {Addr: "10.0.0.2:80", Weight: 1}}
	c.Upstreams = []config.Upstream{u}
	c.Routes = []config.Route{{Host: "*", PathPrefix: "/", Upstream: "chat"}}
	tab, err := NewTable(c, testStickyKey)
	if err != nil {
		t.Fatal(err)
	}
	up := tab.Upstreams[0]
	if !up.CanPick(0) || !up.CanPick(1) || up.CanPick(3) {
		t.Fatal("CanPick with nothing ejected: want true unless every backend is excluded")
	}
	up.Backends[1].ReportFailure(time.Now().UnixNano()) // max_fails = 1: ejected
	if up.CanPick(1) {
		t.Fatal("CanPick(exclude the first) = true with the second ejected")
	}
	if !up.CanPick(2) {
		t.Fatal("CanPick(exclude the ejected one) = false with the first available")
	}
}
