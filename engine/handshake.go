package engine

import (
	"context"
	"encoding/hex"
	"errors"
	"log/slog"
	"net/netip"
	"time"

	"github.com/panjf2000/gnet/v2"

	"github.com/throngproxy/throng/codec"
	"github.com/throngproxy/throng/upstream"
)

// accept runs in OnOpen for a client connection.
func (e *Engine) accept(c gnet.Conn) gnet.Action {
	sh := e.shardFor(c.EventLoop())
	sh.stats.accepted.Add(1)
	snap := e.snap.Load()
	setKeepAlive(c.Fd(), snap.keepAlive)

	if e.draining.Load() || !e.admit() {
		sh.stats.overCap.Add(1)
		// Every rejected connection holds a descriptor while its answer
		// drains; past a small number, answer and close at once so that a
		// flood cannot reach RLIMIT_NOFILE (which would stop gnet).
		if e.lingering.Add(1) > maxLingering {
			e.lingering.Add(-1)
			_, _ = c.Write(e.responses.get(503, ""))
			return gnet.Close
		}
		s := sh.newSession(c, snap)
		s.flags |= flagLingering
		s.reject(503)
		return gnet.None
	}
	sh.newSession(c, snap)
	sh.syncWarm()
	return gnet.None
}

// newSession makes the session for an accepted client connection.
func (sh *shard) newSession(c gnet.Conn, snap *snapshot) *session {
	sh.nextID++
	s := &session{
		sh:     sh,
		snap:   snap,
		client: c,
		raddr:  c.RemoteAddr(),
		id:     sh.nextID,
		start:  time.Now().UnixNano(),
		hs:     sh.handshakes.Get(),
	}
	s.lastActive = sh.now()
	// Deadlines count from the current tick, which began up to one tick
	// ago: one more tick keeps them from firing early.
	s.hs.by = sh.now() + 1 + snap.handshakeTicks
	c.SetContext(s)
	sh.link(s)
	s.setState(stateRequest)
	return s
}

// onClientRequest handles client bytes while the request head is
// incomplete. Bytes after the head are left to gnet (see holdEarly).
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

// holdEarly keeps client bytes that arrive before the backend's 101 in
// gnet's buffer (p is all of them). They are relayed once the upgrade
// succeeds (upgrade wakes the client for them) and dropped otherwise,
// never sent upstream as part of the request.
func (s *session) holdEarly(p []byte) int {
	if s.earlyOverflow(len(p)) {
		return 0
	}
	return len(p)
}

// earlyOverflow refuses a client that sent more than max_early_bytes after
// its head before the 101 (n bytes held now): 400, and whatever attempt is
// under way is called off, so no backend gets a request already refused.
func (s *session) earlyOverflow(n int) bool {
	if n <= int(s.snap.maxEarlyBytes) {
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

	// Build the forwarded request once; retries reuse it.
	f := &sh.fwd
	*f = codec.Forward{Proto: "http", RequestID: req.RequestID, Forwarded: s.snap.forwarded}
	if len(f.RequestID) == 0 {
		v1, v2 := sh.rand.Uint64(), sh.rand.Uint64()
		var raw [16]byte
		for i := 0; i < 8; i++ {
			raw[i], raw[8+i] = byte(v1>>(8*i)), byte(v2>>(8*i))
		}
		hex.Encode(sh.idbuf[:], raw[:])
		f.RequestID = sh.idbuf[:]
	}
	ip, trusted := s.clientIP()
	f.ClientIP = ip.AppendTo(sh.ipbuf[:0])
	f.TrustedPeer = trusted
	hs.fwd = codec.AppendForwardedRequest(hs.fwd[:0], req, f)
	// Kept for the 101: f.RequestID may be the shard's scratch.
	hs.rid = append(hs.rid[:0], f.RequestID...)
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
	s.dialNext(502)
}

// clientIP is the client's address with any v4-in-v6 mapping removed, and
// whether it is a trusted proxy.
func (s *session) clientIP() (netip.Addr, bool) {
	ip := s.clientAddrPort().Addr()
	return ip, s.snap.trusted(ip)
}

// dialNext starts the next attempt: the next backend the balancer picks
// (the sticky cookie's first), falling back to the fallback upstream when
// the current one has none left. When there is no backend at all it
// answers 503, or failStatus (the last attempt's failure) after attempts.
func (s *session) dialNext(failStatus int) {
	hs := s.hs
	s.releaseBackend()
	b := s.nextBackend()
	if b == nil {
		if hs.attempts == 0 {
			s.reject(503)
		} else {
			s.reject(failStatus)
		}
		return
	}
	hs.attempts++
	s.connect(b)
}

// nextBackend picks the backend of the next attempt, or nil.
func (s *session) nextBackend() *upstream.Backend {
	hs := s.hs
	for {
		u := hs.up
		var b *upstream.Backend
		if hs.sticky != nil && !hs.stickyTried && hs.sticky.Available(time.Now().UnixNano()) {
			hs.stickyTried = true
			b = hs.sticky
		} else {
			b = u.Balancer.Pick(hs.tried, hs.key)
		}
		if b != nil {
			if b.Index < 64 {
				hs.tried |= 1 << uint(b.Index)
			}
			return b
		}
		if u.Fallback == nil || hs.fallbacks >= maxFallbacks {
			return nil
		}
		hs.fallbacks++
		s.fallBack(u.Fallback)
	}
}

// fallBack moves the handshake to the fallback upstream f, with a fresh
// tried set (indexes are per upstream), and the hash key and sticky
// cookie as f reads them: the head is parsed again, as the shard's
// scratch request is long gone.
func (s *session) fallBack(f *upstream.Upstream) {
	hs := s.hs
	hs.up, hs.tried, hs.key, hs.sticky, hs.stickyTried = f, 0, 0, nil, false
	if !f.NeedsKey() && f.Sticky == nil {
		return
	}
	req := &s.sh.req
	if codec.ParseRequest(hs.head, req) != nil {
		return
	}
	if f.NeedsKey() {
		ip, _ := s.clientIP()
		hs.key = f.HashKey.HashKey(ip.AppendTo(s.sh.ipbuf[:0]), req.Headers, req.Target)
	}
	if f.Sticky != nil {
		hs.sticky = f.Sticky.Find(req.Headers)
	}
}

// connect starts an attempt on b: a warm socket when the loop has one,
// else a dial.
func (s *session) connect(b *upstream.Backend) {
	s.backend = b
	// Counted from the dial on, so that least_conn, random_two and the
	// hash's load bound see sessions still connecting.
	b.Acquire()
	s.flags |= flagBackendHeld
	if c := s.sh.takeWarm(s.snap, b); c != nil {
		s.flags |= flagWarmConn
		s.sh.stats.warmUsed.Add(1)
		s.setState(stateConnecting)
		s.attachUpstream(c)
		return
	}
	s.dial()
}

// dial hands the session's backend to a dial worker.
func (s *session) dial() {
	s.dialAbandoned.Store(false)
	if !s.sh.e.dialer.submit(dialJob{s: s, loop: s.sh.loop, addr: s.backend.Addr, dialer: s.snap.dialer}) {
		// Every worker is busy and the queue is full: overloaded.
		s.reject(503)
		return
	}
	s.flags |= flagDialing
	s.sh.stats.dials.Add(1)
	s.setState(stateConnecting)
}

// retry moves on after an attempt failed before anything reached the
// client (connect failure or timeout, upstream handshake timeout, a garbage
// answer, a 502/503/504): another backend after a full-jitter backoff, or
// failStatus to the client when no retry is left, or none would fit in the
// handshake timeout.
func (s *session) retry(failStatus int) {
	hs := s.hs
	s.dropUpstream()
	left := s.budget()
	if int(hs.attempts) > hs.up.Retries || left <= 0 {
		s.reject(failStatus)
		return
	}
	wait := s.backoff()
	if wait >= left {
		s.reject(failStatus)
		return
	}
	s.sh.stats.retries.Add(1)
	if wait <= 0 {
		s.dialNext(failStatus)
		return
	}
	// Waiting counts as connecting: the handshake deadline still holds,
	// and a client that leaves ends the session as during a dial.
	s.releaseBackend()
	hs.gen++
	hs.failStatus = uint16(failStatus)
	s.flags |= flagBackoff
	s.setState(stateConnecting)
	r := &retryRunnable{s: s, gen: hs.gen}
	time.AfterFunc(wait, r.post)
}

// backoff returns the wait before the next attempt: uniform in
// [0, min(retry_backoff_max, retry_backoff × 2^(retries so far))), "full
// jitter", so that clients that failed together do not retry together.
func (s *session) backoff() time.Duration {
	ceil := s.backoffCeil()
	if ceil <= 0 {
		return 0
	}
	return time.Duration(s.sh.rand.Uint64() % uint64(ceil))
}

// backoffCeil is the bound of the next backoff:
// min(retry_backoff_max, retry_backoff × 2^(retries so far)).
func (s *session) backoffCeil() time.Duration {
	u := s.hs.up
	ceil := u.RetryBackoff
	for i := uint8(1); i < s.hs.attempts && ceil < u.RetryBackoffMax; i++ {
		ceil *= 2
	}
	return min(ceil, u.RetryBackoffMax)
}

// budget is what is left of the client's handshake time, less the tick
// in progress (deadlines fire on tick boundaries).
func (s *session) budget() time.Duration {
	return time.Duration(s.hs.by-s.sh.now()-1) * tickInterval
}

// retryRunnable ends a backoff on the session's loop. Retries are rare, so
// each costs one timer and one runnable; gen tells a stale one (the
// session moved on or ended meanwhile) from the current one.
type retryRunnable struct {
	s   *session
	gen uint32
}

func (r *retryRunnable) post() { _ = r.s.sh.loop.Execute(bgCtx, r) }

func (r *retryRunnable) Run(context.Context) error {
	s := r.s
	if s.state != stateConnecting || s.flags&flagBackoff == 0 || s.hs == nil || s.hs.gen != r.gen {
		return nil
	}
	s.flags &^= flagBackoff
	s.dialNext(int(s.hs.failStatus))
	return nil
}

// dropUpstream lets go of the backend socket of a failed attempt: it is
// detached first, so that its OnClose is no concern of the session's.
func (s *session) dropUpstream() {
	s.flags &^= flagWarmConn
	if c := s.upstream; c != nil {
		s.upstream = nil
		c.SetContext(nil)
		if s.flags&flagUpstreamCloseIssued == 0 {
			_ = c.Close()
		}
		s.flags &^= flagUpstreamCloseIssued
	}
}

// onDialFailed runs on the loop when a worker could not connect.
func (s *session) onDialFailed(err error) {
	s.flags &^= flagDialing
	s.sh.stats.dialFailed.Add(1)
	s.backendFailed()
	if s.sh.e.log.Enabled(bgCtx, levelDebug) {
		s.sh.e.log.LogAttrs(bgCtx, levelDebug, "backend connect failed",
			attrSession(s.id), attrBackend(s.backend.Addr), attrErr(err))
	}
	if s.state != stateConnecting {
		s.maybeFinish()
		return
	}
	s.retry(502)
}

// onUpstreamOpen runs in OnOpen for an enrolled backend socket.
func (s *session) onUpstreamOpen(c gnet.Conn) gnet.Action {
	s.flags &^= flagDialing
	if s.state != stateConnecting || s.client == nil {
		// The client left or the handshake timed out meanwhile.
		return gnet.Close
	}
	s.attachUpstream(c)
	return gnet.None
}

// attachUpstream makes c, connected to s.backend, the session's backend
// socket and sends it the upgrade request. A write error closes c at once,
// and its OnClose moves the session on.
func (s *session) attachUpstream(c gnet.Conn) {
	c.SetContext(s)
	s.upstream = c
	s.flags &^= flagUpstreamCloseIssued
	s.hs.scan.Reset()
	s.hs.resp = s.hs.resp[:0]
	s.hs.sent = s.sh.now()
	s.setState(stateUpstreamHandshake)
	_, _ = c.Write(s.hs.fwd)
}

// onUpstreamHandshake handles backend bytes while its answer's head is
// incomplete; it returns what gnet must keep (onUpstreamData).
func (s *session) onUpstreamHandshake(p []byte) int {
	hs := s.hs
	// The backend answered: a warm socket closed from now on is the
	// backend failing, not a stale socket.
	s.flags &^= flagWarmConn
	for {
		n, done := hs.scan.Scan(p)
		if len(hs.resp)+n > int(s.snap.maxHeaderBytes) {
			s.backendFailed()
			s.retry(502)
			return 0
		}
		hs.resp = append(hs.resp, p[:n]...)
		p = p[n:]
		if !done {
			return 0
		}
		resp := &s.sh.resp
		if err := codec.ParseResponse(hs.resp, resp); err != nil {
			s.backendFailed()
			s.retry(502)
			return 0
		}
		switch {
		case resp.Status == 101:
			return s.upgrade(resp, p)
		case resp.Status >= 100 && resp.Status < 200:
			// 1xx interim answers (100, 103) are skipped.
			hs.scan.Reset()
			hs.resp = hs.resp[:0]
			continue
		}
		s.startRefusal(resp, p)
		return 0
	}
}

// upgrade checks the backend's 101, relays it and opens the session. rest
// are the bytes that followed the 101 in the same read: frames. It returns
// how many bytes at the end of rest gnet must keep (onUpstreamData).
func (s *session) upgrade(resp *codec.Response, rest []byte) int {
	sh, hs := s.sh, s.hs
	req := &sh.req
	if err := codec.ParseRequest(hs.head, req); err != nil {
		s.reject(502) // cannot happen: it parsed before
		return 0
	}
	neg, err := codec.CheckUpgrade(resp, req)
	if err != nil {
		if sh.e.log.Enabled(bgCtx, levelDebug) {
			sh.e.log.LogAttrs(bgCtx, levelDebug, "bad upgrade answer",
				attrSession(s.id), attrBackend(s.backend.Addr), attrErr(err))
		}
		s.backendFailed()
		s.retry(502)
		return 0
	}
	if s.backend.ReportSuccess(time.Now().UnixNano()) {
		sh.e.log.LogAttrs(bgCtx, slog.LevelInfo, "backend restored",
			attrUpstream(s.upstreamName()), attrBackend(s.backend.Addr))
	}
	var cookie []byte
	if st := s.backend.Upstream.Sticky; st != nil && hs.sticky != s.backend {
		// A new client, or its backend was unavailable: send it where it
		// went this time.
		cookie = st.SetCookie(s.backend)
	}
	out := codec.AppendSwitchingResponse(hs.body[:0], resp, hs.rid, cookie)
	hs.body = out
	s.status = 101
	if _, err := s.client.Write(out); err != nil || s.client == nil {
		return 0
	}
	maxFrame := uint64(s.snap.maxFrameBytes)
	s.c2u.Init(codec.FromClient, maxFrame, neg.Deflate, neg.Other)
	s.u2c.Init(codec.FromServer, maxFrame, neg.Deflate, neg.Other)
	sh.stats.opened.Add(1)
	s.hs = nil
	s.lastActive = sh.now()
	s.setState(stateOpen)
	sh.handshakes.Put(hs)
	if s.client.InboundBuffered() > 0 {
		// Client frames that came before the 101 wait in gnet's buffer;
		// the client's next OnTraffic relays them.
		_ = s.client.Wake(nil)
	}
	keep := 0
	if len(rest) > 0 {
		keep = s.relayFromUpstream(rest)
	}
	if s.state == stateOpen && sh.e.draining.Load() {
		// Opened after the drain pass walked the shard.
		s.goAway(statusGoingAway)
	}
	return keep
}

// backendFailed reports a failed attempt against the session's backend for
// passive ejection, and logs the ejection once, when it happens.
func (s *session) backendFailed() {
	b := s.backend
	if b == nil || !b.ReportFailure(time.Now().UnixNano()) {
		return
	}
	s.sh.stats.ejections.Add(1)
	s.sh.e.log.LogAttrs(bgCtx, slog.LevelWarn, "backend ejected",
		attrUpstream(s.upstreamName()), attrBackend(b.Addr))
	// This loop lets go of its warm sockets to b now; the others do on
	// their next tick.
	if w := s.sh.warm[b]; w != nil {
		w.drop()
	}
}

// releaseBackend stops counting this session against its backend.
func (s *session) releaseBackend() {
	if s.flags&flagBackendHeld != 0 {
		s.flags &^= flagBackendHeld
		s.backend.Release()
	}
}

// maxFallbacks bounds how many fallback upstreams one handshake may move
// through (config validation already rules out loops).
const maxFallbacks = 8

// canRetry reports whether a failed attempt could be retried: a retry is
// left, any backoff fits in the handshake time, and some backend not yet
// tried is available now (or the fallback has one).
// A 502/503/504 that cannot be retried is relayed as the backend sent it,
// Retry-After and all, rather than replaced by the proxy's own 502.
func (s *session) canRetry() bool {
	hs := s.hs
	if int(hs.attempts) > hs.up.Retries || s.backoffCeil() >= s.budget() {
		return false
	}
	return hs.up.CanPick(hs.tried) || hs.up.Fallback != nil && hs.fallbacks < maxFallbacks && hs.up.Fallback.CanPick(0)
}
