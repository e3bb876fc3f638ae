package upstream

import (
	"errors"
	"strings"
	"testing"

	"github.com/throngproxy/throng/config"
)

// testConfig builds a config whose routes all point at upstream "u".
func testConfig(routes ...config.Route) *config.Config {
	c := config.Default()
	for i := range routes {
		routes[i].Upstream = "u"
	}
	c.Routes = routes
	c.Upstreams = []config.Upstream{{Name: "u", Balance: config.BalanceRoundRobin,
		Backends: []config.Backend{{Addr: "127.0.0.1:9001", Weight: 1}}}}
	return c
}

func mustTable(t testing.TB, c *config.Config) *Table {
	t.Helper()
	tb, err := NewTable(c, testStickyKey)
	if err != nil {
		t.Fatalf("NewTable: %v", err)
	}
	return tb
}

func TestMatch(t *testing.T) {
	tb := mustTable(t, testConfig(
		config.Route{Host: "*", PathPrefix: "/"},                 // 0
		config.Route{Host: "", PathPrefix: "/api"},               // 1
		config.Route{Host: "example.com", PathPrefix: "/"},       // 2
		config.Route{Host: "Example.com", PathPrefix: "/chat"},   // 3
		config.Route{Host: "*.example.com", PathPrefix: "/"},     // 4
		config.Route{Host: "*.a.example.com", PathPrefix: "/ws"}, // 5
		config.Route{Host: "[::1]", PathPrefix: "/"},             // 6
		config.Route{Host: "192.0.2.1", PathPrefix: "/only"},     // 7
		config.Route{Host: "api.example.com", PathPrefix: "/v2"}, // 8
		config.Route{Host: "example.com", PathPrefix: "/chat/"},  // 9
	))
	long := strings.Repeat("x", 300) + ".example.com"
	edge := strings.Repeat("x", 256-len(".example.com")) + ".example.com"
	tests := []struct {
		name, host, target string
		want               int // route index; -1 for nil
	}{
		{"exact", "example.com", "/", 2},
		{"exact with port and case", "EXAMPLE.com:8080", "/x", 2},
		{"longest prefix", "example.com", "/chat/room?x=1", 9},
		{"byte prefix", "example.com", "/chatty", 3},
		{"query is not path", "example.com", "/?/chat/", 2},
		{"path is case-sensitive", "example.com", "/CHAT", 2},
		{"exact beats longer any prefix", "example.com", "/api", 2},
		{"trailing dot", "example.com.", "/", 2},
		{"trailing dot and port", "example.com.:443", "/chat", 3},
		{"wildcard", "foo.example.com", "/", 4},
		{"wildcard deep", "a.b.c.example.com", "/", 4},
		{"wildcard case", "FOO.Example.COM:1", "/", 4},
		{"longest wildcard", "x.a.example.com", "/ws/1", 5},
		{"longest wildcard falls back to shorter", "x.a.example.com", "/other", 4},
		{"wildcard excludes its own domain", "a.example.com", "/ws", 4},
		{"exact falls back to wildcard", "api.example.com", "/v1", 4},
		{"exact over wildcard", "api.example.com", "/v2/x", 8},
		{"any", "other.org", "/x", 0},
		{"any longest prefix", "other.org", "/api/x", 1},
		{"no host", "", "/", 0},
		{"only port", ":80", "/api", 1},
		{"ipv6 with port", "[::1]:8080", "/", 6},
		{"ipv6", "[::1]", "/", 6},
		{"ipv6 other", "[::2]:80", "/", 0},
		{"ipv6 unterminated", "[::1", "/", 0},
		{"ipv4 with port", "192.0.2.1:80", "/only?q", 7},
		{"ipv4 falls back", "192.0.2.1", "/else", 0},
		{"leading dot", ".example.com", "/", 0},
		{"host too long", long, "/", 0},
		{"host at limit", edge, "/", 4},
		{"no path matches", "example.com", "?x", -1},
		{"empty target", "", "", -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tb.Match([]byte(tt.host), []byte(tt.target))
			switch {
			case tt.want < 0 && got != nil:
				t.Fatalf("Match(%q, %q) = route %d; want nil", tt.host, tt.target, got.Index)
			case tt.want >= 0 && got == nil:
				t.Fatalf("Match(%q, %q) = nil; want route %d", tt.host, tt.target, tt.want)
			case tt.want >= 0 && got.Index != tt.want:
				t.Fatalf("Match(%q, %q) = route %d (%s %s); want %d", tt.host, tt.target, got.Index, got.Host, got.PathPrefix, tt.want)
			case got != nil && got != tb.Routes[got.Index]:
				t.Fatalf("Match returned a route not in Routes")
			}
		})
	}
}

func TestMatchWithoutAnyRoute(t *testing.T) {
	tb := mustTable(t, testConfig(
		config.Route{Host: "*.example.com", PathPrefix: "/"},
		config.Route{Host: "chat.example.org", PathPrefix: "/ws"},
	))
	tests := []struct {
		name, host, target string
		want               int
	}{
		{"wildcard does not match its domain", "example.com", "/", -1},
		{"unknown host", "nope.org", "/", -1},
		{"exact, path does not match", "chat.example.org", "/", -1},
		{"exact", "chat.example.org", "/ws", 1},
		{"wildcard", "a.example.com", "/", 0},
		{"suffix needs a dot boundary", "aexample.com", "/", -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tb.Match([]byte(tt.host), []byte(tt.target))
			gotIdx := -1
			if got != nil {
				gotIdx = got.Index
			}
			if gotIdx != tt.want {
				t.Fatalf("Match(%q, %q) = route %d; want %d", tt.host, tt.target, gotIdx, tt.want)
			}
		})
	}
}

func TestNewTable(t *testing.T) {
	c := config.Default()
	c.Routes = []config.Route{{Host: "A.Example", PathPrefix: "/", Upstream: "b"}, {Host: "", PathPrefix: "/", Upstream: "a"}}
	c.Upstreams = []config.Upstream{
		{Name: "a", Balance: config.BalanceRoundRobin, Backends: []config.Backend{{Addr: "h:1", Weight: 1}}},
		{Name: "b", Balance: config.BalanceWeightedRoundRobin, Backends: []config.Backend{{Addr: "h:2", Weight: 3}, {Addr: "h:3", Weight: 1}}},
	}
	tb := mustTable(t, c)
	if len(tb.Routes) != 2 || len(tb.Upstreams) != 2 {
		t.Fatalf("got %d routes, %d upstreams; want 2, 2", len(tb.Routes), len(tb.Upstreams))
	}
	r0, r1 := tb.Routes[0], tb.Routes[1]
	if r0.Host != "a.example" || r0.Upstream != tb.Upstreams[1] || r0.Index != 0 {
		t.Errorf("route 0 = %+v; want host a.example, upstream b, index 0", r0)
	}
	if r1.Host != "*" || r1.Upstream != tb.Upstreams[0] || r1.Index != 1 {
		t.Errorf("route 1 = %+v; want host *, upstream a, index 1", r1)
	}
	u := tb.Upstreams[1]
	if u.Name != "b" || u.Index != 1 || len(u.Backends) != 2 {
		t.Fatalf("upstream 1 = %+v", u)
	}
	for i, b := range u.Backends {
		if b.Index != i || b.Addr != c.Upstreams[1].Backends[i].Addr || b.Weight != c.Upstreams[1].Backends[i].Weight {
			t.Errorf("backend %d = %+v; want index %d and the config's addr and weight", i, b, i)
		}
	}
	if _, ok := u.Balancer.(*WeightedRoundRobin); !ok {
		t.Errorf("upstream b balancer %T; want *WeightedRoundRobin", u.Balancer)
	}
	if _, ok := tb.Upstreams[0].Balancer.(*RoundRobin); !ok {
		t.Errorf("upstream a balancer %T; want *RoundRobin", tb.Upstreams[0].Balancer)
	}
}

// TestBackendAddrPort: a backend named by an IP address and port carries
// it parsed (the engine connects to it from the loop); a host name, or an
// address with a zone, does not.
func TestBackendAddrPort(t *testing.T) {
	for _, tc := range []struct{ addr, want string }{
		{"127.0.0.1:9001", "127.0.0.1:9001"},
		{"[::1]:443", "[::1]:443"},
		{"backend.internal:80", ""},
		{"localhost:9001", ""},
		{"[fe80::1%eth0]:80", ""},
	} {
		c := testConfig(config.Route{Host: "*", PathPrefix: "/"})
		c.Upstreams[0].Backends[0].Addr = tc.addr
		b := mustTable(t, c).Upstreams[0].Backends[0]
		got := ""
		if b.AddrPort.IsValid() {
			got = b.AddrPort.String()
		}
		if got != tc.want {
			t.Errorf("%s: AddrPort %q, want %q", tc.addr, got, tc.want)
		}
	}
}

func TestNewTableErrors(t *testing.T) {
	tests := []struct {
		name string
		edit func(c *config.Config)
		want error
	}{
		{"unknown upstream", func(c *config.Config) { c.Routes[0].Upstream = "nope" }, ErrUnknownUpstream},
		{"unknown balancer", func(c *config.Config) { c.Upstreams[0].Balance = "random" }, ErrUnknownBalancer},
		{"no backends", func(c *config.Config) { c.Upstreams[0].Backends = nil }, ErrNoBackends},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := testConfig(config.Route{Host: "*", PathPrefix: "/"})
			tt.edit(c)
			if _, err := NewTable(c, testStickyKey); !errors.Is(err, tt.want) {
				t.Fatalf("NewTable error %v; want %v", err, tt.want)
			}
		})
	}
}

// TestNewTableFromExample builds the table for the shipped example.
func TestNewTableFromExample(t *testing.T) {
	c, err := config.Load("../examples/throng.toml")
	if err != nil {
		t.Fatal(err)
	}
	tb := mustTable(t, c)
	r := tb.Match([]byte("localhost:8080"), []byte("/"))
	if r == nil || r.Upstream.Name != "echo" || r.Upstream.Balancer.Pick(0, 0).Addr != "127.0.0.1:9001" {
		t.Fatalf("example: Match = %+v; want route to echo at 127.0.0.1:9001", r)
	}
}
