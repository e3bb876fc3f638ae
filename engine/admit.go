package engine

// Admitting a client: the accept, the request head, early bytes, routing
// and the forwarded request (docs/architecture.md, "Session state machine").

import (
	"encoding/hex"
	"errors"
	"net"
	"net/netip"
	"time"

	"github.com/panjf2000/gnet/v2"

	"github.com/throngproxy/throng/codec"
)

// accept runs in OnOpen for a client connection.
func (e *Engine) accept(c gnet.Conn) gnet.Action {
	sh := e.shardFor(c.EventLoop())
	sh.stats.accepted.Add(1)
	snap := e.snap.Load()
	switch {
	case e.keepAliveChanged.Load():
		// The listeners may carry an older keepalive, even one where
		// this configuration has none (sockopt.go).
		resetKeepAlive(c.Fd(), snap.keepAlive)
	case sh.keepAliveInherited && sh.listenerKeepAlive == snap.keepAlive:
		_ = setUserTimeout(c.Fd(), snap.keepAlive) // the rest is inherited
	default:
		setKeepAlive(c.Fd(), snap.keepAlive)
	}

	overTLS := len(e.listenTLS) > 0 && e.listeners.isTLS(c.LocalAddr())
	if e.draining.Load() || !e.admit() {
		sh.stats.overCap.Add(1)
		if overTLS || snap.proxyVersion != codec.ProxyOff {
			// No HTTP answer before a TLS handshake or a PROXY
			// header: this connection is closed unanswered.
			sh.countRefusal(503)
			return gnet.Close
		}
		// Every rejected connection holds a descriptor while its answer
		// drains; past a small number, answer and close at once so that a
		// flood cannot reach RLIMIT_NOFILE (which would stop gnet).
		if e.lingering.Add(1) > maxLingering {
			e.lingering.Add(-1)
			sh.countRefusal(503)
			_, _ = c.Write(e.responses.get(503, ""))
			return gnet.Close
		}
		s := sh.newSession(c, snap, stateRequest)
		s.flags |= flagLingering
		s.reject(503)
		return gnet.None
	}
	first := stateRequest
	switch {
	case snap.proxyVersion != codec.ProxyOff:
		if ip, _ := netip.AddrFromSlice(tcpIP(c.RemoteAddr())); !snap.trusted(ip.Unmap()) {
			// A PROXY header says who the client is: only a proxy
			// in front may say it.
			sh.stats.proxyRefused.Add(1)
			e.release(2)
			return gnet.Close
		}
		first = stateProxyHeader
	case overTLS:
		first = stateTLSHello
	}
	s := sh.newSession(c, snap, first)
	if overTLS {
		s.tls = &tlsState{}
		sh.tlsLive.Add(1)
	}
	sh.syncWarm()
	return gnet.None
}

// tcpIP is a TCP address's IP, nil for any other address.
func tcpIP(a net.Addr) net.IP {
	if ta, ok := a.(*net.TCPAddr); ok {
		return ta.IP
	}
	return nil
}

// newSession makes the session for an accepted client connection.
func (sh *shard) newSession(c gnet.Conn, snap *snapshot, first state) *session {
	sh.nextID++
	s := &session{
		sh:     sh,
		snap:   snap,
		client: c,
		id:     sh.nextID<<8 | sh.index, // unique across loops: the shard's index in the low byte
		hs:     sh.handshakes.Get(),
	}
	s.hs.start = time.Now().UnixNano()
	// throng listens on TCP only: the address is a *net.TCPAddr, and
	// holding it as one keeps the session within its size class.
	s.raddr, _ = c.RemoteAddr().(*net.TCPAddr)
	sh.stats.live.Add(1)
	s.lastActive = int32(sh.now())
	// Deadlines count from the current tick, which began up to one tick
	// ago: one more tick keeps them from firing early.
	s.hs.by = sh.now() + 1 + snap.handshakeTicks
	c.SetContext(s)
	sh.link(s)
	s.setState(first)
	return s
}

// onClientRequest handles client bytes while the request head is
// incomplete. Bytes after the head are left to gnet (see onClientEarly).
func (s *session) onClientRequest(p []byte) int {
	hs := s.hs
	n, done := hs.scan.Scan(p)
	if len(hs.head)+n > int(s.snap.maxHeaderBytes) {
		s.reject(431)
		return 0
	}
	hs.head = append(hs.head, p[:n]...)
	if !done {
		return 0
	}
	if s.earlyOverflow(len(p) - n) {
		// Refused before any backend is dialled for it.
		return 0
	}
	s.startUpstream()
	if s.state == stateConnecting || s.state == stateUpstreamHandshake {
		return len(p) - n
	}
	return 0
}

// earlyOverflow refuses a client that sent more than max_early_bytes after
// its head before the 101 (n bytes held now): 400, and whatever attempt is
// under way is called off, so no backend gets a request already refused.
func (s *session) earlyOverflow(n int) bool {
	if n <= int(s.policy().maxEarlyBytes) {
		return false
	}
	s.sh.stats.protocolErr.Add(1)
	s.abandonDial()
	s.flags &^= flagBackoff
	s.reject(400)
	return true
}

// startUpstream validates the complete request head, routes it and starts
// the first connect attempt.
func (s *session) startUpstream() {
	sh, hs := s.sh, s.hs
	req := &sh.req
	if err := codec.ParseRequest(hs.head, req); err != nil {
		var he *codec.HandshakeError
		if errors.As(err, &he) {
			s.rejectWith(he.Status, he.Header)
			return
		}
		s.reject(400)
		return
	}
	if s.sh.e.draining.Load() {
		s.reject(503)
		return
	}
	route := s.snap.table.Match(req.Host, req.Target)
	if route == nil {
		s.reject(404)
		return
	}
	s.route = route
	if !s.admitPolicy(req) {
		return
	}

	// Build the forwarded request once; retries reuse it.
	f := &sh.fwd
	pol := s.policy()
	*f = codec.Forward{Proto: "http", RequestID: req.RequestID, Forwarded: s.snap.forwarded, Owned: pol.owned}
	if s.tls != nil {
		f.Proto = "https"
		f.Extra = s.appendTLSHeaders(sh.tlsPlain[:0])
		s.tls.peer = nil // said once, in this request
	}
	if pol.jwt != nil && !s.admitToken(req, f, pol.jwt) {
		return
	}
	if len(f.RequestID) == 0 {
		var raw [16]byte
		sh.randFill(raw[:])
		hex.Encode(sh.idbuf[:], raw[:])
		f.RequestID = sh.idbuf[:]
	}
	f.TraceParent, f.NewTrace = s.traceParent(req)
	ip, trusted := s.clientIP()
	f.ClientIP = ip.AppendTo(sh.ipbuf[:0])
	f.TrustedPeer = trusted
	hs.fwd = codec.AppendForwardedRequest(hs.fwd[:0], req, f)
	// Kept for the 101: f.RequestID may be the shard's scratch.
	hs.rid = append(hs.rid[:0], f.RequestID...)
	if route.Fanout {
		if pol.auth != nil {
			s.askAuth(pol.auth)
			return
		}
		s.openFanout()
		return
	}
	u := route.Upstream
	hs.up = u
	if u.NeedsKey() {
		// Computed once: retries pick with the same key, and req is the
		// shard's scratch, gone after this call.
		hs.key = u.HashKey.HashKey(f.ClientIP, req.Headers, req.Target)
	}
	if u.Sticky != nil {
		hs.sticky = u.Sticky.Find(req.Headers)
	}
	if pol.auth != nil {
		s.askAuth(pol.auth)
		return
	}
	s.dialNext(502)
}

// clientIP is the client's address with any v4-in-v6 mapping removed, and
// whether it is a trusted proxy.
func (s *session) clientIP() (netip.Addr, bool) {
	ip := s.clientAddrPort().Addr()
	return ip, s.snap.trusted(ip)
}

// traceParent returns the traceparent to send upstream (W3C Trace
// Context): the client's trace with a new span id for the proxy's hop, or
// a new trace when the client sent none that parses (started). The trace
// id is kept for the access line. The value lives in the shard's scratch.
func (s *session) traceParent(req *codec.Request) (value []byte, started bool) {
	sh := s.sh
	var tp codec.TraceParent
	found := false
	for _, h := range req.Headers {
		if codec.EqualFold(h.Name, "traceparent") {
			tp, found = codec.ParseTraceParent(h.Value)
			break
		}
	}
	if !found {
		tp = codec.TraceParent{}
		sh.randFill(tp.TraceID[:])
	}
	// The proxy's hop is a span of its own: a new parent id, never zero.
	for sh.randFill(tp.SpanID[:]); tp.SpanID == [8]byte{}; {
		sh.randFill(tp.SpanID[:])
	}
	out := codec.AppendTraceParent(sh.tpbuf[:0], tp)
	s.hs.traceID = append(s.hs.traceID[:0], out[3:35]...)
	return out, !found
}
