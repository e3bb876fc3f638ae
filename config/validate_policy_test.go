package config

import (
	"strings"
	"testing"
	"time"
)

func TestValidatePolicy(t *testing.T) {
	size := func(s Size) *Size { return &s }
	num := func(n int) *int { return &n }
	rate := func(n int64) *Rate { r := RateOf(n, time.Second); return &r }
	tests := []struct {
		name string
		edit func(c *Config)
		want string // "" = valid
	}{
		{"origins and cidrs", func(c *Config) {
			c.Routes[0].AllowOrigins = []string{"https://app.example.com", "https://*.example.org"}
			c.Routes[0].AllowCIDRs = []string{"10.0.0.0/8", "2001:db8::/32"}
			c.Routes[0].DenyCIDRs = []string{"10.9.9.9"}
		}, ""},
		{"per-ip limits", func(c *Config) {
			c.Limits.MaxSessionsPerIP = 10
			c.Limits.HandshakesPerIP = RateOf(20, time.Second)
			c.Routes[0].Limits.MaxSessionsPerIP = num(2)
			c.Routes[0].Limits.MaxHeaderBytes = size(4 * KiB)
		}, ""},
		{"bad origin", func(c *Config) { c.Routes[0].AllowOrigins = []string{"app.example.com"} },
			`route[0].allow_origins: policy: origin must be scheme://host[:port] or scheme://*.suffix[:port], not "app.example.com"`},
		{"bad cidr", func(c *Config) { c.Routes[0].DenyCIDRs = []string{"10.0.0.0/40"} },
			`route[0].deny_cidrs: policy: want an IP address or a CIDR prefix such as 10.0.0.0/8, not "10.0.0.0/40"`},
		{"negative sessions", func(c *Config) { c.Limits.MaxSessionsPerIP = -1 }, "limits.max_sessions_per_ip: must not be negative"},
		{"route sessions", func(c *Config) { c.Routes[0].Limits.MaxSessionsPerIP = num(-2) }, "route[0].limits.max_sessions_per_ip: must not be negative"},
		{"bad action", func(c *Config) { c.Limits.RateLimitAction = "kick" }, "limits.rate_limit_action: must be close or drop"},
		{"ipv6 prefix", func(c *Config) { c.Limits.IPv6Prefix = 0 }, "limits.ipv6_prefix: must be in 1..128"},
		{"tracked", func(c *Config) { c.Limits.TrackedIPs = 10 }, "limits.tracked_ips: must be in 1024..16777216"},
		{"looser route head", func(c *Config) { c.Routes[0].Limits.MaxHeaderBytes = size(64 * KiB) },
			"route[0].limits.max_header_bytes: may only tighten"},
		{"route frame", func(c *Config) { c.Routes[0].Limits.MaxFrameBytes = size(10) }, "route[0].limits.max_frame_bytes: must be at least 125"},
		{"route stalled", func(c *Config) { d := DurationOf(time.Second); c.Routes[0].Limits.StalledFrame = &d },
			"route[0].limits.stalled_frame: applies to the whole process"},
		{"message limits", func(c *Config) {
			c.Limits.MessagesPerSession = RateOf(100, time.Second)
			c.Limits.MaxMessageBytes = MiB
			c.Routes[0].Limits.BytesPerSession = rate(1000)
		}, ""},
		{"pings", func(c *Config) { c.Keepalive.PingInterval = DurationOf(time.Minute) }, ""},
		{"pong timeout", func(c *Config) {
			c.Keepalive.PingInterval, c.Keepalive.PongTimeout = DurationOf(time.Minute), DurationOf(0)
		}, "keepalive.pong_timeout"},
		{"short ping", func(c *Config) { c.Keepalive.PingInterval = DurationOf(time.Millisecond) }, "keepalive.ping_interval: must be 0s (off) or at least 1s"},
		{"jwt", func(c *Config) {
			j := DefaultJWT()
			j.PublicKeyFiles = []string{"/etc/throng/idp.pem"}
			j.TokenFrom = []string{"header", "query:access_token", "protocol"}
			j.ForwardClaims = map[string]string{"sub": "X-User-Id"}
			c.Routes[0].JWT = &j
		}, ""},
		{"jwt without key", func(c *Config) { j := DefaultJWT(); c.Routes[0].JWT = &j }, "route[0].jwt: needs a key"},
		{"jwt leeway", func(c *Config) {
			j := DefaultJWT()
			j.HS256SecretFile, j.Leeway = "/s", DurationOf(time.Minute)
			c.Routes[0].JWT = &j
		}, "route[0].jwt.leeway: must be within 0s..30s"},
		{"jwt token_from", func(c *Config) {
			j := DefaultJWT()
			j.HS256SecretFile, j.TokenFrom = "/s", []string{"header", "cookie:t"}
			c.Routes[0].JWT = &j
		}, `route[0].jwt.token_from[1]: "cookie:t": want header, query:NAME or protocol`},
		{"jwt query name", func(c *Config) {
			j := DefaultJWT()
			j.HS256SecretFile, j.TokenFrom = "/s", []string{"query:"}
			c.Routes[0].JWT = &j
		}, "route[0].jwt.token_from[0]"},
		{"jwt claim header", func(c *Config) {
			j := DefaultJWT()
			j.HS256SecretFile, j.ForwardClaims = "/s", map[string]string{"sub": "X User"}
			c.Routes[0].JWT = &j
		}, `route[0].jwt.forward_claims.sub: "X User" is not a header name`},
		{"forward auth", func(c *Config) {
			c.Routes[0].ForwardAuth = "http://127.0.0.1:9/auth"
			c.Routes[0].ForwardAuthHeaders = []string{"X-User"}
			c.Routes[0].ForwardAuthCache = DurationOf(time.Second)
		}, ""},
		{"forward auth url", func(c *Config) { c.Routes[0].ForwardAuth = "127.0.0.1:9/auth" }, "route[0].forward_auth: must be an http:// or https:// URL"},
		{"forward auth header", func(c *Config) {
			c.Routes[0].ForwardAuth, c.Routes[0].ForwardAuthHeaders = "http://a/", []string{"X User"}
		}, `route[0].forward_auth_headers[0]: "X User" is not a header name`},
		{"forward auth timeout", func(c *Config) {
			c.Routes[0].ForwardAuth, c.Routes[0].ForwardAuthTimeout = "http://a/", DurationOf(time.Hour)
		}, "route[0].forward_auth_timeout: must be greater than 0s and less than timeouts.handshake"},
		{"forward auth cache", func(c *Config) {
			c.Routes[0].ForwardAuth, c.Routes[0].ForwardAuthCache = "http://a/", DurationOf(2*time.Hour)
		}, "route[0].forward_auth_cache: must be within 0s..1h"},
		{"concurrency", func(c *Config) { c.Server.ForwardAuthConcurrency = 0 }, "server.forward_auth_concurrency: must be in 1..65536"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := valid()
			c.Routes[0] = DefaultRoute()
			c.Routes[0].Upstream = "echo"
			tt.edit(c)
			err := c.Validate()
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("Validate() = %v, want nil", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("Validate() = %v, want %q", err, tt.want)
			}
		})
	}
}

func TestParseRouteLimits(t *testing.T) {
	c, err := Parse([]byte(`
[limits]
max_sessions_per_ip = 5
handshakes_per_ip = "20/s"

[[route]]
upstream = "a"
allow_origins = ["https://*.example.com"]
[route.limits]
max_sessions_per_ip = 1
handshakes_per_ip = "3/m"

[[upstream]]
name = "a"
backends = [{ addr = "127.0.0.1:9001" }]
`), "t.toml")
	if err != nil {
		t.Fatal(err)
	}
	eff := c.Routes[0].Limits.Apply(c.Limits)
	if eff.MaxSessionsPerIP != 1 || eff.HandshakesPerIP != RateOf(3, time.Minute) || eff.IPv6Prefix != 64 {
		t.Fatalf("route limits = %+v", eff)
	}
	if c.Limits.MaxSessionsPerIP != 5 || c.Limits.HandshakesPerIP != RateOf(20, time.Second) {
		t.Fatalf("[limits] = %+v", c.Limits)
	}
	if _, err := Parse([]byte("[limits]\nhandshakes_per_ip = \"20/x\"\n"), "t.toml"); err == nil || !strings.Contains(err.Error(), "t.toml:2") {
		t.Fatalf("bad rate: %v, want an error at line 2", err)
	}
}
