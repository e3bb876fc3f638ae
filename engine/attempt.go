package engine

// Attempts: picking a backend, warm socket or dial, retries with backoff,
// fallback upstreams, and what each failure costs the backend.

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/panjf2000/gnet/v2"

	"github.com/throngproxy/throng/codec"
	"github.com/throngproxy/throng/tlslayer"
	"github.com/throngproxy/throng/upstream"
)

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
		s.attachUpstream(c, warmLayer(c))
		return
	}
	if b.Upstream != nil && b.Upstream.Warm > 0 {
		s.sh.stats.warmMisses.Add(1)
	}
	s.dial()
}

// dial hands the session's backend to a dial worker.
func (s *session) dial() {
	s.dialAbandoned.Store(false)
	j := dialJob{s: s, loop: s.sh.loop, addr: s.backend.Addr, ap: s.backend.AddrPort, dialer: s.snap.dialer,
		tls: s.backend.TLS, keepAlive: s.snap.keepAlive}
	if u := s.backend.Upstream; u != nil && u.SendProxy != codec.ProxyOff {
		j.proxy = s.appendProxyHeader(nil, u.SendProxy)
	}
	switch err := s.sh.e.dialer.start(j); {
	case errors.Is(err, errDialQueueFull):
		// Every worker is busy and the queue is full: overloaded.
		s.reject(503)
		return
	case err != nil:
		// Reported like a worker's failure, after this event: the retry
		// it leads to must not run inside the attempt.
		_ = s.sh.loop.Execute(s.sh.e.dialer.ctx, &dialResult{s: s, err: err})
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

// attachUpstream makes c, connected to s.backend, the session's backend
// socket and sends it the upgrade request. A write error closes c at once,
// and its OnClose moves the session on.
func (s *session) attachUpstream(c gnet.Conn, layer *tlslayer.Layer) {
	c.SetContext(s)
	s.setUpstreamLayer(layer)
	s.upstream = c
	s.flags &^= flagUpstreamCloseIssued
	s.hs.scan.Reset()
	s.hs.resp = s.hs.resp[:0]
	s.hs.sent = s.sh.now()
	s.setState(stateUpstreamHandshake)
	if u := s.backend.Upstream; s.flags&flagWarmConn != 0 && layer == nil && u != nil && u.SendProxy != codec.ProxyOff {
		// A warm plain socket has sent nothing yet: its PROXY header
		// goes first. (A fresh socket's went from the dial worker, and
		// config refuses warm TLS sockets with one.)
		_, _ = c.Write(s.appendProxyHeader(s.sh.tlsPlain[:0], u.SendProxy))
	}
	_ = s.writeTo(toUpstream, c, s.hs.fwd)
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
