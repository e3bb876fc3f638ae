package bench

import (
	"crypto/tls"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
	"github.com/gobwas/ws"
	"github.com/panjf2000/gnet/v2"

	"github.com/throngproxy/throng/codec"
)

// The load generators (Idle, Echo, Fanout) share one client, built on a
// gnet client engine: every session is a gnet conn served by an event loop,
// with no goroutine of its own. A driver goroutine moves the run through
// phases (client_run.go); it reaches sessions only through atomics,
// Conn.Wake and EventLoop.Execute (safe off the loop), and reads the loops'
// counters once the engine has stopped.

// clientPhase is what the run asks of its open sessions.
type clientPhase uint32

const (
	clientPhaseConnect clientPhase = iota // handshaking; open sessions wait, or send idle's Pings (client_ping.go)
	clientPhaseHold                       // idle: open sessions stay silent, or send Pings (client_ping.go)
	clientPhaseVerify                     // idle: armed sessions send one message and await its echo
	clientPhaseWarmup                     // echo: keep Window messages in flight, record nothing
	clientPhaseMeasure                    // echo: keep Window in flight, record every echo
	clientPhaseDrain                      // echo: send nothing new; armed sessions report an empty window
	clientPhaseClose                      // armed sessions send Close and wait for the server's
)

// String returns the phase's name.
func (p clientPhase) String() string {
	switch p {
	case clientPhaseConnect:
		return "connect"
	case clientPhaseHold:
		return "hold"
	case clientPhaseVerify:
		return "verify"
	case clientPhaseWarmup:
		return "warmup"
	case clientPhaseMeasure:
		return "measure"
	case clientPhaseDrain:
		return "drain"
	case clientPhaseClose:
		return "close"
	default:
		return "unknown"
	}
}

// clientState is where a session is in its life.
type clientState uint32

const (
	clientStateDialing   clientState = iota // being dialled and enrolled
	clientStateHandshake                    // request sent, reading the 101
	clientStateOpen                         // upgraded
	clientStateFailed                       // failure counted; closing
	clientStateClosed                       // gone
)

// String returns the state's name.
func (s clientState) String() string {
	switch s {
	case clientStateDialing:
		return "dialing"
	case clientStateHandshake:
		return "handshake"
	case clientStateOpen:
		return "open"
	case clientStateFailed:
		return "failed"
	case clientStateClosed:
		return "closed"
	default:
		return "unknown"
	}
}

// clientFail is a kind of session failure, counted per run.
type clientFail uint8

const (
	clientFailRefused          clientFail = iota // connect: ECONNREFUSED
	clientFailNoPort                             // connect: EADDRNOTAVAIL/EADDRINUSE (ephemeral ports)
	clientFailFDLimit                            // connect: EMFILE/ENFILE
	clientFailConnectTimeout                     // connect: timed out
	clientFailDial                               // connect: anything else
	clientFailEnroll                             // gnet refused the socket
	clientFailStatus                             // handshake: status other than 101
	clientFailHandshake                          // handshake: bad head, Upgrade or Accept
	clientFailHandshakeTimeout                   // handshake: no 101 in time
	clientFailHandshakeEOF                       // handshake: closed before the 101
	clientFailProtocol                           // open: the server broke RFC 6455
	clientFailClosed                             // open: closed by the peer before the run ended
	clientFailTLSCertificate                     // wss: the server's certificate did not verify
	clientFailTLSHandshake                       // wss: the TLS handshake failed otherwise (alert, EOF, bad record)
	clientFailWriteTimeout                       // wss: a write made no progress within its timeout
	clientFailPongMissing                        // idle -ping: no Pong since the last Ping when the verify echo came
	clientFailCount
)

// String returns the failure's report key.
func (f clientFail) String() string {
	switch f {
	case clientFailRefused:
		return "refused"
	case clientFailNoPort:
		return "no_source_port"
	case clientFailFDLimit:
		return "fd_limit"
	case clientFailConnectTimeout:
		return "connect_timeout"
	case clientFailDial:
		return "dial_other"
	case clientFailEnroll:
		return "enroll"
	case clientFailStatus:
		return "status_not_101"
	case clientFailHandshake:
		return "bad_handshake"
	case clientFailHandshakeTimeout:
		return "handshake_timeout"
	case clientFailHandshakeEOF:
		return "handshake_eof"
	case clientFailProtocol:
		return "protocol_error"
	case clientFailClosed:
		return "closed_by_peer"
	case clientFailTLSCertificate:
		return "tls_certificate"
	case clientFailTLSHandshake:
		return "tls_handshake"
	case clientFailWriteTimeout:
		return "write_timeout"
	case clientFailPongMissing:
		return "pong_missing"
	default:
		return "unknown"
	}
}

// clientCountdown lets the driver wait until every session it armed has
// answered. It starts holding the driver's own token: add one per armed
// session, then release once all are armed.
type clientCountdown struct {
	n    atomic.Int64
	zero chan struct{} // closed when n reaches 0
}

func newClientCountdown() *clientCountdown {
	c := &clientCountdown{zero: make(chan struct{})}
	c.n.Store(1)
	return c
}

// add counts one more awaited answer.
func (c *clientCountdown) add() { c.n.Add(1) }

// done counts one answer (or the driver's release). Safe from any goroutine.
func (c *clientCountdown) done() {
	if c.n.Add(-1) == 0 {
		close(c.zero)
	}
}

// clientLoop is the state of one client event loop, shared by its sessions
// and touched on that loop only; the driver reads it after the engine
// stopped.
type clientLoop struct {
	resp codec.Response          // handshake scratch
	out  []byte                  // what one OnTraffic sends, written once
	hist *hdrhistogram.Histogram // echo latency in ns (measure phase), or nil

	sent       uint64 // messages sent, all phases
	received   uint64 // messages echoed, all phases
	mismatches uint64 // echoes that differ from what was sent, all phases
	msgs       uint64 // echoes received in the measure phase
	pings      uint64 // Pings sent (idle -ping)
	pongs      uint64 // Pongs received

	pingees []clientPingee // open sessions, kept only when the run pings (client_ping.go)
	pinger  *clientPinger  // pings pingees; nil unless the run pings
}

// clientSession is one WebSocket connection of a run. Fields without a
// comment saying otherwise are touched on its loop only.
type clientSession struct {
	run  *clientCore
	loop *clientLoop // set by OnOpen
	conn gnet.Conn   // gnet path: set by the dial worker after Enroll; the driver uses it after dialling ended
	// wake makes the session look at its phase and flags again (safe off
	// its loop): Conn.Wake on the gnet path, tlsSession.wake on the TLS
	// path. The dial worker sets it once the session can be woken; the
	// driver calls it after dialling ended. nil: never reachable.
	wake func() error

	path      string // request target: the run's, or in a fanout run the channel's
	publisher bool   // fanout: the session publishes on its channel

	key   clientKey
	rd    clientReader
	frame clientFrame
	head  clientHead

	state       atomic.Uint32 // clientState; the driver reads it
	verifyArmed atomic.Bool   // set by the driver, cleared (CAS) by whoever answers
	drainArmed  atomic.Bool
	closeArmed  atomic.Bool
	timedOut    atomic.Bool // set by the driver before closing a stuck handshake

	nextSend   uint64 // sequence number of the next message
	nextRecv   uint64 // sequence number the next echo should carry
	inflight   int    // messages sent and not echoed
	pings      uint64 // Pings sent
	pongs      uint64 // Pongs received
	pongOwed   bool   // a Ping was sent and no Pong has come since
	verifySent bool
	closeSent  bool
}

// clientSpec is what a run needs to know, derived from the caller's config.
type clientSpec struct {
	target   clientTarget
	sessions int
	rate     float64 // connects per second; 0: unbounded
	loops    int
	size     int           // message payload bytes
	window   int           // echo: messages in flight per session
	hist     bool          // keep a latency histogram per loop
	handTO   time.Duration // handshake timeout after the last connect
	fan      *clientFanout // fanout: publisher and subscribers (fanout.go); nil otherwise
	ping     time.Duration // idle: a Ping from every open session this often until the hold ends; 0: none
	live     *Live         // progress counters, or nil
	tlsConf  *tls.Config   // wss://: the TLS client config (LoadConfig.tlsConf)
}

// clientCore is what both client paths keep of a run: the spec, phase,
// sessions, countdowns and counters. Each run embeds it (clientRun on gnet
// event loops, tlsRun with a goroutine per session), and every method of
// it serves both paths.
type clientCore struct {
	spec    clientSpec
	pattern []byte    // read-only
	start   time.Time // origin of nanos
	// anchor is the wall clock at start, in Unix nanoseconds: payload
	// stamps are nanos()+anchor, so that processes on one machine read
	// each other's stamps (a fanout run split over processes) while each
	// still measures with its monotonic clock. Within one process it
	// cancels out.
	anchor   int64
	phase    atomic.Uint32
	sessions []*clientSession // filled by the dial workers, each its own index

	settle  *clientCountdown                // handshakes (connect phase)
	verify  atomic.Pointer[clientCountdown] // stored before sessions are armed
	drain   atomic.Pointer[clientCountdown]
	closing atomic.Pointer[clientCountdown]

	fails  [clientFailCount]atomic.Uint64
	opened atomic.Int64 // handshakes completed
	alive  atomic.Int64 // verify echoes that matched
}

// newClientCore returns the core of a run of spec.
func newClientCore(spec clientSpec) clientCore {
	start := time.Now()
	return clientCore{
		spec:     spec,
		pattern:  clientPattern(spec.size),
		start:    start,
		anchor:   start.UnixNano(),
		sessions: make([]*clientSession, spec.sessions),
		settle:   newClientCountdown(),
	}
}

// clientRun is one load-generator run on the gnet path: its core and gnet
// client.
type clientRun struct {
	gnet.BuiltinEventEngine
	clientCore

	cli *gnet.Client

	mu    sync.Mutex // guards loops
	loops map[gnet.EventLoop]*clientLoop
}

// errClientStopped is returned when the client engine cannot start.
var errClientStopped = errors.New("bench: client: engine not running")

// newClientRun builds a run and starts its gnet client.
func newClientRun(spec clientSpec) (*clientRun, error) {
	r := &clientRun{clientCore: newClientCore(spec), loops: make(map[gnet.EventLoop]*clientLoop)}
	cli, err := startClient(r, spec.loops)
	if err != nil {
		return nil, err
	}
	r.cli = cli
	return r, nil
}

// stopEngine stops the gnet client, closing what is still open. After it
// returns the loops' counters may be read. Safe to call once.
func (r *clientRun) stopEngine() {
	_ = r.cli.Stop()
}

// nanos returns the nanoseconds since the run started (monotonic).
func (r *clientCore) nanos() int64 { return int64(time.Since(r.start)) }

// setPhase moves the run to p.
func (r *clientCore) setPhase(p clientPhase) { r.phase.Store(uint32(p)) }

// fail counts one failure of kind f.
func (r *clientCore) fail(f clientFail) {
	r.fails[f].Add(1)
	r.spec.live.addErrors(1)
}

// loopFor returns the state of event loop el, creating it on first use.
func (r *clientRun) loopFor(el gnet.EventLoop) *clientLoop {
	r.mu.Lock()
	defer r.mu.Unlock()
	lp := r.loops[el]
	if lp == nil {
		lp = &clientLoop{}
		if r.spec.hist {
			lp.hist = newClientHistogram()
		}
		if r.spec.ping > 0 {
			lp.pinger = newClientPinger(r, lp, r.spec.ping)
		}
		r.loops[el] = lp
	}
	return lp
}

// newClientHistogram returns a latency histogram: 1 ns to 60 s, 3 digits.
func newClientHistogram() *hdrhistogram.Histogram {
	return hdrhistogram.New(1, int64(time.Minute), 3)
}

// OnOpen runs on the loop when a dialled socket is enrolled: it sends the
// upgrade request.
func (r *clientRun) OnOpen(c gnet.Conn) ([]byte, gnet.Action) {
	s, ok := c.Context().(*clientSession)
	if !ok || !s.state.CompareAndSwap(uint32(clientStateDialing), uint32(clientStateHandshake)) {
		return nil, gnet.Close
	}
	s.loop = r.loopFor(c.EventLoop())
	s.loop.out = clientAppendRequest(s.loop.out[:0], r.spec.target.host, s.path, &s.key)
	return s.loop.out, gnet.None // gnet copies what the socket does not take
}

// OnClose counts how the session ended and answers whatever the driver is
// waiting for.
func (r *clientRun) OnClose(c gnet.Conn, _ error) gnet.Action {
	s, ok := c.Context().(*clientSession)
	if !ok {
		return gnet.None
	}
	if s.ended() == clientStateHandshake {
		r.fail(clientHandshakeCut(s.timedOut.Load()))
		r.settle.done()
	}
	return gnet.None
}

// ended marks s closed, counts the end of an open session (closed_by_peer
// unless it had sent its Close), and answers whatever the driver is
// waiting for. It returns the state s was in. Both client paths call it
// once a session's connection is gone.
func (s *clientSession) ended() clientState {
	r := s.run
	prev := clientState(s.state.Swap(uint32(clientStateClosed)))
	if prev == clientStateOpen {
		r.spec.live.addUp(-1)
		if !s.closeSent {
			r.fail(clientFailClosed)
		}
	}
	s.answer(&s.verifyArmed, &r.verify)
	s.answer(&s.drainArmed, &r.drain)
	s.answer(&s.closeArmed, &r.closing)
	return prev
}

// OnTraffic reads the 101, then the echoes, and sends what the phase asks.
func (r *clientRun) OnTraffic(c gnet.Conn) gnet.Action { return clientOnTraffic[*clientSession](c) }

// readHead reads the 101 head.
func (s *clientSession) readHead(c gnet.Conn) (gnet.Action, bool) {
	return s.head.read(c, &s.key, &s.loop.resp, s)
}

// states returns s's state, the handshake state and the open state.
func (s *clientSession) states() (cur, head, frames uint32) {
	return s.state.Load(), uint32(clientStateHandshake), uint32(clientStateOpen)
}

// upgraded opens s once its 101 is checked; a run that pings keeps it in
// its loop's list.
func (s *clientSession) upgraded(c gnet.Conn) gnet.Action {
	s.state.Store(uint32(clientStateOpen))
	s.run.opened.Add(1)
	s.run.spec.live.addUp(1)
	s.run.settle.done()
	if s.run.spec.ping > 0 {
		s.loop.pingees = append(s.loop.pingees, clientPingee{s: s, c: c})
	}
	return s.traffic(c)
}

// frames handles the server's frames once s is open.
func (s *clientSession) frames(c gnet.Conn) gnet.Action { return s.traffic(c) }

// failHandshake counts a failed handshake and closes the session.
func (s *clientSession) failHandshake(f clientFail) gnet.Action {
	s.state.Store(uint32(clientStateFailed))
	s.run.fail(f)
	s.run.settle.done()
	return gnet.Close
}

// traffic handles the server's frames, then sends what the phase asks for,
// all of it in one Write.
func (s *clientSession) traffic(c gnet.Conn) gnet.Action {
	r := s.run
	p, _ := c.Peek(-1)
	n, end := s.handle(p, clientPhase(r.phase.Load()), r.nanos())
	_, _ = c.Discard(n)
	if len(s.loop.out) > 0 {
		if _, err := c.Write(s.loop.out); err != nil {
			// Write closed c (OnClose has run; closing again is a no-op):
			// the session ends, after its Close too.
			return gnet.Close
		}
	}
	if end {
		return gnet.Close
	}
	return gnet.None
}

// handle reads the server's frames in p, counting Pongs, then appends to
// the loop's output (emptied first) what they and phase ask of s: a Pong
// per Ping, a Close answering the server's, else what act sends. It
// returns how many bytes of p it consumed and whether the session ends:
// the server's Close (answered, or answering s's), or a protocol error
// (counted; nothing to send). Both client paths call it: OnTraffic on the
// gnet path, the session's goroutine on the TLS path. It does not allocate
// beyond growing the loop's output.
func (s *clientSession) handle(p []byte, phase clientPhase, now int64) (n int, end bool) {
	r, lp := s.run, s.loop
	lp.out = lp.out[:0]
	peerClosed := false
	received, mismatches := lp.received, lp.mismatches
read:
	for n < len(p) {
		k, ev, msg, err := s.rd.next(p[n:])
		n += k
		if err != nil {
			lp.out = lp.out[:0]
			s.state.Store(uint32(clientStateFailed)) // from open: the close will not count it again
			r.spec.live.addUp(-1)
			r.fail(clientFailProtocol)
			return len(p), true
		}
		switch ev {
		case clientEvMore:
			break read
		case clientEvMessage:
			msg.sentNanos -= r.anchor
			s.received(msg, now, phase)
		case clientEvPing:
			lp.out = clientAppendControl(lp.out, ws.OpPong, s.frame.mask, s.rd.pingPayload())
		case clientEvPong:
			s.pongs++
			s.pongOwed = false
			lp.pongs++
		case clientEvClose:
			peerClosed = true
			break read
		}
	}
	r.spec.live.addMsgs(lp.received - received)
	r.spec.live.addErrors(lp.mismatches - mismatches)
	if peerClosed {
		if !s.closeSent {
			lp.out = codec.AppendMaskedClose(lp.out, ws.StatusNormalClosure, "", s.frame.mask)
		} else {
			s.answer(&s.closeArmed, &r.closing)
		}
		return n, true
	}
	s.act(phase, now)
	return n, false
}

// received accounts for one echoed message.
func (s *clientSession) received(msg clientMessage, now int64, phase clientPhase) {
	if f := s.run.spec.fan; f != nil {
		f.received(s, msg, now)
		return
	}
	lp := s.loop
	lp.received++
	ok := msg.ok && msg.seq == s.nextRecv
	if !ok {
		lp.mismatches++
	}
	s.nextRecv = msg.seq + 1
	if s.inflight > 0 {
		s.inflight--
	}
	switch phase {
	case clientPhaseVerify:
		if s.verifyArmed.CompareAndSwap(true, false) {
			if ok {
				s.run.alive.Add(1)
			}
			if s.pongOwed {
				// The echo came after the Pong owed for the last Ping
				// (one stream, in order): it is missing. A peer may
				// answer only the latest of several Pings, and may send
				// unsolicited Pongs (RFC 6455 §5.5.3), so any Pong since
				// the last Ping will do.
				s.run.fail(clientFailPongMissing)
			}
			s.run.verify.Load().done()
		}
	case clientPhaseMeasure:
		lp.msgs++
		if lp.hist != nil {
			_ = lp.hist.RecordValue(min(max(now-msg.sentNanos, 1), lp.hist.HighestTrackableValue()))
		}
	}
}

// act appends to the loop's output what phase asks of the session.
func (s *clientSession) act(phase clientPhase, now int64) {
	if f := s.run.spec.fan; f != nil && phase >= clientPhaseWarmup && phase <= clientPhaseDrain {
		f.act(s, now)
		return
	}
	switch phase {
	case clientPhaseVerify:
		if !s.verifySent && s.verifyArmed.Load() {
			s.verifySent = true
			s.send(now)
		}
	case clientPhaseWarmup, clientPhaseMeasure:
		for s.inflight < s.run.spec.window {
			s.send(now)
		}
	case clientPhaseDrain:
		if s.inflight == 0 {
			s.answer(&s.drainArmed, &s.run.drain)
		}
	case clientPhaseClose:
		if !s.closeSent && s.closeArmed.Load() {
			s.closeSent = true
			s.loop.out = codec.AppendMaskedClose(s.loop.out, ws.StatusNormalClosure, "", s.frame.mask)
		}
	}
}

// send appends the next message to the loop's output.
func (s *clientSession) send(now int64) {
	s.loop.out = append(s.loop.out, s.frame.stamp(now+s.run.anchor, s.nextSend)...)
	s.nextSend++
	s.inflight++
	s.loop.sent++
}

// answer disarms flag and counts cd down, if flag was armed. Exactly one of
// the loop and the driver wins the flag.
func (s *clientSession) answer(flag *atomic.Bool, cd *atomic.Pointer[clientCountdown]) {
	if flag.CompareAndSwap(true, false) {
		cd.Load().done()
	}
}

// clientQuietLogger drops gnet's messages: the report says what failed.
type clientQuietLogger struct{}

func (clientQuietLogger) Debugf(string, ...any) {}
func (clientQuietLogger) Infof(string, ...any)  {}
func (clientQuietLogger) Warnf(string, ...any)  {}
func (clientQuietLogger) Errorf(string, ...any) {}
func (clientQuietLogger) Fatalf(string, ...any) {}
