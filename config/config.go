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

// Active health check kinds accepted in upstream.health.type; "" turns
// active checks off.
const (
	HealthTCP       = "tcp"
	HealthHTTP      = "http"
	HealthWebSocket = "websocket"
)

// PROXY protocol modes accepted in server.proxy_protocol and
// upstream.send_proxy_protocol (haproxy.org's proxy-protocol.txt: v1 is
// the text header, v2 the binary one). "" is taken as off, so that a
// Config built in Go without the key means what the file's default does.
const (
	ProxyProtocolOff = "off"
	ProxyProtocolV1  = "v1"
	ProxyProtocolV2  = "v2"
)

// TLS versions accepted in tls.min_version. Nothing older than 1.2 is
// offered: 1.0 and 1.1 are deprecated (RFC 8996).
const (
	TLSVersion12 = "1.2"
	TLSVersion13 = "1.3"
)

// Client certificate policies accepted in tls.client_auth: off asks for
// none, request verifies one if the client sends it, require refuses a
// client without a valid one. "" is taken as off.
const (
	ClientAuthOff     = "off"
	ClientAuthRequest = "request"
	ClientAuthRequire = "require"
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
	Keepalive Keepalive  `toml:"keepalive"`
	Admin     Admin      `toml:"admin"`
	TLS       TLS        `toml:"tls"`
	Bus       Bus        `toml:"bus"`
	Routes    []Route    `toml:"route"`
	Upstreams []Upstream `toml:"upstream"`
}

// Bus names the message buses fan-out routes may use ([bus],
// docs/fanout.md): several throng processes subscribed to one bus share
// its messages.
type Bus struct {
	// Redis is a redis:// or rediss:// URL (with user and password if
	// given, and a database number as its path); "" is off. Default "".
	Redis string `toml:"redis"`
	// NATS is a nats:// URL (with user and password if given); "" is off.
	// Default "".
	NATS string `toml:"nats"`
}

// Route modes, fan-out sources and policies ([[route]] mode, source,
// client_messages, slow_subscriber, message_type).
const (
	ModeProxy  = "proxy"
	ModeFanout = "fanout"

	SourceRedis    = "redis"
	SourceNATS     = "nats"
	SourceUpstream = "upstream"

	ClientMessagesDrop     = "drop"
	ClientMessagesUpstream = "upstream"
	ClientMessagesPublish  = "publish"

	SlowSubscriberClose = "close"
	SlowSubscriberSkip  = "skip"

	MessageText   = "text"
	MessageBinary = "binary"
)

// Server holds the listeners and process-wide knobs ([server]).
type Server struct {
	// Listen is the list of addresses to accept on: "host:port",
	// "[v6]:port" or ":port" (all addresses, dual-stack). Port 0 is
	// rejected: under SO_REUSEPORT each event loop would bind a different
	// port. It may be empty when ListenTLS is not: at least one of the two
	// has an address. A file that sets listen_tls and not listen serves
	// TLS alone. Default ["127.0.0.1:8080"].
	Listen []string `toml:"listen"`
	// ListenTLS is the list of addresses to accept TLS (wss) clients on,
	// written and checked as Listen is; an address may not be in both.
	// Non-empty needs at least one [[tls.certificates]]. Default empty.
	ListenTLS []string `toml:"listen_tls"`
	// ProxyProtocol is the PROXY protocol header expected first on every
	// accepted connection, plain and TLS alike (before the TLS handshake):
	// off, v1 or v2. When not off the header's source address replaces the
	// peer's as the client address, and TrustedProxies must not be empty:
	// a PROXY header is accepted only from them, since anybody else could
	// claim any address. Default "off".
	ProxyProtocol string `toml:"proxy_protocol"`
	// Loops is the number of event loops; 0 means one per CPU. 0..256.
	// Default 0.
	Loops int `toml:"loops"`
	// TCPKeepalive is the TCP keepalive idle time on both sockets of a
	// session; it also sets TCP_USER_TIMEOUT. "0s" disables both; otherwise
	// at least 1s (the kernel counts whole seconds). Default "60s".
	TCPKeepalive Duration `toml:"tcp_keepalive"`
	// TrustedProxies lists IPs or CIDRs of proxies in front of throng: a
	// request from one of them has its X-Forwarded-For appended to rather
	// than replaced, and keeps its other client-address headers (Forwarded,
	// X-Real-IP, ...: docs/protocol.md), which are removed from everybody
	// else's. Default empty.
	TrustedProxies []string `toml:"trusted_proxies"`
	// ForwardedHeader adds an RFC 7239 Forwarded header of throng's own
	// (for, host, proto) to every forwarded request, after a trusted
	// proxy's. Default false.
	ForwardedHeader bool `toml:"forwarded_header"`
	// DrainSpread spreads SIGTERM's Close frames over this window, each
	// session at a random moment of it, so that clients do not all
	// reconnect in the same second. "0s" closes every session at once.
	// Follows reloads. Default "0s".
	DrainSpread Duration `toml:"drain_spread"`
	// DialWorkers is the number of goroutines dialling backends, 1..1024.
	// Default 16.
	DialWorkers int `toml:"dial_workers"`
	// MaxSessions caps open sessions; 0 derives the cap from RLIMIT_NOFILE
	// at start, otherwise the smaller of both applies. ≥ 0. Default 0.
	MaxSessions int `toml:"max_sessions"`
	// ForwardAuthConcurrency bounds the questions to route.forward_auth
	// services in flight at once, across routes; a handshake finding
	// none free gets 503. 1..65536. Default 256.
	ForwardAuthConcurrency int `toml:"forward_auth_concurrency"`
	// ReadBuffer is the per-loop read buffer (gnet WithReadBufferCap),
	// 1KiB..16MiB. Default "64KiB".
	ReadBuffer Size `toml:"read_buffer"`
}

// Limits bounds memory per session ([limits]).
type Limits struct {
	// MaxHeaderBytes bounds an HTTP request or response head, 1KiB..1MiB.
	// Default "16KiB".
	MaxHeaderBytes Size `toml:"max_header_bytes"`
	// MaxFrameBytes bounds one frame's payload, ≥ 125; 4GiB or more means no
	// limit. Default "16MiB".
	MaxFrameBytes Size `toml:"max_frame_bytes"`
	// WriteBufferLimit bounds the bytes queued toward one slow peer. Past
	// half of it the proxy stops reading the socket that feeds the queue,
	// and reads it again below a quarter (docs/protocol.md, "Flow
	// control"); a queue that passes the whole limit, possible only while
	// the feeding socket cannot be paused, closes the session (1013).
	// ≥ 64KiB. Default "4MiB".
	WriteBufferLimit Size `toml:"write_buffer_limit"`
	// MaxEarlyBytes bounds the client bytes received after its request head
	// and held until the backend's 101. ≥ 0. Default "64KiB".
	MaxEarlyBytes Size `toml:"max_early_bytes"`
	// StalledFrame is how long a frame may stand incomplete before its
	// session counts as stalled (stalled_frames in the stats line); nothing
	// is closed for it. 1s..12h (whole seconds count). Default "60s".
	StalledFrame Duration `toml:"stalled_frame"`

	// MaxSessionsPerIP caps the open sessions of one client address
	// (IPv6 grouped by IPv6Prefix), exact across loops; over it the
	// handshake gets 429 with Retry-After before any backend is touched.
	// 0 means no cap. ≥ 0. Default 0.
	MaxSessionsPerIP int `toml:"max_sessions_per_ip"`
	// HandshakesPerIP is a token bucket per client address refilled at
	// this rate ("20/s"); a handshake finding it empty gets 429 with
	// Retry-After. "0/s" means no limit. Default "0/s".
	HandshakesPerIP Rate `toml:"handshakes_per_ip"`
	// HandshakeBurst is that bucket's size; 0 means the rate's amount per
	// second, at least 1. ≥ 0. Default 0.
	HandshakeBurst int `toml:"handshake_burst"`
	// MessagesPerSession limits the data messages a client sends toward
	// its backend ("100/s"), checked at each message's first frame
	// header; the burst is one second's worth. "0/s" means no limit.
	// Default "0/s".
	MessagesPerSession Rate `toml:"messages_per_session"`
	// BytesPerSession limits the payload bytes a client sends toward its
	// backend ("1MiB/s"), charged at each frame header and checked at
	// each message's first; the burst is one second's worth (at least
	// one max_frame_bytes frame). "0/s" means no limit. Default "0/s".
	BytesPerSession Rate `toml:"bytes_per_session"`
	// RateLimitAction is what a message over MessagesPerSession or
	// BytesPerSession gets: close (Close 1008 to the client, 1001 to the
	// backend) or drop (the whole message, every fragment, is dropped and
	// counted; the session goes on). Default "close".
	RateLimitAction string `toml:"rate_limit_action"`
	// MaxMessageBytes bounds a data message's payload across its
	// fragments; a message that would pass it gets Close 1009. 0 means
	// only MaxFrameBytes applies. ≥ 0. Default 0.
	MaxMessageBytes Size `toml:"max_message_bytes"`
	// IPv6Prefix is the prefix length by which IPv6 client addresses are
	// grouped for MaxSessionsPerIP and HandshakesPerIP: one subscriber
	// usually holds a whole /64. 1..128. Default 64.
	IPv6Prefix int `toml:"ipv6_prefix"`
	// TrackedIPs bounds the client addresses the per-address limits
	// remember at once. An address is forgotten only while it has no open
	// session and a full bucket, which loses nothing; a new address
	// finding the table full of others shares one overflow bucket with
	// every such address until entries are forgotten (docs/policy.md).
	// 1024..16777216. Default 65536.
	TrackedIPs int `toml:"tracked_ips"`
}

// Rate limit actions accepted in limits.rate_limit_action.
const (
	RateLimitClose = "close"
	RateLimitDrop  = "drop"
)

// RouteLimits overrides [limits] keys for one route ([route.limits]); a
// key the route omits (nil) keeps the [limits] value. MaxHeaderBytes may
// only tighten the global one: the head is read before its route is known.
type RouteLimits struct {
	MaxHeaderBytes     *Size     `toml:"max_header_bytes"`
	MaxFrameBytes      *Size     `toml:"max_frame_bytes"`
	WriteBufferLimit   *Size     `toml:"write_buffer_limit"`
	MaxEarlyBytes      *Size     `toml:"max_early_bytes"`
	StalledFrame       *Duration `toml:"stalled_frame"`
	MaxSessionsPerIP   *int      `toml:"max_sessions_per_ip"`
	HandshakesPerIP    *Rate     `toml:"handshakes_per_ip"`
	HandshakeBurst     *int      `toml:"handshake_burst"`
	MessagesPerSession *Rate     `toml:"messages_per_session"`
	BytesPerSession    *Rate     `toml:"bytes_per_session"`
	RateLimitAction    *string   `toml:"rate_limit_action"`
	MaxMessageBytes    *Size     `toml:"max_message_bytes"`
	IPv6Prefix         *int      `toml:"ipv6_prefix"`
	TrackedIPs         *int      `toml:"tracked_ips"`
}

// IsZero reports whether r overrides nothing.
func (r *RouteLimits) IsZero() bool { return *r == RouteLimits{} }

// Apply returns l with r's keys in place of its own.
func (r *RouteLimits) Apply(l Limits) Limits {
	set(&l.MaxHeaderBytes, r.MaxHeaderBytes)
	set(&l.MaxFrameBytes, r.MaxFrameBytes)
	set(&l.WriteBufferLimit, r.WriteBufferLimit)
	set(&l.MaxEarlyBytes, r.MaxEarlyBytes)
	set(&l.StalledFrame, r.StalledFrame)
	set(&l.MaxSessionsPerIP, r.MaxSessionsPerIP)
	set(&l.HandshakesPerIP, r.HandshakesPerIP)
	set(&l.HandshakeBurst, r.HandshakeBurst)
	set(&l.MessagesPerSession, r.MessagesPerSession)
	set(&l.BytesPerSession, r.BytesPerSession)
	set(&l.RateLimitAction, r.RateLimitAction)
	set(&l.MaxMessageBytes, r.MaxMessageBytes)
	set(&l.IPv6Prefix, r.IPv6Prefix)
	set(&l.TrackedIPs, r.TrackedIPs)
	return l
}

func set[T any](dst *T, v *T) {
	if v != nil {
		*dst = *v
	}
}

// Keepalive configures the proxy's own Pings toward clients ([keepalive]).
type Keepalive struct {
	// PingInterval is how long a client may stay silent before the proxy
	// sends it a Ping (at a frame boundary of what goes to it). "0s"
	// turns proxy pings off. 0 or ≥ 1s. Default "0s".
	PingInterval Duration `toml:"ping_interval"`
	// PongTimeout is how long the client has to answer with a Pong
	// before the session is closed (1001 toward the backend). The
	// proxy's own Pongs are not forwarded. > 0 when PingInterval is set.
	// Default "10s".
	PongTimeout Duration `toml:"pong_timeout"`
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
	// Write closes a peer that accepts no byte at all for this long while
	// bytes wait for it (nginx's send_timeout); "0s" means never. Default
	// "60s".
	Write Duration `toml:"write"`
	// Drain is the SIGTERM drain budget. > 0. Default "30s".
	Drain Duration `toml:"drain"`
}

// Admin configures the operator's HTTP listener ([admin]; docs/operations.md).
type Admin struct {
	// Listen is the admin listener's "host:port": /metrics, /healthz,
	// /readyz, /api/v1/status and /debug/pprof/. It is served by its own
	// goroutines, never on the event loops, and follows reloads. "" means
	// off. Default "".
	Listen string `toml:"listen"`
}

// Log formats ([log] format).
const (
	FormatJSON = "json"
	FormatText = "text"
)

// Log configures logging ([log]).
type Log struct {
	// Level is debug, info, warn or error. Default "info".
	Level string `toml:"level"`
	// Access writes one line per closed session and per refused
	// handshake (docs/operations.md, "Access log"). Default true.
	Access bool `toml:"access"`
	// AccessSample is the share of open sessions whose line is written,
	// 0..1, decided when each opens (only those keep the handshake's
	// details meanwhile). Refusals are always logged, rate-limited per
	// loop. Default 1.
	AccessSample float64 `toml:"access_sample"`
	// Format is json or text (slog's key=value). Follows reloads.
	// Default "json".
	Format string `toml:"format"`
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

	// AllowOrigins lists the Origin values admitted: exact origins
	// ("https://app.example.com", compared case-insensitively, default
	// ports ignored) or "https://*.example.com", any subdomain of it
	// (not example.com itself) with that scheme. Another Origin gets 403,
	// which stops cross-site WebSocket hijacking. Empty admits any.
	// Default empty.
	AllowOrigins []string `toml:"allow_origins"`
	// RequireOrigin refuses (403) a request without Origin as well;
	// otherwise one without it (a non-browser client) is admitted.
	// Default false.
	RequireOrigin bool `toml:"require_origin"`
	// AllowCIDRs lists the client addresses or prefixes admitted; empty
	// admits everyone. Others get 403. Default empty.
	AllowCIDRs []string `toml:"allow_cidrs"`
	// DenyCIDRs lists client addresses or prefixes refused with 403; it
	// wins over AllowCIDRs. Default empty.
	DenyCIDRs []string `toml:"deny_cidrs"`
	// ForwardAuth is the http:// or https:// URL of an auth service asked
	// about each handshake of this route (docs/policy.md): a 2xx admits,
	// any other answer goes back to the client as it came. "" is off.
	// Default "".
	ForwardAuth string `toml:"forward_auth"`
	// ForwardAuthHeaders names the auth service's response headers
	// copied into the request forwarded to the backend (replacing any the
	// client sent). Default empty.
	ForwardAuthHeaders []string `toml:"forward_auth_headers"`
	// ForwardAuthTimeout bounds one question to the auth service,
	// connect included; past it the client gets 503. > 0 and less than
	// timeouts.handshake. Default "2s".
	ForwardAuthTimeout Duration `toml:"forward_auth_timeout"`
	// ForwardAuthCache keeps the service's answers this long, keyed by
	// the request's method, URI and the headers it was sent; "0s" asks
	// every time. 0..1h. Default "0s".
	ForwardAuthCache Duration `toml:"forward_auth_cache"`
	// JWT verifies a token at the upgrade ([route.jwt]); nil is off.
	JWT *JWT `toml:"jwt"`
	// Limits overrides [limits] keys for this route ([route.limits]).
	Limits RouteLimits `toml:"limits"`

	// Mode is "proxy" (each client gets its own backend WebSocket) or
	// "fanout" (throng answers the upgrade itself and the client
	// subscribes to a channel, docs/fanout.md). Default "proxy".
	Mode string `toml:"mode"`
	// Source is where a fan-out route's messages come from: "redis" or
	// "nats" (the [bus] server; one subscription per channel per
	// process) or "upstream" (one WebSocket per channel to Upstream).
	// Required when mode = "fanout". Default "".
	Source string `toml:"source"`
	// Channel says which channel a client subscribes to: "path" (what
	// follows path_prefix), "query:NAME" or "header:NAME". Default "path".
	Channel string `toml:"channel"`
	// ChannelPrefix is prepended to the channel on the bus (the Redis
	// channel, the NATS subject). Default "".
	ChannelPrefix string `toml:"channel_prefix"`
	// MessageType is the opcode of frames sent to subscribers: "text" or
	// "binary". Default "text".
	MessageType string `toml:"message_type"`
	// ClientMessages is what becomes of subscribers' own messages:
	// "drop" (counted), "upstream" (to the channel's upstream socket) or
	// "publish" (to the same channel on the bus). Default "drop".
	ClientMessages string `toml:"client_messages"`
	// SlowSubscriber is what a subscriber that falls FanoutQueueLimit
	// behind gets: "close" (Close 1013) or "skip" (messages are skipped,
	// and counted, until its queue drains). Default "close".
	SlowSubscriber string `toml:"slow_subscriber"`
	// FanoutQueueLimit bounds the bytes queued toward one subscriber.
	// Default "1MiB".
	FanoutQueueLimit Size `toml:"fanout_queue_limit"`
	// Subprotocol, on a fan-out route, is the subprotocol chosen when the
	// client offers it ("" chooses none). Default "".
	Subprotocol string `toml:"subprotocol"`
}

// Token sources accepted in route.jwt.token_from.
const (
	TokenFromHeader      = "header"   // Authorization: Bearer TOKEN
	TokenFromQueryPrefix = "query:"   // query:NAME, the URI's NAME parameter
	TokenFromProtocol    = "protocol" // an entry of Sec-WebSocket-Protocol
)

// JWT configures token verification for a route ([route.jwt]). Exactly
// the keys named verify: the algorithm comes from the key, never from the
// token. Key files are read at load and on every reload (SIGHUP).
type JWT struct {
	// HS256SecretFile is the path of an HMAC secret (the file's bytes,
	// one trailing newline removed), at least 32 bytes. Default "".
	HS256SecretFile string `toml:"hs256_secret_file"`
	// PublicKeyFiles are paths of PEM public keys (or certificates):
	// RSA keys verify RS256, P-256 keys ES256, Ed25519 keys EdDSA.
	// Default empty.
	PublicKeyFiles []string `toml:"public_key_files"`
	// JWKSFile is the path of a JSON Web Key Set (RFC 7517); a token's
	// kid picks the key. Default "".
	JWKSFile string `toml:"jwks_file"`
	// Issuer, when set, must equal the token's iss. Default "".
	Issuer string `toml:"issuer"`
	// Audience, when set, must be one of the token's aud. Default "".
	Audience string `toml:"audience"`
	// TokenFrom lists where the token is looked for, in order: "header"
	// (Authorization: Bearer), "query:NAME" or "protocol" (a
	// Sec-WebSocket-Protocol entry that looks like a JWT, the browser
	// pattern). A token from the query is removed from the forwarded
	// URI, one from the protocol list from the offered protocols.
	// Default ["header"].
	TokenFrom []string `toml:"token_from"`
	// ForwardClaims maps claim names to request headers sent to the
	// backend with the verified claim's value ({ sub = "X-User-Id" });
	// client-sent headers of those names are removed first. Default empty.
	ForwardClaims map[string]string `toml:"forward_claims"`
	// RequiredClaims lists claims a valid token must carry with the
	// given value ({ scope = "chat" }; a space-separated string claim or
	// an array claim holding the value passes). A valid token without
	// them gets 403. Default empty.
	RequiredClaims map[string]string `toml:"required_claims"`
	// Leeway is the clock skew allowed on exp, nbf and iat. 0..30s.
	// Default "5s".
	Leeway Duration `toml:"leeway"`
}

// TLS configures the TLS listeners (server.listen_tls) ([tls]). Package
// tlsconf reads its files; Validate checks only that what must be named
// is. tlsconf's Reload and Watch pick up new contents (a new file renamed
// over the old, as certbot and kubelet do, included), and a file that
// does not load keeps the previous certificates in use.
type TLS struct {
	// MinVersion is the oldest TLS version accepted: "1.2" or "1.3".
	// Default "1.2".
	MinVersion string `toml:"min_version"`
	// Certificates are the server certificates. A handshake gets the one
	// whose DNS names (exact, or a "*.suffix" wildcard covering one label)
	// or IP SANs match the client's SNI. A client without SNI (one that
	// dialled an IP address) gets the one whose IP SANs hold the address
	// it reached, if any; anything else gets the first. At least one when
	// server.listen_tls is set.
	Certificates []Certificate `toml:"certificates"`
	// ClientCA is the path of a PEM bundle of the CAs that sign client
	// certificates. Required by client_auth request and require.
	// Default "".
	ClientCA string `toml:"client_ca"`
	// ClientAuth is off (no client certificate asked for), request (one
	// is verified against ClientCA if the client sends it) or require (a
	// client without a valid one is refused). Default "off".
	ClientAuth string `toml:"client_auth"`
	// SessionTickets lets clients resume sessions with RFC 5077 / RFC 8446
	// tickets, skipping the certificate signature on reconnect.
	// Default true.
	SessionTickets bool `toml:"session_tickets"`
	// TicketKeyFile is the path of the keys that encrypt session tickets;
	// "" means keys the process draws itself and rotates daily, so only it
	// resumes its sessions, and not across restarts. The file is text, one
	// key per non-empty line, each the standard base64 of exactly 32
	// random bytes (openssl rand -base64 32); lines starting with '#' are
	// ignored. The first key encrypts new tickets, all of them decrypt: to
	// rotate, prepend a new line and drop the oldest later. Several throng
	// processes reading the same file resume each other's sessions. Read
	// (and checked) whenever set, used only with SessionTickets.
	// Default "".
	TicketKeyFile string `toml:"ticket_key_file"`
	// MaxHandshakes bounds the TLS handshakes in progress at once, across
	// every listener and event loop: each costs a signature or two of CPU,
	// so a burst of new connections is held to this many at a time.
	// 1..65536. Default 1024.
	MaxHandshakes int `toml:"max_handshakes"`
}

// Certificate is one server certificate and its key ([[tls.certificates]]).
type Certificate struct {
	// Cert is the path of the PEM certificate chain, leaf first. Required.
	Cert string `toml:"cert"`
	// Key is the path of the leaf's PEM private key (PKCS #8, PKCS #1 or
	// SEC 1). Required.
	Key string `toml:"key"`
}

// StickyWithoutSecret is the warning for an upstream with sticky_cookie and
// no sticky_secret: its cookie is keyed by a key the process draws at start.
const StickyWithoutSecret = "sticky_cookie without sticky_secret: only this process honours the cookie, until it restarts"

// KeylessSticky lists the upstreams whose sticky cookie has no
// sticky_secret (StickyWithoutSecret says what that costs).
func (c *Config) KeylessSticky() []string {
	var names []string
	for _, u := range c.Upstreams {
		if u.StickyCookie != "" && u.StickySecret == "" {
			names = append(names, u.Name)
		}
	}
	return names
}
