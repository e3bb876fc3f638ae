package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"time"
)

// IdleConfig configures Idle. Zero values take the defaults given. Sessions
// is required; PIDs are sampled before connecting, once connected and
// settled, and at the end of the hold.
type IdleConfig struct {
	LoadConfig
	// Hold is how long the sessions stay open and silent. Default 30s.
	Hold time.Duration
	// Settle is the wait after the last handshake before the "connected"
	// sample. Default 2s; only waited for when PIDs are given.
	Settle time.Duration
	// VerifyTimeout bounds the liveness check after the hold. Default 10s.
	VerifyTimeout time.Duration
}

// Defaults for IdleConfig.
const (
	defaultIdleHold      = 30 * time.Second
	defaultSettle        = 2 * time.Second
	defaultVerifyTimeout = 10 * time.Second
)

// withDefaults returns c with zero values replaced by defaults.
func (c IdleConfig) withDefaults() IdleConfig {
	c.LoadConfig = c.LoadConfig.withDefaults()
	if c.Hold == 0 {
		c.Hold = defaultIdleHold
	}
	if c.Settle == 0 {
		c.Settle = defaultSettle
	}
	if c.VerifyTimeout == 0 {
		c.VerifyTimeout = defaultVerifyTimeout
	}
	return c
}

// validate reports every problem with c (after defaults) at once.
func (c *IdleConfig) validate() error {
	return c.LoadConfig.validate(c.Hold, c.Settle, c.VerifyTimeout)
}

// IdleTarget is what one sampled process used for the idle sessions.
type IdleTarget struct {
	PID       int        `json:"pid"`
	Before    ProcSample `json:"before"`
	Connected ProcSample `json:"connected"` // after the last handshake and the settle wait
	End       ProcSample `json:"end"`       // at the end of the hold
	// RSSPerSessionBytes is (Connected.RSS - Before.RSS) / connected.
	RSSPerSessionBytes float64 `json:"rss_per_session_bytes"`
	// ConnectCPUSeconds is the CPU used from Before to Connected.
	ConnectCPUSeconds float64 `json:"connect_cpu_seconds"`
	// IdleCPUSeconds is the CPU used during the hold (Connected to End).
	IdleCPUSeconds float64 `json:"idle_cpu_seconds"`
	Err            string  `json:"err,omitempty"`
}

// IdleReport is the result of Idle.
type IdleReport struct {
	Mode     string   `json:"mode"` // "idle"
	URL      string   `json:"url"`
	Sessions int      `json:"sessions"`
	Hold     string   `json:"hold"`
	Rate     float64  `json:"rate"`
	Sources  []string `json:"sources"`
	Loops    int      `json:"loops"`
	Machine  Machine  `json:"machine"`

	Attempted      int               `json:"attempted"`
	Connected      int               `json:"connected"`
	Failed         map[string]uint64 `json:"failed"`
	ConnectSeconds float64           `json:"connect_seconds"`
	ConnectRate    float64           `json:"connect_rate"` // connected per second
	HeldSeconds    float64           `json:"held_seconds"`
	Alive          int               `json:"alive"` // echoed a message after the hold
	Mismatches     uint64            `json:"mismatches"`
	Interrupted    bool              `json:"interrupted"`

	Targets []IdleTarget `json:"targets"`
	// KernelTCPMem* are all TCP sockets' kernel memory (/proc/net/sockstat):
	// client, proxy and backend sockets alike.
	KernelTCPMemBeforeBytes    int64   `json:"kernel_tcp_mem_before_bytes"`
	KernelTCPMemConnectedBytes int64   `json:"kernel_tcp_mem_connected_bytes"`
	KernelBytesPerSession      float64 `json:"kernel_bytes_per_session"`
	ClientCPUSeconds           float64 `json:"client_cpu_seconds"`
}

// Idle opens cfg.Sessions WebSocket sessions on cfg.URL at cfg.Rate,
// holds them open and silent for cfg.Hold, then checks that each is still
// alive (one 16-byte message echoed within cfg.VerifyTimeout) and closes
// them with a Close handshake. With cfg.PIDs it samples those processes
// before connecting, once connected and settled, and at the end of the hold.
// Cancelling ctx cuts the run short: the sessions are closed and a report
// marked Interrupted is returned. The client runs on gnet event loops, no
// goroutine per session. Every phase is bounded in time.
func Idle(ctx context.Context, cfg IdleConfig) (*IdleReport, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	target, _ := parseClientTarget(cfg.URL)
	rep := &IdleReport{
		Mode: "idle", URL: cfg.URL, Sessions: cfg.Sessions, Hold: cfg.Hold.String(),
		Rate: cfg.Rate, Sources: addrStrings(cfg.Sources), Loops: cfg.Loops, Machine: ReadMachine(),
	}
	run, err := newClientRun(clientSpec{
		target: target, sessions: cfg.Sessions, rate: cfg.Rate, loops: cfg.Loops,
		size: clientMinSize, handTO: cfg.HandshakeTimeout,
	})
	if err != nil {
		return nil, err
	}
	self0, _ := ReadProc(0)
	before := sampleAll(cfg.PIDs)
	rep.KernelTCPMemBeforeBytes, _ = ReadTCPMemBytes()

	t0 := time.Now()
	rep.Attempted = run.connect(ctx, clientDialers(cfg.Sources, cfg.ConnectTimeout))
	rep.ConnectSeconds = time.Since(t0).Seconds()
	rep.Connected = int(run.opened.Load())
	if rep.ConnectSeconds > 0 {
		rep.ConnectRate = float64(rep.Connected) / rep.ConnectSeconds
	}
	if len(cfg.PIDs) > 0 {
		sleepClient(ctx, cfg.Settle)
	}
	connected := sampleAll(cfg.PIDs)
	rep.KernelTCPMemConnectedBytes, _ = ReadTCPMemBytes()

	t1 := time.Now()
	sleepClient(ctx, cfg.Hold)
	rep.HeldSeconds = time.Since(t1).Seconds()
	end := sampleAll(cfg.PIDs)

	if ctx.Err() == nil && rep.Connected > 0 {
		run.setPhase(clientPhaseVerify)
		cd := run.arm(&run.verify, clientVerifyFlag)
		waitClient(ctx, cd.zero, cfg.VerifyTimeout)
		rep.Alive = int(run.alive.Load())
	}
	rep.Interrupted = ctx.Err() != nil
	run.closeAll()
	self1, _ := ReadProc(0)
	rep.ClientCPUSeconds = self1.CPUSeconds - self0.CPUSeconds
	for _, lp := range run.loops {
		rep.Mismatches += lp.mismatches
	}
	rep.Failed = run.failures()

	for i, pid := range cfg.PIDs {
		t := IdleTarget{PID: pid, Before: before[i].s, Connected: connected[i].s, End: end[i].s}
		if err := errors.Join(before[i].err, connected[i].err, end[i].err); err != nil {
			t.Err = err.Error()
		}
		if rep.Connected > 0 {
			t.RSSPerSessionBytes = float64(t.Connected.RSSBytes-t.Before.RSSBytes) / float64(rep.Connected)
		}
		t.ConnectCPUSeconds = t.Connected.CPUSeconds - t.Before.CPUSeconds
		t.IdleCPUSeconds = t.End.CPUSeconds - t.Connected.CPUSeconds
		rep.Targets = append(rep.Targets, t)
	}
	if rep.Connected > 0 {
		rep.KernelBytesPerSession = float64(rep.KernelTCPMemConnectedBytes-rep.KernelTCPMemBeforeBytes) / float64(rep.Connected)
	}
	if rep.Connected == 0 && !rep.Interrupted {
		return rep, ErrNoneOpened
	}
	return rep, nil
}

// procResult is one sample or why it failed.
type procResult struct {
	s   ProcSample
	err error
}

// sampleAll samples every pid.
func sampleAll(pids []int) []procResult {
	out := make([]procResult, len(pids))
	for i, pid := range pids {
		out[i].s, out[i].err = ReadProc(pid)
	}
	return out
}

// addrStrings formats addresses.
func addrStrings(as []netip.Addr) []string {
	out := make([]string, len(as))
	for i, a := range as {
		out[i] = a.String()
	}
	return out
}

// WriteText writes the report as an aligned human-readable table.
func (r *IdleReport) WriteText(w io.Writer) error {
	t := newReportTable(w)
	t.row("mode", "idle")
	t.row("url", "%s", r.URL)
	t.row("sessions", "%d (rate %s, sources %s, %d client loops)", r.Sessions, rateString(r.Rate), clientSourcesString(r.Sources), r.Loops)
	t.row("hold", "%s", r.Hold)
	t.machineRows(r.Machine)
	t.row("connected", "%d of %d attempted in %.2fs (%.0f/s)", r.Connected, r.Attempted, r.ConnectSeconds, r.ConnectRate)
	t.failRows(r.Failed)
	t.row("held", "%.2fs", r.HeldSeconds)
	t.row("alive at end", "%d of %d", r.Alive, r.Connected)
	if r.Mismatches > 0 {
		t.row("mismatched echoes", "%d", r.Mismatches)
	}
	for _, tg := range r.Targets {
		p := fmt.Sprintf("pid %d ", tg.PID)
		t.row(p+"rss", "%s → %s → %s", mib(tg.Before.RSSBytes), mib(tg.Connected.RSSBytes), mib(tg.End.RSSBytes))
		t.row(p+"rss per session", "%.0f B", tg.RSSPerSessionBytes)
		t.row(p+"cpu connect", "%.2fs", tg.ConnectCPUSeconds)
		t.row(p+"cpu idle (hold)", "%.2fs", tg.IdleCPUSeconds)
		if tg.Err != "" {
			t.row(p+"error", "%s", tg.Err)
		}
	}
	t.row("kernel tcp mem", "%s → %s (%.0f B per session, all sockets)",
		mib(r.KernelTCPMemBeforeBytes), mib(r.KernelTCPMemConnectedBytes), r.KernelBytesPerSession)
	t.row("client cpu", "%.2fs", r.ClientCPUSeconds)
	if r.Interrupted {
		t.row("interrupted", "yes")
	}
	return t.flush()
}

// rateString formats a connect rate; 0 is unbounded.
func rateString(r float64) string {
	if r <= 0 {
		return "unbounded"
	}
	return fmt.Sprintf("%.0f/s", r)
}
