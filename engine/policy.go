package engine

// Admission policy at the upgrade (docs/policy.md): address lists,
// Origin, per-address handshake rate and session cap, and the per-route
// [limits] overrides. The rules themselves are package policy's; this file
// compiles them per snapshot and applies them to a session.

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/throngproxy/throng/codec"
	"github.com/throngproxy/throng/config"
	"github.com/throngproxy/throng/fwdauth"
	"github.com/throngproxy/throng/jwtauth"
	"github.com/throngproxy/throng/policy"
)

// policyReason is why admission policy refused a handshake, for
// throng_policy_refused_total{reason}.
type policyReason uint8

const (
	refusedAddress    policyReason = iota // deny_cidrs, or not in allow_cidrs: 403
	refusedOrigin                         // allow_origins / require_origin: 403
	refusedRate                           // handshakes_per_ip: 429
	refusedPerIP                          // max_sessions_per_ip: 429
	refusedHeaderSize                     // a route's tighter max_header_bytes: 431
	refusedToken                          // route.jwt: no token, or one that does not verify: 401
	refusedClaims                         // route.jwt.required_claims (or an unsendable claim): 403
	refusedAuth                           // route.forward_auth answered other than 2xx: relayed
	refusedAuthError                      // route.forward_auth gave no answer in time, or too many waited: 503
	numPolicyReasons
)

var policyReasonNames = [numPolicyReasons]string{"address", "origin", "handshake_rate", "sessions_per_ip", "header_size", "jwt", "jwt_claims", "forward_auth", "forward_auth_error"}

func (r policyReason) String() string { return policyReasonNames[r] }

// PolicyReasons names the reasons of Stats.PolicyRefused, in its order.
func PolicyReasons() []string { return policyReasonNames[:] }

// routePolicy is one route's admission rules and limits, compiled for the
// loops. Immutable; a reload builds new ones.
type routePolicy struct {
	origins       *policy.Origins
	requireOrigin bool
	allow, deny   policy.Prefixes
	// ips holds the per-address handshake buckets and session counts;
	// nil when neither limit is set. Routes without their own per-address
	// keys share the [limits] one, so that a client's sessions count
	// together across them.
	ips    *policy.IPTable
	v6Bits int
	// jwt verifies the route's tokens; nil when [route.jwt] is absent.
	jwt *jwtauth.Verifier
	// owned are the headers only the proxy sends upstream on this
	// route: the TLS client-certificate ones and the forwarded claims'.
	owned []string
	// auth is the route's forward_auth service; nil when off.
	auth *fwdauth.Service
	// msgs are the per-message limits of client → backend traffic; nil
	// when the route has none, and its sessions relay ungated.
	msgs *msgLimits

	maxHeaderBytes   int64
	maxEarlyBytes    int64
	maxFrameBytes    int64
	writeBufferLimit int64
}

// policyState is what a session holds of admission policy: its slot in
// an address's session count, released when it ends, and its message
// buckets.
type policyState struct {
	ips *policy.IPTable
	ip  *policy.IPEntry
	msg *msgState // nil without per-message limits
	fan *fanSub   // a fan-out subscriber's place in its channel; nil otherwise
}

// msgLimits are a route's per-message limits (docs/policy.md), checked at
// each client data frame header.
type msgLimits struct {
	msgs, bytes *policy.BucketSpec // nil: that rate is off
	drop        bool               // rate_limit_action = "drop"
	maxMessage  uint64             // max_message_bytes; 0 = off
}

// newMsgLimits compiles l's per-message keys; nil when none is set.
func newMsgLimits(l *config.Limits) *msgLimits {
	if l.MessagesPerSession.IsZero() && l.BytesPerSession.IsZero() && l.MaxMessageBytes == 0 {
		return nil
	}
	m := &msgLimits{drop: l.RateLimitAction == config.RateLimitDrop, maxMessage: uint64(l.MaxMessageBytes.Bytes())}
	if r := l.MessagesPerSession; !r.IsZero() {
		spec := policy.NewBucketSpec(r.N(), r.Per(), 0)
		m.msgs = &spec
	}
	if r := l.BytesPerSession; !r.IsZero() {
		spec := policy.NewBucketSpec(r.N(), r.Per(), 0)
		m.bytes = &spec
	}
	return m
}

// msgState is a session's per-message bookkeeping toward its backend.
type msgState struct {
	lim       *msgLimits
	msgs      policy.Bucket
	bytes     policy.Bucket
	skip      uint64 // payload bytes of a dropped frame still to discard
	msgLen    uint64 // payload of the current message so far
	dropping  bool   // the current message is being dropped
	forwarded uint32 // messages forwarded whole, for the route's counter
}

// msgVerdict is what becomes of a client data frame.
type msgVerdict uint8

const (
	msgForward   msgVerdict = iota
	msgDrop                 // rate limited with rate_limit_action = "drop"
	msgRateLimit            // rate limited: Close 1008
	msgTooBig               // over max_message_bytes: Close 1009
)

// judge decides on the data frame g describes, at now (Engine.nanos).
// The rates are checked at a message's first frame: the whole message
// follows that decision, so it is never half-forwarded; its later frames'
// bytes are charged to the byte bucket all the same (Bucket.Charge), and
// the debt holds back the messages after it.
func (ms *msgState) judge(g *codec.Gate, now int64) msgVerdict {
	l := ms.lim
	if g.First {
		ms.msgLen, ms.dropping = 0, false
		ok := true
		if l.msgs != nil {
			ok, _ = ms.msgs.Take(l.msgs, now, 1)
		}
		if ok && l.bytes != nil {
			ok, _ = ms.bytes.Take(l.bytes, now, int64(min(g.Length, 1<<62)))
		}
		if !ok {
			if !l.drop {
				return msgRateLimit
			}
			ms.dropping = true
		}
	} else if !ms.dropping && l.bytes != nil {
		ms.bytes.Charge(l.bytes, now, int64(min(g.Length, 1<<62)))
	}
	ms.msgLen += g.Length
	if l.maxMessage != 0 && ms.msgLen > l.maxMessage {
		return msgTooBig
	}
	if ms.dropping {
		return msgDrop
	}
	return msgForward
}

// ipTableKey identifies an IPTable's limits, so that a reload keeping
// them keeps the table (and the sessions and buckets it counts).
type ipTableKey struct {
	scope       string // "" for [limits], else the route's host+path
	maxSessions int
	rate        config.Rate
	burst       int
	tracked     int
}

// ipTables keeps the per-address tables across reloads: a reload that
// leaves a route's limits alone must not reset its clients' counts (the
// sessions opened before it still hold slots in the old table).
type ipTables struct {
	mu sync.Mutex
	m  map[ipTableKey]*policy.IPTable
}

// get returns the table for k, making it if needed.
func (t *ipTables) get(k ipTableKey) *policy.IPTable {
	t.mu.Lock()
	defer t.mu.Unlock()
	if tb := t.m[k]; tb != nil {
		return tb
	}
	if t.m == nil {
		t.m = make(map[ipTableKey]*policy.IPTable)
	}
	var spec *policy.BucketSpec
	if !k.rate.IsZero() {
		s := policy.NewBucketSpec(k.rate.N(), k.rate.Per(), int64(k.burst))
		spec = &s
	}
	tb := policy.NewIPTable(k.maxSessions, spec, k.tracked)
	t.m[k] = tb
	return tb
}

// sweep forgets what the tables hold for nothing, and drops tables no
// longer in use that count no session.
func (t *ipTables) sweep(now int64, inUse map[*policy.IPTable]bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for k, tb := range t.m {
		tb.Sweep(now)
		if !inUse[tb] && tb.Len() == 0 {
			delete(t.m, k)
		}
	}
}

// compilePolicies builds every route's policy for snapshot s.
func compilePolicies(c *config.Config, tables *ipTables) ([]routePolicy, error) {
	out := make([]routePolicy, len(c.Routes))
	for i := range c.Routes {
		r := &c.Routes[i]
		lim := r.Limits.Apply(c.Limits)
		p := &out[i]
		p.v6Bits = lim.IPv6Prefix
		var err error
		if p.origins, err = policy.ParseOrigins(r.AllowOrigins); err != nil {
			return nil, fmt.Errorf("engine: route[%d].allow_origins: %w", i, err)
		}
		p.requireOrigin = r.RequireOrigin
		if p.allow, err = policy.ParsePrefixes(r.AllowCIDRs); err != nil {
			return nil, fmt.Errorf("engine: route[%d].allow_cidrs: %w", i, err)
		}
		if p.deny, err = policy.ParsePrefixes(r.DenyCIDRs); err != nil {
			return nil, fmt.Errorf("engine: route[%d].deny_cidrs: %w", i, err)
		}
		p.setLimits(&lim)
		p.msgs = newMsgLimits(&lim)
		p.owned = ownedTLSHeaders
		if r.JWT != nil {
			if p.jwt, err = jwtauth.New(r.JWT); err != nil {
				return nil, fmt.Errorf("engine: route[%d].jwt: %w", i, err)
			}
			p.owned = append(slices.Clip(ownedTLSHeaders), p.jwt.Owned()...)
		}
		if r.ForwardAuth != "" {
			if p.auth, err = fwdauth.NewService(r.ForwardAuth, r.ForwardAuthHeaders, r.ForwardAuthTimeout.D(), r.ForwardAuthCache.D()); err != nil {
				return nil, fmt.Errorf("engine: route[%d].forward_auth: %w", i, err)
			}
			p.owned = append(slices.Clip(p.owned), r.ForwardAuthHeaders...)
		}
		if lim.MaxSessionsPerIP > 0 || !lim.HandshakesPerIP.IsZero() {
			k := ipTableKey{maxSessions: lim.MaxSessionsPerIP, rate: lim.HandshakesPerIP, burst: lim.HandshakeBurst, tracked: lim.TrackedIPs}
			if ownIPLimits(&r.Limits) {
				k.scope = r.Host + r.PathPrefix
			}
			p.ips = tables.get(k)
		}
	}
	return out, nil
}

// limitsPolicy is the policy of a session without a route yet: the
// [limits] sizes, no admission rule.
func limitsPolicy(l *config.Limits) routePolicy {
	p := routePolicy{owned: ownedTLSHeaders}
	p.setLimits(l)
	return p
}

// setLimits sets p's sizes from l.
func (p *routePolicy) setLimits(l *config.Limits) {
	p.maxHeaderBytes = l.MaxHeaderBytes.Bytes()
	p.maxEarlyBytes = l.MaxEarlyBytes.Bytes()
	p.maxFrameBytes = l.MaxFrameBytes.Bytes()
	p.writeBufferLimit = l.WriteBufferLimit.Bytes()
}

// ownIPLimits reports whether a route sets per-address keys of its own.
func ownIPLimits(r *config.RouteLimits) bool {
	return r.MaxSessionsPerIP != nil || r.HandshakesPerIP != nil || r.HandshakeBurst != nil ||
		r.TrackedIPs != nil || r.IPv6Prefix != nil
}

// policy returns the rules of s's route (the [limits] defaults' before
// it has one).
func (s *session) policy() *routePolicy {
	if s.route != nil && s.route.Index < len(s.snap.policies) {
		return &s.snap.policies[s.route.Index]
	}
	return &s.snap.defaults
}

// limitClient is the address the admission rules see: the peer (or the
// PROXY header's source), or, from a trusted proxy, the client its
// X-Forwarded-For names.
func (s *session) limitClient(req *codec.Request) netip.Addr {
	ip, trusted := s.clientIP()
	if !trusted {
		return ip
	}
	if c, ok := codec.ClientFromForwardedFor(req.Headers, s.snap.trusted); ok {
		return c
	}
	return ip
}

// admitPolicy applies the route's admission rules to the request and
// answers a refusal itself; it reports whether the handshake may go on.
// The checks run cheapest and most final first: the address lists, the
// head size, the handshake bucket (which a refused handshake still
// spends, so that a flood of bad requests is rate limited too), the
// session cap, then the Origin.
func (s *session) admitPolicy(req *codec.Request) bool {
	p := s.policy()
	ip := s.limitClient(req)
	if !policy.Admits(p.allow, p.deny, ip) {
		return s.refusePolicy(refusedAddress, 403, "")
	}
	if int64(len(s.hs.head)) > p.maxHeaderBytes {
		return s.refusePolicy(refusedHeaderSize, 431, "")
	}
	if p.ips != nil {
		e, v, wait := p.ips.Admit(policy.GroupKey(ip, p.v6Bits), s.sh.e.nanos())
		switch v {
		case policy.RateLimited:
			return s.refusePolicy(refusedRate, 429, retryAfter(wait))
		case policy.TooManySessions:
			return s.refusePolicy(refusedPerIP, 429, headerRetryAfter)
		}
		if e != nil {
			s.pol = &policyState{ips: p.ips, ip: e}
		}
	}
	if p.msgs != nil {
		if s.pol == nil {
			s.pol = &policyState{}
		}
		s.pol.msg = &msgState{lim: p.msgs}
	}
	if !p.origins.Empty() || p.requireOrigin {
		if req.Origin == nil && p.requireOrigin || req.Origin != nil && !p.origins.Allowed(req.Origin) {
			return s.refusePolicy(refusedOrigin, 403, "") // rejecting gives the slot back
		}
	}
	return true
}

// admitToken verifies the route's JWT (docs/policy.md) and fits the
// forwarded request f to it: the token leaves the query or the offered
// protocols it came in, and the forwarded claims join f.Extra. It answers
// a refusal itself (401 with a challenge, or 403) and reports whether the
// handshake may go on. Verification runs on the loop: a signature check
// costs tens of microseconds, less than the TLS handshake before it.
func (s *session) admitToken(req *codec.Request, f *codec.Forward, v *jwtauth.Verifier) bool {
	sh := s.sh
	found, ok := v.Find(sh.authbuf[:0], req)
	if !ok {
		return s.refusePolicy(refusedToken, 401, jwtauth.Challenge(jwtauth.ErrNoToken))
	}
	claims, err := v.Verify(found.Token)
	if err != nil {
		r := refusedToken
		if jwtauth.Status(err) == 403 {
			r = refusedClaims
		}
		return s.refusePolicy(r, jwtauth.Status(err), jwtauth.Challenge(err))
	}
	switch found.From {
	case config.TokenInQuery:
		f.Target = found.Target
	case config.TokenInProtocol:
		f.ReplaceProtocols, f.Protocols = true, found.Protocols
	}
	// The claims go after what Find wrote in authbuf, unless it outgrew
	// authbuf (and so wrote elsewhere).
	extra := sh.authbuf[:0]
	if used := len(found.Target) + len(found.Protocols); used <= cap(extra) {
		extra = extra[used:used]
	}
	extra = append(extra, f.Extra...)
	if extra, err = v.AppendClaims(extra, claims); err != nil {
		return s.refusePolicy(refusedClaims, 403, jwtauth.Challenge(err))
	}
	f.Extra = extra
	return true
}

// refusePolicy counts and answers a policy refusal; it returns false.
func (s *session) refusePolicy(r policyReason, status int, header string) bool {
	s.sh.stats.policyRefused[r].Add(1)
	s.rejectWith(status, header)
	return false
}

// releasePolicy gives back what the session holds of admission policy:
// its address's session slot, and a subscriber's place in its channel. Called when the session starts closing or
// rejecting, and when it ends (one that never got that far); safe to
// call more than once.
func (s *session) releasePolicy() {
	if ps := s.pol; ps != nil && ps.ip != nil {
		ps.ips.Release(ps.ip)
		ps.ip = nil
	}
	s.leaveFanout()
}

// retryAfter is the Retry-After header line for a wait, in whole seconds
// rounded up (at least 1: RFC 9110 §10.2.3 counts seconds).
func retryAfter(wait time.Duration) string {
	secs := max(int64((wait+time.Second-1)/time.Second), 1)
	if secs == 1 {
		return headerRetryAfter
	}
	return "Retry-After: " + strconv.FormatInt(secs, 10) + "\r\n"
}

// nanos is the time since the engine was made, monotonic.
func (e *Engine) nanos() int64 { return int64(time.Since(e.born)) }

// ipSweepTicks is how often the ticker forgets per-address entries that
// hold nothing (10 s), so that the tables shrink back after a burst.
const ipSweepTicks = 100

// sweepIPTables runs on the ticker goroutine.
func (e *Engine) sweepIPTables() {
	snap := e.snap.Load()
	inUse := make(map[*policy.IPTable]bool, len(snap.policies))
	for i := range snap.policies {
		if t := snap.policies[i].ips; t != nil {
			inUse[t] = true
		}
	}
	e.routeReg.tables.sweep(e.nanos(), inUse)
}
