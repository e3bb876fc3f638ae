package bench

import (
	"context"
	"crypto/rand"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
	"github.com/gobwas/ws"
	"github.com/panjf2000/gnet/v2"

	"github.com/throngproxy/throng/bench/sysstat"
	"github.com/throngproxy/throng/codec"
)

// HandshakeConfig configures Handshake. Zero values take the defaults given.
// Sessions is the number of workers: connections in flight at any time
// (default 32). HandshakeTimeout bounds each handshake, from the socket
// joining its event loop to the 101. PIDs are processes whose CPU time over
// the measured time is reported.
type HandshakeConfig struct {
	LoadConfig
	// Duration is the measured time, after Warmup. Default 10s.
	Duration time.Duration
	// Warmup runs the load before measuring, unrecorded. Default 1s.
	Warmup time.Duration
	// CloseTimeout bounds the closing handshake of each connection: from
	// the client's Close to the server closing TCP. After it the client
	// closes first (counted as ClientFirst). Default 1s.
	CloseTimeout time.Duration
}

// Defaults for HandshakeConfig.
const (
	defaultHandshakeWorkers      = 32
	defaultHandshakeCloseTimeout = time.Second
	// handshakeTickMax is the coarsest tick of the per-loop timeout check.
	handshakeTickMax = 50 * time.Millisecond
)

// withDefaults returns c with zero values replaced by defaults.
func (c HandshakeConfig) withDefaults() HandshakeConfig {
	c.timedDefaults(defaultHandshakeWorkers, &c.Duration, &c.Warmup)
	orDefault(&c.CloseTimeout, defaultHandshakeCloseTimeout)
	return c
}

// validate reports every problem with c (after defaults) at once.
func (c *HandshakeConfig) validate() error {
	return c.LoadConfig.validate(c.Duration, c.Warmup, c.CloseTimeout)
}

// HandshakeCloses says how the connections of a run ended after their 101.
type HandshakeCloses struct {
	// ServerFirst counts connections the server closed (FIN) before the
	// client: the clean end (RFC 6455 §7.1.1), leaving TIME_WAIT on the
	// server side.
	ServerFirst uint64 `json:"server_first"`
	// ClientFirst counts connections the client closed at the close
	// timeout, the server having not closed TCP in time.
	ClientFirst uint64 `json:"client_first"`
	// CloseEchoed counts connections on which the server answered the
	// client's Close with a Close.
	CloseEchoed uint64 `json:"close_echoed"`
}

// HandshakeTarget is the CPU one sampled process used over the measured time.
type HandshakeTarget struct {
	PID        int     `json:"pid"`
	CPUSeconds float64 `json:"cpu_seconds"`
	// HandshakesPerCPUSecond is measured handshakes per CPU-second of this
	// process.
	HandshakesPerCPUSecond float64 `json:"handshakes_per_cpu_second"`
	RSSBytes               int64   `json:"rss_bytes"` // at the end of the measured time
	Err                    string  `json:"err,omitempty"`
}

// HandshakeReport is the result of Handshake.
type HandshakeReport struct {
	Mode         string          `json:"mode"` // "handshake"
	URL          string          `json:"url"`
	Workers      int             `json:"workers"`
	Duration     string          `json:"duration"`
	Warmup       string          `json:"warmup"`
	CloseTimeout string          `json:"close_timeout"`
	Rate         float64         `json:"rate"` // connects per second; 0: unbounded
	Sources      []string        `json:"sources"`
	Loops        int             `json:"loops"` // client loops, of all worker processes
	Procs        int             `json:"procs"` // worker processes merged; 1: this process alone
	Machine      sysstat.Machine `json:"machine"`

	// ClientPath is the client that ran: ClientPathGnet, or ClientPathTLS
	// for a wss:// URL.
	ClientPath string `json:"client_path"`

	Seconds          float64 `json:"seconds"`    // measured time
	Handshakes       uint64  `json:"handshakes"` // 101s received while measuring
	HandshakesPerSec float64 `json:"handshakes_per_sec"`
	// Latency is connect start to 101 received, for the measured handshakes.
	Latency     Latency           `json:"latency"`
	Total       uint64            `json:"total"`  // 101s received, all phases
	Failed      map[string]uint64 `json:"failed"` // all phases
	Closes      HandshakeCloses   `json:"closes"` // all phases
	Interrupted bool              `json:"interrupted"`

	Targets          []HandshakeTarget `json:"targets"`
	ClientCPUSeconds float64           `json:"client_cpu_seconds"` // over the measured time
	// ClientCPUBound: the load generator used ≥ 90% of its CPUs.
	ClientCPUBound bool `json:"client_cpu_bound"`
}

// Handshake measures WebSocket connection set-up at cfg.URL. cfg.Sessions
// workers each repeatedly connect, upgrade (checking the 101 and
// Sec-WebSocket-Accept, RFC 6455 §4.1) and close cleanly: a masked Close,
// then a wait, bounded by cfg.CloseTimeout, for the server to answer and
// close TCP first (§7.1.1), so that TIME_WAIT stays on the server side.
// Sources are used in turn. After cfg.Warmup it measures for cfg.Duration:
// handshakes per second, and the latency of each (connect start to 101) in
// an HDR histogram. Failures are counted by kind over the whole run. With
// cfg.PIDs it reports each process's CPU time over the measured time.
// Cancelling ctx cuts the run short and returns a report marked
// Interrupted. The connections are served by gnet event loops; a pool of at
// most 16 goroutines dials them.
func Handshake(ctx context.Context, cfg HandshakeConfig) (*HandshakeReport, error) {
	rep, _, err := handshake(ctx, cfg)
	return rep, err
}

// newHandshakeReport returns the parameters part of cfg's report.
func newHandshakeReport(cfg HandshakeConfig, machine sysstat.Machine) *HandshakeReport {
	return &HandshakeReport{
		Mode: "handshake", URL: cfg.URL, ClientPath: ClientPath(cfg.URL), Workers: cfg.Sessions, Duration: cfg.Duration.String(),
		Warmup: cfg.Warmup.String(), CloseTimeout: cfg.CloseTimeout.String(), Rate: cfg.Rate,
		Sources: addrStrings(cfg.Sources), Loops: cfg.Loops, Procs: 1, Machine: machine,
	}
}

// handshake is Handshake; it also returns the latency histogram (ns), nil
// when no run started.
func handshake(ctx context.Context, cfg HandshakeConfig) (*HandshakeReport, *hdrhistogram.Histogram, error) {
	if ClientPath(cfg.URL) == ClientPathTLS {
		return handshakeTLS(ctx, cfg)
	}
	machine := sysstat.ReadMachine() // before the run's clock starts, as it reads /proc
	cfg.awaitReady(ctx)              // before it too: the connect rate counts from there
	r, err := newHandshakeRun(cfg)
	if err != nil {
		return nil, nil, err
	}
	cfg = r.cfg
	rep := newHandshakeReport(cfg, machine)
	var tickers sync.WaitGroup
	stopTick := make(chan struct{})
	tickers.Go(func() { r.tick(stopTick) })

	r.phase.Store(uint32(clientPhaseWarmup))
	var workers sync.WaitGroup
	dialers := clientDialers(cfg.Sources, cfg.ConnectTimeout)
	for i := range min(clientDialWorkers, cfg.Sessions) {
		workers.Go(func() { r.work(ctx, dialers, i) })
	}
	m := handshakePhases(ctx, &cfg, &r.phase)
	rep.Interrupted = ctx.Err() != nil
	workers.Wait()
	r.drain(cfg.HandshakeTimeout + cfg.CloseTimeout + time.Second)
	close(stopTick)
	tickers.Wait()
	_ = r.cli.Stop() // closes whatever the drain left

	var n hsCounts
	hist := newClientHistogram()
	for _, lp := range r.loops {
		n.add(&lp.hsCounts)
		hist.Merge(lp.hist)
	}
	return rep, hist, rep.finish(&m, cfg.PIDs, &r.fails, n, hist)
}

// handshakePhases runs the warm-up and the measured time of a handshake run
// on either client path: it moves phase to measure, then to close (stop
// dialling), sampling pids over the measured time; if ctx ends first it
// moves phase to close at once.
func handshakePhases(ctx context.Context, cfg *HandshakeConfig, phase *atomic.Uint32) clientMeasure {
	var m clientMeasure
	if sleepClient(ctx, cfg.Warmup) {
		m.begin(cfg.PIDs)
		phase.Store(uint32(clientPhaseMeasure))
		sleepClient(ctx, cfg.Duration)
		phase.Store(uint32(clientPhaseClose))
		m.end(cfg.PIDs)
	}
	phase.Store(uint32(clientPhaseClose))
	return m
}

// hsCounts are the counters of a handshake run's loop (gnet) or worker
// (TLS), touched by it alone and summed once it has ended.
type hsCounts struct {
	measured    uint64 // 101s in the measure phase
	total       uint64 // 101s, all phases
	serverFirst uint64
	clientFirst uint64
	closeEchoed uint64
}

// add adds o to c.
func (c *hsCounts) add(o *hsCounts) {
	c.measured += o.measured
	c.total += o.total
	c.serverFirst += o.serverFirst
	c.clientFirst += o.clientFirst
	c.closeEchoed += o.closeEchoed
}

// finish writes into rep, whose Interrupted is set, what a run on either
// client path measured: m over the measured time (with pids), its
// failures, the sum n of its counters and its merged latency histogram. It
// returns the run's error: ErrNoneOpened if no handshake completed and the
// run was not interrupted.
func (rep *HandshakeReport) finish(m *clientMeasure, pids []int, fails *[clientFailCount]atomic.Uint64,
	n hsCounts, hist *hdrhistogram.Histogram) error {
	rep.Failed = clientFailures(fails)
	rep.Handshakes, rep.Total = n.measured, n.total
	rep.Closes = HandshakeCloses{ServerFirst: n.serverFirst, ClientFirst: n.clientFirst, CloseEchoed: n.closeEchoed}
	rep.Seconds, rep.ClientCPUSeconds = m.seconds(), m.clientCPU()
	rep.ClientCPUBound = cpuBound(rep.ClientCPUSeconds, rep.Seconds)
	rep.HandshakesPerSec = perSecond(rep.Handshakes, rep.Seconds)
	rep.Latency = latencyOrZero(hist)
	rep.Targets = handshakeTargets(m.targets(pids, rep.Handshakes))
	return noneOpened(rep.Total > 0, rep.Interrupted)
}

// WriteText writes the report as an aligned human-readable table.
func (r *HandshakeReport) WriteText(w io.Writer) error {
	t := newReportHead(w, "handshake", r.URL)
	t.row("client path", "%s", clientPathText(r.ClientPath))
	t.row("workers", "%d in flight, rate %s (sources %s, %d client loops)", r.Workers, rateString(r.Rate), clientSourcesString(r.Sources), r.Loops)
	t.procsRow(r.Procs)
	t.row("duration", "%s after %s warm-up, close timeout %s", r.Duration, r.Warmup, r.CloseTimeout)
	t.machineRows(r.Machine)
	t.row("measured", "%.2fs", r.Seconds)
	t.row("handshakes", "%d (%.0f handshakes/s; %d in all phases)", r.Handshakes, r.HandshakesPerSec, r.Total)
	t.latencyRow(r.Latency)
	t.failRows(r.Failed)
	c := r.Closes
	t.row("closes", "server first %d, client first (timeout) %d, close echoed %d", c.ServerFirst, c.ClientFirst, c.CloseEchoed)
	for _, tg := range r.Targets {
		t.targetRows(tg.PID, tg.CPUSeconds, tg.HandshakesPerCPUSecond, "handshakes", tg.RSSBytes, tg.Err)
	}
	return t.endRows(r.ClientCPUSeconds, r.ClientCPUBound, r.Interrupted)
}

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
	i := 0
	for ; i < len(lp.handQ) && lp.handQ[i].at <= now; i++ {
		s := lp.handQ[i].s
		lp.handQ[i].s = nil
		if hsState(s.state.Load()) == hsStateHandshake {
			s.timedOut = true
			_ = lp.el.Close(s.conn)
		}
	}
	lp.handQ = lp.handQ[i:]
	i = 0
	for ; i < len(lp.closeQ) && lp.closeQ[i].at <= now; i++ {
		s := lp.closeQ[i].s
		lp.closeQ[i].s = nil
		if hsState(s.state.Load()) == hsStateClosing {
			s.clientClosed = true
			_ = lp.el.Close(s.conn)
		}
	}
	lp.closeQ = lp.closeQ[i:]
	return nil
}

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
