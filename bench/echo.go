package bench

import (
	"context"
	"errors"
	"io"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/throngproxy/throng/bench/sysstat"
)

// EchoConfig configures Echo. Zero values take the defaults given. The URL
// must be that of an echo service; Sessions defaults to 100; PIDs are
// processes whose CPU time over the measured time is reported.
type EchoConfig struct {
	LoadConfig
	// Size is the payload of every message in bytes, 16 B to 16 MiB (the
	// first 16 carry the send time and a sequence number). Default 64.
	Size int
	// Window is how many messages each session keeps in flight, 1..1024.
	// Default 1.
	Window int
	// Duration is the measured time, after Warmup. Default 10s.
	Duration time.Duration
	// Warmup runs the load before measuring, unrecorded. Default 1s.
	Warmup time.Duration
	// DrainTimeout bounds the wait for in-flight echoes after the measured
	// time. Default 5s.
	DrainTimeout time.Duration
}

// Defaults for EchoConfig.
const (
	defaultEchoSessions = 100
	maxEchoWindow       = 1024
)

// WithDefaults returns c with zero values replaced by the defaults that
// Echo applies; throng-bench takes its flag defaults from it.
func (c EchoConfig) WithDefaults() EchoConfig {
	c.timedDefaults(defaultEchoSessions, &c.Duration, &c.Warmup)
	messageDefaults(&c.Size, &c.DrainTimeout)
	orDefault(&c.Window, 1)
	return c
}

// validate reports every problem with c (after defaults) at once.
func (c *EchoConfig) validate() error {
	errs := []error{c.LoadConfig.validate(c.Duration, c.Warmup, c.DrainTimeout)}
	if c.Size < clientMinSize || c.Size > clientMaxSize {
		errs = append(errs, ErrBadSize)
	}
	if c.Window < 1 || c.Window > maxEchoWindow {
		errs = append(errs, ErrBadWindow)
	}
	return errors.Join(errs...)
}

// Latency is a latency distribution in microseconds.
type Latency struct {
	P50  float64 `json:"p50_us"`
	P90  float64 `json:"p90_us"`
	P99  float64 `json:"p99_us"`
	P999 float64 `json:"p99_9_us"`
	Max  float64 `json:"max_us"`
	Mean float64 `json:"mean_us"`
}

// latencyOf reads a nanosecond histogram.
func latencyOf(h *hdrhistogram.Histogram) Latency {
	us := func(ns int64) float64 { return float64(ns) / 1e3 }
	return Latency{
		P50:  us(h.ValueAtQuantile(50)),
		P90:  us(h.ValueAtQuantile(90)),
		P99:  us(h.ValueAtQuantile(99)),
		P999: us(h.ValueAtQuantile(99.9)),
		Max:  us(h.Max()),
		Mean: h.Mean() / 1e3,
	}
}

// EchoTarget is the CPU one sampled process used over the measured time.
type EchoTarget struct {
	PID        int     `json:"pid"`
	CPUSeconds float64 `json:"cpu_seconds"`
	// MsgsPerCPUSecond is measured messages (round trips) per CPU-second of
	// this process.
	MsgsPerCPUSecond float64 `json:"msgs_per_cpu_second"`
	RSSBytes         int64   `json:"rss_bytes"` // at the end of the measured time
	Err              string  `json:"err,omitempty"`
}

// EchoReport is the result of Echo.
type EchoReport struct {
	Mode     string          `json:"mode"` // "echo"
	URL      string          `json:"url"`
	Sessions int             `json:"sessions"`
	Size     int             `json:"size"`
	Window   int             `json:"window"`
	Duration string          `json:"duration"`
	Warmup   string          `json:"warmup"`
	Sources  []string        `json:"sources"`
	Loops    int             `json:"loops"` // client loops, of all worker processes
	Procs    int             `json:"procs"` // worker processes merged; 1: this process alone
	Machine  sysstat.Machine `json:"machine"`

	// ClientPath is the client that ran: ClientPathGnet, or ClientPathTLS
	// for a wss:// URL.
	ClientPath string `json:"client_path"`
	// TLS is what the TLS handshakes offered and how many resumed: wss://
	// only, zero (left out) for ws://.
	TLS TLSReport `json:"tls,omitzero"`

	Connected   int               `json:"connected"`
	Failed      map[string]uint64 `json:"failed"`
	Seconds     float64           `json:"seconds"`  // measured time
	Messages    uint64            `json:"messages"` // echoes received while measuring
	MsgsPerSec  float64           `json:"msgs_per_sec"`
	BytesPerSec float64           `json:"bytes_per_sec"` // payload bytes echoed per second, one way
	Latency     Latency           `json:"latency"`
	Sent        uint64            `json:"sent"`     // all phases
	Received    uint64            `json:"received"` // all phases
	Errors      uint64            `json:"errors"`   // echoes that differed from what was sent
	Interrupted bool              `json:"interrupted"`

	Targets          []EchoTarget `json:"targets"`
	ClientCPUSeconds float64      `json:"client_cpu_seconds"` // over the measured time
	// ClientCPUBound: the load generator used ≥ 90% of its CPUs.
	ClientCPUBound bool `json:"client_cpu_bound"`
}

// Echo opens cfg.Sessions sessions on an echo service at cfg.URL; each keeps
// cfg.Window messages of cfg.Size bytes in flight, sending the next as soon
// as an echo returns. After cfg.Warmup it measures for cfg.Duration: echoes
// per second, and the latency of each (send to echo, from the time stamped
// in the payload) in an HDR histogram. Every echo is checked byte for byte
// and in order; differences count as Errors. With cfg.PIDs it reports each
// process's CPU time over the measured time. The sessions are then closed
// with a Close handshake. Cancelling ctx cuts the run short and returns a
// report marked Interrupted. The client runs on gnet event loops (a wss://
// URL: on the TLS client path).
func Echo(ctx context.Context, cfg EchoConfig) (*EchoReport, error) {
	rep, _, err := echo(ctx, cfg)
	return rep, err
}

// newEchoReport returns the parameters part of cfg's report.
func newEchoReport(cfg EchoConfig) *EchoReport {
	return &EchoReport{
		Mode: "echo", URL: cfg.URL, ClientPath: ClientPath(cfg.URL), Sessions: cfg.Sessions, Size: cfg.Size, Window: cfg.Window,
		TLS:      newTLSReport(cfg.URL, cfg.TLS),
		Duration: cfg.Duration.String(), Warmup: cfg.Warmup.String(),
		Sources: addrStrings(cfg.Sources), Loops: cfg.Loops, Procs: 1, Machine: sysstat.ReadMachine(),
	}
}

// echo is Echo; it also returns the latency histogram (ns), nil when no
// run started.
func echo(ctx context.Context, cfg EchoConfig) (*EchoReport, *hdrhistogram.Histogram, error) {
	cfg, target, err := prepareConfig(cfg)
	if err != nil {
		return nil, nil, err
	}
	rep := newEchoReport(cfg)
	run, err := newLoadRun(ctx, clientSpec{
		target: target, sessions: cfg.Sessions, rate: cfg.Rate, loops: cfg.Loops,
		size: cfg.Size, window: cfg.Window, hist: true,
		handTO: cfg.HandshakeTimeout, live: cfg.Live,
		tlsConf: cfg.tlsConf,
	})
	if err != nil {
		return nil, nil, err
	}
	rep.Loops = run.clientLoops()
	cr := run.core()
	run.connect(ctx, clientDialers(cfg.Sources, cfg.ConnectTimeout))
	rep.Connected = int(cr.opened.Load())
	cfg.awaitReady(ctx)

	var m clientMeasure
	if ctx.Err() == nil && rep.Connected > 0 {
		cr.setPhase(clientPhaseWarmup)
		cr.wakeOpen()
		sleepClient(ctx, cfg.Warmup)
		m.begin(cfg.PIDs)
		cr.setPhase(clientPhaseMeasure)
		sleepClient(ctx, cfg.Duration)
		cr.setPhase(clientPhaseDrain)
		m.end(cfg.PIDs)
		cd := cr.arm(&cr.drain, clientDrainFlag)
		waitClient(context.Background(), cd.zero, cfg.DrainTimeout)
	}
	out := finishRun(ctx, run)
	rep.TLS.addCounts(&out.tls)
	rep.Interrupted, rep.Failed = out.interrupted, out.failed
	rep.Messages, rep.Sent, rep.Received, rep.Errors = out.msgs, out.sent, out.received, out.mismatches
	rep.Latency = latencyOrZero(out.hist)
	rep.Seconds, rep.ClientCPUSeconds = m.seconds(), m.clientCPU()
	rep.ClientCPUBound = cpuBound(rep.ClientCPUSeconds, rep.Seconds)
	rep.MsgsPerSec = perSecond(rep.Messages, rep.Seconds)
	rep.BytesPerSec = rep.MsgsPerSec * float64(cfg.Size)
	rep.Targets = echoTargets(m.targets(cfg.PIDs, rep.Messages))
	return rep, out.hist, noneOpened(rep.Connected > 0, rep.Interrupted)
}

// WriteText writes the report as an aligned human-readable table.
func (r *EchoReport) WriteText(w io.Writer) error {
	t := newReportHead(w, "echo", r.URL)
	t.row("client path", "%s", clientPathText(r.ClientPath))
	t.tlsRows(r.ClientPath, &r.TLS)
	t.row("sessions", "%d × %d B, window %d (sources %s, %d client loops)", r.Sessions, r.Size, r.Window, clientSourcesString(r.Sources), r.Loops)
	t.procsRow(r.Procs)
	t.row("duration", "%s after %s warm-up", r.Duration, r.Warmup)
	t.machineRows(r.Machine)
	t.row("connected", "%d", r.Connected)
	t.failRows(r.Failed)
	t.row("measured", "%.2fs", r.Seconds)
	t.row("messages", "%d (%.0f msgs/s, %s/s)", r.Messages, r.MsgsPerSec, mib(int64(r.BytesPerSec)))
	t.latencyRow(r.Latency)
	t.row("errors", "%d (sent %d, received %d)", r.Errors, r.Sent, r.Received)
	for _, tg := range r.Targets {
		t.targetRows(tg.PID, tg.CPUSeconds, tg.MsgsPerCPUSecond, "msgs", tg.RSSBytes, tg.Err)
	}
	return t.endRows(r.ClientCPUSeconds, r.ClientCPUBound, r.Interrupted)
}
