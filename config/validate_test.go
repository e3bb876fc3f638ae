package config

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"
)

// valid returns Default() plus one route and one upstream: a valid Config.
func valid() *Config {
	c := Default()
	c.Routes = []Route{{Host: "*", PathPrefix: "/", Upstream: "echo"}}
	c.Upstreams = []Upstream{{Name: "echo", Balance: BalanceRoundRobin, HashKey: HashKeyIP, HashLoadFactor: 1.25, Backends: []Backend{{Addr: "127.0.0.1:9001", Weight: 1}}}}
	return c
}

func TestDefaultValidatesWithRoute(t *testing.T) {
	if err := valid().Validate(); err != nil {
		t.Fatalf("Default()+route+upstream: Validate() = %v; want nil", err)
	}
	if err := Default().Validate(); err == nil || !strings.Contains(err.Error(), "route: ") {
		t.Fatalf("Default(): Validate() = %v; want a route error", err)
	}
}

func TestValidateAccepts(t *testing.T) {
	tests := []struct {
		name string
		edit func(c *Config)
	}{
		{"listen any port", func(c *Config) { c.Server.Listen = []string{":8080"} }},
		{"listen v6", func(c *Config) { c.Server.Listen = []string{"[::1]:8080", "[::]:8081"} }},
		{"listen host name", func(c *Config) { c.Server.Listen = []string{"localhost:8080"} }},
		{"loops bounds", func(c *Config) { c.Server.Loops = 256 }},
		{"keepalive off", func(c *Config) { c.Server.TCPKeepalive = DurationOf(0) }},
		{"keepalive 1s", func(c *Config) { c.Server.TCPKeepalive = DurationOf(time.Second) }},
		{"trusted proxies", func(c *Config) { c.Server.TrustedProxies = []string{"10.0.0.1", "10.0.0.0/8", "fd00::/8", "::1"} }},
		{"dial workers bounds", func(c *Config) { c.Server.DialWorkers = 1024 }},
		{"read buffer bounds", func(c *Config) { c.Server.ReadBuffer = 16 * MiB }},
		{"header bounds", func(c *Config) { c.Limits.MaxHeaderBytes = KiB }},
		{"frame minimum", func(c *Config) { c.Limits.MaxFrameBytes = 125 }},
		{"write buffer minimum", func(c *Config) { c.Limits.WriteBufferLimit = 64 * KiB }},
		{"early bytes zero", func(c *Config) { c.Limits.MaxEarlyBytes = 0 }},
		{"idle zero", func(c *Config) { c.Timeouts.Idle = DurationOf(0) }},
		{"log level", func(c *Config) { c.Log.Level = LevelDebug }},
		{"route hosts", func(c *Config) {
			c.Routes = append(c.Routes,
				Route{Host: "example.com", PathPrefix: "/", Upstream: "echo"},
				Route{Host: "*.example.com", PathPrefix: "/", Upstream: "echo"},
				Route{Host: "*.a.example.com", PathPrefix: "/x", Upstream: "echo"},
				Route{Host: "192.0.2.1", PathPrefix: "/", Upstream: "echo"},
				Route{Host: "[2001:db8::1]", PathPrefix: "/", Upstream: "echo"},
				Route{Host: "Example.COM", PathPrefix: "/chat", Upstream: "echo"},
				Route{Host: "", PathPrefix: "/chat", Upstream: "echo"})
		}},
		{"unused upstream", func(c *Config) {
			c.Upstreams = append(c.Upstreams, Upstream{Name: "spare-1_v2.0", Balance: BalanceWeightedRoundRobin, HashKey: HashKeyIP, HashLoadFactor: 1.25,
				Backends: []Backend{{Addr: "backend.internal:443", Weight: 1000}, {Addr: "[::1]:80", Weight: 1}}})
		}},
		{"balance least_conn", func(c *Config) { c.Upstreams[0].Balance = BalanceLeastConn }},
		{"balance random_two", func(c *Config) { c.Upstreams[0].Balance = BalanceRandomTwo }},
		{"balance hash", func(c *Config) { c.Upstreams[0].Balance = BalanceHash }},
		{"hash key path", func(c *Config) { c.Upstreams[0].Balance, c.Upstreams[0].HashKey = BalanceHash, "path" }},
		{"hash key header", func(c *Config) { c.Upstreams[0].Balance, c.Upstreams[0].HashKey = BalanceHash, "header:X-User" }},
		{"hash key cookie", func(c *Config) { c.Upstreams[0].HashKey = "cookie:session_id" }},
		{"hash key query token chars", func(c *Config) { c.Upstreams[0].HashKey = "query:a.b~c!#$%&'*+-^_`|" }},
		{"hash load factor 1", func(c *Config) { c.Upstreams[0].HashLoadFactor = 1 }},
		{"hash load factor large", func(c *Config) { c.Upstreams[0].HashLoadFactor = 1e6 }},
		{"passive defaults", func(c *Config) {
			d := DefaultUpstream()
			c.Upstreams[0].MaxFails, c.Upstreams[0].FailWindow, c.Upstreams[0].EjectTime = d.MaxFails, d.FailWindow, d.EjectTime
		}},
		{"passive off with zero times", func(c *Config) {
			c.Upstreams[0].MaxFails, c.Upstreams[0].FailWindow, c.Upstreams[0].EjectTime = 0, DurationOf(0), DurationOf(0)
		}},
		{"passive bounds", func(c *Config) {
			c.Upstreams[0].MaxFails, c.Upstreams[0].FailWindow, c.Upstreams[0].EjectTime = 1000, DurationOf(24*time.Hour), DurationOf(time.Nanosecond)
		}},
		{"same addr in two upstreams", func(c *Config) {
			c.Upstreams = append(c.Upstreams, Upstream{Name: "b", Balance: BalanceRoundRobin, HashKey: HashKeyIP, HashLoadFactor: 1.25, Backends: c.Upstreams[0].Backends})
		}},
		{"upstream policy defaults", func(c *Config) {
			d := DefaultUpstream()
			d.Name, d.Backends = "echo", c.Upstreams[0].Backends
			c.Upstreams[0] = d
		}},
		{"sticky cookie", func(c *Config) { c.Upstreams[0].StickyCookie = "throng_backend" }},
		{"retries bounds", func(c *Config) {
			c.Upstreams[0].Retries, c.Upstreams[0].RetryBackoff, c.Upstreams[0].RetryBackoffMax = 32, DurationOf(time.Second), DurationOf(time.Second)
		}},
		{"warm", func(c *Config) { c.Upstreams[0].Warm, c.Upstreams[0].WarmMaxIdle = 1024, DurationOf(time.Second) }},
		{"fallback chain", func(c *Config) {
			c.Upstreams[0].FallbackUpstream = "b"
			c.Upstreams = append(c.Upstreams,
				Upstream{Name: "b", Balance: BalanceRoundRobin, HashKey: HashKeyIP, HashLoadFactor: 1.25, FallbackUpstream: "c", Backends: []Backend{{Addr: "127.0.0.1:2", Weight: 1}}},
				Upstream{Name: "c", Balance: BalanceRoundRobin, HashKey: HashKeyIP, HashLoadFactor: 1.25, Backends: []Backend{{Addr: "127.0.0.1:3", Weight: 1}}})
		}},
		{"health each type", func(c *Config) {
			for _, typ := range []string{HealthTCP, HealthHTTP, HealthWebSocket} {
				h := DefaultHealthCheck()
				h.Type, h.ExpectStatus, h.Host = typ, "204", "chat.internal:8080"
				c.Upstreams[0].Health = h
				if err := c.Validate(); err != nil {
					panic(err)
				}
			}
		}},
		{"health off ignores the rest", func(c *Config) { c.Upstreams[0].Health = HealthCheck{Path: "bad"} }},
		{"tls only", func(c *Config) {
			c.Server.Listen, c.Server.ListenTLS = nil, []string{"0.0.0.0:443", "[::]:443"}
			c.TLS.Certificates = []Certificate{{Cert: "/etc/throng/site.pem", Key: "/etc/throng/site.key"}}
		}},
		{"plain and tls", func(c *Config) {
			c.Server.Listen, c.Server.ListenTLS = []string{"0.0.0.0:80"}, []string{"0.0.0.0:443"}
			c.TLS.Certificates = []Certificate{{Cert: "a.pem", Key: "a.key"}, {Cert: "b.pem", Key: "b.key"}}
		}},
		{"certificates without listen_tls", func(c *Config) { c.TLS.Certificates = []Certificate{{Cert: "a.pem", Key: "a.key"}} }},
		{"proxy protocol v1", func(c *Config) {
			c.Server.ProxyProtocol, c.Server.TrustedProxies = ProxyProtocolV1, []string{"10.0.0.0/8"}
		}},
		{"proxy protocol v2", func(c *Config) {
			c.Server.ProxyProtocol, c.Server.TrustedProxies = ProxyProtocolV2, []string{"192.0.2.1"}
		}},
		{"proxy protocol empty is off", func(c *Config) { c.Server.ProxyProtocol = "" }},
		{"tls 1.3", func(c *Config) { c.TLS.MinVersion = TLSVersion13 }},
		{"client auth request", func(c *Config) { c.TLS.ClientAuth, c.TLS.ClientCA = ClientAuthRequest, "/etc/throng/clients.pem" }},
		{"client auth require", func(c *Config) { c.TLS.ClientAuth, c.TLS.ClientCA = ClientAuthRequire, "/etc/throng/clients.pem" }},
		{"client auth empty is off", func(c *Config) { c.TLS.ClientAuth = "" }},
		{"client ca unused", func(c *Config) { c.TLS.ClientCA = "/etc/throng/clients.pem" }},
		{"tickets", func(c *Config) { c.TLS.SessionTickets, c.TLS.TicketKeyFile = false, "/etc/throng/tickets" }},
		{"max handshakes bounds", func(c *Config) {
			for _, n := range []int{1, 65536} {
				c.TLS.MaxHandshakes = n
				if err := c.Validate(); err != nil {
					panic(err)
				}
			}
		}},
		{"send proxy protocol", func(c *Config) {
			c.Upstreams[0].SendProxyProtocol, c.Upstreams[0].Warm, c.Upstreams[0].WarmMaxIdle = ProxyProtocolV2, 4, DurationOf(time.Second)
		}},
		{"send proxy protocol to tls without warm", func(c *Config) {
			c.Upstreams[0].SendProxyProtocol = ProxyProtocolV1
			c.Upstreams[0].Backends[0].TLS = true
		}},
		{"send proxy protocol empty is off", func(c *Config) {
			c.Upstreams[0].SendProxyProtocol, c.Upstreams[0].Warm, c.Upstreams[0].WarmMaxIdle = "", 4, DurationOf(time.Second)
			c.Upstreams[0].Backends[0].TLS = true
		}},
		{"backend tls", func(c *Config) {
			c.Upstreams[0].Backends = []Backend{
				{Addr: "10.0.0.5:443", Weight: 1, TLS: true, ServerName: "app.internal", CA: "/etc/throng/internal-ca.pem"},
				{Addr: "10.0.0.6:443", Weight: 1, TLS: true},
				{Addr: "10.0.0.7:443", Weight: 1, TLS: true, ServerName: "10.0.0.7"},
				{Addr: "10.0.0.8:443", Weight: 1, TLS: true, ServerName: "2001:db8::8"},
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := valid()
			tt.edit(c)
			if err := c.Validate(); err != nil {
				t.Fatalf("Validate() = %v; want nil", err)
			}
		})
	}
}

func TestValidateRejects(t *testing.T) {
	tests := []struct {
		name string
		edit func(c *Config)
		want string // key path the error must name
	}{
		{"no listen", func(c *Config) { c.Server.Listen = nil }, "server.listen: "},
		{"no listen of either kind", func(c *Config) { c.Server.Listen, c.Server.ListenTLS = []string{}, []string{} }, "server.listen: "},
		{"listen tls port 0", func(c *Config) { withTLS(c, "127.0.0.1:0") }, "server.listen_tls[0]: "},
		{"listen tls no port", func(c *Config) { withTLS(c, "127.0.0.1:443", "127.0.0.1") }, "server.listen_tls[1]: "},
		{"listen tls duplicate", func(c *Config) { withTLS(c, ":443", ":443") }, "server.listen_tls[1]: "},
		{"listen tls repeats listen", func(c *Config) { withTLS(c, "127.0.0.1:8443", "127.0.0.1:8080") }, "server.listen_tls[1]: "},
		{"listen tls without certificates", func(c *Config) { c.Server.ListenTLS = []string{":443"} }, "tls.certificates: "},
		{"admin on listen tls", func(c *Config) { withTLS(c, "127.0.0.1:9443"); c.Admin.Listen = "127.0.0.1:9443" }, "admin.listen: "},
		{"proxy protocol unknown", func(c *Config) {
			c.Server.ProxyProtocol, c.Server.TrustedProxies = "v3", []string{"10.0.0.1"}
		}, "server.proxy_protocol: "},
		{"proxy protocol case", func(c *Config) {
			c.Server.ProxyProtocol, c.Server.TrustedProxies = "V1", []string{"10.0.0.1"}
		}, "server.proxy_protocol: "},
		{"proxy protocol without trusted proxies", func(c *Config) { c.Server.ProxyProtocol = ProxyProtocolV2 }, "server.proxy_protocol: "},
		{"tls min version 1.1", func(c *Config) { c.TLS.MinVersion = "1.1" }, "tls.min_version: "},
		{"tls min version empty", func(c *Config) { c.TLS.MinVersion = "" }, "tls.min_version: "},
		{"tls min version spelled", func(c *Config) { c.TLS.MinVersion = "TLS1.2" }, "tls.min_version: "},
		{"certificate cert empty", func(c *Config) { c.TLS.Certificates = []Certificate{{Cert: "a.pem", Key: "a.key"}, {Key: "b.key"}} }, "tls.certificates[1].cert: "},
		{"certificate key empty", func(c *Config) { c.TLS.Certificates = []Certificate{{Cert: "a.pem"}} }, "tls.certificates[0].key: "},
		{"client auth unknown", func(c *Config) { c.TLS.ClientAuth, c.TLS.ClientCA = "optional", "ca.pem" }, "tls.client_auth: "},
		{"client auth request without ca", func(c *Config) { c.TLS.ClientAuth = ClientAuthRequest }, "tls.client_auth: "},
		{"client auth require without ca", func(c *Config) { c.TLS.ClientAuth = ClientAuthRequire }, "tls.client_auth: "},
		{"max handshakes zero", func(c *Config) { c.TLS.MaxHandshakes = 0 }, "tls.max_handshakes: "},
		{"max handshakes large", func(c *Config) { c.TLS.MaxHandshakes = 65537 }, "tls.max_handshakes: "},
		{"send proxy protocol unknown", func(c *Config) { c.Upstreams[0].SendProxyProtocol = "on" }, "upstream[0].send_proxy_protocol: "},
		{"send proxy protocol warm tls", func(c *Config) {
			c.Upstreams[0].SendProxyProtocol, c.Upstreams[0].Warm = ProxyProtocolV1, 1
			c.Upstreams[0].Backends[0].TLS = true
		}, "upstream[0].send_proxy_protocol: "},
		{"backend server name without tls", func(c *Config) { c.Upstreams[0].Backends[0].ServerName = "app.internal" }, "upstream[0].backends[0].server_name: "},
		{"backend ca without tls", func(c *Config) { c.Upstreams[0].Backends[0].CA = "ca.pem" }, "upstream[0].backends[0].ca: "},
		{"backend server name with port", func(c *Config) {
			c.Upstreams[0].Backends[0].TLS, c.Upstreams[0].Backends[0].ServerName = true, "app.internal:443"
		}, "upstream[0].backends[0].server_name: "},
		{"listen port 0", func(c *Config) { c.Server.Listen = []string{"127.0.0.1:0"} }, "server.listen[0]: "},
		{"listen no port", func(c *Config) { c.Server.Listen = []string{"127.0.0.1"} }, "server.listen[0]: "},
		{"listen bare v6", func(c *Config) { c.Server.Listen = []string{"::1:80"} }, "server.listen[0]: "},
		{"listen port range", func(c *Config) { c.Server.Listen = []string{":65536"} }, "server.listen[0]: "},
		{"listen port name", func(c *Config) { c.Server.Listen = []string{":http"} }, "server.listen[0]: "},
		{"listen signed port", func(c *Config) { c.Server.Listen = []string{":+80"} }, "server.listen[0]: "},
		{"listen bad host", func(c *Config) { c.Server.Listen = []string{"ex ample:80"} }, "server.listen[0]: "},
		{"listen duplicate", func(c *Config) { c.Server.Listen = []string{":80", "127.0.0.1:80", ":80"} }, "server.listen[2]: "},
		{"loops negative", func(c *Config) { c.Server.Loops = -1 }, "server.loops: "},
		{"loops too many", func(c *Config) { c.Server.Loops = 257 }, "server.loops: "},
		{"keepalive negative", func(c *Config) { c.Server.TCPKeepalive = DurationOf(-time.Second) }, "server.tcp_keepalive: "},
		{"keepalive sub-second", func(c *Config) { c.Server.TCPKeepalive = DurationOf(500 * time.Millisecond) }, "server.tcp_keepalive: "},
		{"trusted proxy", func(c *Config) { c.Server.TrustedProxies = []string{"10.0.0.0/8", "10.0.0.0/33"} }, "server.trusted_proxies[1]: "},
		{"trusted proxy name", func(c *Config) { c.Server.TrustedProxies = []string{"proxy.local"} }, "server.trusted_proxies[0]: "},
		{"dial workers zero", func(c *Config) { c.Server.DialWorkers = 0 }, "server.dial_workers: "},
		{"dial workers too many", func(c *Config) { c.Server.DialWorkers = 1025 }, "server.dial_workers: "},
		{"max sessions negative", func(c *Config) { c.Server.MaxSessions = -1 }, "server.max_sessions: "},
		{"read buffer small", func(c *Config) { c.Server.ReadBuffer = 1023 }, "server.read_buffer: "},
		{"read buffer large", func(c *Config) { c.Server.ReadBuffer = 16*MiB + 1 }, "server.read_buffer: "},
		{"header small", func(c *Config) { c.Limits.MaxHeaderBytes = 1023 }, "limits.max_header_bytes: "},
		{"header large", func(c *Config) { c.Limits.MaxHeaderBytes = MiB + 1 }, "limits.max_header_bytes: "},
		{"frame small", func(c *Config) { c.Limits.MaxFrameBytes = 124 }, "limits.max_frame_bytes: "},
		{"write buffer small", func(c *Config) { c.Limits.WriteBufferLimit = 64*KiB - 1 }, "limits.write_buffer_limit: "},
		{"early bytes negative", func(c *Config) { c.Limits.MaxEarlyBytes = -1 }, "limits.max_early_bytes: "},
		{"handshake zero", func(c *Config) { c.Timeouts.Handshake = DurationOf(0) }, "timeouts.handshake: "},
		{"connect zero", func(c *Config) { c.Timeouts.Connect = DurationOf(0) }, "timeouts.connect: "},
		{"upstream handshake zero", func(c *Config) { c.Timeouts.UpstreamHandshake = DurationOf(0) }, "timeouts.upstream_handshake: "},
		{"idle negative", func(c *Config) { c.Timeouts.Idle = DurationOf(-1) }, "timeouts.idle: "},
		{"close zero", func(c *Config) { c.Timeouts.Close = DurationOf(0) }, "timeouts.close: "},
		{"drain zero", func(c *Config) { c.Timeouts.Drain = DurationOf(0) }, "timeouts.drain: "},
		{"log level", func(c *Config) { c.Log.Level = "verbose" }, "log.level: "},
		{"log level case", func(c *Config) { c.Log.Level = "INFO" }, "log.level: "},
		{"no route", func(c *Config) { c.Routes = nil }, "route: "},
		{"route host port", func(c *Config) { c.Routes[0].Host = "example.com:8080" }, "route[0].host: "},
		{"route host v6 port", func(c *Config) { c.Routes[0].Host = "[::1]:8080" }, "route[0].host: "},
		{"route host bare v6", func(c *Config) { c.Routes[0].Host = "::1" }, "route[0].host: "},
		{"route host v4 in brackets", func(c *Config) { c.Routes[0].Host = "[127.0.0.1]" }, "route[0].host: "},
		{"route wildcard no dot", func(c *Config) { c.Routes[0].Host = "*.com" }, "route[0].host: "},
		{"route wildcard empty", func(c *Config) { c.Routes[0].Host = "*." }, "route[0].host: "},
		{"route wildcard inside", func(c *Config) { c.Routes[0].Host = "a.*.example.com" }, "route[0].host: "},
		{"route wildcard suffix", func(c *Config) { c.Routes[0].Host = "example.*" }, "route[0].host: "},
		{"route wildcard no dot after star", func(c *Config) { c.Routes[0].Host = "*example.com" }, "route[0].host: "},
		{"route host empty label", func(c *Config) { c.Routes[0].Host = "a..b" }, "route[0].host: "},
		{"route host trailing dot", func(c *Config) { c.Routes[0].Host = "example.com." }, "route[0].host: "},
		{"route host space", func(c *Config) { c.Routes[0].Host = "exa mple.com" }, "route[0].host: "},
		{"route path relative", func(c *Config) { c.Routes[0].PathPrefix = "chat" }, "route[0].path_prefix: "},
		{"route path empty", func(c *Config) { c.Routes[0].PathPrefix = "" }, "route[0].path_prefix: "},
		{"route upstream empty", func(c *Config) { c.Routes[0].Upstream = "" }, "route[0].upstream: "},
		{"route upstream unknown", func(c *Config) { c.Routes[0].Upstream = "nope" }, "route[0].upstream: "},
		{"route duplicate", func(c *Config) {
			c.Routes = append(c.Routes, Route{Host: "", PathPrefix: "/", Upstream: "echo"})
		}, "route[1]: "},
		{"route duplicate case", func(c *Config) {
			c.Routes = append(c.Routes, Route{Host: "a.example", PathPrefix: "/x", Upstream: "echo"},
				Route{Host: "A.Example", PathPrefix: "/x", Upstream: "echo"})
		}, "route[2]: "},
		{"upstream name empty", func(c *Config) { c.Upstreams[0].Name = "" }, "upstream[0].name: "},
		{"upstream name chars", func(c *Config) { c.Upstreams[0].Name = "echo/1" }, "upstream[0].name: "},
		{"upstream name duplicate", func(c *Config) {
			c.Upstreams = append(c.Upstreams, c.Upstreams[0])
		}, "upstream[1].name: "},
		{"upstream balance", func(c *Config) { c.Upstreams[0].Balance = "least_connections" }, "upstream[0].balance: "},
		{"upstream balance case", func(c *Config) { c.Upstreams[0].Balance = "Hash" }, "upstream[0].balance: "},
		{"hash key empty", func(c *Config) { c.Upstreams[0].HashKey = "" }, "upstream[0].hash_key: "},
		{"hash key unknown", func(c *Config) { c.Upstreams[0].HashKey = "host" }, "upstream[0].hash_key: "},
		{"hash key kind case", func(c *Config) { c.Upstreams[0].HashKey = "IP" }, "upstream[0].hash_key: "},
		{"hash key header no name", func(c *Config) { c.Upstreams[0].HashKey = "header:" }, "upstream[0].hash_key: "},
		{"hash key cookie no name", func(c *Config) { c.Upstreams[0].HashKey = "cookie:" }, "upstream[0].hash_key: "},
		{"hash key query no name", func(c *Config) { c.Upstreams[0].HashKey = "query:" }, "upstream[0].hash_key: "},
		{"hash key name space", func(c *Config) { c.Upstreams[0].HashKey = "header:X User" }, "upstream[0].hash_key: "},
		{"hash key name colon", func(c *Config) { c.Upstreams[0].HashKey = "cookie:a:b" }, "upstream[0].hash_key: "},
		{"hash key name equals", func(c *Config) { c.Upstreams[0].HashKey = "query:a=b" }, "upstream[0].hash_key: "},
		{"hash key ip with name", func(c *Config) { c.Upstreams[0].HashKey = "ip:x" }, "upstream[0].hash_key: "},
		{"hash key path with name", func(c *Config) { c.Upstreams[0].HashKey = "path:/x" }, "upstream[0].hash_key: "},
		{"hash key non-ascii", func(c *Config) { c.Upstreams[0].HashKey = "header:X-Üser" }, "upstream[0].hash_key: "},
		{"hash load factor below 1", func(c *Config) { c.Upstreams[0].HashLoadFactor = 0.99 }, "upstream[0].hash_load_factor: "},
		{"hash load factor zero", func(c *Config) { c.Upstreams[0].HashLoadFactor = 0 }, "upstream[0].hash_load_factor: "},
		{"hash load factor negative", func(c *Config) { c.Upstreams[0].HashLoadFactor = -2 }, "upstream[0].hash_load_factor: "},
		{"hash load factor NaN", func(c *Config) { c.Upstreams[0].HashLoadFactor = math.NaN() }, "upstream[0].hash_load_factor: "},
		{"hash load factor Inf", func(c *Config) { c.Upstreams[0].HashLoadFactor = math.Inf(1) }, "upstream[0].hash_load_factor: "},
		{"upstream balance empty", func(c *Config) { c.Upstreams[0].Balance = "" }, "upstream[0].balance: "},
		{"max fails negative", func(c *Config) { c.Upstreams[0].MaxFails = -1 }, "upstream[0].max_fails: "},
		{"sticky cookie not a token", func(c *Config) { c.Upstreams[0].StickyCookie = "a b" }, "upstream[0].sticky_cookie: "},
		{"retries negative", func(c *Config) { c.Upstreams[0].Retries = -1 }, "upstream[0].retries: "},
		{"retries large", func(c *Config) { c.Upstreams[0].Retries = 33 }, "upstream[0].retries: "},
		{"retry backoff negative", func(c *Config) { c.Upstreams[0].RetryBackoff = DurationOf(-1) }, "upstream[0].retry_backoff: "},
		{"retry backoff max below base", func(c *Config) {
			c.Upstreams[0].RetryBackoff, c.Upstreams[0].RetryBackoffMax = DurationOf(time.Second), DurationOf(time.Millisecond)
		}, "upstream[0].retry_backoff_max: "},
		{"warm negative", func(c *Config) { c.Upstreams[0].Warm = -1 }, "upstream[0].warm: "},
		{"warm large", func(c *Config) { c.Upstreams[0].Warm = 1025 }, "upstream[0].warm: "},
		{"warm max idle zero", func(c *Config) { c.Upstreams[0].Warm, c.Upstreams[0].WarmMaxIdle = 1, DurationOf(0) }, "upstream[0].warm_max_idle: "},
		{"fallback unknown", func(c *Config) { c.Upstreams[0].FallbackUpstream = "nope" }, "upstream[0].fallback_upstream: "},
		{"fallback self", func(c *Config) { c.Upstreams[0].FallbackUpstream = "echo" }, "upstream[0].fallback_upstream: "},
		{"fallback loop", func(c *Config) {
			c.Upstreams[0].FallbackUpstream = "b"
			c.Upstreams = append(c.Upstreams, Upstream{Name: "b", Balance: BalanceRoundRobin, HashKey: HashKeyIP, HashLoadFactor: 1.25, FallbackUpstream: "echo", Backends: []Backend{{Addr: "127.0.0.1:2", Weight: 1}}})
		}, "upstream[1].fallback_upstream: "},
		{"health type", func(c *Config) { c.Upstreams[0].Health = DefaultHealthCheck(); c.Upstreams[0].Health.Type = "icmp" }, "upstream[0].health.type: "},
		{"health path", func(c *Config) {
			c.Upstreams[0].Health = DefaultHealthCheck()
			c.Upstreams[0].Health.Type, c.Upstreams[0].Health.Path = HealthHTTP, "healthz"
		}, "upstream[0].health.path: "},
		{"health expect status", func(c *Config) {
			c.Upstreams[0].Health = DefaultHealthCheck()
			c.Upstreams[0].Health.Type, c.Upstreams[0].Health.ExpectStatus = HealthHTTP, "399-200"
		}, "upstream[0].health.expect_status: "},
		{"health interval small", func(c *Config) {
			c.Upstreams[0].Health = DefaultHealthCheck()
			c.Upstreams[0].Health.Type, c.Upstreams[0].Health.Interval = HealthTCP, DurationOf(time.Millisecond)
		}, "upstream[0].health.interval: "},
		{"health timeout past interval", func(c *Config) {
			c.Upstreams[0].Health = DefaultHealthCheck()
			c.Upstreams[0].Health.Type, c.Upstreams[0].Health.Timeout = HealthTCP, DurationOf(3*time.Second)
		}, "upstream[0].health.timeout: "},
		{"health rise zero", func(c *Config) {
			c.Upstreams[0].Health = DefaultHealthCheck()
			c.Upstreams[0].Health.Type, c.Upstreams[0].Health.Rise = HealthTCP, 0
		}, "upstream[0].health.rise: "},
		{"health fall large", func(c *Config) {
			c.Upstreams[0].Health = DefaultHealthCheck()
			c.Upstreams[0].Health.Type, c.Upstreams[0].Health.Fall = HealthTCP, 101
		}, "upstream[0].health.fall: "},
		{"max fails large", func(c *Config) { c.Upstreams[0].MaxFails = 1001 }, "upstream[0].max_fails: "},
		{"fail window zero", func(c *Config) {
			c.Upstreams[0].MaxFails, c.Upstreams[0].FailWindow, c.Upstreams[0].EjectTime = 3, DurationOf(0), DurationOf(time.Second)
		}, "upstream[0].fail_window: "},
		{"fail window large", func(c *Config) {
			c.Upstreams[0].MaxFails, c.Upstreams[0].FailWindow, c.Upstreams[0].EjectTime = 3, DurationOf(25*time.Hour), DurationOf(time.Second)
		}, "upstream[0].fail_window: "},
		{"eject time zero", func(c *Config) {
			c.Upstreams[0].MaxFails, c.Upstreams[0].FailWindow, c.Upstreams[0].EjectTime = 3, DurationOf(time.Second), DurationOf(0)
		}, "upstream[0].eject_time: "},
		{"eject time large", func(c *Config) {
			c.Upstreams[0].MaxFails, c.Upstreams[0].FailWindow, c.Upstreams[0].EjectTime = 3, DurationOf(time.Second), DurationOf(25*time.Hour)
		}, "upstream[0].eject_time: "},
		{"eject time negative when off", func(c *Config) { c.Upstreams[0].EjectTime = DurationOf(-time.Second) }, "upstream[0].eject_time: "},
		{"upstream no backends", func(c *Config) { c.Upstreams[0].Backends = nil }, "upstream[0].backends: "},
		{"backend addr empty", func(c *Config) { c.Upstreams[0].Backends[0].Addr = "" }, "upstream[0].backends[0].addr: "},
		{"backend addr no host", func(c *Config) { c.Upstreams[0].Backends[0].Addr = ":9001" }, "upstream[0].backends[0].addr: "},
		{"backend addr no port", func(c *Config) { c.Upstreams[0].Backends[0].Addr = "127.0.0.1" }, "upstream[0].backends[0].addr: "},
		{"backend port 0", func(c *Config) { c.Upstreams[0].Backends[0].Addr = "127.0.0.1:0" }, "upstream[0].backends[0].addr: "},
		{"backend port range", func(c *Config) { c.Upstreams[0].Backends[0].Addr = "127.0.0.1:70000" }, "upstream[0].backends[0].addr: "},
		{"backend weight zero", func(c *Config) { c.Upstreams[0].Backends[0].Weight = 0 }, "upstream[0].backends[0].weight: "},
		{"backend weight large", func(c *Config) { c.Upstreams[0].Backends[0].Weight = 1001 }, "upstream[0].backends[0].weight: "},
		{"backend duplicate", func(c *Config) {
			c.Upstreams[0].Backends = append(c.Upstreams[0].Backends, Backend{Addr: "h:1", Weight: 1}, Backend{Addr: "127.0.0.1:9001", Weight: 2})
		}, "upstream[0].backends[2].addr: "},
		{"backend in second upstream", func(c *Config) {
			c.Upstreams = append(c.Upstreams, Upstream{Name: "b", Balance: BalanceRoundRobin, HashKey: HashKeyIP, HashLoadFactor: 1.25,
				Backends: []Backend{{Addr: "h:1", Weight: 1}, {Addr: "h:0", Weight: 1}}})
		}, "upstream[1].backends[1].addr: "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := valid()
			tt.edit(c)
			err := c.Validate()
			if err == nil {
				t.Fatalf("Validate() = nil; want an error naming %q", tt.want)
			}
			if !strings.HasPrefix(err.Error(), tt.want) && !strings.Contains(err.Error(), "\n"+tt.want) {
				t.Fatalf("Validate() = %q; want a line starting %q", err, tt.want)
			}
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("Validate() = %v; want errors.Is(err, ErrInvalid)", err)
			}
		})
	}
}

// withTLS sets c's TLS listen addresses and gives it one certificate.
func withTLS(c *Config, addrs ...string) {
	c.Server.ListenTLS = addrs
	c.TLS.Certificates = []Certificate{{Cert: "site.pem", Key: "site.key"}}
}

// TestValidateTLSMessages checks the whole text of the errors of the TLS
// and PROXY protocol keys: each says which other key is involved.
func TestValidateTLSMessages(t *testing.T) {
	tests := []struct {
		name string
		edit func(c *Config)
		want string
	}{
		{"address in both lists", func(c *Config) { withTLS(c, "127.0.0.1:8080") },
			`server.listen_tls[0]: "127.0.0.1:8080" repeats server.listen[0]`},
		{"proxy protocol untrusted", func(c *Config) { c.Server.ProxyProtocol = ProxyProtocolV1 },
			`server.proxy_protocol: is v1 but server.trusted_proxies is empty: a PROXY header is accepted only from them`},
		{"no listener", func(c *Config) { c.Server.Listen = nil },
			`server.listen: needs at least one address (or server.listen_tls one)`},
		{"no certificate", func(c *Config) { c.Server.ListenTLS = []string{":443"} },
			`tls.certificates: needs at least one [[tls.certificates]] when server.listen_tls is set`},
		{"client auth without ca", func(c *Config) { c.TLS.ClientAuth = ClientAuthRequire },
			`tls.client_auth: is require but tls.client_ca is empty: client certificates need a CA to be verified against`},
		{"min version", func(c *Config) { c.TLS.MinVersion = "1.0" },
			`tls.min_version: must be "1.2" or "1.3", not "1.0"`},
		{"server name without tls", func(c *Config) { c.Upstreams[0].Backends[0].ServerName = "app.internal" },
			`upstream[0].backends[0].server_name: is set but tls is false`},
		{"ca without tls", func(c *Config) { c.Upstreams[0].Backends[0].CA = "/etc/throng/internal-ca.pem" },
			`upstream[0].backends[0].ca: is set but tls is false`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := valid()
			tt.edit(c)
			err := c.Validate()
			if err == nil || err.Error() != tt.want {
				t.Fatalf("Validate() = %v; want %q", err, tt.want)
			}
		})
	}
}

// TestValidateReportsEveryProblem checks that Validate does not stop at the
// first problem.
func TestValidateReportsEveryProblem(t *testing.T) {
	c := valid()
	c.Server.Loops = -1
	c.Limits.MaxFrameBytes = 1
	c.Timeouts.Close = DurationOf(0)
	c.Routes[0].PathPrefix = "x"
	c.Upstreams[0].Backends = append(c.Upstreams[0].Backends, Backend{Addr: "bad", Weight: 1})
	err := c.Validate()
	if err == nil {
		t.Fatal("Validate() = nil; want five errors")
	}
	want := []string{"server.loops: ", "limits.max_frame_bytes: ", "timeouts.close: ",
		"route[0].path_prefix: ", "upstream[0].backends[1].addr: "}
	lines := strings.Split(err.Error(), "\n")
	if len(lines) != len(want) {
		t.Fatalf("Validate() gave %d errors; want %d:\n%v", len(lines), len(want), err)
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("Validate() = %q; want it to contain %q", err, w)
		}
	}
	var n int
	for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
		var ce *Error
		if errors.As(e, &ce) && ce.Key != "" {
			n++
		}
	}
	if n != len(want) {
		t.Errorf("Validate() joined %d *Error with a key; want %d", n, len(want))
	}
}

// TestValidateDoesNotModify checks that Validate leaves the Config alone.
func TestValidateDoesNotModify(t *testing.T) {
	c := valid()
	c.Routes[0].Host = "Example.COM"
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.Routes[0].Host != "Example.COM" {
		t.Fatalf("Validate changed host to %q", c.Routes[0].Host)
	}
}

func TestParseStatusRange(t *testing.T) {
	tests := []struct {
		in     string
		lo, hi int
		ok     bool
	}{
		{"200-399", 200, 399, true},
		{"204", 204, 204, true},
		{"100-599", 100, 599, true},
		{"99", 0, 0, false},
		{"200-600", 0, 0, false},
		{"300-200", 0, 0, false},
		{"", 0, 0, false},
		{"2xx", 0, 0, false},
		{"200-", 0, 0, false},
	}
	for _, tt := range tests {
		lo, hi, ok := ParseStatusRange(tt.in)
		if lo != tt.lo || hi != tt.hi || ok != tt.ok {
			t.Errorf("ParseStatusRange(%q) = %d, %d, %v; want %d, %d, %v", tt.in, lo, hi, ok, tt.lo, tt.hi, tt.ok)
		}
	}
}
