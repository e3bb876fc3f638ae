package bench

import (
	"context"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// One driver per load generator (Idle, Echo, Fanout) serves both client
// paths: it moves a loadRun through its phases, and the run does what
// differs between gnet event loops (clientRun) and a goroutine per TLS
// connection (tlsRun). Nothing here is on a per-frame path.

// loadRun is a run of Idle, Echo or Fanout on one client path.
type loadRun interface {
	// core returns the phases, sessions, countdowns and counters both
	// paths keep in a clientCore, whose methods serve both.
	core() *clientCore
	// clientLoops returns the client event loops to report: the run's on
	// the gnet path, 0 on the TLS path.
	clientLoops() int
	// connect opens the sessions (clientRun.connect) and returns how many
	// were attempted.
	connect(ctx context.Context, sources []*net.Dialer) int
	// startPings starts the Pings, if the run pings, before connect: each
	// session pings from its upgrade to the end of the hold; the function
	// it returns stops them (client_ping.go).
	startPings() (stop func())
	// drivePublisher keeps the publishers of fan (fan.pubs, set) publishing
	// on its schedule until the function it returns is called.
	drivePublisher(fan *clientFanout) (stop func())
	// closeAll sends Close on every open session, waits (bounded) for the
	// servers' Close, then ends whatever is left: after it the counters
	// may be read.
	closeAll()
	// sum adds the run's message counters to o, and sets o.hist to its
	// merged latency histograms if it keeps any. Call it after closeAll.
	sum(o *clientOutcome)
}

// newLoadRun returns a run of spec on its target's client path: TLS (with
// spec.tlsConf) for a wss:// target, else gnet. Dials in progress on the
// TLS path end when ctx does.
func newLoadRun(ctx context.Context, spec clientSpec) (loadRun, error) {
	if spec.target.tls {
		return newTLSRun(ctx, spec), nil
	}
	r, err := newClientRun(spec)
	if err != nil {
		return nil, err
	}
	return r, nil
}

// core returns r's core.
func (r *clientRun) core() *clientCore { return &r.clientCore }

// clientLoops returns the run's event loops.
func (r *clientRun) clientLoops() int { return r.spec.loops }

// finishRun ends run: it notes whether ctx cut it short, closes every
// session (closeAll), then sums the counters and merges the latency
// histograms.
func finishRun(ctx context.Context, run loadRun) clientOutcome {
	o := clientOutcome{interrupted: ctx.Err() != nil}
	run.closeAll()
	o.failed = run.core().failures()
	run.sum(&o)
	return o
}

// reachable reports whether s is open and can be woken.
func (s *clientSession) reachable() bool {
	return s != nil && s.wake != nil && clientState(s.state.Load()) == clientStateOpen
}

// arm stores a new countdown in slot, sets flag on every open session,
// wakes it, and returns the countdown of their answers (already released by
// the driver). Whoever clears a flag (CAS) counts the countdown down: the
// session when it sees it, when it ends (ended), or arm itself when the
// wake fails or the session ended before the flag was set. Call it after
// connect.
func (r *clientCore) arm(slot *atomic.Pointer[clientCountdown], flag func(*clientSession) *atomic.Bool) *clientCountdown {
	cd := newClientCountdown()
	slot.Store(cd)
	for _, s := range r.sessions {
		if !s.reachable() {
			continue
		}
		cd.add()
		f := flag(s)
		f.Store(true)
		if s.wake() != nil || clientState(s.state.Load()) == clientStateClosed {
			s.answer(f, slot)
		}
	}
	cd.done()
	return cd
}

// wakeOpen wakes every open session, so it acts on a new phase. Call it
// after connect.
func (r *clientCore) wakeOpen() {
	for _, s := range r.sessions {
		if s.reachable() {
			_ = s.wake()
		}
	}
}

// openSession returns an open session of the run, or nil. Call it after
// connect.
func (r *clientCore) openSession() *clientSession {
	for _, s := range r.sessions {
		if s.reachable() {
			return s
		}
	}
	return nil
}

// add adds a loop's counters (or a TLS session's) to o.
func (o *clientOutcome) add(lp *clientLoop) {
	o.msgs += lp.msgs
	o.sent += lp.sent
	o.received += lp.received
	o.mismatches += lp.mismatches
	o.pings += lp.pings
	o.pongs += lp.pongs
}

// paceInterval returns the gap between connects at rate per second; 0 for
// a rate of 0 (unbounded).
func paceInterval(rate float64) time.Duration {
	if rate <= 0 {
		return 0
	}
	return time.Duration(float64(time.Second) / rate)
}

// paceWait waits, with timer, until connect n is due: begin + n×interval.
// It returns at once for interval 0. It reports false if ctx ended first.
func paceWait(ctx context.Context, timer *time.Timer, begin time.Time, interval time.Duration, n int64) bool {
	if interval <= 0 {
		return true
	}
	timer.Reset(time.Until(begin.Add(time.Duration(n) * interval)))
	select {
	case <-ctx.Done():
		return false
	case <-timer.C:
		return true
	}
}

// dialAll calls dial for sessions 0 to sessions-1, session i with
// dialers[i%len(dialers)] once it is due at rate per second (0:
// unbounded), from a pool of clientDialWorkers goroutines; it leaves the
// rest undialled once ctx is done. It returns how many were attempted.
func dialAll(ctx context.Context, sessions int, rate float64, dialers []*net.Dialer, dial func(i int, d *net.Dialer)) int {
	var (
		next atomic.Int64
		wg   sync.WaitGroup
	)
	begin := time.Now()
	interval := paceInterval(rate)
	for range min(clientDialWorkers, sessions) {
		wg.Go(func() {
			timer := time.NewTimer(0)
			defer timer.Stop()
			for {
				i := int(next.Add(1) - 1)
				if i >= sessions || ctx.Err() != nil || !paceWait(ctx, timer, begin, interval, int64(i)) {
					return
				}
				dial(i, dialers[i%len(dialers)])
			}
		})
	}
	wg.Wait()
	return int(min(next.Load(), int64(sessions)))
}
