package engine

// forward_auth at the upgrade (docs/policy.md): once the request passed
// every other rule, the session waits in connecting (the handshake
// deadline running, early bytes held) while a pool goroutine asks the
// route's auth service; the answer comes back on the session's loop. A 2xx
// adds the service's named headers to the request already built for the
// backend and the first attempt starts; any other answer goes to the
// client as it came; no answer in time is a 503.

import (
	"context"
	"slices"

	"github.com/throngproxy/throng/fwdauth"
)

// authPool returns the engine's forward_auth pool, starting it with
// server.forward_auth_concurrency workers on the first call.
func (e *Engine) authPool() *fwdauth.Pool {
	e.authOnce.Do(func() {
		e.auth = fwdauth.NewPool(e.snap.Load().cfg.Server.ForwardAuthConcurrency)
	})
	return e.auth
}

// stopAuth stops the pool, if it was started.
func (e *Engine) stopAuth() {
	e.authOnce.Do(func() {}) // none may start after this
	if e.auth != nil {
		e.auth.Close()
	}
}

// askAuth puts the session's request to svc and waits for the answer in
// connecting. The head is copied for the pool: hs.head stays the
// session's.
func (s *session) askAuth(svc *fwdauth.Service) {
	hs := s.hs
	hs.gen++
	r := &authResult{s: s, gen: hs.gen}
	q := fwdauth.Question{Head: slices.Clone(hs.head), ForwardedFor: s.forwardedFor(), Proto: "http"}
	if s.tls != nil {
		q.Proto = "https"
	}
	loop := s.sh.loop
	if !s.sh.e.authPool().Ask(svc, q, func(a fwdauth.Answer) {
		r.a = a
		_ = loop.Execute(bgCtx, r)
	}) {
		s.refusePolicy(refusedAuthError, 503, headerRetryAfter)
		return
	}
	hs.authWait = true
	s.setState(stateConnecting)
}

// forwardedFor is the X-Forwarded-For the auth service is sent: the
// client address the admission rules saw.
func (s *session) forwardedFor() string {
	ip, _ := s.clientIP()
	return ip.String()
}

// authResult brings an auth service's answer to the session's loop; gen
// tells a stale one (the session moved on or ended) from the current.
type authResult struct {
	s   *session
	gen uint32
	a   fwdauth.Answer
}

func (r *authResult) Run(context.Context) error {
	s := r.s
	hs := s.hs
	if s.state != stateConnecting || hs == nil || !hs.authWait || hs.gen != r.gen {
		return nil
	}
	hs.authWait = false
	switch a := &r.a; {
	case a.Err != nil:
		s.refusePolicy(refusedAuthError, 503, headerRetryAfter)
	case !a.Admit:
		s.sh.stats.policyRefused[refusedAuth].Add(1)
		s.rejectResponse(a.Status, a.Response)
	default:
		// Before the empty line that ends the head; the client's own
		// headers of these names were left out when it was built.
		if len(a.Header) > 0 && !s.route.Fanout {
			end := len(hs.fwd) - 2
			// a.Header may be a cached answer shared by loops: only read.
			hs.fwd = append(append(hs.fwd[:end], a.Header...), "\r\n"...)
		}
		s.proceed()
	}
	return nil
}
