package upstream

import (
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/cpu"
)

// Passive health (outlier ejection) and the circuit breaker of a backend,
// after Envoy's outlier detection and nginx's max_fails/fail_timeout.
//
// A backend's breaker is closed while it is healthy. max_fails failures
// within fail_window eject it: the breaker opens for eject_time, doubled on
// each consecutive ejection up to 10 × eject_time. Once that time has
// passed the breaker is half-open: Available lets one handshake through at
// a time (the probe). The probe's success closes the breaker (the backend
// is restored); its failure opens it again for the next, doubled, time.
// The doubling resets with the first success after the backend is back.

// maxEjectFactor caps an ejection at this many times eject_time.
const maxEjectFactor = 10

// passive is the passive-health policy shared by the backends of one
// upstream, with the upstream's count of ejected backends. It is made by
// setPassive and its policy fields never change.
type passive struct {
	_       cpu.CacheLinePad
	ejected atomic.Int64 // backends of the upstream whose breaker is not closed
	_       cpu.CacheLinePad

	maxFails   int   // failures within failWindow that eject; ≥ 1
	failWindow int64 // nanoseconds
	ejectTime  int64 // nanoseconds: first ejection, and the probe lease
}

// health is a backend's passive-health state. The pick path reads only
// until and probe (atomics); the failure path and state changes take mu.
type health struct {
	p *passive // nil: passive health off, the backend is always available

	until atomic.Int64 // 0: closed; else when the open breaker turns half-open
	probe atomic.Int64 // half-open: when the probe in flight was let through; 0: none
	level atomic.Int32 // consecutive ejections (sets the eject time)

	mu    sync.Mutex // guards fails, next, n and changes of until, probe, level
	fails []int64    // ring of the last maxFails failure times
	next  int        // fails[next]: where the next failure goes (the oldest when full)
	n     int        // failures in the ring since the last ejection, ≤ maxFails
}

// setPassive gives backends (one upstream's) passive health: maxFails
// failures within failWindow eject a backend for ejectTime (doubling).
// maxFails ≤ 0 leaves them always available. It allocates; call it before
// building the balancer over backends and before any use.
func setPassive(backends []*Backend, maxFails int, failWindow, ejectTime time.Duration) {
	if maxFails <= 0 || len(backends) == 0 {
		return
	}
	p := &passive{maxFails: maxFails, failWindow: int64(failWindow), ejectTime: max(int64(ejectTime), 1)}
	for _, b := range backends {
		b.h.p = p
		b.h.fails = make([]int64, maxFails)
	}
}

// passiveOf returns the passive policy shared by backends, or nil.
func passiveOf(backends []*Backend) *passive {
	if len(backends) == 0 {
		return nil
	}
	return backends[0].h.p
}

// Available reports whether b may take a new session at now (unix
// nanoseconds): true while its breaker is closed, false while open. When
// half-open it returns true to one caller at a time (that caller's
// handshake is the probe) until ReportSuccess or ReportFailure ends the
// probe, or for at most eject_time if neither is ever called; so call it
// only when about to use b. Balancers call it for the backend they pick.
// It reads atomics only (plus one compare-and-swap when half-open), does
// not allocate, and is safe for concurrent use.
func (b *Backend) Available(now int64) bool {
	u := b.h.until.Load()
	if u == 0 {
		return true
	}
	if now < u {
		return false
	}
	l := b.h.probe.Load()
	if l != 0 && now-l < b.h.p.ejectTime {
		return false
	}
	return b.h.probe.CompareAndSwap(l, max(now, 1))
}

// usable is Available without taking the probe: whether a pick may choose
// b. now == 0 means no backend of the upstream is ejected.
func (b *Backend) usable(now int64) bool {
	if now == 0 {
		return true
	}
	u := b.h.until.Load()
	if u == 0 {
		return true
	}
	if now < u {
		return false
	}
	l := b.h.probe.Load()
	return l == 0 || now-l >= b.h.p.ejectTime
}

// ReportFailure counts a failure of b at now (unix nanoseconds): a connect
// refused or timed out, an upstream handshake timeout, a garbage answer, or
// a 502, 503 or 504 from b (a 401, 403 or 404 is no failure). It returns
// true exactly when this call ejected b (opened its breaker): the max_fails
// th failure within fail_window while closed, or any failure while
// half-open (the probe failed; the eject time doubles). A failure while
// open (a session begun before the ejection) counts for nothing. With
// passive health off (max_fails = 0) it does nothing and returns false.
// It takes b's own mutex, does not allocate, and is safe for concurrent
// use.
func (b *Backend) ReportFailure(now int64) (ejected bool) {
	h := &b.h
	if h.p == nil {
		return false
	}
	h.mu.Lock()
	u := h.until.Load()
	switch {
	case u == 0:
		h.fails[h.next] = now
		h.next++
		if h.next == len(h.fails) {
			h.next = 0
		}
		if h.n < len(h.fails) {
			h.n++
		}
		// When full, fails[next] is the oldest of the last maxFails.
		if h.n < len(h.fails) || now-h.fails[h.next] > h.p.failWindow {
			h.mu.Unlock()
			return false
		}
		h.n = 0
		h.p.ejected.Add(1)
	case h.probe.Load() == 0:
		// Open, or past its eject time with no probe let through yet:
		// the failure comes from a session begun before the ejection
		// and counts for nothing. Only a failed probe reopens.
		h.mu.Unlock()
		return false
	}
	// Closed, or half-open (the probe failed): open for the next time.
	level := h.level.Add(1)
	h.until.Store(max(now+ejectFor(h.p.ejectTime, level), 1))
	h.probe.Store(0)
	h.mu.Unlock()
	return true
}

// ReportSuccess counts a success of b at now (unix nanoseconds): a 101
// from b. It returns true when b was half-open (the probe succeeded) and
// its breaker is now closed: b is restored. A success while open (a
// session begun before the ejection) counts for nothing; the first success
// after b is back resets the doubling of its eject time. While b is closed
// and was not recently ejected it reads two atomics and returns false. It
// does not allocate and is safe for concurrent use.
func (b *Backend) ReportSuccess(now int64) (restored bool) {
	h := &b.h
	if h.p == nil || h.until.Load() == 0 && h.level.Load() == 0 {
		return false
	}
	h.mu.Lock()
	u := h.until.Load()
	switch {
	case u == 0:
		h.level.Store(0)
	case now >= u || h.probe.Load() != 0:
		h.until.Store(0)
		h.probe.Store(0)
		h.n = 0
		h.p.ejected.Add(-1)
		restored = true
	}
	h.mu.Unlock()
	return restored
}

// Ejected reports whether b's breaker is not closed: open, or half-open
// (waiting for a probe to be let through or for its outcome). It reads atomics only, does not
// allocate, and is safe for concurrent use.
func (b *Backend) Ejected() bool { return b.h.until.Load() != 0 }

// ejectFor returns the eject time of the level-th consecutive ejection
// (level ≥ 1): base doubled level-1 times, at most maxEjectFactor × base.
func ejectFor(base int64, level int32) int64 {
	d := base
	for i := int32(1); i < level && d < maxEjectFactor*base; i++ {
		d *= 2
	}
	return min(d, maxEjectFactor*base)
}

// pickNow returns the clock for a pick over backends sharing p: 0, with no
// clock read, when p is nil or no backend is ejected (every backend is
// usable), else time.Now in unix nanoseconds.
func pickNow(p *passive) int64 {
	if p == nil || p.ejected.Load() == 0 {
		return 0
	}
	return time.Now().UnixNano()
}

// skip reports whether a pick at now must pass over b: excluded, or not
// usable.
func skip(exclude uint64, b *Backend, now int64) bool {
	return excluded(exclude, b.Index) || !b.usable(now)
}

// pickFunc is a balancer's pick at now (0: nothing ejected).
type pickFunc interface {
	pick(exclude, key uint64, now int64) *Backend
}

// pickAvailable runs bal's pick and takes the probe of a half-open pick;
// when another pick took that probe first, it picks again (the probe taken,
// that backend is no longer usable). It does not allocate.
func pickAvailable(bal pickFunc, p *passive, n int, exclude, key uint64) *Backend {
	now := pickNow(p)
	if now == 0 {
		return bal.pick(exclude, key, 0)
	}
	for range n + 1 {
		b := bal.pick(exclude, key, now)
		if b == nil || b.Available(now) {
			return b
		}
	}
	return nil
}
