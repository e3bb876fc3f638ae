package bench

import (
	"context"
	"errors"
	"io"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/panjf2000/gnet/v2"

	"github.com/throngproxy/throng/bench/sysstat"
)

// FanoutConfig configures Fanout. Zero values take the defaults given. The
// URL must be that of a fanout service (throng-bench serve -mode fanout, or
// a proxy in front of one) that relays every message to the other
// connections of its path. Sessions is the number of subscribers (default
// 100); one more session publishes. PIDs are processes whose CPU time over
// the measured time is reported.
type FanoutConfig struct {
	LoadConfig
	// MsgRate is how many messages the publisher sends per second, more
	// than 0 and at most 1,000,000. Default 100.
	MsgRate float64
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
	// Bounds of the interval at which the driver wakes the publisher; it
	// sends every message that is due when woken.
	minFanoutTick = time.Millisecond
	maxFanoutTick = 100 * time.Millisecond
)

// Fanout errors.
var (
	ErrBadMsgRate    = errors.New("bench: message rate must be more than 0 and at most 1,000,000 per second")
	ErrNoSubscribers = errors.New("bench: fanout: the publisher and at least one subscriber must open")
)

// WithDefaults returns c with zero values replaced by the defaults that
// Fanout applies; throng-bench takes its flag defaults from it.
func (c FanoutConfig) WithDefaults() FanoutConfig {
	c.timedDefaults(defaultFanoutSubs, &c.Duration, &c.Warmup)
	messageDefaults(&c.Size, &c.DrainTimeout)
	orDefault(&c.MsgRate, defaultFanoutMsgRate)
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
	return errors.Join(errs...)
}

// FanoutReport is the result of Fanout.
type FanoutReport struct {
	Mode        string          `json:"mode"` // "fanout"
	URL         string          `json:"url"`
	Subscribers int             `json:"subscribers"`
	MsgRate     float64         `json:"msg_rate"` // messages published per second
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

	Connected int               `json:"connected"` // subscribers open (the publisher not counted)
	Failed    map[string]uint64 `json:"failed"`
	Seconds   float64           `json:"seconds"` // measured publishing time: Published / MsgRate
	// Published is how many messages were published in the measured time;
	// Expected is Published × Connected; Delivered is how many of those
	// the subscribers received intact.
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

	// Targets' MsgsPerCPUSecond is delivered messages per CPU-second.
	Targets          []EchoTarget `json:"targets"`
	ClientCPUSeconds float64      `json:"client_cpu_seconds"` // over the measured time
	// ClientCPUBound: the load generator used ≥ 90% of its CPUs.
	ClientCPUBound bool `json:"client_cpu_bound"`
}

// Fanout opens cfg.Sessions subscriber sessions and one publisher session
// on a fanout service at cfg.URL, all on the same path. Once all are open the
// publisher sends cfg.MsgRate messages of cfg.Size bytes per second, each
// stamped with its send time and sequence number, for cfg.Warmup, then
// cfg.Duration (measured). Every subscriber checks every message it gets
// (content, order) and records the delivery latency of the measured ones
// (receive time − send time) in an HDR histogram per client loop, merged at
// the end. After the measured time it waits (cfg.DrainTimeout) until every
// subscriber has the last message, then closes the sessions with a Close
// handshake. With cfg.PIDs it reports each process's CPU time over the
// measured time. Cancelling ctx cuts the run short and returns a report
// marked Interrupted. The client runs on gnet event loops (a wss:// URL: on
// the TLS client path, the publisher's goroutine waking itself at the tick
// fan.drive keeps here).
func Fanout(ctx context.Context, cfg FanoutConfig) (*FanoutReport, error) {
	cfg, target, err := prepareConfig(cfg)
	if err != nil {
		return nil, err
	}
	rep := &FanoutReport{
		Mode: "fanout", URL: cfg.URL, ClientPath: ClientPath(cfg.URL), Subscribers: cfg.Sessions, MsgRate: cfg.MsgRate,
		TLS:  newTLSReport(cfg.URL, cfg.TLS),
		Size: cfg.Size, Duration: cfg.Duration.String(), Warmup: cfg.Warmup.String(),
		Sources: addrStrings(cfg.Sources), Machine: sysstat.ReadMachine(),
	}
	fan := &clientFanout{rate: cfg.MsgRate}
	run, err := newLoadRun(ctx, clientSpec{
		target: target, sessions: cfg.Sessions + 1, rate: cfg.Rate, loops: cfg.Loops,
		size: cfg.Size, hist: true, handTO: cfg.HandshakeTimeout, fan: fan, live: cfg.Live,
		tlsConf: cfg.tlsConf,
	})
	if err != nil {
		return nil, err
	}
	rep.Loops = run.clientLoops()
	cr := run.core()
	run.connect(ctx, clientDialers(cfg.Sources, cfg.ConnectTimeout))
	opened := int(cr.opened.Load())
	rep.Connected = max(opened-1, 0)

	var m clientMeasure
	pub := cr.openSession()
	if ctx.Err() == nil && opened >= 2 && pub != nil {
		first := fanoutCount(cfg.Warmup, cfg.MsgRate)
		total := fanoutCount(cfg.Warmup+cfg.Duration, cfg.MsgRate)
		rep.Published = total - first
		start := cr.nanos()
		fan.first.Store(first)
		fan.total.Store(total)
		fan.start.Store(start)
		fan.pub.Store(pub)
		cr.setPhase(clientPhaseWarmup)
		stopDrive := run.drivePublisher(fan)

		origin := cr.start.Add(time.Duration(start))
		sleepClient(ctx, time.Until(origin.Add(fan.due(first))))
		m.begin(cfg.PIDs)
		cr.setPhase(clientPhaseMeasure)
		sleepClient(ctx, time.Until(origin.Add(fan.due(total))))
		m.end(cfg.PIDs)
		cr.setPhase(clientPhaseDrain)
		cd := cr.arm(&cr.drain, clientDrainFlag)
		waitClient(ctx, cd.zero, cfg.DrainTimeout)
		stopDrive()
		rep.Seconds = float64(rep.Published) / cfg.MsgRate
	}
	out := finishRun(ctx, run)
	rep.TLS.addCounts(&out.tls)
	rep.Interrupted, rep.Failed = out.interrupted, out.failed
	rep.Delivered, rep.Sent, rep.Received, rep.Errors = out.msgs, out.sent, out.received, out.mismatches
	rep.Latency = latencyOrZero(out.hist)
	rep.ClientCPUSeconds = m.clientCPU()
	rep.ClientCPUBound = cpuBound(rep.ClientCPUSeconds, m.seconds())
	rep.Expected = rep.Published * uint64(rep.Connected)
	if rep.Expected > 0 {
		rep.DeliveredRatio = float64(rep.Delivered) / float64(rep.Expected)
	}
	rep.MsgsPerSec = perSecond(rep.Delivered, rep.Seconds)
	rep.BytesPerSec = rep.MsgsPerSec * float64(cfg.Size)
	rep.Targets = echoTargets(m.targets(cfg.PIDs, rep.Delivered))
	switch {
	case rep.Interrupted:
	case opened == 0:
		return rep, ErrNoneOpened
	case opened < 2:
		return rep, ErrNoSubscribers
	}
	return rep, nil
}

// fanoutCount returns how many messages fall due in d at rate per second:
// those due at k/rate < d.
func fanoutCount(d time.Duration, rate float64) uint64 {
	return uint64(math.Ceil(d.Seconds()*rate - 1e-9))
}

// drivePublisher starts a goroutine that wakes the publisher's conn on its
// schedule (fan.drive); the function it returns stops it and waits for it.
func (r *clientRun) drivePublisher(fan *clientFanout) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	conn := fan.pub.Load().conn
	wg.Go(func() { fan.drive(conn, done) })
	return func() {
		close(done)
		wg.Wait()
	}
}

// clientFanout is a fanout run's schedule and roles. One session (pub)
// publishes message k when run time start + k/rate has come, for k below
// total; the others subscribe, and the messages from first on are measured.
// Written by the driver before the publisher is set, read by the loops.
type clientFanout struct {
	rate  float64                       // messages per second; read-only
	pub   atomic.Pointer[clientSession] // the publisher
	start atomic.Int64                  // run nanoseconds at which message 0 is due
	first atomic.Uint64                 // sequence number of the first measured message
	total atomic.Uint64                 // messages to publish
	sent  atomic.Uint64                 // messages published so far (the publisher stores it)
}

// due returns when message k is due, after start.
func (f *clientFanout) due(k uint64) time.Duration {
	return time.Duration(float64(k) / f.rate * float64(time.Second))
}

// act runs on s's loop in the warm-up, measure and drain phases: the
// publisher appends the messages now due to the loop's output; each session
// answers the drain once it sent (publisher) or received (subscriber) the
// last message. It does not allocate beyond growing the loop's output.
func (f *clientFanout) act(s *clientSession, now int64) {
	total := f.total.Load()
	if s != f.pub.Load() {
		if s.nextRecv >= total {
			s.answer(&s.drainArmed, &s.run.drain)
		}
		return
	}
	if elapsed := now - f.start.Load(); elapsed >= 0 {
		due := min(uint64(float64(elapsed)*f.rate/float64(time.Second))+1, total)
		for s.nextSend < due {
			s.send(now)
		}
		f.sent.Store(s.nextSend)
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

// drive wakes the publisher's conn every tick (1/rate, within 1 ms–100 ms)
// until every message is published, stop is closed or conn is gone.
func (f *clientFanout) drive(conn gnet.Conn, stop <-chan struct{}) {
	tick := min(max(f.due(1), minFanoutTick), maxFanoutTick)
	t := time.NewTicker(tick)
	defer t.Stop()
	for f.sent.Load() < f.total.Load() {
		if conn.Wake(nil) != nil {
			return
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
	t.row("sessions", "%d subscribers + 1 publisher, %d B at %g msgs/s (sources %s, %d client loops)",
		r.Subscribers, r.Size, r.MsgRate, clientSourcesString(r.Sources), r.Loops)
	t.row("duration", "%s after %s warm-up", r.Duration, r.Warmup)
	t.machineRows(r.Machine)
	t.row("connected", "%d subscribers", r.Connected)
	t.failRows(r.Failed)
	t.row("measured", "%.2fs (%d messages published)", r.Seconds, r.Published)
	t.row("delivered", "%d of %d expected (%.4f%%)", r.Delivered, r.Expected, 100*r.DeliveredRatio)
	t.row("delivery rate", "%.0f msgs/s, %s/s", r.MsgsPerSec, mib(int64(r.BytesPerSec)))
	t.latencyRow(r.Latency)
	t.row("errors", "%d (sent %d, received %d)", r.Errors, r.Sent, r.Received)
	for _, tg := range r.Targets {
		t.targetRows(tg.PID, tg.CPUSeconds, tg.MsgsPerCPUSecond, "deliveries", tg.RSSBytes, tg.Err)
	}
	return t.endRows(r.ClientCPUSeconds, r.ClientCPUBound, r.Interrupted)
}
