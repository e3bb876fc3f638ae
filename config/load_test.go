package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// minimal is the smallest valid file: one route and one upstream.
const minimal = `
[[route]]
upstream = "echo"

[[upstream]]
name = "echo"
backends = [{ addr = "127.0.0.1:9001" }]
`

func mustParse(t *testing.T, doc string) *Config {
	t.Helper()
	c, err := Parse([]byte(doc), "throng.toml")
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return c
}

// defaultsWithEcho returns the defaults plus what both minimal and the
// example file add: one route to upstream echo, one backend at
// 127.0.0.1:9001.
func defaultsWithEcho() *Config {
	want := Default()
	r := DefaultRoute()
	r.Upstream = "echo"
	want.Routes = []Route{r}
	u := documentedUpstream()
	u.Name, u.Backends = "echo", []Backend{{Addr: "127.0.0.1:9001", Weight: 1}}
	want.Upstreams = []Upstream{u}
	return want
}

func TestParseMinimalTakesDefaults(t *testing.T) {
	got := mustParse(t, minimal)
	want := defaultsWithEcho()
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Parse(minimal) =\n%+v\nwant\n%+v", got, want)
	}
}

func TestParseSizeForms(t *testing.T) {
	tests := []struct {
		value string
		want  Size
	}{
		{`65536`, 65536},
		{`0x10000`, 65536},
		{`1_048_576`, MiB},
		{`"65536"`, 65536},
		{`"64KiB"`, 64 * KiB},
		{`"64 KiB"`, 64 * KiB},
		{`'64KiB'`, 64 * KiB},
		{`"2MiB"`, 2 * MiB},
		{`"1GiB"`, GiB},
		{`"640KB"`, 640000},
		{`"1MB"`, 1000000},
		{`"4096B"`, 4096},
	}
	for _, tt := range tests {
		t.Run(tt.value, func(t *testing.T) {
			c := mustParse(t, "[limits]\nmax_frame_bytes = "+tt.value+"\n"+minimal)
			if got := c.Limits.MaxFrameBytes; got != tt.want {
				t.Fatalf("max_frame_bytes = %s: got %d; want %d", tt.value, got.Bytes(), tt.want.Bytes())
			}
		})
	}
}

func TestParseDurationForms(t *testing.T) {
	tests := []struct {
		value string
		want  time.Duration
	}{
		{`"10s"`, 10 * time.Second},
		{`"250ms"`, 250 * time.Millisecond},
		{`"1m30s"`, 90 * time.Second},
		{`"0s"`, 0},
		{`"0"`, 0},
		{`'2h'`, 2 * time.Hour},
	}
	for _, tt := range tests {
		t.Run(tt.value, func(t *testing.T) {
			c := mustParse(t, "[timeouts]\nidle = "+tt.value+"\n"+minimal)
			if got := c.Timeouts.Idle.D(); got != tt.want {
				t.Fatalf("idle = %s: got %v; want %v", tt.value, got, tt.want)
			}
		})
	}
}

// TestParseErrors checks errors found while decoding: each names the file,
// the line where known, and the key.
func TestParseErrors(t *testing.T) {
	tests := []struct {
		name string
		doc  string
		want []string
		is   error
	}{
		{"unknown key", "[limits]\nmax_frame_bytes = 200\n\nmax_frame_byte = 100\n" + minimal,
			[]string{`throng.toml:4: unknown key "limits.max_frame_byte"`}, ErrUnknownKey},
		{"unknown top-level key", "\n\nlisten = [\":80\"]\n" + minimal,
			[]string{`throng.toml:3: unknown key "listen"`}, ErrUnknownKey},
		{"unknown table", "[serv]\nloops = 1\n" + minimal,
			[]string{`throng.toml:1: unknown key "serv"`}, ErrUnknownKey},
		{"several unknown keys", "[server]\nlop = 1\n[log]\nlevl = \"x\"\n" + minimal,
			[]string{`throng.toml:2: unknown key "server.lop"`, `throng.toml:4: unknown key "log.levl"`}, ErrUnknownKey},
		{"unknown key in array table", minimal + "weight = 2\n",
			[]string{`throng.toml:8: unknown key "upstream.weight"`}, ErrUnknownKey},
		{"unknown key in backend", "[[route]]\nupstream = \"e\"\n[[upstream]]\nname = \"e\"\nbackends = [{ addr = \"h:1\", wieght = 2 }]\n",
			[]string{`throng.toml:5: unknown key`, `wieght`}, ErrUnknownKey},
		{"bad size string", "[limits]\nmax_frame_bytes = \"16mb\"\n" + minimal,
			[]string{`throng.toml:2: `, `max_frame_bytes`, `"16mb"`}, ErrInvalid},
		{"bad duration", "\n[timeouts]\nconnect = \"5 seconds\"\n" + minimal,
			[]string{`throng.toml:3: `, `connect`, `"5 seconds"`}, ErrInvalid},
		{"negative duration", "[timeouts]\nconnect = \"-5s\"\n" + minimal,
			[]string{`throng.toml:2: `, `negative`}, ErrInvalid},
		{"duration as integer", "[timeouts]\nconnect = 5\n" + minimal,
			[]string{`throng.toml:2: timeouts.connect: want a duration string such as "5s", not 5`}, ErrInvalid},
		{"duration as dotted integer", "\ntimeouts.close = 1.5\n" + minimal,
			[]string{`throng.toml:2: timeouts.close: `}, ErrInvalid},
		{"duration as boolean", "[server]\ntcp_keepalive = false\n" + minimal,
			[]string{`throng.toml:2: server.tcp_keepalive: `}, ErrInvalid},
		{"wrong type", "[server]\nloops = \"four\"\n" + minimal,
			[]string{`throng.toml:2: `, `loops`}, ErrSyntax},
		{"syntax", "[server\n" + minimal,
			[]string{`throng.toml:1: `}, ErrSyntax},
		{"size overflow", "[limits]\nmax_frame_bytes = \"9999999999GiB\"\n" + minimal,
			[]string{`throng.toml:2: `, `too large`}, ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.doc), "throng.toml")
			if err == nil {
				t.Fatalf("Parse = nil error; want %q", tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Parse error %q; want it to contain %q", err, w)
				}
			}
			if !errors.Is(err, tt.is) {
				t.Errorf("Parse error %q; want errors.Is(err, %v)", err, tt.is)
			}
			var ce *Error
			if !errors.As(err, &ce) {
				t.Errorf("Parse error %T; want a *config.Error inside", err)
			}
		})
	}
}

func TestParseElementDefaults(t *testing.T) {
	c := mustParse(t, `
[[route]]
host = "Example.COM"
upstream = "a"

[[route]]
host = ""
path_prefix = "/chat"
upstream = "b"

[[upstream]]
name = "a"
balance = "weighted_round_robin"
backends = [{ addr = "10.0.0.1:80", weight = 5 }, { addr = "10.0.0.2:80" }]

[[upstream]]
name = "b"
[[upstream.backends]]
addr = "10.0.0.3:80"
[[upstream.backends]]
addr = "10.0.0.4:80"
weight = 7
`)
	ra, rb := DefaultRoute(), DefaultRoute()
	ra.Host, ra.Upstream = "example.com", "a"
	rb.PathPrefix, rb.Upstream = "/chat", "b"
	wantRoutes := []Route{ra, rb}
	if !reflect.DeepEqual(c.Routes, wantRoutes) {
		t.Errorf("routes = %+v; want %+v", c.Routes, wantRoutes)
	}
	a, b := documentedUpstream(), documentedUpstream()
	a.Name, a.Balance, a.Backends = "a", BalanceWeightedRoundRobin, []Backend{{Addr: "10.0.0.1:80", Weight: 5}, {Addr: "10.0.0.2:80", Weight: 1}}
	b.Name, b.Backends = "b", []Backend{{Addr: "10.0.0.3:80", Weight: 1}, {Addr: "10.0.0.4:80", Weight: 7}}
	wantUps := []Upstream{a, b}
	if !reflect.DeepEqual(c.Upstreams, wantUps) {
		t.Errorf("upstreams = %+v; want %+v", c.Upstreams, wantUps)
	}
}

// TestParseReplacesDefaultLists checks that a list in the file replaces the
// default list instead of being merged into it.
func TestParseReplacesDefaultLists(t *testing.T) {
	c := mustParse(t, "[server]\nlisten = [\"127.0.0.2:9000\", \"[::1]:9000\"]\n"+minimal)
	want := []string{"127.0.0.2:9000", "[::1]:9000"}
	if !reflect.DeepEqual(c.Server.Listen, want) {
		t.Fatalf("listen = %q; want %q", c.Server.Listen, want)
	}
}

// TestParseExplicitZeroWeight checks that weight = 0 is rejected rather
// than taken as "unset".
func TestParseExplicitZeroWeight(t *testing.T) {
	_, err := Parse([]byte("[[route]]\nupstream = \"e\"\n[[upstream]]\nname = \"e\"\nbackends = [{ addr = \"h:1\", weight = 0 }]\n"), "throng.toml")
	if err == nil || !strings.Contains(err.Error(), "throng.toml: upstream[0].backends[0].weight: ") {
		t.Fatalf("Parse error %v; want upstream[0].backends[0].weight", err)
	}
}

func TestParseNegativeSizeInteger(t *testing.T) {
	_, err := Parse([]byte("[limits]\nmax_early_bytes = -1\n"+minimal), "throng.toml")
	if err == nil || !strings.Contains(err.Error(), "limits.max_early_bytes: ") {
		t.Fatalf("Parse error %v; want limits.max_early_bytes", err)
	}
}

func TestLoadExample(t *testing.T) {
	c, err := Load("../examples/throng.toml")
	if err != nil {
		t.Fatalf("Load(../examples/throng.toml): %v", err)
	}
	want := defaultsWithEcho()
	if !reflect.DeepEqual(c, want) {
		t.Fatalf("example =\n%+v\nwant the defaults plus the echo route\n%+v", c, want)
	}
}

func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := Load(filepath.Join(dir, "missing.toml")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Load(missing) error %v; want os.ErrNotExist", err)
	}
	path := filepath.Join(dir, "bad.toml")
	if err := os.WriteFile(path, []byte("[server]\nloops = 999\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Load(path)
	for _, w := range []string{path + ": server.loops: ", path + ": route: "} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("Load(bad) error %v; want it to contain %q", err, w)
		}
	}
}

// TestParseHashKeys checks the hash keys' decoding: defaults when omitted,
// an integer load factor, and errors with their line.
func TestParseHashKeys(t *testing.T) {
	tests := []struct {
		name       string
		keys       string
		wantKey    string
		wantFactor float64
		wantErr    string // substring of the error; "" for none
	}{
		{"defaults", "", "ip", 1.25, ""},
		{"set", "balance = \"hash\"\nhash_key = \"header:X-User\"\nhash_load_factor = 1.5\n", "header:X-User", 1.5, ""},
		{"integer factor", "hash_load_factor = 2\n", "ip", 2, ""},
		{"bad key", "hash_key = \"cookie:\"\n", "", 0, "throng.toml: upstream[0].hash_key: "},
		{"bad factor", "hash_load_factor = 0.5\n", "", 0, "throng.toml: upstream[0].hash_load_factor: "},
		{"nan factor", "hash_load_factor = nan\n", "", 0, "upstream[0].hash_load_factor: "},
		{"string factor", "hash_load_factor = \"1.5\"\n", "", 0, "hash_load_factor"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, ok := parseUpstreamKeys(t, tt.keys, tt.wantErr)
			if !ok {
				return
			}
			if u.HashKey != tt.wantKey || u.HashLoadFactor != tt.wantFactor {
				t.Fatalf("hash_key, hash_load_factor = %q, %v; want %q, %v", u.HashKey, u.HashLoadFactor, tt.wantKey, tt.wantFactor)
			}
		})
	}
}

func TestValidHashKey(t *testing.T) {
	tests := []struct {
		in   string
		want bool
	}{
		{"ip", true}, {"path", true}, {"header:X-User", true}, {"cookie:sid", true}, {"query:room", true},
		{"", false}, {"IP", false}, {"Path", false}, {"header", false}, {"header:", false},
		{"Header:X", false}, {"header: X", false}, {"query:a b", false}, {"cookie:a;b", false},
		{"query:a=1", false}, {"host", false}, {"ip:1", false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			if got := ValidHashKey(tt.in); got != tt.want {
				t.Fatalf("ValidHashKey(%q) = %v; want %v", tt.in, got, tt.want)
			}
		})
	}
}

// TestParsePassiveKeys checks max_fails, fail_window and eject_time:
// defaults when omitted, values when set, and errors with their key.
func TestParsePassiveKeys(t *testing.T) {
	tests := []struct {
		name       string
		keys       string
		wantFails  int
		wantWindow time.Duration
		wantEject  time.Duration
		wantErr    string // substring of the error; "" for none
	}{
		{"defaults", "", 3, 10 * time.Second, 30 * time.Second, ""},
		{"set", "max_fails = 5\nfail_window = \"1m\"\neject_time = \"2s\"\n", 5, time.Minute, 2 * time.Second, ""},
		{"off", "max_fails = 0\n", 0, 10 * time.Second, 30 * time.Second, ""},
		{"negative fails", "max_fails = -1\n", 0, 0, 0, "throng.toml: upstream[0].max_fails: "},
		{"zero window", "fail_window = \"0s\"\n", 0, 0, 0, "throng.toml: upstream[0].fail_window: "},
		{"zero eject", "eject_time = \"0s\"\n", 0, 0, 0, "throng.toml: upstream[0].eject_time: "},
		{"bad eject", "eject_time = \"soon\"\n", 0, 0, 0, "soon"},
		{"integer eject", "eject_time = 30\n", 0, 0, 0, "throng.toml"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, ok := parseUpstreamKeys(t, tt.keys, tt.wantErr)
			if !ok {
				return
			}
			if u.MaxFails != tt.wantFails || u.FailWindow.D() != tt.wantWindow || u.EjectTime.D() != tt.wantEject {
				t.Fatalf("max_fails, fail_window, eject_time = %d, %v, %v; want %d, %v, %v",
					u.MaxFails, u.FailWindow, u.EjectTime, tt.wantFails, tt.wantWindow, tt.wantEject)
			}
		})
	}
}

// documentedUpstream spells out, independently of DefaultUpstream, the
// [[upstream]] defaults that config.go documents.
func documentedUpstream() Upstream {
	return Upstream{
		Balance: BalanceRoundRobin, HashKey: HashKeyIP, HashLoadFactor: 1.25,
		MaxFails: 3, FailWindow: DurationOf(10 * time.Second), EjectTime: DurationOf(30 * time.Second),
		Retries: 2, RetryBackoff: DurationOf(50 * time.Millisecond), RetryBackoffMax: DurationOf(time.Second),
		WarmMaxIdle: DurationOf(30 * time.Second), SendProxyProtocol: ProxyProtocolOff,
		Health: HealthCheck{Path: "/", ExpectStatus: "200-399", Interval: DurationOf(2 * time.Second),
			Timeout: DurationOf(time.Second), Rise: 2, Fall: 2},
	}
}

// TestParseUpstreamPolicy checks the keys of issue 5 with their fixed
// names, including a partial [upstream.health] table filled from defaults.
func TestParseUpstreamPolicy(t *testing.T) {
	c := mustParse(t, `
[[route]]
upstream = "chat"

[[upstream]]
name = "chat"
balance = "hash"
hash_key = "header:X-User"
hash_load_factor = 1.5
sticky_cookie = "throng_backend"
sticky_secret = "s3cret"
retries = 3
retry_backoff = "10ms"
retry_backoff_max = "200ms"
warm = 8
warm_max_idle = "5s"
fallback_upstream = "spare"
backends = [{ addr = "127.0.0.1:9001" }]

[upstream.health]
type = "websocket"
path = "/healthz"
fall = 3

[[upstream]]
name = "spare"
backends = [{ addr = "127.0.0.1:9002" }]
`)
	u := c.Upstreams[0]
	want := documentedUpstream()
	want.Name, want.Balance, want.HashKey, want.HashLoadFactor = "chat", BalanceHash, "header:X-User", 1.5
	want.StickyCookie, want.StickySecret = "throng_backend", "s3cret"
	want.Retries, want.RetryBackoff, want.RetryBackoffMax = 3, DurationOf(10*time.Millisecond), DurationOf(200*time.Millisecond)
	want.Warm, want.WarmMaxIdle, want.FallbackUpstream = 8, DurationOf(5*time.Second), "spare"
	want.Health.Type, want.Health.Path, want.Health.Fall = HealthWebSocket, "/healthz", 3
	want.Backends = []Backend{{Addr: "127.0.0.1:9001", Weight: 1}}
	if !reflect.DeepEqual(u, want) {
		t.Fatalf("upstream =\n%+v\nwant\n%+v", u, want)
	}
	if got := c.Upstreams[1].Health; got != documentedUpstream().Health {
		t.Fatalf("spare health = %+v; want the defaults", got)
	}
}

// parseUpstreamKeys parses a one-upstream document with keys added to its
// [[upstream]] table. With wantErr it checks that Parse fails naming it
// and returns false; otherwise it returns the upstream.
func parseUpstreamKeys(t *testing.T, keys, wantErr string) (Upstream, bool) {
	t.Helper()
	doc := "[[route]]\nupstream = \"u\"\n[[upstream]]\nname = \"u\"\n" + keys +
		"backends = [{ addr = \"127.0.0.1:9001\" }]\n"
	c, err := Parse([]byte(doc), "throng.toml")
	if wantErr != "" {
		if err == nil || !strings.Contains(err.Error(), wantErr) {
			t.Fatalf("Parse error %v; want one containing %q", err, wantErr)
		}
		return Upstream{}, false
	}
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return c.Upstreams[0], true
}

// TestParseDurationTypeInArrays: a duration given as a number inside an
// array table is reported with its line and its element's key path, as
// one outside is.
func TestParseDurationTypeInArrays(t *testing.T) {
	doc := `[[route]]
upstream = "u"
[[upstream]]
name = "v"
backends = [{ addr = "127.0.0.1:1" }]
[[upstream]]
name = "u"
fail_window = 5
[[upstream.backends]]
addr = "127.0.0.1:2"
[upstream.health]
type = "tcp"
interval = 2
[timeouts]
connect = 3
`
	_, err := Parse([]byte(doc), "throng.toml")
	if err == nil {
		t.Fatal("Parse accepted durations given as numbers")
	}
	for _, want := range []string{
		"throng.toml:8: upstream[1].fail_window: ",
		"throng.toml:13: upstream[1].health.interval: ",
		"throng.toml:15: timeouts.connect: ",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
}

// TestParseTLSKeys checks the keys of [server] and [tls] for TLS and the
// PROXY protocol, with their fixed names, and the defaults as config.go
// documents them (spelled out here, not taken from Default).
func TestParseTLSKeys(t *testing.T) {
	documented := TLS{MinVersion: "1.2", Certificates: []Certificate{}, ClientAuth: "off", SessionTickets: true, MaxHandshakes: 1024}
	tests := []struct {
		name       string
		doc        string
		wantServer func(s *Server)
		want       func(t *TLS)
	}{
		{"defaults", minimal, func(*Server) {}, func(*TLS) {}},
		{"tls only", `
[server]
listen = []
listen_tls = ["0.0.0.0:443"]
proxy_protocol = "v2"
trusted_proxies = ["10.0.0.0/8"]

[tls]
min_version = "1.3"
client_ca = "/etc/throng/clients.pem"
client_auth = "require"
session_tickets = false
ticket_key_file = "/etc/throng/tickets"
max_handshakes = 64

[[tls.certificates]]
cert = "/etc/throng/site.pem"
key = "/etc/throng/site.key"

[[tls.certificates]]
cert = "/etc/throng/other.pem"
key = "/etc/throng/other.key"
` + minimal, func(s *Server) {
			s.Listen, s.ListenTLS = []string{}, []string{"0.0.0.0:443"}
			s.ProxyProtocol, s.TrustedProxies = "v2", []string{"10.0.0.0/8"}
		}, func(t *TLS) {
			*t = TLS{MinVersion: "1.3", ClientCA: "/etc/throng/clients.pem", ClientAuth: "require",
				SessionTickets: false, TicketKeyFile: "/etc/throng/tickets", MaxHandshakes: 64,
				Certificates: []Certificate{
					{Cert: "/etc/throng/site.pem", Key: "/etc/throng/site.key"},
					{Cert: "/etc/throng/other.pem", Key: "/etc/throng/other.key"},
				}}
		}},
		{"partial table keeps the other defaults", "[tls]\nclient_auth = \"request\"\nclient_ca = \"ca.pem\"\n" + minimal,
			func(*Server) {}, func(t *TLS) { t.ClientAuth, t.ClientCA = "request", "ca.pem" }},
		{"both listeners", "[server]\nlisten = [\"0.0.0.0:80\"]\nlisten_tls = [\"0.0.0.0:443\"]\n" +
			"[[tls.certificates]]\ncert = \"a.pem\"\nkey = \"a.key\"\n" + minimal,
			func(s *Server) { s.Listen, s.ListenTLS = []string{"0.0.0.0:80"}, []string{"0.0.0.0:443"} },
			func(t *TLS) { t.Certificates = []Certificate{{Cert: "a.pem", Key: "a.key"}} }},
		{"listen_tls alone drops the default plain listener", "[server]\nlisten_tls = [\"0.0.0.0:443\"]\n" +
			"[[tls.certificates]]\ncert = \"a.pem\"\nkey = \"a.key\"\n" + minimal,
			func(s *Server) { s.Listen, s.ListenTLS = nil, []string{"0.0.0.0:443"} },
			func(t *TLS) { t.Certificates = []Certificate{{Cert: "a.pem", Key: "a.key"}} }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := mustParse(t, tt.doc)
			wantServer := Default().Server
			wantServer.ListenTLS, wantServer.ProxyProtocol = []string{}, "off"
			tt.wantServer(&wantServer)
			if !reflect.DeepEqual(c.Server, wantServer) {
				t.Errorf("server =\n%+v\nwant\n%+v", c.Server, wantServer)
			}
			want := documented
			tt.want(&want)
			if !reflect.DeepEqual(c.TLS, want) {
				t.Errorf("tls =\n%+v\nwant\n%+v", c.TLS, want)
			}
		})
	}
}

// TestParseBackendTLSKeys checks send_proxy_protocol and the backends'
// tls, server_name and ca, in inline tables and in [[upstream.backends]].
func TestParseBackendTLSKeys(t *testing.T) {
	c := mustParse(t, `
[[route]]
upstream = "app"

[[upstream]]
name = "app"
send_proxy_protocol = "v1"
backends = [
  { addr = "10.0.0.5:443", tls = true, server_name = "app.internal", ca = "/etc/throng/internal-ca.pem" },
  { addr = "10.0.0.6:443", tls = true },
  { addr = "10.0.0.7:80" },
]

[[upstream]]
name = "plain"
[[upstream.backends]]
addr = "app.internal:443"
tls = true
`)
	want := []Backend{
		{Addr: "10.0.0.5:443", Weight: 1, TLS: true, ServerName: "app.internal", CA: "/etc/throng/internal-ca.pem"},
		{Addr: "10.0.0.6:443", Weight: 1, TLS: true},
		{Addr: "10.0.0.7:80", Weight: 1},
	}
	if got := c.Upstreams[0]; got.SendProxyProtocol != "v1" || !reflect.DeepEqual(got.Backends, want) {
		t.Errorf("upstream[0] send_proxy_protocol, backends = %q, %+v; want \"v1\", %+v", got.SendProxyProtocol, got.Backends, want)
	}
	want = []Backend{{Addr: "app.internal:443", Weight: 1, TLS: true}}
	if got := c.Upstreams[1]; got.SendProxyProtocol != "off" || !reflect.DeepEqual(got.Backends, want) {
		t.Errorf("upstream[1] send_proxy_protocol, backends = %q, %+v; want \"off\", %+v", got.SendProxyProtocol, got.Backends, want)
	}
}

// TestParseTLSErrors checks that the new keys' errors name the file, the
// key and, for decoding errors, the line.
func TestParseTLSErrors(t *testing.T) {
	cert := "[[tls.certificates]]\ncert = \"a.pem\"\nkey = \"a.key\"\n"
	tests := []struct {
		name string
		doc  string
		want string
		is   error
	}{
		{"unknown key in certificate", "[[tls.certificates]]\ncert = \"a.pem\"\nkye = \"a.key\"\n" + minimal,
			`throng.toml:3: unknown key "tls.certificates.kye"`, ErrUnknownKey},
		{"unknown tls key", "[tls]\n\nhandshake_workers = 4\n" + minimal,
			`throng.toml:3: unknown key "tls.handshake_workers"`, ErrUnknownKey},
		{"tickets not a bool", "[tls]\nsession_tickets = \"no\"\n" + minimal, `throng.toml:2: `, ErrSyntax},
		{"listen_tls not a list", "[server]\nlisten_tls = \":443\"\n" + minimal, `throng.toml:2: `, ErrSyntax},
		{"backend tls not a bool", "[[route]]\nupstream = \"e\"\n[[upstream]]\nname = \"e\"\nbackends = [{ addr = \"h:1\", tls = 1 }]\n",
			`throng.toml:5: `, ErrSyntax},
		{"proxy protocol", "[server]\nproxy_protocol = \"v1\"\n" + minimal,
			`throng.toml: server.proxy_protocol: is v1 but server.trusted_proxies is empty`, ErrInvalid},
		{"send proxy protocol", strings.Replace(minimal, "name = \"echo\"", "name = \"echo\"\nsend_proxy_protocol = \"yes\"", 1),
			`throng.toml: upstream[0].send_proxy_protocol: must be off, v1 or v2, not "yes"`, ErrInvalid},
		{"min version", "[tls]\nmin_version = \"1.1\"\n" + minimal, `throng.toml: tls.min_version: `, ErrInvalid},
		{"client auth", "[tls]\nclient_auth = \"request\"\n" + minimal, `throng.toml: tls.client_auth: `, ErrInvalid},
		{"max handshakes", "[tls]\nmax_handshakes = 0\n" + minimal, `throng.toml: tls.max_handshakes: `, ErrInvalid},
		{"listen tls without certificate", "[server]\nlisten_tls = [\":443\"]\n" + minimal, `throng.toml: tls.certificates: `, ErrInvalid},
		{"same address twice", "[server]\nlisten = [\":443\"]\nlisten_tls = [\":443\"]\n" + cert + minimal,
			`throng.toml: server.listen_tls[0]: ":443" repeats server.listen[0]`, ErrInvalid},
		{"server name without tls", "[[route]]\nupstream = \"e\"\n[[upstream]]\nname = \"e\"\nbackends = [{ addr = \"h:1\", server_name = \"h\" }]\n",
			`throng.toml: upstream[0].backends[0].server_name: is set but tls is false`, ErrInvalid},
		{"ca without tls", "[[route]]\nupstream = \"e\"\n[[upstream]]\nname = \"e\"\nbackends = [{ addr = \"h:1\", tls = false, ca = \"ca.pem\" }]\n",
			`throng.toml: upstream[0].backends[0].ca: is set but tls is false`, ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.doc), "throng.toml")
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Parse error %v; want one containing %q", err, tt.want)
			}
			if !errors.Is(err, tt.is) {
				t.Errorf("Parse error %q; want errors.Is(err, %v)", err, tt.is)
			}
		})
	}
}
