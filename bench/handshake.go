package bench

import (
	"context"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/throngproxy/throng/bench/sysstat"
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

// WithDefaults returns c with zero values replaced by the defaults that
// Handshake applies; throng-bench takes its flag defaults from it.
func (c HandshakeConfig) WithDefaults() HandshakeConfig {
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
	// TLS is what the TLS handshakes offered and how many resumed: wss://
	// only, zero (left out) for ws://.
	TLS TLSReport `json:"tls,omitzero"`

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
		TLS:    newTLSReport(cfg.URL, cfg.TLS),
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
	t.tlsRows(r.ClientPath, &r.TLS)
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
