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
//
// Active health checks (check.go) add a second, independent state: a
// backend is down after fall failed checks in a row and up again after
// rise passed checks in a row. A down backend is unavailable whatever its
// breaker says; its coming up also closes its breaker (Envoy's
// successful_active_health_check_uneject_host).

// Units of passive.unavailable.
const (
	downUnit    = 1 << 32      // one active-down backend
	ejectedMask = downUnit - 1 // the count of ejected backends
)

// maxEjectFactor caps an ejection at this many times eject_time.
const maxEjectFactor = 10

// passive is the health shared by the backends of one upstream: the
// passive-health policy, the upstream's count of unavailable backends, and
// its active checks. (It is named for its first use; it exists whenever
// passive or active health is on.) It is made by setPassive and its policy
// fields never change.
type passive struct {
	_ cpu.CacheLinePad
	// unavailable counts the backends whose breaker is not closed (low 32
	// bits, ejectedMask) plus, in units of downUnit, the backends that are
	// active-down; a backend both ejected and down counts in both. At 0
	// every backend is usable and a pick reads no clock; with only down
	// backends it still reads none. A count is raised before a backend
	// turns unavailable and lowered after it turns available again.
	unavailable atomic.Int64
	_           cpu.CacheLinePad

	maxFails   int   // failures within failWindow that eject; 0: passive ejection off
	failWindow int64 // nanoseconds
	ejectTime  int64 // nanoseconds: first ejection, and the probe lease

	flips atomic.Uint64 // active-health flips (down or up) of the backends
	mu    sync.Mutex    // guards run
	run   *checkRun     // the running active checks; nil when stopped
}

// health is a backend's health state. The pick path reads only down,
// until and probe (atomics); the failure path and state changes of the
// breaker take mu. down, okRun and failRun are written by one goroutine at
// a time: the backend's active checker, or StartHealthChecks before it
// starts one.
type health struct {
	p *passive // nil: passive and active health off, the backend is always available

	down    atomic.Bool  // active checks took the backend down
	okRun   atomic.Int32 // consecutive passing active checks
	failRun atomic.Int32 // consecutive failing active checks

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
// maxFails ≤ 0 leaves passive ejection off; the backends then share health
// state only when their Upstream has active checks (Health.Type != ""), so
// set Backend.Upstream and Upstream.Health first. It allocates; call it
// before building the balancer over backends and before any use.
func setPassive(backends []*Backend, maxFails int, failWindow, ejectTime time.Duration) {
	if len(backends) == 0 {
		return
	}
	active := backends[0].Upstream != nil && backends[0].Upstream.Health.Type != ""
	if maxFails <= 0 && !active {
		return
	}
	p := &passive{maxFails: max(maxFails, 0), failWindow: int64(failWindow), ejectTime: max(int64(ejectTime), 1)}
	for _, b := range backends {
		b.h.p = p
		if maxFails > 0 {
			b.h.fails = make([]int64, maxFails)
		}
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
// nanoseconds): false while active checks hold it down; otherwise true
// while its breaker is closed, false while open. When
// half-open it returns true to one caller at a time (that caller's
// handshake is the probe) until ReportSuccess or ReportFailure ends the
// probe, or for at most eject_time if neither is ever called; so call it
// only when about to use b. Balancers call it for the backend they pick.
// It reads atomics only (plus one compare-and-swap when half-open), does
// not allocate, and is safe for concurrent use.
func (b *Backend) Available(now int64) bool {
	ok, halfOpen, lease := b.gate(now)
	if !ok || !halfOpen {
		return ok
	}
	return b.h.probe.CompareAndSwap(lease, max(now, 1))
}

// usable is Available without taking the probe: whether a pick may choose
// b. now == 0 means every backend of the upstream is available (none
// ejected, none down).
func (b *Backend) usable(now int64) bool {
	if now == 0 {
		return true
	}
	ok, _, _ := b.gate(now)
	return ok
}

// gate is the state check of Available and usable: whether b may take a
// session at now and, when it is half-open, the probe lease to take with
// a compare-and-swap.
func (b *Backend) gate(now int64) (ok, halfOpen bool, lease int64) {
	if b.h.down.Load() {
		return false, false, 0
	}
	u := b.h.until.Load()
	if u == 0 {
		return true, false, 0
	}
	if now < u {
		return false, false, 0
	}
	l := b.h.probe.Load()
	if l != 0 && now-l < b.h.p.ejectTime {
		return false, false, 0
	}
	return true, true, l
}

// ReportFailure counts a failure of b at now (unix nanoseconds): a connect
// refused or timed out, an upstream handshake timeout, a garbage answer, or
// a 502, 503 or 504 from b (a 401, 403 or 404 is no failure). It returns
// true exactly when this call ejected b (opened its breaker): the max_fails
// th failure within fail_window while closed, or any failure while
// half-open (the probe failed; the eject time doubles). A failure while
// open (a session begun before the ejection) counts for nothing. With
// passive health off (max_fails = 0) it does nothing and returns false.
// Active checks do not report here: a down backend may be ejected too.
// It takes b's own mutex, does not allocate, and is safe for concurrent
// use.
func (b *Backend) ReportFailure(now int64) (ejected bool) {
	h := &b.h
	if h.p == nil || h.p.maxFails == 0 {
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
		h.p.unavailable.Add(1)
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
		h.p.unavailable.Add(-1)
		restored = true
	}
	h.mu.Unlock()
	return restored
}

// clearEjection closes b's breaker if it is not closed, resets the
// doubling of its eject time and forgets its recent failures: what an
// active check that brings b up does (Envoy's
// successful_active_health_check_uneject_host). It reports whether b was
// ejected. It takes b's own mutex and does not allocate.
func (b *Backend) clearEjection() (wasEjected bool) {
	h := &b.h
	if h.p == nil || h.p.maxFails == 0 {
		return false
	}
	h.mu.Lock()
	if h.until.Load() != 0 {
		h.until.Store(0)
		h.probe.Store(0)
		h.p.unavailable.Add(-1)
		wasEjected = true
	}
	h.level.Store(0)
	h.n = 0
	h.mu.Unlock()
	return wasEjected
}

// Ejected reports whether b's breaker is not closed: open, or half-open
// (waiting for a probe to be let through or for its outcome). It is
// passive health only (see Down for active checks). It reads atomics
// only, does not allocate, and is safe for concurrent use.
func (b *Backend) Ejected() bool { return b.h.until.Load() != 0 }

// Down reports whether active health checks hold b down: fall checks
// failed in a row and rise have not passed in a row since. It is active
// health only (see Ejected for the breaker). It reads one atomic, does not
// allocate, and is safe for concurrent use.
func (b *Backend) Down() bool { return b.h.down.Load() }

// Healthy reports whether b is neither down (active checks) nor ejected
// (its breaker open or half-open). Unlike Available it takes no probe and
// reads no clock: a half-open backend is not healthy. The warm pool uses
// it to drop sockets to b. It reads atomics only, does not allocate, and
// is safe for concurrent use.
func (b *Backend) Healthy() bool { return !b.h.down.Load() && b.h.until.Load() == 0 }

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
// clock read, when p is nil or no backend is ejected or down (every
// backend is usable: one atomic load); 1 when some are down but none is
// ejected (no breaker to time: 1 is before the end of any ejection, so a
// backend ejected meanwhile counts as open); else time.Now in unix
// nanoseconds.
func pickNow(p *passive) int64 {
	if p == nil {
		return 0
	}
	switch v := p.unavailable.Load(); {
	case v == 0:
		return 0
	case v&ejectedMask == 0:
		return 1
	}
	return time.Now().UnixNano()
}

// skip reports whether a pick at now must pass over b: excluded, or not
// usable.
func skip(exclude uint64, b *Backend, now int64) bool {
	return excluded(exclude, b.Index) || !b.usable(now)
}

// pickFunc is a balancer's pick at now (0: nothing ejected or down).
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

// CanPick reports whether u's balancer could pick a backend outside
// exclude now: one that is not excluded and is available (or half-open
// with no probe in flight). It takes no probe and changes nothing, so the
// engine can ask before giving up a backend's answer for a retry. It does
// not allocate and is safe for concurrent use.
func (u *Upstream) CanPick(exclude uint64) bool {
	now := pickNow(passiveOf(u.Backends))
	for _, b := range u.Backends {
		if !skip(exclude, b, now) {
			return true
		}
	}
	return false
}
