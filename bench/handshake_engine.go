package bench

import (
	"context"
	"crypto/rand"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
	"github.com/gobwas/ws"
	"github.com/panjf2000/gnet/v2"

	"github.com/throngproxy/throng/codec"
)

// The handshake scenario's client engine: a gnet client that opens,
// upgrades and closes connections one after another on each slot.

// hsState is where one handshake connection is in its life.
type hsState uint32

const (
	hsStateDialing   hsState = iota // being dialled and enrolled
	hsStateAbandoned                // enroll failed: the dial worker counted it and freed the slot
	hsStateHandshake                // request sent, reading the 101
	hsStateClosing                  // 101 checked, Close sent: awaiting the server's Close and FIN
	hsStateFailed                   // failure counted; closing
	hsStateClosed                   // gone
)

// String returns the state's name.
func (s hsState) String() string {
	names := [...]string{
		hsStateDialing:   "dialing",
		hsStateAbandoned: "abandoned",
		hsStateHandshake: "handshake",
		hsStateClosing:   "closing",
		hsStateFailed:    "failed",
		hsStateClosed:    "closed",
	}
	if int(s) < len(names) {
		return names[s]
	}
	return "unknown"
}

// hsSession is one connection of a handshake run, made per connection.
// Fields without a comment saying otherwise are touched on its loop only.
type hsSession struct {
	run   *hsRun
	loop  *hsLoop       // set by OnOpen
	conn  gnet.Conn     // set by OnOpen
	state atomic.Uint32 // hsState; the dial worker and OnOpen race on dialing
	start int64         // connect start, run nanos; written before Enroll
	key   clientKey     // written before Enroll
	mask  [4]byte       // written before Enroll
	head  clientHead
	rd    clientReader

	timedOut     bool // closed at the handshake deadline
	clientClosed bool // closed at the close deadline
	gotClose     bool
}

// hsDeadline is a session to check at a deadline (run nanos).
type hsDeadline struct {
	s  *hsSession
	at int64
}

// hsLoop is the state of one client event loop, touched on that loop only;
// the driver reads it after the engine stopped. It is the loop's Runnable
// for the timeout check, built once.
type hsLoop struct {
	run  *hsRun
	el   gnet.EventLoop
	resp codec.Response
	out  []byte
	hist *hdrhistogram.Histogram // handshake latency in ns, measure phase

	// Deadlines in the order they were set; each queue has one timeout, so
	// it stays sorted.
	handQ, closeQ []hsDeadline

	hsCounts
}

// hsCore is what a handshake run keeps on both client paths: hsRun (gnet)
// and tlsHsRun (a goroutine per worker) embed it.
type hsCore struct {
	target  clientTarget
	cfg     HandshakeConfig
	begin   time.Time     // origin of run nanos
	phase   atomic.Uint32 // clientPhase: warmup, measure, close (stop dialling)
	dialSeq atomic.Int64  // connects started, for the rate
	fails   [clientFailCount]atomic.Uint64
}

// newHsCore returns the core of a run of cfg (checked) on target; its
// clock starts now.
func newHsCore(cfg HandshakeConfig, target clientTarget) hsCore {
	return hsCore{target: target, cfg: cfg, begin: time.Now()}
}

// nanos returns the nanoseconds since the run started (monotonic).
func (r *hsCore) nanos() int64 { return int64(time.Since(r.begin)) }

// fail counts one failure of kind f.
func (r *hsCore) fail(f clientFail) {
	r.fails[f].Add(1)
	r.cfg.Live.addErrors(1)
}

// failures returns the nonzero failure counts by kind.
func (r *hsCore) failures() map[string]uint64 { return clientFailures(&r.fails) }

// pace waits, with timer, until the run's next connect is due at the
// rate's interval (paceWait); with no rate it returns at once, taking no
// number. It reports false if ctx ended first.
func (r *hsCore) pace(ctx context.Context, timer *time.Timer, interval time.Duration) bool {
	if interval <= 0 {
		return true
	}
	return paceWait(ctx, timer, r.begin, interval, r.dialSeq.Add(1)-1)
}

// hsScanClose reads with rd the server's frames in p, which follow the
// client's Close, and counts (echoed) the server's first Close, noted in
// gotClose. It returns how many bytes of p it consumed and the reader's
// error, if the server broke RFC 6455. It does not allocate.
func hsScanClose(rd *clientReader, p []byte, gotClose *bool, echoed *uint64) (int, error) {
	i := 0
	for i < len(p) {
		n, ev, _, err := rd.next(p[i:])
		i += n
		if err != nil {
			return i, err
		}
		if ev == clientEvMore {
			break
		}
		if ev == clientEvClose && !*gotClose {
			*gotClose = true
			*echoed++
		}
	}
	return i, nil
}

// hsRun is one handshake run on the gnet path: its core, gnet client and
// worker slots.
type hsRun struct {
	gnet.BuiltinEventEngine
	hsCore

	cli     *gnet.Client
	slots   chan struct{} // one token per connection allowed in flight
	handTO  int64         // ns
	closeTO int64         // ns

	mu    sync.Mutex // guards loops
	loops map[gnet.EventLoop]*hsLoop
}

// newHandshakeRun applies cfg's defaults and checks it, then builds a run
// and starts its gnet client.
func newHandshakeRun(cfg HandshakeConfig) (*hsRun, error) {
	cfg, target, err := prepareConfig(cfg)
	if err != nil {
		return nil, err
	}
	r := &hsRun{
		hsCore:  newHsCore(cfg, target),
		slots:   make(chan struct{}, cfg.Sessions),
		handTO:  int64(cfg.HandshakeTimeout),
		closeTO: int64(cfg.CloseTimeout),
		loops:   make(map[gnet.EventLoop]*hsLoop),
	}
	for range cfg.Sessions {
		r.slots <- struct{}{}
	}
	cli, err := startClient(r, cfg.Loops)
	if err != nil {
		return nil, err
	}
	r.cli = cli
	return r, nil
}

// release frees one connection slot. Safe from any goroutine.
func (r *hsRun) release() {
	select {
	case r.slots <- struct{}{}:
	default: // cannot happen: one release per slot taken
	}
}

// stopping reports whether the run has stopped dialling.
func (r *hsRun) stopping() bool { return clientPhase(r.phase.Load()) == clientPhaseClose }

// work is one dial worker: it takes a free slot, dials (from dialers in
// turn, starting at first) and enrolls a new session, until the run stops
// dialling or ctx is done.
func (r *hsRun) work(ctx context.Context, dialers []*net.Dialer, first int) {
	interval := paceInterval(r.cfg.Rate)
	timer := time.NewTimer(0)
	defer timer.Stop()
	for di := first; ; di++ {
		select {
		case <-r.slots:
		case <-ctx.Done():
			return
		}
		if r.stopping() || ctx.Err() != nil || !r.pace(ctx, timer, interval) {
			r.release()
			return
		}
		r.dialOne(ctx, dialers[di%len(dialers)])
	}
}

// dialOne opens one connection and hands it to the gnet client; the slot it
// holds is freed when the connection ends (OnClose) or here on failure.
func (r *hsRun) dialOne(ctx context.Context, d *net.Dialer) {
	var rnd [20]byte
	_, _ = rand.Read(rnd[:]) // crypto/rand.Read never fails
	s := &hsSession{run: r, key: newClientKey([16]byte(rnd[:16])), mask: [4]byte(rnd[16:])}
	s.rd = clientReader{size: clientMinSize}
	s.start = r.nanos()
	nc, err := d.DialContext(ctx, "tcp", r.target.addr)
	if err != nil {
		if ctx.Err() == nil {
			r.fail(classifyDial(err))
		}
		r.release()
		return
	}
	if _, err := r.cli.EnrollContext(nc, s); err != nil { // closes nc
		if s.state.CompareAndSwap(uint32(hsStateDialing), uint32(hsStateAbandoned)) {
			r.fail(clientFailEnroll)
			r.release()
		}
	}
}

// drain waits, up to d, until every connection slot is free again.
func (r *hsRun) drain(d time.Duration) {
	timer := time.NewTimer(d)
	defer timer.Stop()
	for range r.cfg.Sessions {
		select {
		case <-r.slots:
		case <-timer.C:
			return
		}
	}
}

// tick checks every loop's deadlines until stop is closed.
func (r *hsRun) tick(stop <-chan struct{}) {
	every := min(handshakeTickMax, time.Duration(min(r.handTO, r.closeTO)/4))
	every = max(every, time.Millisecond)
	tickLoops(stop, every, &r.mu, r.loops, func(lp *hsLoop) gnet.Runnable { return lp })
}

// loopFor returns the state of event loop el, creating it on first use.
func (r *hsRun) loopFor(el gnet.EventLoop) *hsLoop {
	r.mu.Lock()
	defer r.mu.Unlock()
	lp := r.loops[el]
	if lp == nil {
		lp = &hsLoop{run: r, el: el, hist: newClientHistogram()}
		r.loops[el] = lp
	}
	return lp
}

// OnOpen runs on the loop when a dialled socket is enrolled: it sends the
// upgrade request and arms the handshake deadline.
func (r *hsRun) OnOpen(c gnet.Conn) ([]byte, gnet.Action) {
	s, ok := c.Context().(*hsSession)
	if !ok || !s.state.CompareAndSwap(uint32(hsStateDialing), uint32(hsStateHandshake)) {
		return nil, gnet.Close
	}
	s.conn = c
	s.loop = r.loopFor(c.EventLoop())
	r.cfg.Live.addUp(1)
	s.loop.handQ = append(s.loop.handQ, hsDeadline{s: s, at: r.nanos() + r.handTO})
	s.loop.out = clientAppendRequest(s.loop.out[:0], r.target.host, r.target.path, &s.key)
	return s.loop.out, gnet.None // gnet copies what the socket does not take
}

// Run closes, on the loop, the sessions whose handshake or closing
// handshake has outlived its timeout; OnClose counts them.
func (lp *hsLoop) Run(context.Context) error {
	now := lp.run.nanos()
	lp.handQ = lp.expire(lp.handQ, now, hsStateHandshake, markTimedOut)
	lp.closeQ = lp.expire(lp.closeQ, now, hsStateClosing, markClientClosed)
	return nil
}

// expire closes the sessions of q due by now that are still in state
// want, marking each first so that OnClose knows why, and returns what is
// left of q. Deadlines are queued in order, so it stops at the first one
// not yet due. mark is a plain function, not a closure: Run is called on
// every tick and must not allocate.
func (lp *hsLoop) expire(q []hsDeadline, now int64, want hsState, mark func(*hsSession)) []hsDeadline {
	i := 0
	for ; i < len(q) && q[i].at <= now; i++ {
		s := q[i].s
		q[i].s = nil
		if hsState(s.state.Load()) == want {
			mark(s)
			_ = lp.el.Close(s.conn)
		}
	}
	return q[i:]
}

// markTimedOut marks s as closed at the handshake deadline.
func markTimedOut(s *hsSession) { s.timedOut = true }

// markClientClosed marks s as closed at the close deadline.
func markClientClosed(s *hsSession) { s.clientClosed = true }

// OnClose counts how the connection ended and frees its slot.
func (r *hsRun) OnClose(c gnet.Conn, _ error) gnet.Action {
	s, ok := c.Context().(*hsSession)
	if !ok {
		return gnet.None
	}
	switch hsState(s.state.Swap(uint32(hsStateClosed))) {
	case hsStateAbandoned, hsStateDialing:
		return gnet.None // the dial worker freed the slot
	case hsStateHandshake:
		r.fail(clientHandshakeCut(s.timedOut))
	case hsStateClosing:
		if s.clientClosed {
			s.loop.clientFirst++
		} else {
			s.loop.serverFirst++
		}
	}
	r.cfg.Live.addUp(-1)
	r.release()
	return gnet.None
}

// OnTraffic reads the 101, then the server's frames until it closes.
func (r *hsRun) OnTraffic(c gnet.Conn) gnet.Action { return clientOnTraffic[*hsSession](c) }

// states returns s's state, the handshake state and the closing state.
func (s *hsSession) states() (cur, head, frames uint32) {
	return s.state.Load(), uint32(hsStateHandshake), uint32(hsStateClosing)
}

// readHead reads the 101 head.
func (s *hsSession) readHead(c gnet.Conn) (gnet.Action, bool) {
	return s.head.read(c, &s.key, &s.loop.resp, s)
}

// upgraded runs once s's 101 is checked: it records the latency and sends
// the Close.
func (s *hsSession) upgraded(c gnet.Conn) gnet.Action {
	r := s.run
	now := r.nanos()
	lp := s.loop
	lp.total++
	r.cfg.Live.addMsgs(1)
	if clientPhase(r.phase.Load()) == clientPhaseMeasure {
		lp.measured++
		_ = lp.hist.RecordValue(min(max(now-s.start, 1), lp.hist.HighestTrackableValue()))
	}
	s.state.Store(uint32(hsStateClosing))
	lp.closeQ = append(lp.closeQ, hsDeadline{s: s, at: now + r.closeTO})
	lp.out = codec.AppendMaskedClose(lp.out[:0], ws.StatusNormalClosure, "", s.mask)
	if _, err := c.Write(lp.out); err != nil {
		return gnet.None // gnet closed c
	}
	return r.closing(c, s)
}

// frames reads the server's frames after the client's Close.
func (s *hsSession) frames(c gnet.Conn) gnet.Action { return s.run.closing(c, s) }

// closing reads the server's frames after the client's Close, noting its
// Close; the server is left to close TCP first.
func (r *hsRun) closing(c gnet.Conn, s *hsSession) gnet.Action {
	p, _ := c.Peek(-1)
	n, err := hsScanClose(&s.rd, p, &s.gotClose, &s.loop.closeEchoed)
	if err != nil {
		_, _ = c.Discard(-1)
		return s.failed(clientFailProtocol)
	}
	_, _ = c.Discard(n)
	return gnet.None
}

// failed counts a failure of kind f and closes the connection.
func (s *hsSession) failed(f clientFail) gnet.Action {
	s.state.Store(uint32(hsStateFailed))
	s.run.fail(f)
	return gnet.Close
}

// failHandshake counts a failed handshake and closes the connection.
func (s *hsSession) failHandshake(f clientFail) gnet.Action { return s.failed(f) }
