package bench

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
	"github.com/gobwas/ws"

	"github.com/throngproxy/throng/bench/sysstat"
	"github.com/throngproxy/throng/codec"
)

// Handshake on the TLS client path: cfg.Sessions goroutines, each with one
// connection in flight at a time (the gnet path's slots), connect, make the
// TLS handshake, upgrade, send a Close and wait for the server to close
// TCP, again and again. Deadlines, counts, latency and closes are the gnet
// path's.

// tlsHsRun is one Handshake run on the TLS client path.
type tlsHsRun struct {
	hsCore

	conf    *tls.Config
	srcSeq  atomic.Uint64 // connects started, for the sources in turn
	hists   tlsHists
	workers []*tlsHsWorker
}

// tlsHsWorker is one goroutine of a handshake run and its connection in
// flight. Its counters are read once it has ended.
type tlsHsWorker struct {
	run   *tlsHsRun
	shard *tlsShard
	c     tlsConn
	mu    sync.Mutex // guards c.nc against kill, and dead
	dead  bool       // killed: connect no more
	resp  codec.Response
	out   []byte
	rd    clientReader

	hsCounts
}

// handshakeTLS is handshake on the TLS client path: it checks cfg, runs,
// and returns the report and the latency histogram (ns).
func handshakeTLS(ctx context.Context, cfg HandshakeConfig) (*HandshakeReport, *hdrhistogram.Histogram, error) {
	machine := sysstat.ReadMachine() // before the run's clock starts, as it reads /proc
	cfg.awaitReady(ctx)              // before it too: the connect rate counts from there
	cfg, target, err := prepareConfig(cfg)
	if err != nil {
		return nil, nil, err
	}
	r := &tlsHsRun{hsCore: newHsCore(cfg, target), conf: cfg.tlsConf, hists: newTLSHists(cfg.Sessions)}
	rep := newHandshakeReport(cfg, machine)
	rep.Loops = 0 // no event loop runs

	r.phase.Store(uint32(clientPhaseWarmup))
	dialCtx, stopDial := context.WithCancel(ctx)
	defer stopDial()
	dialers := clientDialers(cfg.Sources, cfg.ConnectTimeout)
	var workers tlsWaitGroup
	for i := range cfg.Sessions {
		w := &tlsHsWorker{run: r, shard: r.hists.shard(i), rd: clientReader{size: clientMinSize}}
		r.workers = append(r.workers, w)
		workers.Go(func() { w.work(dialCtx, dialers) })
	}
	m := handshakePhases(ctx, &cfg, &r.phase)
	rep.Interrupted = ctx.Err() != nil
	// The connections in flight end on their own deadlines; past them, as
	// the gnet path stops its client, they are cut.
	if !workers.waitFor(cfg.HandshakeTimeout + cfg.CloseTimeout + time.Second) {
		stopDial()
		for _, w := range r.workers {
			w.kill()
		}
		workers.Wait()
	}

	var (
		n  hsCounts
		tc tlsCounts
	)
	for _, w := range r.workers {
		n.add(&w.hsCounts)
		tc.add(&w.c.counts)
	}
	rep.TLS.addCounts(&tc)
	hist := r.hists.merged()
	return rep, hist, rep.finish(&m, cfg.PIDs, &r.fails, n, hist)
}

// work connects again and again, at the run's rate, from the sources in
// turn, until the run stops dialling or ctx is done.
func (w *tlsHsWorker) work(ctx context.Context, dialers []*net.Dialer) {
	r := w.run
	interval := paceInterval(r.cfg.Rate)
	timer := time.NewTimer(0)
	defer timer.Stop()
	for clientPhase(r.phase.Load()) != clientPhaseClose && ctx.Err() == nil {
		if !r.pace(ctx, timer, interval) {
			return
		}
		d := dialers[(r.srcSeq.Add(1)-1)%uint64(len(dialers))]
		w.one(ctx, d)
	}
}

// one makes one connection: connect, TLS handshake, upgrade (the latency
// runs from the connect's start to the 101), Close, then the server's
// frames until it closes TCP or the close timeout passes.
func (w *tlsHsWorker) one(ctx context.Context, d *net.Dialer) {
	r := w.run
	var rnd [20]byte
	_, _ = rand.Read(rnd[:]) // crypto/rand.Read never fails
	key := newClientKey([16]byte(rnd[:16]))
	mask := [4]byte(rnd[16:])
	start := r.nanos()
	nc, err := d.DialContext(ctx, "tcp", r.target.addr)
	if err != nil {
		if ctx.Err() == nil {
			r.fail(classifyDial(err))
		}
		return
	}
	if !w.attach(nc) {
		return
	}
	defer w.detach()
	r.cfg.Live.addUp(1)
	defer r.cfg.Live.addUp(-1)

	var (
		f  clientFail
		ok bool
	)
	w.out, f, ok = w.c.handshake(r.conf, time.Now().Add(r.cfg.HandshakeTimeout), r.target, &key, &w.resp, w.out)
	if !ok {
		r.fail(f)
		return
	}
	now := r.nanos()
	w.total++
	r.cfg.Live.addMsgs(1)
	if clientPhase(r.phase.Load()) == clientPhaseMeasure {
		w.measured++
		w.shard.mu.Lock()
		_ = w.shard.hist.RecordValue(min(max(now-start, 1), w.shard.hist.HighestTrackableValue()))
		w.shard.mu.Unlock()
	}
	closeBy := r.begin.Add(time.Duration(now) + r.cfg.CloseTimeout)
	w.out = codec.AppendMaskedClose(w.out[:0], ws.StatusNormalClosure, "", mask)
	if err := w.c.write(w.out, closeBy); err != nil {
		w.closed(err)
		return
	}
	_ = w.c.nc.SetReadDeadline(closeBy)
	w.rd = clientReader{size: clientMinSize}
	gotClose := false
	var rerr error
	for {
		i, err := hsScanClose(&w.rd, w.c.in, &gotClose, &w.closeEchoed)
		if err != nil {
			r.fail(clientFailProtocol)
			return
		}
		w.c.in = w.c.in[:copy(w.c.in, w.c.in[i:])]
		if rerr != nil {
			w.closed(rerr)
			return
		}
		rerr = w.c.read()
	}
}

// closed counts how a connection whose Close was sent ended with err: the
// close timeout passed or the run cut it (the client closes first), or the
// server closed.
func (w *tlsHsWorker) closed(err error) {
	if isTimeout(err) || w.c.killed.Load() {
		w.clientFirst++
		return
	}
	w.serverFirst++
}

// attach makes nc w's connection in flight; it reports false, closing nc,
// if w was killed.
func (w *tlsHsWorker) attach(nc net.Conn) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.dead {
		_ = nc.Close()
		return false
	}
	w.c.nc = nc
	w.c.killed.Store(false)
	return true
}

// detach closes w's connection in flight.
func (w *tlsHsWorker) detach() {
	w.mu.Lock()
	defer w.mu.Unlock()
	_ = w.c.nc.Close()
	w.c.nc, w.c.tc = nil, nil
}

// kill cuts w's connection in flight and keeps it from connecting again.
// Safe from any goroutine.
func (w *tlsHsWorker) kill() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.dead = true
	if w.c.nc != nil {
		w.c.kill()
	}
}

// tlsWaitGroup is a sync.WaitGroup whose Wait can be bounded.
type tlsWaitGroup struct {
	sync.WaitGroup
}

// waitFor waits until the group is done or d has passed; it reports
// whether the group is done. The goroutine it starts ends with the group.
func (g *tlsWaitGroup) waitFor(d time.Duration) bool {
	done := make(chan struct{})
	go func() { // ends when the group does; the caller waits for that
		g.Wait()
		close(done)
	}()
	return waitClient(context.Background(), done, d)
}
