package bench

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
	"golang.org/x/sys/cpu"

	"github.com/throngproxy/throng/codec"
)

// The TLS client path of Idle, Echo and Fanout. The same pool of dial
// workers as on the gnet path connects TCP at the run's rate; then one
// goroutine per session makes the TLS handshake and the upgrade and serves
// the session. The session logic is the gnet path's own
// (clientSession.handle, clientReader, clientFrame), fed from a buffer
// instead of gnet's, and so are the drivers (client_run.go): the same
// checks, phases and counters. The
// driver reaches a session through atomics and wake, which bumps a counter
// and moves the read deadline to the past. Every read and write has a
// deadline, and the end of a run closes every socket, which ends every
// goroutine.

// Timing and sizes of the TLS client path.
const (
	// tlsReadTick bounds each read of an open session that waits for
	// nothing in particular (an idle hold): it then checks its phase and
	// reads again.
	tlsReadTick = 30 * time.Second
	// tlsWriteTimeout bounds each write chunk: a write that makes no
	// progress for that long fails the session (write_timeout).
	tlsWriteTimeout = 10 * time.Second
	// tlsWriteChunk is the most one write call sends, so that the write
	// deadline bounds progress rather than a whole window of messages.
	tlsWriteChunk = 256 << 10
	// tlsReadBuffer is each connection's input buffer: a whole TLS record,
	// and the longest 101 head (clientMaxHeadBytes).
	tlsReadBuffer = clientMaxHeadBytes
	// tlsHandshakeSlack is how long after the handshake timeout the driver
	// still waits for handshakes to end on their own deadlines.
	tlsHandshakeSlack = time.Second
	// tlsShardsPerProc is how many latency histograms a run keeps per
	// GOMAXPROCS, to keep their locks uncontended.
	tlsShardsPerProc = 4
)

// tlsShard is a latency histogram shared by some of a TLS run's
// goroutines. A histogram per connection would cost ~200 KB each.
type tlsShard struct {
	mu   sync.Mutex              // guards hist
	hist *hdrhistogram.Histogram // ns, newClientHistogram's shape
	_    cpu.CacheLinePad
}

// tlsHists are a TLS run's latency histograms, one per shard of its
// connections.
type tlsHists []tlsShard

// newTLSHists returns histograms for conns connections: at most
// tlsShardsPerProc per GOMAXPROCS.
func newTLSHists(conns int) tlsHists {
	h := make(tlsHists, max(1, min(conns, tlsShardsPerProc*runtime.GOMAXPROCS(0))))
	for i := range h {
		h[i].hist = newClientHistogram()
	}
	return h
}

// shard returns the histogram of connection i.
func (h tlsHists) shard(i int) *tlsShard { return &h[i%len(h)] }

// merged returns the shards merged into one histogram. Call it once the
// goroutines have ended.
func (h tlsHists) merged() *hdrhistogram.Histogram {
	out := newClientHistogram()
	for i := range h {
		out.Merge(h[i].hist)
	}
	return out
}

// tlsConn is one TLS connection and its input buffer. Its fields are
// touched by its goroutine, except that any goroutine may kill it.
type tlsConn struct {
	nc     net.Conn  // the TCP connection
	tc     *tls.Conn // over nc
	in     []byte    // received, not yet consumed: between reads, at most part of a frame header
	counts tlsCounts // the TLS handshakes completed on it (on every tc it had)
	killed atomic.Bool
}

// kill marks c as cut by the run and closes its socket, which ends any
// read, write or handshake in progress. Safe from any goroutine.
func (c *tlsConn) kill() {
	c.killed.Store(true)
	_ = c.nc.Close()
}

// handshake makes the TLS handshake over c.nc with conf, then sends the
// upgrade request for target with key and checks the 101 as the gnet path
// does (clientCheckResponse, with resp as scratch and out as the request's
// buffer), all before deadline. Bytes after the head (frames already
// sent) stay in c.in. It counts the TLS handshake in c.counts once done. It
// returns the request buffer and, if it failed, the kind of failure.
func (c *tlsConn) handshake(conf *tls.Config, deadline time.Time, target clientTarget,
	key *clientKey, resp *codec.Response, out []byte) ([]byte, clientFail, bool) {
	if c.in == nil {
		c.in = make([]byte, 0, tlsReadBuffer)
	}
	c.in = c.in[:0]
	_ = c.nc.SetDeadline(deadline)
	c.tc = tls.Client(c.nc, conf)
	if err := c.tc.Handshake(); err != nil {
		return out, classifyTLS(err, c.killed.Load()), false
	}
	cs := c.tc.ConnectionState()
	c.counts.count(&cs)
	out = clientAppendRequest(out[:0], target.host, target.path, key)
	if _, err := c.tc.Write(out); err != nil {
		return out, classifyHandshakeIO(err, c.killed.Load()), false
	}
	var (
		scan    codec.HeadScanner
		scanned int
		rerr    error
	)
	for {
		n, done := scan.Scan(c.in[scanned:])
		scanned += n
		if done {
			break
		}
		switch {
		case rerr != nil:
			return out, classifyHandshakeIO(rerr, c.killed.Load()), false
		case len(c.in) == cap(c.in):
			return out, clientFailHandshake, false // longer than clientMaxHeadBytes
		}
		rerr = c.read()
	}
	err := clientCheckResponse(c.in[:scanned], key, resp)
	c.in = c.in[:copy(c.in, c.in[scanned:])]
	switch {
	case errors.Is(err, errClientNot101):
		return out, clientFailStatus, false
	case err != nil:
		return out, clientFailHandshake, false
	}
	return out, 0, true
}

// read appends what the connection has to c.in, up to its capacity; it
// returns the read's error, after keeping whatever came with it.
func (c *tlsConn) read() error {
	n, err := c.tc.Read(c.in[len(c.in):cap(c.in)])
	c.in = c.in[:len(c.in)+n]
	return err
}

// write sends p in chunks of at most tlsWriteChunk, each before the
// deadline given or, after the first, tlsWriteTimeout from its start.
func (c *tlsConn) write(p []byte, deadline time.Time) error {
	for len(p) > 0 {
		n := min(len(p), tlsWriteChunk)
		_ = c.nc.SetWriteDeadline(deadline)
		if _, err := c.tc.Write(p[:n]); err != nil {
			return err
		}
		p = p[n:]
		if len(p) > 0 {
			deadline = time.Now().Add(tlsWriteTimeout)
		}
	}
	return nil
}

// isTimeout reports whether err is a deadline passing.
func isTimeout(err error) bool { return errors.Is(err, os.ErrDeadlineExceeded) }

// tlsRun is an Idle, Echo or Fanout run on the TLS client path: its core
// (phases, sessions, countdowns and counters, as on the gnet path) and a
// goroutine per session.
type tlsRun struct {
	clientCore

	conf     *tls.Config
	conns    []*tlsSession // filled by the dial workers, each its own index
	hists    tlsHists      // nil without spec.hist
	dialCtx  context.Context
	stopDial context.CancelFunc // ends dials in progress: the run is over
	wg       sync.WaitGroup     // session goroutines
}

// tlsSession is one session of a TLS run: a clientSession (its logic and
// state, as on the gnet path) served by a goroutine of its own. Fields
// without a comment saying otherwise are touched by that goroutine only.
type tlsSession struct {
	cs    *clientSession // cs.loop is &lp
	run   *tlsRun
	lp    clientLoop // this session's output and counters, read after it ended; hist is its shard's
	shard *tlsShard  // guards lp.hist; nil without histograms
	c     tlsConn
	wakes atomic.Uint32 // bumped by the driver before it wakes the goroutine

	slot   int   // the session's index: its slice of the Ping interval
	pingAt int64 // run nanos of the next Ping of the hold; 0: not scheduled yet
}

// newTLSRun builds a TLS run of spec, whose connections use spec.tlsConf;
// dials end when ctx does.
func newTLSRun(ctx context.Context, spec clientSpec) *tlsRun {
	r := &tlsRun{clientCore: newClientCore(spec), conf: spec.tlsConf, conns: make([]*tlsSession, spec.sessions)}
	if spec.hist {
		r.hists = newTLSHists(spec.sessions)
	}
	r.dialCtx, r.stopDial = context.WithCancel(ctx)
	return r
}

// connect opens the run's sessions at the spec's rate with a pool of dial
// workers, as clientRun.connect does, then waits until every handshake has
// ended or, for the stuck ones, the handshake timeout after the last
// connect (they are cut then). It returns early, leaving the rest
// undialled, when ctx is done. It returns how many sessions were attempted.
func (r *tlsRun) connect(ctx context.Context, sources []*net.Dialer) int {
	attempted := dialAll(ctx, r.spec.sessions, r.spec.rate, sources, r.dialOne)
	r.settle.done() // the driver's token
	r.awaitHandshakes(ctx)
	return attempted
}

// dialOne connects session i over TCP and starts its goroutine, which
// makes the TLS handshake and the upgrade and then serves it.
func (r *tlsRun) dialOne(i int, d *net.Dialer) {
	s := &tlsSession{cs: r.newSession(i), run: r, slot: i}
	s.cs.loop = &s.lp
	if r.hists != nil {
		s.shard = r.hists.shard(i)
		s.lp.hist = s.shard.hist
	}
	r.conns[i] = s
	r.sessions[i] = s.cs
	r.settle.add()
	nc, err := d.DialContext(r.dialCtx, "tcp", r.spec.target.addr)
	if err != nil {
		s.cs.state.Store(uint32(clientStateFailed))
		r.fail(classifyDial(err))
		r.settle.done()
		return
	}
	s.c.nc = nc
	s.cs.wake = s.wake
	s.cs.state.Store(uint32(clientStateHandshake))
	r.wg.Add(1)
	go s.serve()
}

// awaitHandshakes waits for the settle countdown. Every handshake has its
// own deadline, the handshake timeout after its connect; if some are still
// running a second past the last one's (or once ctx is done) it cuts them
// (counted as timeouts) and waits, bounded, for them to end.
func (r *tlsRun) awaitHandshakes(ctx context.Context) {
	if waitClient(ctx, r.settle.zero, r.spec.handTO+tlsHandshakeSlack) {
		return
	}
	for _, s := range r.conns {
		if s != nil && s.c.nc != nil && clientState(s.cs.state.Load()) == clientStateHandshake {
			s.c.kill()
		}
	}
	waitClient(context.Background(), r.settle.zero, clientCloseTimeout)
}

// wake makes s's goroutine look at its phase and flags again: its
// clientSession's wake. Safe from any goroutine; it returns nil.
func (s *tlsSession) wake() error {
	s.wakes.Add(1)
	_ = s.c.nc.SetReadDeadline(time.Unix(1, 0))
	return nil
}

// core returns the run's core.
func (r *tlsRun) core() *clientCore { return &r.clientCore }

// clientLoops returns 0: no event loop runs.
func (r *tlsRun) clientLoops() int { return 0 }

// drivePublisher wakes the publishers' goroutines, each of which from then
// on wakes itself at the tick fan.drive keeps on the gnet path (readWait);
// the function it returns does nothing.
func (r *tlsRun) drivePublisher(fan *clientFanout) (stop func()) {
	for _, s := range fan.pubs {
		_ = s.wake()
	}
	return func() {}
}

// startPings does nothing: in a run that pings, every session pings on
// its own (pingIfDue) from its upgrade to the end of the hold. The function
// it returns does nothing either: the verify phase ends the Pings.
func (r *tlsRun) startPings() (stop func()) { return func() {} }

// closeAll sends Close on every open session and waits (bounded) for the
// servers' Close, then kills what is left and waits for every goroutine.
func (r *tlsRun) closeAll() {
	r.setPhase(clientPhaseClose)
	cd := r.arm(&r.closing, clientCloseFlag)
	waitClient(context.Background(), cd.zero, clientCloseTimeout)
	r.stopDial()
	for _, s := range r.conns {
		if s != nil && s.c.nc != nil {
			s.c.kill()
		}
	}
	r.wg.Wait() // every socket is closed: every goroutine is ending
}

// sum adds the sessions' counters (and their TLS handshakes) to o and
// merges the latency histograms. Call it after closeAll: every goroutine has ended.
func (r *tlsRun) sum(o *clientOutcome) {
	for _, s := range r.conns {
		if s != nil {
			o.add(&s.lp)
			o.tls.add(&s.c.counts)
		}
	}
	if r.hists != nil {
		o.hist = r.hists.merged()
	}
}

// serve is s's goroutine: the handshakes, then the session until it ends.
func (s *tlsSession) serve() {
	defer s.run.wg.Done()
	if s.handshake() {
		s.traffic()
	}
	s.end()
}

// handshake makes the TLS handshake and the upgrade, bounded by the
// handshake timeout; it opens s or counts its failure.
func (s *tlsSession) handshake() bool {
	r := &s.run.clientCore
	deadline := time.Now().Add(r.spec.handTO)
	var (
		f  clientFail
		ok bool
	)
	target := r.spec.target
	target.path = s.cs.path
	s.lp.out, f, ok = s.c.handshake(s.run.conf, deadline, target, &s.cs.key, &s.lp.resp, s.lp.out)
	s.lp.resp = codec.Response{} // the scratch's headers are not needed again
	if !ok {
		s.cs.state.Store(uint32(clientStateFailed))
		r.fail(f)
		r.settle.done()
		return false
	}
	s.cs.state.Store(uint32(clientStateOpen))
	r.opened.Add(1)
	r.spec.live.addUp(1)
	r.settle.done()
	return true
}

// traffic serves the open session: it handles what arrived and sends what
// the phase asks, then reads, until the session ends.
func (s *tlsSession) traffic() {
	r := &s.run.clientCore
	var rerr error
	for {
		gen := s.wakes.Load()
		phase := clientPhase(r.phase.Load())
		now := r.nanos()
		end := s.process(phase, now)
		if len(s.lp.out) > 0 {
			if err := s.c.write(s.lp.out, r.start.Add(time.Duration(now)+tlsWriteTimeout)); err != nil {
				s.writeFailed(err)
				return
			}
		}
		if end || rerr != nil {
			return
		}
		_ = s.c.nc.SetReadDeadline(r.start.Add(time.Duration(now) + s.readWait(phase, now)))
		if s.wakes.Load() != gen {
			continue // woken since the phase was read
		}
		if rerr = s.c.read(); rerr != nil && isTimeout(rerr) && !s.c.killed.Load() {
			rerr = nil // woken, or the tick: look again
		}
	}
}

// readWait is how long the next read may wait, now: until the session's
// next Ping in a run that pings, up to the end of the hold; until the publisher's next tick (as
// fan.drive wakes it on the gnet path) while it has messages to publish;
// else tlsReadTick.
func (s *tlsSession) readWait(phase clientPhase, now int64) time.Duration {
	if phase <= clientPhaseHold && s.pingAt > 0 {
		return min(time.Duration(max(s.pingAt-now, 0)), tlsReadTick)
	}
	f := s.run.spec.fan
	if f == nil || phase < clientPhaseWarmup || phase > clientPhaseDrain || !s.cs.publisher ||
		s.cs.nextSend >= f.total.Load() {
		return tlsReadTick
	}
	return min(max(f.due(1), minFanoutTick), maxFanoutTick)
}

// pingIfDue appends the session's Ping to its output when its time has
// come, in a run that pings (connect phase or hold). The first is due a
// slice of the interval after the session opens, times its own slice (so the
// sessions' Pings are spread as on the gnet path), then one every interval.
func (s *tlsSession) pingIfDue(now int64) {
	every := s.run.spec.ping
	if every <= 0 {
		return
	}
	if s.pingAt == 0 { // run nanos are past 0 once a session is open
		slices, tick := pingSpread(every)
		s.pingAt = now + int64(tick)*int64(1+s.slot%slices)
	}
	if now < s.pingAt {
		return
	}
	s.lp.out = s.cs.appendPing(s.lp.out)
	s.pingAt += int64(every)
	if s.pingAt <= now { // late by a whole interval: no burst to catch up
		s.pingAt = now + int64(every)
	}
}

// process handles the frames in s.c.in, then appends to s.lp.out what the
// phase asks (clientSession.handle, as on the gnet path) and, in a run
// that pings, up to the end of the hold, the Ping that is due; it reports whether the session ends
// (the peer's Close, or its protocol error). It holds s's histogram shard
// meanwhile. It does not allocate beyond growing s.lp.out.
func (s *tlsSession) process(phase clientPhase, now int64) bool {
	if s.shard != nil {
		s.shard.mu.Lock()
		defer s.shard.mu.Unlock()
	}
	n, end := s.cs.handle(s.c.in, phase, now)
	s.c.in = s.c.in[:copy(s.c.in, s.c.in[n:])]
	if !end && phase <= clientPhaseHold {
		s.pingIfDue(now)
	}
	return end
}

// writeFailed ends the session after a failed write: one that made no
// progress in time counts as write_timeout; otherwise the connection is
// gone, which end counts as the gnet path's OnClose does.
func (s *tlsSession) writeFailed(err error) {
	if !isTimeout(err) || s.c.killed.Load() {
		return
	}
	r := &s.run.clientCore
	if s.cs.state.CompareAndSwap(uint32(clientStateOpen), uint32(clientStateFailed)) {
		r.spec.live.addUp(-1)
		r.fail(clientFailWriteTimeout)
	}
}

// end closes s and counts how it ended, and answers whatever the driver is
// waiting for, as the gnet path's OnClose does.
func (s *tlsSession) end() {
	_ = s.c.nc.Close()
	s.cs.ended()
}
