package engine

// Pausing and resuming a socket, and the poll that flushes backlogs and
// enforces timeouts.write (docs/protocol.md, "Flow control"; the mechanism
// is described at the top of flow.go).

import (
	"context"
	"errors"
	"net"
	"os"
	"syscall"
	"time"

	"github.com/panjf2000/gnet/v2"
	"golang.org/x/sys/unix"
)

// startFlow gives s a flow state and puts it on the shard's poll.
func (s *session) startFlow() *flowState {
	if s.flow != nil {
		return s.flow
	}
	sh := s.sh
	fs := sh.flowFree.Get()
	fs.s = s
	fs.index = len(sh.flows)
	sh.flows = append(sh.flows, fs)
	s.flow = fs
	if sh.flowCount.Add(1) == 1 {
		sh.e.wakeFlowPoll()
	}
	return fs
}

// endFlow drops s's flow state: everything queued, any held socket.
func (s *session) endFlow() {
	fs := s.flow
	if fs == nil {
		return
	}
	sh := s.sh
	for d := range fs.q {
		fs.q[d].reset(sh)
		if fs.detached[d] {
			_ = unix.Close(fs.fd[d])
			sh.stats.detached.Add(-1)
		}
		if t := fs.attach[d]; t != nil {
			t.cancelled = true
		}
	}
	last := sh.flows[len(sh.flows)-1]
	last.index = fs.index
	sh.flows[fs.index] = last
	sh.flows[len(sh.flows)-1] = nil
	sh.flows = sh.flows[:len(sh.flows)-1]
	sh.flowCount.Add(-1)
	s.flow = nil
	*fs = flowState{q: [2]outQueue{{chunks: fs.q[0].chunks[:0]}, {chunks: fs.q[1].chunks[:0]}}}
	sh.flowFree.Put(fs)
}

// throttle runs after bytes went toward d: past the high watermark it
// pauses the side feeding d, and past write_buffer_limit, which only a
// queue whose feeder cannot be paused reaches, it ends the session (the
// bound on memory whatever the peers do). keep is what the feeder's
// OnTraffic leaves in gnet's buffer: a socket with bytes there cannot be
// detached without losing them. It reports whether the session was ended.
func (s *session) throttle(d side, keep int) bool {
	if s.flow == nil {
		return false
	}
	q, limit := s.queued(d), int(s.policy().writeBufferLimit)
	switch {
	case q > limit:
		s.slowConsumer(d, reasonSlowConsumer)
		return true
	case q > limit/2 && keep == 0:
		s.pause(d.other())
	}
	return false
}

// pause detaches src from its loop. It is called only from src's own
// OnTraffic, which then returns gnet.Close (detachNow): gnet closes its
// conn at once and the socket, duplicated here, stays open. A socket gnet
// still queues bytes for is not paused (they would be lost), nor one of a
// session that is not open: closing wants every Close read.
func (s *session) pause(src side) {
	fs := s.flow
	c := s.conn(src)
	issued := flagClientCloseIssued
	if src == toUpstream {
		issued = flagUpstreamCloseIssued
	}
	if s.state != stateOpen || c == nil || fs.detaching[src] != nil || c.OutboundBuffered() > 0 || s.flags&issued != 0 {
		return
	}
	fd, err := c.Dup()
	if err != nil {
		// Out of descriptors: keep reading; write_buffer_limit still
		// bounds the queue.
		return
	}
	fs.detaching[src], fs.fd[src] = c, fd
	s.sh.stats.pauses.Add(1)
}

// cancelPause calls off a pause of d's socket c that its own OnTraffic
// started and has not carried out yet: the socket is to be closed
// instead, and gnet's OnClose must find it the session's, not detached.
func (s *session) cancelPause(d side, c gnet.Conn) {
	if fs := s.flow; fs != nil && fs.detaching[d] == c {
		_ = unix.Close(fs.fd[d])
		fs.detaching[d] = nil
	}
}

// detachNow reports whether OnTraffic must return gnet.Close for c: its
// side is being paused.
func (s *session) detachNow(c gnet.Conn) bool {
	return s.flow != nil && (s.flow.detaching[toClient] == c || s.flow.detaching[toUpstream] == c)
}

// onDetached runs in OnClose: it reports whether c was closed to detach its
// socket, and then takes its place as the session's held descriptor.
func (s *session) onDetached(c gnet.Conn) bool {
	fs := s.flow
	if fs == nil {
		return false
	}
	for d := range fs.detaching {
		if fs.detaching[d] == c {
			fs.detaching[d] = nil
			fs.detached[d] = true
			s.setConn(side(d), nil)
			s.sh.stats.detached.Add(1)
			return true
		}
	}
	return false
}

// resume attaches d's detached socket to the session's loop again:
// net.FileConn wraps the descriptor, and EventLoop.Enroll hands it to gnet,
// whose OnOpen (with an attachTicket as context) gives it back to the
// session. Enroll returns at once (a goroutine of gnet's pool does the
// waiting), so this runs on the loop; a small goroutine waits for the
// result only to report an enrolment that failed.
func (s *session) resume(d side) {
	fs := s.flow
	if !fs.detached[d] {
		return
	}
	fs.detached[d] = false
	s.sh.stats.detached.Add(-1)
	f := os.NewFile(uintptr(fs.fd[d]), "detached")
	nc, err := net.FileConn(f) // a descriptor of its own
	_ = f.Close()
	if err == nil && nc.RemoteAddr() == nil {
		// The peer reset while the socket was detached: getpeername
		// fails, and gnet's enrolment could not even name it.
		_ = nc.Close()
		err = errPeerGone
	}
	if err != nil {
		s.sideGone(d)
		return
	}
	if sc, ok := nc.(syscall.Conn); ok {
		// net.FileConn turned on Go's default keepalive: put back the
		// configuration's.
		if rc, err := sc.SyscallConn(); err == nil {
			_ = rc.Control(func(fd uintptr) { restoreKeepAlive(int(fd), s.snap.keepAlive) })
		}
	}
	t := &attachTicket{s: s, side: d}
	loop, ctx := s.sh.loop, s.sh.e.attachCtx
	ch, err := loop.Enroll(gnet.NewContext(ctx, t), nc)
	if err != nil {
		_ = nc.Close()
		s.sideGone(d)
		return
	}
	fs.attach[d] = t
	go func() {
		select {
		case res := <-ch:
			_ = loop.Execute(ctx, &attachResult{t: t, err: res.Err})
		case <-ctx.Done():
			// The engine stopped: a registration queued behind its
			// shutdown never runs.
		}
	}()
}

// errPeerGone reports a detached socket whose peer went away meanwhile.
var errPeerGone = errors.New("engine: the peer of a detached socket went away")

// attachTicket is the gnet context of a socket being attached again: OnOpen
// finds its session and side through it.
type attachTicket struct {
	s         *session
	side      side
	opened    bool // OnOpen ran
	cancelled bool // the session gave the socket up meanwhile: close it
}

// onOpen runs in OnOpen of a socket attached again.
func (t *attachTicket) onOpen(c gnet.Conn) gnet.Action {
	t.opened = true
	if t.cancelled {
		return gnet.Close
	}
	s := t.s
	s.flow.attach[t.side] = nil
	c.SetContext(s)
	s.setConn(t.side, c)
	s.sh.stats.resumes.Add(1)
	// Bytes queued toward it go now rather than at the next poll.
	s.flush(t.side)
	return gnet.None
}

// attachResult reports the end of an attach to the session's loop.
type attachResult struct {
	t   *attachTicket
	err error
}

func (r *attachResult) Run(context.Context) error {
	t := r.t
	if t.opened || t.cancelled {
		return nil
	}
	// Enroll failed, or gnet dropped the registration without OnOpen
	// (docs/gnet.md §1): the socket is gone.
	s := t.s
	if r.err != nil && s.sh.e.log.Enabled(bgCtx, levelDebug) {
		s.sh.e.log.LogAttrs(bgCtx, levelDebug, "paused socket could not be attached again",
			attrSession(s.id), attrErr(r.err))
	}
	s.flow.attach[t.side] = nil
	s.sideGone(t.side)
	return nil
}

// dropHeld closes d's socket held by flow control (detached, or being
// attached) and runs what a peer's going away runs.
func (s *session) dropHeld(d side) {
	fs := s.flow
	switch {
	case fs == nil:
		return
	case fs.detached[d]:
		_ = unix.Close(fs.fd[d])
		fs.detached[d] = false
		s.sh.stats.detached.Add(-1)
	case fs.attach[d] != nil:
		fs.attach[d].cancelled = true
		fs.attach[d] = nil
	default:
		return
	}
	s.sideGone(d)
}

// dropQueue forgets what waits toward d, whose socket is gone.
func (s *session) dropQueue(d side) {
	if s.flow != nil {
		s.flow.q[d].reset(s.sh)
	}
}

// sideGone runs the peer-gone event for d once its socket closed without a
// gnet OnClose (a held socket), and ends the session if that was the last.
func (s *session) sideGone(d side) {
	s.dropQueue(d)
	if d == toClient {
		s.onClientGone()
	} else {
		s.onUpstreamGone()
	}
	s.maybeFinish()
}

// flush sends what waits toward d, as far as the kernel takes it.
func (s *session) flush(d side) (moved bool) {
	fs := s.flow
	if fs == nil {
		return false
	}
	q := &fs.q[d]
	for q.n > 0 {
		fd, ok := s.directFD(d)
		if !ok {
			return moved
		}
		n, errno := s.sh.sendQueue(fd, q)
		if n > 0 {
			q.consume(s.sh, n)
			moved = true
		}
		if errno == unix.EAGAIN || n == 0 && errno == 0 {
			break
		}
		if errno != 0 {
			q.reset(s.sh)
			if c := s.conn(d); c != nil && fs.detaching[d] != c {
				s.closeSide(d)
			} else {
				s.dropHeld(d)
			}
			return moved
		}
	}
	if moved {
		fs.since[d] = s.sh.now()
		s.lastActive = int32(s.sh.now())
	}
	return moved
}

// closeSide asks gnet to close d's conn.
func (s *session) closeSide(d side) {
	if d == toClient {
		s.closeClient()
	} else {
		s.closeUpstream()
	}
}

// pollFlow is a session's turn in the flow poll: flush both queues,
// resume what fell below the low watermark, enforce timeouts.write, and
// drop the flow state once nothing is left.
func (s *session) pollFlow() {
	fs := s.flow
	if fs.skip > 0 {
		fs.skip--
		return
	}
	moved := s.flush(toClient)
	if s.flow != nil && s.flush(toUpstream) {
		moved = true
	}
	if s.flow == nil {
		return
	}
	low := int(s.policy().writeBufferLimit / 4)
	for d := range fs.detached {
		src := side(d)
		if fs.detached[src] && (s.state != stateOpen || s.queued(src.other()) < low) {
			s.resume(src)
		}
	}
	if wt := s.snap.writeTicks; wt > 0 {
		now := s.sh.now()
		for d := range fs.q {
			if fs.q[d].n > 0 && now-fs.since[d] >= wt && s.present(side(d)) {
				s.sh.stats.writeTimeout.Add(1)
				s.slowConsumer(side(d), reasonTimeout)
				break
			}
		}
	}
	if s.flow == nil {
		return
	}
	if fs.idle() {
		s.endFlow()
		return
	}
	if moved {
		fs.backoff = 0
		return
	}
	fs.backoff = min(max(2*fs.backoff, 1), maxFlowBackoff)
	fs.skip = fs.backoff
}

// onFlowPoll runs the poll for every session of the shard with a flow
// state.
func (sh *shard) onFlowPoll() {
	// A session's turn may end its flow state (swapping the last in) or
	// another's (a session finishing): walk from the end.
	for i := len(sh.flows) - 1; i >= 0; i-- {
		if i < len(sh.flows) {
			sh.flows[i].s.pollFlow()
		}
	}
}

// flowRunnable posts a shard's flow poll; built once per shard.
type flowRunnable struct{ sh *shard }

func (f *flowRunnable) Run(context.Context) error {
	f.sh.flowPosted.Store(false)
	f.sh.onFlowPoll()
	return nil
}

// wakeFlowPoll starts the flow poller if it sleeps.
func (e *Engine) wakeFlowPoll() {
	select {
	case e.flowWake <- struct{}{}:
	default:
	}
}

// flowPoller posts the flow poll to every shard with a backlog, every
// flowPollInterval while there is one. With none it sleeps until a shard
// wakes it (wakeFlowPoll), so that an engine with no backlog is never woken.
func (e *Engine) flowPoller() {
	defer close(e.flowDone)
	ctx := context.Background()
	for {
		select {
		case <-e.tickStop:
			return
		case <-e.flowWake:
		}
		t := time.NewTicker(flowPollInterval)
		for busy := true; busy; {
			select {
			case <-e.tickStop:
				t.Stop()
				return
			case <-t.C:
			}
			busy = false
			for _, sh := range *e.shards.Load() {
				if sh.flowCount.Load() == 0 {
					continue
				}
				busy = true
				// One poll at a time per loop: a loop slower than the
				// poll's period is not buried in queued polls.
				if sh.flowPosted.CompareAndSwap(false, true) {
					if sh.loop.Execute(ctx, &sh.flowTick) != nil {
						sh.flowPosted.Store(false)
					}
				}
			}
		}
		t.Stop()
	}
}

// boundary reports whether the stream that feeds d stands between frames,
// so that a Close may be sent to d.
func (s *session) boundary(d side) bool {
	if d == toClient {
		return s.u2c.AtBoundary()
	}
	return s.c2u.AtBoundary()
}
