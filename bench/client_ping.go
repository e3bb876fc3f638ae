package bench

import (
	"context"
	"encoding/binary"
	"sync"
	"time"

	"github.com/gobwas/ws"
	"github.com/panjf2000/gnet/v2"
)

// The Pings of an idle run (IdleConfig.Ping): every open session sends a
// masked Ping every interval, from its upgrade to the end of the hold, and
// counts the Pongs (clientSession.handle). The verify echo follows, on the
// same stream, the Pong owed for the last Ping: if no Pong came since that
// Ping it is missing (pong_missing; a peer may answer only the latest of
// several Pings, RFC 6455 §5.5.3). The sends are spread over the interval:
// it is cut in slices, and each session has one. On the gnet path one
// goroutine per run ticks once a slice and hands each client loop, at
// every tick the loops the run has then (tickLoops), a runnable built with
// the loop that pings its sessions of the slices due (EventLoop.Execute):
// no goroutine or timer per session. On the TLS path each session's
// goroutine pings when its slice comes (tlsSession.pingIfDue).

// Limits of the Pings.
const (
	// minPingInterval is the shortest interval, and the shortest slice.
	minPingInterval = 10 * time.Millisecond
	// maxPingSlices bounds the slices of an interval.
	maxPingSlices = 100
	// clientPingLen is a Ping's payload: its number on the session.
	clientPingLen = 8
)

// pingSpread returns how an interval's Pings are spread: over slices
// slices, one every tick (at least minPingInterval apart).
func pingSpread(every time.Duration) (slices int, tick time.Duration) {
	slices = int(min(max(every/minPingInterval, 1), maxPingSlices))
	return slices, every / time.Duration(slices)
}

// appendPing appends s's next Ping to dst and counts it: masked (RFC 6455
// §5.3, §5.5.2), its payload the Ping's number on s (8 bytes, little
// endian). It does not allocate beyond growing dst.
func (s *clientSession) appendPing(dst []byte) []byte {
	var p [clientPingLen]byte
	binary.LittleEndian.PutUint64(p[:], s.pings)
	s.pings++
	s.pongOwed = true
	s.loop.pings++
	return clientAppendControl(dst, ws.OpPing, s.frame.mask, p[:])
}

// clientPingee is an open session of a loop and its conn: the loop's list
// of them is what its pinger walks.
type clientPingee struct {
	s *clientSession
	c gnet.Conn
}

// clientPinger is the runnable that pings one loop's sessions: at each
// run, the slices whose time has come since the last. Every loop of a run
// that pings has one (clientLoop.pinger), built with the loop; done is
// touched on the loop only.
type clientPinger struct {
	run    *clientRun
	lp     *clientLoop
	slices int
	tick   int64 // ns; slice k is due at run nanos (k+1)×tick
	done   int64 // slices pinged so far
}

// newClientPinger returns lp's pinger for a run that pings every every.
func newClientPinger(r *clientRun, lp *clientLoop, every time.Duration) *clientPinger {
	slices, tick := pingSpread(every)
	return &clientPinger{run: r, lp: lp, slices: slices, tick: int64(tick)}
}

// Run pings, on the loop, the open sessions of the slices now due, until
// the hold is over: those due since the last run too, so that a late run
// (a tick dropped, a busy loop, a loop new to the run) keeps every
// session's interval, but each session at most once. It does not allocate
// beyond growing the loop's output.
func (p *clientPinger) Run(context.Context) error {
	if clientPhase(p.run.phase.Load()) > clientPhaseHold {
		return nil // the hold is over: no Ping may follow the verify message or a Close
	}
	due := p.run.nanos() / p.tick
	p.done = max(p.done, due-int64(p.slices))
	lp := p.lp
	n := int64(len(lp.pingees))
	for ; p.done < due; p.done++ {
		j := p.done % int64(p.slices)
		for _, pe := range lp.pingees[j*n/int64(p.slices) : (j+1)*n/int64(p.slices)] {
			if clientState(pe.s.state.Load()) != clientStateOpen {
				continue // closed (its conn must not be written) or failed
			}
			lp.out = pe.s.appendPing(lp.out[:0])
			_, _ = pe.c.Write(lp.out) // an error closed the conn: OnClose counts it
		}
	}
	return nil
}

// startPings starts the Pings if the run pings (spec.ping): call it before
// connect, so that every session pings from its upgrade on, through the
// connect phase and the hold. The function it returns stops them and
// waits for the ticker goroutine to end; a runnable still queued then
// finds the hold over.
func (r *clientRun) startPings() (stop func()) {
	if r.spec.ping <= 0 {
		return func() {}
	}
	_, tick := pingSpread(r.spec.ping)
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		tickLoops(done, tick, &r.mu, r.loops, func(lp *clientLoop) gnet.Runnable { return lp.pinger })
	})
	return func() {
		close(done)
		wg.Wait()
	}
}
