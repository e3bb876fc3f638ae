package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"time"

	"github.com/throngproxy/throng/bench/sysstat"
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
	// Ping, if not 0, makes every session send a WebSocket Ping this often
	// from its upgrade to the end of the hold (through the connect phase
	// and the settle wait), spread over the interval, and count the Pongs:
	// a keepalive that an idle timeout on the way must see. At least 10ms.
	// Default 0: the sessions stay silent.
	Ping time.Duration
}

// Defaults of throng-bench idle that Idle itself does not apply: Idle
// requires Sessions, and a Rate of 0 is unbounded.
const (
	// DefaultIdleSessions is the number of sessions throng-bench idle opens.
	DefaultIdleSessions = 1000
	// DefaultIdleRate is the connects per second of throng-bench idle.
	DefaultIdleRate = 2000
)

// Defaults for IdleConfig.
const (
	defaultIdleHold      = 30 * time.Second
	defaultSettle        = 2 * time.Second
	defaultVerifyTimeout = 10 * time.Second
)

// WithDefaults returns c with zero values replaced by the defaults that
// Idle applies; throng-bench takes its flag defaults from it.
func (c IdleConfig) WithDefaults() IdleConfig {
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

// ErrBadPing is returned for a Ping interval that is neither 0 nor at
// least 10ms.
var ErrBadPing = errors.New("bench: ping interval must be 0 (none) or at least 10ms")

// validate reports every problem with c (after defaults) at once.
func (c *IdleConfig) validate() error {
	errs := []error{c.LoadConfig.validate(c.Hold, c.Settle, c.VerifyTimeout, c.Ping)}
	if c.Ping > 0 && c.Ping < minPingInterval {
		errs = append(errs, ErrBadPing)
	}
	return errors.Join(errs...)
}

// IdleTarget is what one sampled process used for the idle sessions.
type IdleTarget struct {
	PID       int                `json:"pid"`
	Before    sysstat.ProcSample `json:"before"`
	Connected sysstat.ProcSample `json:"connected"` // after the last handshake and the settle wait
	End       sysstat.ProcSample `json:"end"`       // at the end of the hold
	// RSSPerSessionBytes is (Connected.RSS - Before.RSS) / connected.
	RSSPerSessionBytes float64 `json:"rss_per_session_bytes"`
	// ConnectCPUSeconds is the CPU used from Before to Connected.
	ConnectCPUSeconds float64 `json:"connect_cpu_seconds"`
	// IdleCPUSeconds is the CPU used during the hold (Connected to End).
	IdleCPUSeconds float64 `json:"idle_cpu_seconds"`
	// SocketsBefore and SocketsConnected count the process's socket
	// descriptors (/proc/PID/fd) at Before and at Connected.
	SocketsBefore    int `json:"sockets_before"`
	SocketsConnected int `json:"sockets_connected"`
	// SessionsHeld counts, at Connected, the process's established sockets
	// on the URL's address: for a proxy, the sessions it accepted.
	// Processes sharing the port (SO_REUSEPORT) each hold a part.
	SessionsHeld int `json:"sessions_held"`
	// RSSPerHeldSessionBytes is (Connected.RSS - Before.RSS) / SessionsHeld.
	RSSPerHeldSessionBytes float64 `json:"rss_per_held_session_bytes"`
	Err                    string  `json:"err,omitempty"`
}

// IdleReport is the result of Idle.
type IdleReport struct {
	Mode     string          `json:"mode"` // "idle"
	URL      string          `json:"url"`
	Sessions int             `json:"sessions"`
	Hold     string          `json:"hold"`
	Ping     string          `json:"ping"` // Ping interval, from each upgrade to the end of the hold; "0s": silent
	Rate     float64         `json:"rate"`
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

	Attempted      int               `json:"attempted"`
	Connected      int               `json:"connected"`
	Failed         map[string]uint64 `json:"failed"`
	ConnectSeconds float64           `json:"connect_seconds"`
	ConnectRate    float64           `json:"connect_rate"` // connected per second
	HeldSeconds    float64           `json:"held_seconds"`
	Alive          int               `json:"alive"` // echoed a message after the hold
	Mismatches     uint64            `json:"mismatches"`
	// PingsSent counts the Pings (from each upgrade to the end of the
	// hold), PongsReceived the Pongs that came
	// back (any Pong, all phases). A session whose verify echo came with
	// no Pong since its last Ping counts as failed pong_missing.
	PingsSent     uint64 `json:"pings_sent"`
	PongsReceived uint64 `json:"pongs_received"`
	Interrupted   bool   `json:"interrupted"`

	Targets []IdleTarget `json:"targets"`
	// KernelTCPMem* are all TCP sockets' kernel memory (/proc/net/sockstat):
	// client, proxy and backend sockets alike.
	KernelTCPMemBeforeBytes    int64   `json:"kernel_tcp_mem_before_bytes"`
	KernelTCPMemConnectedBytes int64   `json:"kernel_tcp_mem_connected_bytes"`
	KernelBytesPerSession      float64 `json:"kernel_bytes_per_session"`
	// KernelSlab* are the slab caches of sockets (/proc/slabinfo, root
	// only; see sysstat.SlabSample), before and once connected, all sockets alike:
	// a session through a proxy is four TCP sockets on one host. Growth is
	// by cache; PerSession divides the socket caches' growth, AllPerSession
	// that of every cache, by the sessions connected.
	KernelSlabBefore        sysstat.SlabSample `json:"kernel_slab_before"`
	KernelSlabConnected     sysstat.SlabSample `json:"kernel_slab_connected"`
	KernelSlabGrowth        map[string]int64   `json:"kernel_slab_growth"`
	KernelSlabPerSession    float64            `json:"kernel_slab_per_session_bytes"`
	KernelSlabAllPerSession float64            `json:"kernel_slab_all_per_session_bytes"`
	KernelSlabErr           string             `json:"kernel_slab_err,omitempty"`
	ClientCPUSeconds        float64            `json:"client_cpu_seconds"`
	// ClientCPUBound: connecting kept the load generator's CPUs ≥ 90% busy.
	ClientCPUBound bool `json:"client_cpu_bound"`
}

// Idle opens cfg.Sessions WebSocket sessions on cfg.URL at cfg.Rate,
// holds them open for cfg.Hold, silent or (cfg.Ping) sending Pings from
// each upgrade on, then checks that each is still alive (one 16-byte
// message echoed within cfg.VerifyTimeout, after the Pong owed for its
// last Ping) and closes them with a Close handshake. With cfg.PIDs it samples those processes before connecting,
// once connected and settled, and at the end of the hold; it samples the
// kernel's socket memory before connecting and once connected. Cancelling
// ctx cuts the run short: the sessions are closed and a report marked
// Interrupted is returned. The client runs on gnet event loops, no
// goroutine per session (a wss:// URL: on the TLS client path). Every
// phase is bounded in time.
func Idle(ctx context.Context, cfg IdleConfig) (*IdleReport, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	target, _ := parseClientTarget(cfg.URL)
	rep := newIdleReport(cfg)
	run, err := newLoadRun(ctx, clientSpec{
		target: target, sessions: cfg.Sessions, rate: cfg.Rate, loops: cfg.Loops,
		size: clientMinSize, handTO: cfg.HandshakeTimeout, ping: cfg.Ping, live: cfg.Live,
		tlsConf: cfg.tlsConf,
	})
	if err != nil {
		return nil, err
	}
	rep.Loops = run.clientLoops()
	cr := run.core()
	self0, _ := sysstat.ReadProc(0)
	probe := idleProbe{pids: cfg.PIDs, local: target.local()}
	probe.sampleBefore()

	t0 := time.Now()
	stopPings := run.startPings() // from each upgrade on: a long connect phase must not let the first idle out
	rep.Attempted = run.connect(ctx, clientDialers(cfg.Sources, cfg.ConnectTimeout))
	rep.ConnectSeconds = time.Since(t0).Seconds()
	rep.Connected = int(cr.opened.Load())
	if rep.ConnectSeconds > 0 {
		rep.ConnectRate = float64(rep.Connected) / rep.ConnectSeconds
	}
	cfg.awaitReady(ctx)
	if len(cfg.PIDs) > 0 {
		sleepClient(ctx, cfg.Settle)
	}
	probe.sampleConnected()

	t1 := time.Now()
	cr.setPhase(clientPhaseHold)
	sleepClient(ctx, cfg.Hold)
	stopPings()
	rep.HeldSeconds = time.Since(t1).Seconds()
	probe.sampleEnd()

	if ctx.Err() == nil && rep.Connected > 0 {
		cr.setPhase(clientPhaseVerify)
		cd := cr.arm(&cr.verify, clientVerifyFlag)
		waitClient(ctx, cd.zero, cfg.VerifyTimeout)
		rep.Alive = int(cr.alive.Load())
	}
	out := finishRun(ctx, run)
	rep.TLS.addCounts(&out.tls)
	self1, _ := sysstat.ReadProc(0)
	rep.ClientCPUSeconds = self1.CPUSeconds - self0.CPUSeconds
	// The hold costs next to nothing: the CPU is the connect phase's.
	rep.ClientCPUBound = cpuBound(rep.ClientCPUSeconds, rep.ConnectSeconds)
	rep.Interrupted, rep.Failed, rep.Mismatches = out.interrupted, out.failed, out.mismatches
	rep.PingsSent, rep.PongsReceived = out.pings, out.pongs
	probe.fill(rep)
	return rep, noneOpened(rep.Connected > 0, rep.Interrupted)
}

// newIdleReport returns the parameters part of cfg's report.
func newIdleReport(cfg IdleConfig) *IdleReport {
	return &IdleReport{
		Mode: "idle", URL: cfg.URL, ClientPath: ClientPath(cfg.URL), Sessions: cfg.Sessions, Hold: cfg.Hold.String(),
		TLS:  newTLSReport(cfg.URL, cfg.TLS),
		Ping: cfg.Ping.String(), Rate: cfg.Rate, Sources: addrStrings(cfg.Sources), Loops: cfg.Loops, Procs: 1,
		Machine: sysstat.ReadMachine(),
	}
}

// idleProbe samples the processes of an idle run and the kernel before
// connecting, once connected and at the end of the hold.
type idleProbe struct {
	pids                      []int
	local                     netip.AddrPort // the sessions' address on the proxy
	before, connected, end    []procResult
	sockBefore, sockConnected []sockResult
	tcpBefore, tcpConnected   int64
	slabBefore, slabConnected sysstat.SlabSample
	slabErr                   error
}

// sockResult is a socket count or why it failed.
type sockResult struct {
	s   sysstat.ProcSockets
	err error
}

func (p *idleProbe) sampleBefore() {
	p.before, p.sockBefore = sampleAll(p.pids), countAll(p.pids, netip.AddrPort{})
	p.tcpBefore, _ = sysstat.ReadTCPMemBytes()
	var err error
	p.slabBefore, err = sysstat.ReadSlab()
	p.slabErr = errors.Join(p.slabErr, err)
}

func (p *idleProbe) sampleConnected() {
	p.connected, p.sockConnected = sampleAll(p.pids), countAll(p.pids, p.local)
	p.tcpConnected, _ = sysstat.ReadTCPMemBytes()
	var err error
	p.slabConnected, err = sysstat.ReadSlab()
	p.slabErr = errors.Join(p.slabErr, err)
}

func (p *idleProbe) sampleEnd() { p.end = sampleAll(p.pids) }

// fill writes the samples into rep, whose Connected is known.
func (p *idleProbe) fill(rep *IdleReport) {
	perSession := func(n int64) float64 {
		if rep.Connected <= 0 {
			return 0
		}
		return float64(n) / float64(rep.Connected)
	}
	rep.Targets = nil
	for i, pid := range p.pids {
		t := IdleTarget{PID: pid}
		var errs []error
		if i < len(p.before) && i < len(p.connected) && i < len(p.end) {
			t.Before, t.Connected, t.End = p.before[i].s, p.connected[i].s, p.end[i].s
			errs = append(errs, p.before[i].err, p.connected[i].err, p.end[i].err)
		}
		if i < len(p.sockBefore) && i < len(p.sockConnected) {
			t.SocketsBefore, t.SocketsConnected = p.sockBefore[i].s.Total, p.sockConnected[i].s.Total
			t.SessionsHeld = p.sockConnected[i].s.Local
			errs = append(errs, p.sockBefore[i].err, p.sockConnected[i].err)
		}
		if err := errors.Join(errs...); err != nil {
			t.Err = err.Error()
		}
		grew := t.Connected.RSSBytes - t.Before.RSSBytes
		t.RSSPerSessionBytes = perSession(grew)
		if t.SessionsHeld > 0 {
			t.RSSPerHeldSessionBytes = float64(grew) / float64(t.SessionsHeld)
		}
		t.ConnectCPUSeconds = t.Connected.CPUSeconds - t.Before.CPUSeconds
		t.IdleCPUSeconds = t.End.CPUSeconds - t.Connected.CPUSeconds
		rep.Targets = append(rep.Targets, t)
	}
	rep.KernelTCPMemBeforeBytes, rep.KernelTCPMemConnectedBytes = p.tcpBefore, p.tcpConnected
	rep.KernelBytesPerSession = perSession(p.tcpConnected - p.tcpBefore)
	rep.KernelSlabBefore, rep.KernelSlabConnected = p.slabBefore, p.slabConnected
	rep.KernelSlabErr = ""
	if p.slabErr != nil {
		rep.KernelSlabErr = p.slabErr.Error()
		return
	}
	rep.KernelSlabGrowth = p.slabBefore.Growth(p.slabConnected)
	rep.KernelSlabPerSession = perSession(p.slabConnected.Socket - p.slabBefore.Socket)
	rep.KernelSlabAllPerSession = perSession(p.slabConnected.All - p.slabBefore.All)
}

// countAll counts every pid's sockets, and those established on local if
// it is valid.
func countAll(pids []int, local netip.AddrPort) []sockResult {
	out := make([]sockResult, len(pids))
	for i, pid := range pids {
		out[i].s, out[i].err = sysstat.ReadSockets(pid, local)
	}
	return out
}

// procResult is one sample or why it failed.
type procResult struct {
	s   sysstat.ProcSample
	err error
}

// sampleAll samples every pid.
func sampleAll(pids []int) []procResult {
	out := make([]procResult, len(pids))
	for i, pid := range pids {
		out[i].s, out[i].err = sysstat.ReadProc(pid)
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
	t.row("client path", "%s", clientPathText(r.ClientPath))
	t.tlsRows(r.ClientPath, &r.TLS)
	t.row("sessions", "%d (rate %s, sources %s, %d client loops)", r.Sessions, rateString(r.Rate), clientSourcesString(r.Sources), r.Loops)
	t.procsRow(r.Procs)
	t.row("hold", "%s", holdString(r.Hold, r.Ping))
	t.machineRows(r.Machine)
	t.row("connected", "%d of %d attempted in %.2fs (%.0f/s)", r.Connected, r.Attempted, r.ConnectSeconds, r.ConnectRate)
	t.failRows(r.Failed)
	t.row("held", "%.2fs", r.HeldSeconds)
	if r.PingsSent > 0 || r.PongsReceived > 0 {
		t.row("pings", "%d sent, %d pongs received", r.PingsSent, r.PongsReceived)
	}
	t.row("alive at end", "%d of %d", r.Alive, r.Connected)
	if r.Mismatches > 0 {
		t.row("mismatched echoes", "%d", r.Mismatches)
	}
	for _, tg := range r.Targets {
		p := fmt.Sprintf("pid %d ", tg.PID)
		t.row(p+"rss", "%s → %s → %s", mib(tg.Before.RSSBytes), mib(tg.Connected.RSSBytes), mib(tg.End.RSSBytes))
		t.row(p+"rss per session", "%.0f B", tg.RSSPerSessionBytes)
		if tg.SessionsHeld > 0 {
			t.row(p+"sessions held", "%d (sockets %d → %d; %.0f B rss each)",
				tg.SessionsHeld, tg.SocketsBefore, tg.SocketsConnected, tg.RSSPerHeldSessionBytes)
		} else {
			t.row(p+"sockets", "%d → %d", tg.SocketsBefore, tg.SocketsConnected)
		}
		t.row(p+"cpu connect", "%.2fs", tg.ConnectCPUSeconds)
		t.row(p+"cpu idle (hold)", "%.2fs", tg.IdleCPUSeconds)
		if tg.Err != "" {
			t.row(p+"error", "%s", tg.Err)
		}
	}
	t.row("kernel tcp mem", "%s → %s (%.0f B per session, all sockets)",
		mib(r.KernelTCPMemBeforeBytes), mib(r.KernelTCPMemConnectedBytes), r.KernelBytesPerSession)
	if r.KernelSlabErr != "" {
		t.row("kernel slab", "unread: %s", r.KernelSlabErr)
	} else {
		t.row("kernel slab", "socket caches %s → %s (%.0f B per session; all caches %.0f B), all sockets",
			mib(r.KernelSlabBefore.Socket), mib(r.KernelSlabConnected.Socket), r.KernelSlabPerSession, r.KernelSlabAllPerSession)
		t.row("slab growth", "%s", slabGrowthString(r.KernelSlabGrowth))
	}
	t.cpuRow(r.ClientCPUSeconds, r.ClientCPUBound)
	if r.Interrupted {
		t.row("interrupted", "yes")
	}
	return t.flush()
}

// holdString formats the hold and its Ping interval (ping: "0s" or ""
// for none).
func holdString(hold, ping string) string {
	if ping == "" || ping == "0s" {
		return hold + ", silent"
	}
	return hold + ", a Ping every " + ping
}

// rateString formats a connect rate; 0 is unbounded.
func rateString(r float64) string {
	if r <= 0 {
		return "unbounded"
	}
	return fmt.Sprintf("%.0f/s", r)
}
