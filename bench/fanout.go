package bench

import (
	"context"
	"errors"
	"io"
	"math"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/throngproxy/throng/bench/sysstat"
)

// FanoutConfig configures Fanout. Zero values take the defaults given. The
// URL must be that of a fanout service (throng-bench serve -mode fanout, or
// a proxy in front of one) that relays every message to the other
// connections of its path. Sessions is the number of subscribers (default
// 100); one more session per channel publishes. PIDs are processes whose
// CPU time over the measured time is reported.
type FanoutConfig struct {
	LoadConfig
	// MsgRate is how many messages each channel's publisher sends per
	// second, more than 0 and at most 1,000,000. Default 100.
	MsgRate float64
	// Channels spreads the subscribers round-robin over so many channels,
	// 1 to 100,000, each with a publisher of its own: the URL's path with
	// the channel's number appended (/room → /room0, /room1, …; a query
	// stays after it). Default 1: the URL's path as it is.
	Channels int
	// SubscribeOnly opens no publisher: the messages come from another
	// process's run of the same config, started together (FanoutProcs sets
	// it on every worker but the first). Stamps are comparable across
	// processes of one machine (clientCore.anchor).
	SubscribeOnly bool `json:"subscribe_only,omitempty"`
	// Size is the payload of every message in bytes, 16 B to 16 MiB (the
	// first 16 carry the send time and a sequence number). Default 64.
	Size int
	// Duration is the measured publishing time, after Warmup. Default 10s.
	Duration time.Duration
	// Warmup is publishing time before it, unrecorded. Default 1s.
	Warmup time.Duration
	// DrainTimeout bounds the wait, after the measured time, for every
	// subscriber to receive the last message. Default 5s.
	DrainTimeout time.Duration
}

// Defaults and limits for FanoutConfig.
const (
	defaultFanoutSubs    = 100
	defaultFanoutMsgRate = 100
	maxFanoutMsgRate     = 1e6
	maxFanoutChannels    = 100_000
	// Bounds of the interval at which the driver wakes the publisher; it
	// sends every message that is due when woken.
	minFanoutTick = time.Millisecond
	maxFanoutTick = 100 * time.Millisecond
)

// Fanout errors.
var (
	ErrBadMsgRate    = errors.New("bench: message rate must be more than 0 and at most 1,000,000 per second")
	ErrBadChannels   = errors.New("bench: fanout: channels must be 1 to 100,000")
	ErrNoSubscribers = errors.New("bench: fanout: a publisher and at least one subscriber must open")
)

// WithDefaults returns c with zero values replaced by the defaults that
// Fanout applies; throng-bench takes its flag defaults from it.
func (c FanoutConfig) WithDefaults() FanoutConfig {
	c.timedDefaults(defaultFanoutSubs, &c.Duration, &c.Warmup)
	messageDefaults(&c.Size, &c.DrainTimeout)
	orDefault(&c.MsgRate, defaultFanoutMsgRate)
	orDefault(&c.Channels, 1)
	return c
}

// validate reports every problem with c (after defaults) at once.
func (c *FanoutConfig) validate() error {
	errs := []error{c.LoadConfig.validate(c.Duration, c.Warmup, c.DrainTimeout)}
	if c.Size < clientMinSize || c.Size > clientMaxSize {
		errs = append(errs, ErrBadSize)
	}
	if !(c.MsgRate > 0 && c.MsgRate <= maxFanoutMsgRate) {
		errs = append(errs, ErrBadMsgRate)
	}
	if c.Channels < 1 || c.Channels > maxFanoutChannels {
		errs = append(errs, ErrBadChannels)
	}
	return errors.Join(errs...)
}

// FanoutReport is the result of Fanout.
type FanoutReport struct {
	Mode        string          `json:"mode"` // "fanout"
	URL         string          `json:"url"`
	Procs       int             `json:"procs"` // worker processes merged; 1: this process alone
	Subscribers int             `json:"subscribers"`
	Channels    int             `json:"channels"`
	MsgRate     float64         `json:"msg_rate"` // messages published per second on each channel
	Size        int             `json:"size"`
	Duration    string          `json:"duration"`
	Warmup      string          `json:"warmup"`
	Sources     []string        `json:"sources"`
	Loops       int             `json:"loops"`
	Machine     sysstat.Machine `json:"machine"`

	// ClientPath is the client that ran: ClientPathGnet, or ClientPathTLS
	// for a wss:// URL.
	ClientPath string `json:"client_path"`
	// TLS is what the TLS handshakes offered and how many resumed: wss://
	// only, zero (left out) for ws://.
	TLS TLSReport `json:"tls,omitzero"`

	Connected  int               `json:"connected"`  // subscribers open (the publishers not counted)
	Publishers int               `json:"publishers"` // publishers open: one per channel when all opened
	Failed     map[string]uint64 `json:"failed"`
	Seconds    float64           `json:"seconds"` // measured publishing time: PerChannel / MsgRate
	// PerChannel is how many messages each publisher published in the
	// measured time, Published how many all of them did; Expected is
	// PerChannel × Connected (a subscriber of a channel whose publisher did
	// not open expects them all the same); Delivered is how many of those
	// the subscribers received intact.
	PerChannel     uint64  `json:"per_channel"`
	Published      uint64  `json:"published"`
	Expected       uint64  `json:"expected"`
	Delivered      uint64  `json:"delivered"`
	DeliveredRatio float64 `json:"delivered_ratio"`
	MsgsPerSec     float64 `json:"msgs_per_sec"`  // Delivered / Seconds
	BytesPerSec    float64 `json:"bytes_per_sec"` // payload bytes delivered per second
	// Latency is, for each delivered message, receive time − send time.
	Latency     Latency `json:"latency"`
	Sent        uint64  `json:"sent"`     // published, all phases
	Received    uint64  `json:"received"` // received by subscribers, all phases
	Errors      uint64  `json:"errors"`   // messages received damaged, out of order or after a loss
	Interrupted bool    `json:"interrupted"`

	// Targets are sampled from the first publish to the last delivery
	// (FanoutProcs: until they are idle after the last publish), and their
	// MsgsPerCPUSecond is every message received (Received: warm-up and
	// measured) per CPU-second of that time. The measured time alone would
	// flatter a saturated proxy: the deliveries it owes pile up past its
	// end, and are counted while the CPU they cost is not.
	Targets          []EchoTarget `json:"targets"`
	ClientCPUSeconds float64      `json:"client_cpu_seconds"` // over SampledSeconds
	// SampledSeconds is the time the client's CPU was sampled over: from
	// the first publish to the last delivery (the longest worker's).
	SampledSeconds float64 `json:"sampled_seconds"`
	// ClientCPUBound: the load generator used ≥ 90% of its CPUs.
	ClientCPUBound bool `json:"client_cpu_bound"`
}

// Fanout opens cfg.Sessions subscriber sessions and one publisher session
// per channel on a fanout service at cfg.URL (cfg.Channels paths). Once all
// are open every publisher sends cfg.MsgRate messages of cfg.Size bytes per
// second, each stamped with its send time and sequence number, for
// cfg.Warmup, then cfg.Duration (measured). Every subscriber checks every
// message it gets (content, order) and records the delivery latency of the
// measured ones (receive time − send time) in an HDR histogram per client
// loop, merged at the end. After the measured time it waits
// (cfg.DrainTimeout) until every subscriber has the last message, then
// closes the sessions with a Close handshake. With cfg.PIDs it reports each
// process's CPU time over the measured time. Cancelling ctx cuts the run
// short and returns a report marked Interrupted. The client runs on gnet
// event loops (a wss:// URL: on the TLS client path, each publisher's
// goroutine waking itself at the tick fan.drive keeps here).
func Fanout(ctx context.Context, cfg FanoutConfig) (*FanoutReport, error) {
	rep, _, err := fanout(ctx, cfg)
	return rep, err
}

// fanout is Fanout, returning the merged latency histogram as well (for a
// worker process of FanoutProcs).
func fanout(ctx context.Context, cfg FanoutConfig) (*FanoutReport, *hdrhistogram.Histogram, error) {
	cfg, target, err := prepareConfig(cfg)
	if err != nil {
		return nil, nil, err
	}
	rep := newFanoutReport(cfg)
	fan := newClientFanout(cfg, target.path)
	run, err := newLoadRun(ctx, clientSpec{
		target: target, sessions: cfg.Sessions + fan.pubCount, rate: cfg.Rate, loops: cfg.Loops,
		size: cfg.Size, hist: true, handTO: cfg.HandshakeTimeout, fan: fan, live: cfg.Live,
		tlsConf: cfg.tlsConf,
	})
	if err != nil {
		return nil, nil, err
	}
	rep.Loops = run.clientLoops()
	cr := run.core()
	run.connect(ctx, clientDialers(cfg.Sources, cfg.ConnectTimeout))
	for _, s := range cr.sessions[:fan.pubCount] {
		if s.reachable() {
			fan.pubs = append(fan.pubs, s)
		}
	}
	opened := int(cr.opened.Load())
	rep.Publishers = len(fan.pubs)
	rep.Connected = max(opened-rep.Publishers, 0)
	cfg.awaitReady(ctx) // a worker process: the others are connected too

	var m clientMeasure
	publishing := fan.pubCount == 0 || len(fan.pubs) > 0
	if ctx.Err() == nil && rep.Connected > 0 && publishing {
		first := fanoutCount(cfg.Warmup, cfg.MsgRate)
		total := fanoutCount(cfg.Warmup+cfg.Duration, cfg.MsgRate)
		rep.PerChannel = total - first
		rep.Published = rep.PerChannel * uint64(len(fan.pubs))
		start := cr.nanos()
		fan.first.Store(first)
		fan.total.Store(total)
		fan.start.Store(start)
		cr.setPhase(clientPhaseWarmup)
		stopDrive := func() {}
		if len(fan.pubs) > 0 {
			stopDrive = run.drivePublisher(fan)
		}

		// The targets are sampled from the first publish to the last
		// delivery: a saturated proxy is still delivering the warm-up's
		// messages in the measured time and the measured ones after it.
		m.begin(cfg.PIDs)
		origin := cr.start.Add(time.Duration(start))
		sleepClient(ctx, time.Until(origin.Add(fan.due(first))))
		cr.setPhase(clientPhaseMeasure)
		sleepClient(ctx, time.Until(origin.Add(fan.due(total))))
		cr.setPhase(clientPhaseDrain)
		cd := cr.arm(&cr.drain, clientDrainFlag)
		waitClient(ctx, cd.zero, cfg.DrainTimeout)
		m.end(cfg.PIDs)
		stopDrive()
		rep.Seconds = float64(rep.PerChannel) / cfg.MsgRate
	}
	out := finishRun(ctx, run)
	rep.TLS.addCounts(&out.tls)
	rep.Interrupted, rep.Failed = out.interrupted, out.failed
	rep.Delivered, rep.Sent, rep.Received, rep.Errors = out.msgs, out.sent, out.received, out.mismatches
	rep.Latency = latencyOrZero(out.hist)
	rep.ClientCPUSeconds, rep.SampledSeconds = m.clientCPU(), m.seconds()
	rep.ClientCPUBound = cpuBound(rep.ClientCPUSeconds, rep.SampledSeconds)
	rep.fillRatios()
	rep.Targets = echoTargets(m.targets(cfg.PIDs, rep.Received))
	switch {
	case rep.Interrupted:
	case opened == 0:
		return rep, out.hist, ErrNoneOpened
	case rep.Connected == 0 || !publishing:
		return rep, out.hist, ErrNoSubscribers
	}
	return rep, out.hist, nil
}

// newFanoutReport returns the report of a run of cfg, before it runs.
func newFanoutReport(cfg FanoutConfig) *FanoutReport {
	return &FanoutReport{
		Mode: "fanout", URL: cfg.URL, Procs: 1, ClientPath: ClientPath(cfg.URL), Subscribers: cfg.Sessions,
		Channels: cfg.Channels, MsgRate: cfg.MsgRate, TLS: newTLSReport(cfg.URL, cfg.TLS),
		Size: cfg.Size, Duration: cfg.Duration.String(), Warmup: cfg.Warmup.String(),
		Sources: addrStrings(cfg.Sources), Machine: sysstat.ReadMachine(),
	}
}

// fillRatios sets what follows from the counts: Expected, the delivered
// ratio and the delivery rates.
func (rep *FanoutReport) fillRatios() {
	rep.Expected = rep.PerChannel * uint64(rep.Connected)
	rep.DeliveredRatio = 0
	if rep.Expected > 0 {
		rep.DeliveredRatio = float64(rep.Delivered) / float64(rep.Expected)
	}
	rep.MsgsPerSec = perSecond(rep.Delivered, rep.Seconds)
	rep.BytesPerSec = rep.MsgsPerSec * float64(rep.Size)
}

// fanoutCount returns how many messages fall due in d at rate per second:
// those due at k/rate < d.
func fanoutCount(d time.Duration, rate float64) uint64 {
	return uint64(math.Ceil(d.Seconds()*rate - 1e-9))
}

// drivePublisher starts a goroutine that wakes the publishers' conns on
// their schedule (fan.drive); the function it returns stops it and waits
// for it.
func (r *clientRun) drivePublisher(fan *clientFanout) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() { fan.drive(done) })
	return func() {
		close(done)
		wg.Wait()
	}
}

// clientFanout is a fanout run's channels, schedule and roles. Sessions
// below pubCount publish, session i on channel i; the others subscribe,
// round-robin over the channels. Each publisher publishes message k when
// run time start + k/rate has come, for k below total, and the messages
// from first on are measured. pubs and the atomics are written by the
// driver before the warm-up phase, and read by the loops.
type clientFanout struct {
	rate     float64  // messages per second on each channel; read-only
	paths    []string // request target of each channel; read-only
	pubCount int      // publishers to open: one per channel, or 0 (SubscribeOnly)

	pubs     []*clientSession // the publishers that opened
	start    atomic.Int64     // run nanoseconds at which message 0 is due
	first    atomic.Uint64    // sequence number of the first measured message
	total    atomic.Uint64    // messages to publish on each channel
	finished atomic.Int64     // publishers that have published all
}

// newClientFanout returns the channels and roles of a run of cfg on
// target (path and query).
func newClientFanout(cfg FanoutConfig, target string) *clientFanout {
	f := &clientFanout{rate: cfg.MsgRate, paths: channelPaths(target, cfg.Channels)}
	if !cfg.SubscribeOnly {
		f.pubCount = cfg.Channels
	}
	return f
}

// channelPaths returns the request targets of n channels on target: target
// itself for one, else its path with 0 … n-1 appended, before any query.
func channelPaths(target string, n int) []string {
	if n == 1 {
		return []string{target}
	}
	path, query, hasQuery := strings.Cut(target, "?")
	out := make([]string, n)
	for i := range out {
		out[i] = path + strconv.Itoa(i)
		if hasQuery {
			out[i] += "?" + query
		}
	}
	return out
}

// role returns session i's request target and whether it publishes.
func (f *clientFanout) role(i int) (path string, publisher bool) {
	if i < f.pubCount {
		return f.paths[i], true
	}
	return f.paths[(i-f.pubCount)%len(f.paths)], false
}

// due returns when message k is due, after start.
func (f *clientFanout) due(k uint64) time.Duration {
	return time.Duration(float64(k) / f.rate * float64(time.Second))
}

// act runs on s's loop in the warm-up, measure and drain phases: a
// publisher appends the messages now due to the loop's output; each session
// answers the drain once it sent (publisher) or received (subscriber) the
// last message. It does not allocate beyond growing the loop's output.
func (f *clientFanout) act(s *clientSession, now int64) {
	total := f.total.Load()
	if !s.publisher {
		if s.nextRecv >= total {
			s.answer(&s.drainArmed, &s.run.drain)
		}
		return
	}
	if elapsed := now - f.start.Load(); elapsed >= 0 && s.nextSend < total {
		due := min(uint64(float64(elapsed)*f.rate/float64(time.Second))+1, total)
		for s.nextSend < due {
			s.send(now)
		}
		if s.nextSend >= total {
			f.finished.Add(1)
		}
	}
	if s.nextSend >= total {
		s.answer(&s.drainArmed, &s.run.drain)
	}
}

// received accounts for one message delivered to subscriber s: it must be
// intact and the next in sequence; a measured one (by its sequence number)
// is counted and its latency recorded.
func (f *clientFanout) received(s *clientSession, msg clientMessage, now int64) {
	lp := s.loop
	lp.received++
	if !msg.ok || msg.seq != s.nextRecv {
		lp.mismatches++
	}
	s.nextRecv = msg.seq + 1
	if msg.ok && msg.seq >= f.first.Load() && msg.seq < f.total.Load() {
		lp.msgs++
		_ = lp.hist.RecordValue(min(max(now-msg.sentNanos, 1), lp.hist.HighestTrackableValue()))
	}
}

// drive wakes every publisher's conn every tick (1/rate, within 1 ms–100
// ms) until all have published everything or stop is closed. A conn gone
// is woken in vain: its publisher never finishes, and stop ends the drive.
func (f *clientFanout) drive(stop <-chan struct{}) {
	tick := min(max(f.due(1), minFanoutTick), maxFanoutTick)
	t := time.NewTicker(tick)
	defer t.Stop()
	for f.finished.Load() < int64(len(f.pubs)) {
		for _, s := range f.pubs {
			_ = s.conn.Wake(nil)
		}
		select {
		case <-stop:
			return
		case <-t.C:
		}
	}
}

// WriteText writes the report as an aligned human-readable table.
func (r *FanoutReport) WriteText(w io.Writer) error {
	t := newReportHead(w, "fanout", r.URL)
	t.row("client path", "%s", clientPathText(r.ClientPath))
	t.tlsRows(r.ClientPath, &r.TLS)
	t.row("sessions", "%d subscribers on %d channels, %d B at %g msgs/s per channel (sources %s, %d client loops)",
		r.Subscribers, r.Channels, r.Size, r.MsgRate, clientSourcesString(r.Sources), r.Loops)
	t.row("duration", "%s after %s warm-up", r.Duration, r.Warmup)
	t.machineRows(r.Machine)
	t.row("connected", "%d subscribers, %d publishers", r.Connected, r.Publishers)
	t.failRows(r.Failed)
	t.row("measured", "%.2fs (%d messages published, %d per channel)", r.Seconds, r.Published, r.PerChannel)
	t.row("delivered", "%d of %d expected (%.4f%%)", r.Delivered, r.Expected, 100*r.DeliveredRatio)
	t.row("delivery rate", "%.0f msgs/s, %s/s", r.MsgsPerSec, mib(int64(r.BytesPerSec)))
	t.latencyRow(r.Latency)
	t.row("errors", "%d (sent %d, received %d)", r.Errors, r.Sent, r.Received)
	for _, tg := range r.Targets {
		t.targetRows(tg.PID, tg.CPUSeconds, tg.MsgsPerCPUSecond, "deliveries", tg.RSSBytes, tg.Err)
	}
	return t.endRows(r.ClientCPUSeconds, r.ClientCPUBound, r.Interrupted)
}
