package config

// Upstream groups, their backends and health checks ([[upstream]]).

// Upstream is a named group of backends ([[upstream]]).
type Upstream struct {
	// Name is unique and made of [A-Za-z0-9_.-]. Required.
	Name string `toml:"name"`
	// Balance is round_robin, weighted_round_robin, least_conn,
	// random_two or hash. Default "round_robin".
	Balance string `toml:"balance"`
	// HashKey is what balance = "hash" hashes: "ip", "header:NAME",
	// "cookie:NAME", "query:NAME" or "path"; NAME is a non-empty token.
	// Checked whatever the balancer, used only by hash. Default "ip".
	HashKey string `toml:"hash_key"`
	// HashLoadFactor bounds the hash balancer's load: a backend takes at
	// most ceil(factor × (live sessions + 1) × weight / total weight)
	// sessions, and never fewer than 4 (× weight / mean weight for a backend
	// heavier than the mean), before keys overflow to
	// the next on the ring (sessions closing no longer count). A finite
	// number ≥ 1.0. Default 1.25.
	HashLoadFactor float64 `toml:"hash_load_factor"`
	// MaxFails is the number of failures of one backend within FailWindow
	// that eject it (passive health): a connect refused or timed out, an
	// upstream handshake timeout, a garbage answer, or a 502/503/504.
	// 0 disables passive ejection (and the circuit breaker). 0..1000.
	// Default 3.
	MaxFails int `toml:"max_fails"`
	// FailWindow is the sliding window MaxFails failures must fall in.
	// > 0 and ≤ 24h when MaxFails > 0. Default "10s".
	FailWindow Duration `toml:"fail_window"`
	// EjectTime is how long a backend's first ejection lasts; each
	// consecutive ejection doubles it, up to 10 × EjectTime. After it the
	// breaker is half-open: one handshake at a time goes through, and its
	// success restores the backend (the doubling resets with the next
	// success) while its failure ejects it again. > 0 and ≤ 24h when
	// MaxFails > 0. Default "30s".
	EjectTime Duration `toml:"eject_time"`
	// StickyCookie names a cookie set in the 101 that returns the client
	// to the same backend on its next handshake while that backend is
	// available. Its value is opaque and signed (HMAC-SHA256 with
	// StickySecret): a client cannot forge one for a backend it was never
	// sent to. "" turns stickiness off; otherwise a token. Default "".
	StickyCookie string `toml:"sticky_cookie"`
	// StickySecret keys the sticky cookie's signature. Give every throng
	// process behind one address the same secret so that a cookie from
	// one is honoured by the others and across restarts; "" means a key
	// the engine draws at start and keeps across reloads (cookies then last
	// as long as the process; a warning says so at start). Default "".
	StickySecret string `toml:"sticky_secret"`
	// Retries is how many more backends a handshake may try after the
	// first fails (connect refused or timed out, upstream handshake
	// timeout, a garbage answer, or a 502/503/504 before anything reached
	// the client). 0..32. Default 2.
	Retries int `toml:"retries"`
	// RetryBackoff is the base of the exponential backoff between
	// attempts: before retry n throng waits a random time in
	// [0, min(RetryBackoffMax, RetryBackoff × 2^(n-1))) (full jitter).
	// "0s" retries at once. ≥ 0. Default "50ms".
	RetryBackoff Duration `toml:"retry_backoff"`
	// RetryBackoffMax caps one backoff. ≥ RetryBackoff. Default "1s".
	RetryBackoffMax Duration `toml:"retry_backoff_max"`
	// Warm is how many pre-connected sockets each event loop keeps per
	// backend, so that a new session sends its upgrade request without a
	// connect round trip. 0 turns the pool off. 0..1024. Default 0.
	Warm int `toml:"warm"`
	// WarmMaxIdle is how long a warm socket may wait unused before it is
	// closed and replaced; keep it below the backend's own idle timeout.
	// > 0 and ≤ 24h when Warm > 0. Default "30s".
	WarmMaxIdle Duration `toml:"warm_max_idle"`
	// FallbackUpstream names another [[upstream]] that takes the route's
	// handshakes while no backend of this one is available. "" means
	// none: such handshakes get 503 with Retry-After. Fallback chains
	// must not loop. Default "".
	FallbackUpstream string `toml:"fallback_upstream"`
	// SendProxyProtocol sends a PROXY protocol header carrying the
	// client's address as the first bytes of each session's connection
	// to a backend, before TLS when the backend has it: off, v1 or v2.
	// A warm socket to a tls backend has finished its TLS handshake
	// before its client is known, too late for the header, so warm must
	// be 0 when both are set. Default "off".
	SendProxyProtocol string `toml:"send_proxy_protocol"`
	// Health configures active health checks.
	Health HealthCheck `toml:"health"`
	// Backends are the servers; at least one, addresses unique.
	Backends []Backend `toml:"backends"`
}

// HealthCheck configures active health checks of an upstream's backends
// ([upstream.health]). Checks run off the event loops, one goroutine per
// backend; a backend that failed Fall checks in a row takes no new
// sessions until it passes Rise in a row.
type HealthCheck struct {
	// Type is "tcp" (connect), "http" (GET Path, status in ExpectStatus),
	// "websocket" (upgrade at Path, expect 101, then Close) or "" (off).
	// Default "".
	Type string `toml:"type"`
	// Path is the request target of http and websocket checks; it starts
	// with "/". Default "/".
	Path string `toml:"path"`
	// Host is the Host header of http and websocket checks; "" means the
	// backend's address. Default "".
	Host string `toml:"host"`
	// ExpectStatus is the status range an http check accepts: "200-399"
	// or a single status such as "204". Default "200-399".
	ExpectStatus string `toml:"expect_status"`
	// Interval is the time between checks of one backend. 100ms..1h.
	// Default "2s".
	Interval Duration `toml:"interval"`
	// Timeout bounds one check, connect included. > 0 and ≤ Interval.
	// Default "1s".
	Timeout Duration `toml:"timeout"`
	// Rise is the number of passing checks in a row that bring a down
	// backend back. 1..100. Default 2.
	Rise int `toml:"rise"`
	// Fall is the number of failing checks in a row that take an up
	// backend down. 1..100. Default 2.
	Fall int `toml:"fall"`
}

// Backend is one server of an upstream.
type Backend struct {
	// Addr is "host:port" (port 1..65535). Required.
	Addr string `toml:"addr"`
	// Weight is the share of weighted balancers, 1..1000. Default 1.
	Weight int `toml:"weight"`
	// TLS dials the backend over TLS (wss): TLS 1.2 or later, the
	// certificate verified against CA and ServerName. Default false.
	TLS bool `toml:"tls"`
	// ServerName is the name sent as SNI and verified in the backend's
	// certificate. "" means the host part of Addr: a name is sent and
	// verified; an IP address sends no SNI and is verified against the
	// certificate's IP SANs. A host name or IP address, no port; only
	// with TLS. Default "".
	ServerName string `toml:"server_name"`
	// CA is the path of a PEM bundle of the CA certificates that may sign
	// the backend's certificate, in place of the system roots. "" means
	// the system roots. Only with TLS. Default "".
	CA string `toml:"ca"`
}
