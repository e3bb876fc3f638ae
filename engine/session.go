package engine

import (
	"net"
	"net/netip"
	"sync/atomic"

	"github.com/panjf2000/gnet/v2"

	"github.com/throngproxy/throng/codec"
	"github.com/throngproxy/throng/upstream"
)

// session flags.
const (
	// flagDialing: a dial job for this session is with a worker; the session
	// must stay allocated until the worker's result has come back.
	flagDialing uint16 = 1 << iota
	// flagClientFailed: the client broke the protocol; its input is ignored.
	flagClientFailed
	// flagUpstreamFailed: the backend broke the protocol; its input is ignored.
	flagUpstreamFailed
	// flagClosedToClient: a Close frame (relayed or injected) went to the
	// client; nothing more may be sent to it.
	flagClosedToClient
	// flagClosedToUpstream: likewise toward the backend.
	flagClosedToUpstream
	// flagClientShut: the client's write side was shut down (rejecting).
	flagClientShut
	// flagBackendHeld: s.backend counts this session in its live sessions
	// (Backend.Acquire); released on the next attempt or at the end.
	flagBackendHeld
	// flagFinished: the session was accounted as finished.
	flagFinished
	// flagLingering: an over-cap connection being refused; counted apart
	// from admitted sessions.
	flagLingering
	// flagClientDrop / flagUpstreamDrop: close that socket now, without
	// waiting for a Close (it is mid-frame or too slow).
	flagClientDrop
	flagUpstreamDrop
	// flagClientCloseIssued / flagUpstreamCloseIssued: Close() was called;
	// OnClose is on its way.
	flagClientCloseIssued
	flagUpstreamCloseIssued
	// flagWarmConn: the backend socket came from the warm pool and has
	// not answered yet; if it turns out closed, the attempt is redone on
	// a fresh dial without counting against the backend.
	flagWarmConn
	// flagBackoff: waiting out a retry backoff (in stateConnecting).
	flagBackoff
	// flagDrainPending: a drain's Close waits for a direction to reach a
	// frame boundary (relay sends it then), instead of dropping the peer.
	flagDrainPending
)

// session is one proxied WebSocket: a client socket, at most one upstream
// socket, and the state between them. It is touched only on its loop. It is
// deliberately small and pointer-light: an idle open session is this struct
// and two gnet conns, nothing else.
type session struct {
	sh       *shard
	snap     *snapshot
	client   gnet.Conn    // nil once closed
	upstream gnet.Conn    // nil until enrolled and once closed
	raddr    *net.TCPAddr // the client's address, kept for the access log
	// flow is the session's flow control while bytes wait toward a peer
	// or a socket is detached from its loop (flow.go); nil otherwise, so
	// that a session with no backlog pays one pointer for it.
	flow *flowState

	prev, next   *session // shard list
	tprev, tnext *session // timer wheel bucket

	// Ticks of the engine's clock, which starts at 0 and counts tenths of
	// a second: 32 bits last 6.8 years of uptime and leave room in the
	// session's size class for access (below).
	deadline   int32 // wheel tick at which onDeadline runs; 0 = disarmed
	closeBy    int32 // tick at which closing stops waiting for peers
	lastActive int32 // wheel tick of the last byte relayed (idle timeout)
	// clientSeen is the wheel tick of the client's last bytes, and pongBy
	// the tick by which the Pong to the proxy's Ping is due (0: no Ping
	// outstanding): keepalive's state (ping.go).
	clientSeen, pongBy int32
	// closeReason is why the session left open (metrics.go), for the
	// access line.
	closeReason closeReason
	// tls is the record protection of a TLS client or backend socket
	// (tls.go); nil on a plain session, so that one pays a pointer.
	tls *tlsState
	// access holds what only the access line needs; nil unless this
	// session's line will be written (log.access, access_sample).
	access *accessInfo

	id      uint64
	route   *upstream.Route
	backend *upstream.Backend
	hs      *handshake // nil once open; it holds the accept time until then

	// dialAbandoned tells the dial worker holding this session's job that
	// the session no longer waits for it. The only field a worker reads.
	dialAbandoned atomic.Bool
	// c2uSince and u2cSince stamp when the frame that direction stands
	// inside began (Engine.stallStamp); 0 between frames. They fill what
	// was padding after dialAbandoned.
	c2uSince, u2cSince uint16

	c2u, u2c codec.Stream // frame state of each direction

	// pol is the session's admission state (policy.go): its per-address
	// slot; nil when no per-session policy applies to its route.
	pol *policyState

	status    uint16 // HTTP status the client got (101 once open)
	closeCode uint16 // close code the proxy sent, if any
	flags     uint16
	state     state
	armed     bool // in a wheel bucket
}

// handshake is the part of a session that exists only until it is open: the
// heads, the refusal's bookkeeping and the retry bookkeeping. Shards recycle
// them, so a handshake costs no allocation in steady state.
type handshake struct {
	head []byte // the client's raw request head
	fwd  []byte // the request as forwarded upstream; once answered, the answer relayed to the client
	resp []byte // the backend's answer head
	rid  []byte // the X-Request-Id sent upstream, echoed in the 101
	// traceID is the W3C trace id of the request (the client's, or one
	// the proxy started), 32 hex digits, for the access line.
	traceID []byte
	start   int64 // unix nanoseconds at accept; accessInfo keeps it once open
	tlsFD   int   // the client socket's duplicate, on its way to a TLS handshake goroutine

	scan     codec.HeadScanner
	chunk    codec.ChunkedDecoder
	bodyKind codec.BodyKind
	bodyLeft int64 // BodyLength: bytes of the refusal's body still to come
	bodySent int64 // bytes of the refusal's body relayed

	up     *upstream.Upstream // the upstream being tried: the route's or a fallback
	sticky *upstream.Backend  // the backend the client's sticky cookie names

	tried      uint64 // bit set of up's backend indexes already attempted
	key        uint64 // the request's hash key for up (balance = "hash")
	by         int64  // tick by which the client must have its 101
	sent       int64  // tick at which the current attempt's request went out
	gen        uint32 // retry backoffs and auth questions started; tells a stale timer or answer apart
	authWait   bool   // waiting in connecting for the route's forward_auth answer
	failStatus uint16 // status for the client if the retry after a backoff finds nothing
	attempts   uint8  // attempts started, warm-socket redials not counted
	fallbacks  uint8  // fallback upstreams moved to

	stickyTried bool // the sticky backend had its attempt
}

func (hs *handshake) reset() {
	hs.head, hs.fwd, hs.resp = hs.head[:0], hs.fwd[:0], hs.resp[:0]
	hs.rid, hs.traceID = hs.rid[:0], hs.traceID[:0]
	hs.scan.Reset()
	hs.chunk = codec.ChunkedDecoder{}
	hs.bodyKind, hs.bodyLeft, hs.bodySent = 0, 0, 0
	hs.up, hs.sticky, hs.stickyTried = nil, nil, false
	hs.tried, hs.key, hs.by, hs.sent, hs.attempts = 0, 0, 0, 0, 0
	hs.authWait = false
	hs.failStatus, hs.fallbacks = 0, 0 // gen keeps counting: a stale timer must not match a new session
}

// maxRecycledHandshake bounds what a recycled handshake may keep, so that one
// huge head does not pin memory forever.
const maxRecycledHandshake = 64 << 10

// maxFreeHandshakes bounds a shard's handshake free list.
const maxFreeHandshakes = 256

// recycleHandshake resets hs for reuse, or refuses one that grew too large.
func recycleHandshake(hs *handshake) bool {
	if cap(hs.head)+cap(hs.fwd)+cap(hs.resp) > maxRecycledHandshake {
		return false
	}
	hs.reset()
	return true
}

// clientAddr is the client's address for logs, v4-in-v6 mapping removed
// (a dual-stack ":port" listener sees IPv4 clients as ::ffff:a.b.c.d).
func (s *session) clientAddr() string {
	if ap := s.clientAddrPort(); ap.IsValid() {
		return ap.String()
	}
	return ""
}

// clientAddrPort is the client's TCP address with any v4-in-v6 mapping
// removed; invalid when it is not a TCP address.
func (s *session) clientAddrPort() netip.AddrPort {
	if s.raddr == nil {
		return netip.AddrPort{}
	}
	ip, _ := netip.AddrFromSlice(s.raddr.IP)
	return netip.AddrPortFrom(ip.Unmap(), uint16(s.raddr.Port))
}

// routeName names the route as the config does: host and path prefix.
func (s *session) routeName() string {
	if s.route == nil {
		return ""
	}
	return s.route.Host + s.route.PathPrefix
}

// upstreamName names the upstream of the session's backend (a fallback's
// when it used one), else the route's.
func (s *session) upstreamName() string {
	switch {
	case s.backend != nil && s.backend.Upstream != nil:
		return s.backend.Upstream.Name
	case s.route != nil && s.route.Upstream != nil:
		return s.route.Upstream.Name
	}
	return ""
}

func (s *session) backendAddr() string {
	if s.backend == nil {
		return ""
	}
	return s.backend.Addr
}

// abandonDial stops waiting for a dial in flight. A worker that has not
// started it skips it; one that finishes it finds the session past
// connecting (OnOpen closes the socket) or finished (the report is a no-op).
func (s *session) abandonDial() {
	if s.flags&flagDialing != 0 {
		s.flags &^= flagDialing
		s.dialAbandoned.Store(true)
	}
}
