// Package config is throng's TOML schema: types, defaults, decoding and
// validation. A file is decoded strictly onto Default(), then validated;
// Load does both and is shared by -check-config and SIGHUP reload.
//
// A *Config is never edited after Load returns: the engine publishes it
// behind an atomic.Pointer and replaces it whole on reload.
package config

// Balancer kinds accepted in upstream.balance.
const (
	BalanceRoundRobin         = "round_robin"
	BalanceWeightedRoundRobin = "weighted_round_robin"
	BalanceLeastConn          = "least_conn"
	BalanceRandomTwo          = "random_two"
	BalanceHash               = "hash"
)

// Hash key sources accepted in upstream.hash_key: "ip" and "path" alone,
// the others as a prefix followed by a non-empty token (RFC 9110 §5.6.2),
// as in "header:X-User" or "cookie:session".
const (
	HashKeyIP           = "ip"
	HashKeyPath         = "path"
	HashKeyHeaderPrefix = "header:"
	HashKeyCookiePrefix = "cookie:"
	HashKeyQueryPrefix  = "query:"
)

// Log levels accepted in log.level.
const (
	LevelDebug = "debug"
	LevelInfo  = "info"
	LevelWarn  = "warn"
	LevelError = "error"
)

// Config is the whole configuration file.
type Config struct {
	Server    Server     `toml:"server"`
	Limits    Limits     `toml:"limits"`
	Timeouts  Timeouts   `toml:"timeouts"`
	Log       Log        `toml:"log"`
	Routes    []Route    `toml:"route"`
	Upstreams []Upstream `toml:"upstream"`
}

// Server holds the listeners and process-wide knobs ([server]).
type Server struct {
	// Listen is the list of addresses to accept on: "host:port",
	// "[v6]:port" or ":port" (all addresses, dual-stack). Port 0 is
	// rejected: under SO_REUSEPORT each event loop would bind a different
	// port. Default ["127.0.0.1:8080"].
	Listen []string `toml:"listen"`
	// Loops is the number of event loops; 0 means one per CPU. 0..256.
	// Default 0.
	Loops int `toml:"loops"`
	// TCPKeepalive is the TCP keepalive idle time on both sockets of a
	// session; it also sets TCP_USER_TIMEOUT. "0s" disables both; otherwise
	// at least 1s (the kernel counts whole seconds). Default "60s".
	TCPKeepalive Duration `toml:"tcp_keepalive"`
	// TrustedProxies lists IPs or CIDRs of proxies in front of throng: a
	// request from one of them has its X-Forwarded-For appended to rather
	// than replaced. Default empty.
	TrustedProxies []string `toml:"trusted_proxies"`
	// DialWorkers is the number of goroutines dialling backends, 1..1024.
	// Default 16.
	DialWorkers int `toml:"dial_workers"`
	// MaxSessions caps open sessions; 0 derives the cap from RLIMIT_NOFILE
	// at start, otherwise the smaller of both applies. ≥ 0. Default 0.
	MaxSessions int `toml:"max_sessions"`
	// ReadBuffer is the per-loop read buffer (gnet WithReadBufferCap),
	// 1KiB..16MiB. Default "64KiB".
	ReadBuffer Size `toml:"read_buffer"`
}

// Limits bounds memory per session ([limits]).
type Limits struct {
	// MaxHeaderBytes bounds an HTTP request or response head, 1KiB..1MiB.
	// Default "16KiB".
	MaxHeaderBytes Size `toml:"max_header_bytes"`
	// MaxFrameBytes bounds one frame's payload, ≥ 125. Default "16MiB".
	MaxFrameBytes Size `toml:"max_frame_bytes"`
	// WriteBufferLimit bounds the bytes queued toward one slow peer; past
	// it the session is closed with 1013. ≥ 64KiB. Default "4MiB".
	WriteBufferLimit Size `toml:"write_buffer_limit"`
	// MaxEarlyBytes bounds the client bytes received after its request head
	// and held until the backend's 101. ≥ 0. Default "64KiB".
	MaxEarlyBytes Size `toml:"max_early_bytes"`
}

// Timeouts are the per-state deadlines of a session ([timeouts]).
type Timeouts struct {
	// Handshake bounds reading the client's request head. > 0. Default "10s".
	Handshake Duration `toml:"handshake"`
	// Connect bounds the TCP connect to a backend. > 0. Default "5s".
	Connect Duration `toml:"connect"`
	// UpstreamHandshake bounds the backend's answer to the upgrade request.
	// > 0. Default "10s".
	UpstreamHandshake Duration `toml:"upstream_handshake"`
	// Idle closes an open session with no traffic either way; "0s" means
	// never. Default "0s".
	Idle Duration `toml:"idle"`
	// Close bounds the closing handshake. > 0. Default "5s".
	Close Duration `toml:"close"`
	// Drain is the SIGTERM drain budget. > 0. Default "30s".
	Drain Duration `toml:"drain"`
}

// Log configures logging ([log]).
type Log struct {
	// Level is debug, info, warn or error. Default "info".
	Level string `toml:"level"`
	// Access writes one JSON line per closed session. Default true.
	Access bool `toml:"access"`
}

// Route sends matching requests to an upstream ([[route]]).
type Route struct {
	// Host is "" or "*" (any host), an exact host ("example.com",
	// "192.0.2.1", "[2001:db8::1]") or a suffix wildcard ("*.example.com",
	// which does not match "example.com"). No port. Compared
	// case-insensitively; Parse stores it lowercase. Default "*".
	Host string `toml:"host"`
	// PathPrefix is a byte prefix of the request path; it must start with
	// "/". Default "/".
	PathPrefix string `toml:"path_prefix"`
	// Upstream names an [[upstream]]. Required.
	Upstream string `toml:"upstream"`
}

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
	// sessions before keys overflow to the next on the ring. A finite
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
	// Backends are the servers; at least one, addresses unique.
	Backends []Backend `toml:"backends"`
}

// Backend is one server of an upstream.
type Backend struct {
	// Addr is "host:port" (port 1..65535). Required.
	Addr string `toml:"addr"`
	// Weight is the share of weighted balancers, 1..1000. Default 1.
	Weight int `toml:"weight"`
}
