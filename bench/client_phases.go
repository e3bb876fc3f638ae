package bench

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
	"github.com/panjf2000/gnet/v2"

	"github.com/throngproxy/throng/bench/sysstat"
	"github.com/throngproxy/throng/codec"
)

// What the timed load generators (Echo, Fanout, Handshake) share: config
// defaults, starting the gnet client, reading the 101, sampling both ends of
// the measured time and turning the samples into report fields.

// orDefault replaces a zero *p with def.
func orDefault[T comparable](p *T, def T) {
	var zero T
	if *p == zero {
		*p = def
	}
}

// Defaults shared by the timed generators.
const (
	defaultDuration     = 10 * time.Second
	defaultWarmup       = time.Second
	defaultDrainTimeout = 5 * time.Second
	defaultMessageSize  = 64
)

// timedDefaults applies c's defaults, sessions as the default number of
// sessions, and the default measured and warm-up times to the embedding
// config's duration and warmup.
func (c *LoadConfig) timedDefaults(sessions int, duration, warmup *time.Duration) {
	*c = c.withDefaults()
	orDefault(&c.Sessions, sessions)
	orDefault(duration, defaultDuration)
	orDefault(warmup, defaultWarmup)
}

// messageDefaults applies the default message size and drain timeout of the
// generators that send messages (Echo, Fanout).
func messageDefaults(size *int, drain *time.Duration) {
	orDefault(size, defaultMessageSize)
	orDefault(drain, defaultDrainTimeout)
}

// timedConfig is a pointer to a timed generator's config (EchoConfig,
// FanoutConfig, HandshakeConfig).
type timedConfig[C any] interface {
	*C
	WithDefaults() C
	validate() error
	load() *LoadConfig
}

// prepareConfig returns cfg with its defaults, checked, and the target of
// its URL.
func prepareConfig[C any, P timedConfig[C]](cfg C) (C, clientTarget, error) {
	cfg = P(&cfg).WithDefaults()
	if err := P(&cfg).validate(); err != nil {
		return cfg, clientTarget{}, err
	}
	target, _ := parseClientTarget(P(&cfg).load().URL)
	return cfg, target, nil
}

// load returns the shared part of an embedding config.
func (c *LoadConfig) load() *LoadConfig { return c }

// startClient builds and starts a gnet client serving h on loops event
// loops.
func startClient(h gnet.EventHandler, loops int) (*gnet.Client, error) {
	cli, err := gnet.NewClient(h,
		gnet.WithMulticore(true),
		gnet.WithNumEventLoop(loops),
		gnet.WithTCPNoDelay(gnet.TCPNoDelay),
		gnet.WithLogger(clientQuietLogger{}),
	)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errClientStopped, err)
	}
	if err := cli.Start(); err != nil {
		return nil, fmt.Errorf("%w: %w", errClientStopped, err)
	}
	return cli, nil
}

// tickLoops hands, every tick until stop is closed, each event loop of
// loops the runnable task returns for its state (EventLoop.Execute). It
// reads loops under mu at every tick, so that a loop that joins the run
// late is served too. It allocates only to grow its list of loops.
func tickLoops[L any](stop <-chan struct{}, every time.Duration, mu *sync.Mutex, loops map[gnet.EventLoop]L,
	task func(L) gnet.Runnable) {
	type loopTask struct {
		el   gnet.EventLoop
		task gnet.Runnable
	}
	t := time.NewTicker(every)
	defer t.Stop()
	var due []loopTask
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		due = due[:0]
		mu.Lock()
		for el, lp := range loops {
			due = append(due, loopTask{el: el, task: task(lp)})
		}
		mu.Unlock()
		for _, d := range due {
			_ = d.el.Execute(context.Background(), d.task) // fails only once the engine stopped
		}
	}
}

// clientFailures returns the nonzero failure counts by kind.
func clientFailures(fails *[clientFailCount]atomic.Uint64) map[string]uint64 {
	m := make(map[string]uint64)
	for f := range clientFailCount {
		if n := fails[f].Load(); n > 0 {
			m[f.String()] = n
		}
	}
	return m
}

// clientHandshakeCut returns how a handshake failed whose connection closed
// before the 101: at the client's deadline (timedOut) or by the peer.
func clientHandshakeCut(timedOut bool) clientFail {
	if timedOut {
		return clientFailHandshakeTimeout
	}
	return clientFailHandshakeEOF
}

// clientHead reads the server's 101 head of one session, on its loop.
type clientHead struct {
	scan    codec.HeadScanner
	scanned int // head bytes scanned so far
}

// clientHeadFailer is a session whose handshake can fail: it counts the
// failure and returns the action that closes it.
type clientHeadFailer interface {
	failHandshake(f clientFail) gnet.Action
}

// read scans c's input for the end of the head; once it has it, it checks
// it (RFC 6455 §4.1) against key and discards it. It reports whether the
// head was a valid 101; if not, the action to return from OnTraffic: none
// while the head is incomplete, else fail's. It does not allocate.
func (h *clientHead) read(c gnet.Conn, key *clientKey, resp *codec.Response, fail clientHeadFailer) (gnet.Action, bool) {
	p, _ := c.Peek(-1)
	n, done := h.scan.Scan(p[h.scanned:])
	h.scanned += n
	if !done {
		if h.scanned > clientMaxHeadBytes {
			return fail.failHandshake(clientFailHandshake), false
		}
		return gnet.None, false
	}
	err := clientCheckResponse(p[:h.scanned], key, resp)
	_, _ = c.Discard(h.scanned)
	switch {
	case errors.Is(err, errClientNot101):
		return fail.failHandshake(clientFailStatus), false
	case err != nil:
		return fail.failHandshake(clientFailHandshake), false
	}
	return gnet.None, true
}

// clientConn is a session of either client run (*clientSession,
// *hsSession) as OnTraffic sees it.
type clientConn interface {
	// states returns the session's state and the two that read input:
	// awaiting the 101 head, then reading frames.
	states() (cur, head, frames uint32)
	// readHead reads the 101 head: clientHead.read with the session's own.
	readHead(c gnet.Conn) (gnet.Action, bool)
	// upgraded runs once the 101 is checked, frames on input after it;
	// both return OnTraffic's action.
	upgraded(c gnet.Conn) gnet.Action
	frames(c gnet.Conn) gnet.Action
}

// clientOnTraffic is OnTraffic of both client runs, for sessions of type S:
// it reads the 101 head while the session awaits it, then its frames, and
// discards input in any other state. It does not allocate.
func clientOnTraffic[S clientConn](c gnet.Conn) gnet.Action {
	s, ok := c.Context().(S)
	if !ok {
		return gnet.Close
	}
	switch cur, head, frames := s.states(); cur {
	case head:
		if act, ok := s.readHead(c); !ok {
			return act
		}
		return s.upgraded(c)
	case frames:
		return s.frames(c)
	default:
		_, _ = c.Discard(-1)
		return gnet.None
	}
}

// clientMeasure is what the driver samples at both ends of the measured
// time: the PIDs', its own process and the clock.
type clientMeasure struct {
	before, after []procResult
	self0, self1  sysstat.ProcSample
	t0, t1        time.Time
}

// begin samples the start of the measured time.
func (m *clientMeasure) begin(pids []int) {
	m.before = sampleAll(pids)
	m.self0, _ = sysstat.ReadProc(0)
	m.t0 = time.Now()
}

// end samples the end of the measured time.
func (m *clientMeasure) end(pids []int) {
	m.t1 = time.Now()
	m.after = sampleAll(pids)
	m.self1, _ = sysstat.ReadProc(0)
}

// measured reports whether begin was called.
func (m *clientMeasure) measured() bool { return !m.t0.IsZero() }

// seconds returns the measured time by the clock, or 0.
func (m *clientMeasure) seconds() float64 {
	if !m.measured() {
		return 0
	}
	return m.t1.Sub(m.t0).Seconds()
}

// clientCPU returns the CPU time this process used over the measured time,
// or 0.
func (m *clientMeasure) clientCPU() float64 {
	if !m.measured() {
		return 0
	}
	return m.self1.CPUSeconds - m.self0.CPUSeconds
}

// targetUse is what one sampled process used over the measured time.
type targetUse struct {
	pid    int
	cpu    float64 // seconds
	perCPU float64 // units of work per CPU-second
	rss    int64   // at the end
	err    string
}

// targets returns each pid's use, given n units of work done over the
// measured time; nil without pids.
func (m *clientMeasure) targets(pids []int, n uint64) []targetUse {
	var out []targetUse
	for i, pid := range pids {
		t := targetUse{pid: pid}
		if i < len(m.before) && i < len(m.after) {
			if err := errors.Join(m.before[i].err, m.after[i].err); err != nil {
				t.err = err.Error()
			}
			t.cpu = m.after[i].s.CPUSeconds - m.before[i].s.CPUSeconds
			t.rss = m.after[i].s.RSSBytes
			if t.cpu > 0 {
				t.perCPU = float64(n) / t.cpu
			}
		}
		out = append(out, t)
	}
	return out
}

// echoTargets returns the uses as EchoTargets; nil without any.
func echoTargets(ts []targetUse) []EchoTarget {
	var out []EchoTarget
	for _, t := range ts {
		out = append(out, EchoTarget{PID: t.pid, CPUSeconds: t.cpu, MsgsPerCPUSecond: t.perCPU, RSSBytes: t.rss, Err: t.err})
	}
	return out
}

// handshakeTargets returns the uses as HandshakeTargets; nil without any.
func handshakeTargets(ts []targetUse) []HandshakeTarget {
	var out []HandshakeTarget
	for _, t := range ts {
		out = append(out, HandshakeTarget{PID: t.pid, CPUSeconds: t.cpu, HandshakesPerCPUSecond: t.perCPU, RSSBytes: t.rss, Err: t.err})
	}
	return out
}

// clientOutcome is how a run ended: whether it was cut short, its
// failures, the sum of the loops' message counters and their latencies.
type clientOutcome struct {
	interrupted                      bool
	failed                           map[string]uint64
	msgs, sent, received, mismatches uint64
	pings, pongs                     uint64
	tls                              tlsCounts               // the TLS path's handshakes; zero on gnet
	hist                             *hdrhistogram.Histogram // nil for a run without histograms (idle)
}

// sum adds the loops' counters to o and merges their histograms. Call it
// after closeAll: the engine has stopped.
func (r *clientRun) sum(o *clientOutcome) {
	if r.spec.hist {
		o.hist = newClientHistogram()
	}
	for _, lp := range r.loops {
		o.add(lp)
		if o.hist != nil {
			o.hist.Merge(lp.hist)
		}
	}
}

// latencyOrZero reads a nanosecond histogram; zero if it is empty.
func latencyOrZero(h *hdrhistogram.Histogram) Latency {
	if h.TotalCount() == 0 {
		return Latency{}
	}
	return latencyOf(h)
}

// noneOpened returns ErrNoneOpened for a run that opened nothing and was
// not interrupted, else nil.
func noneOpened(opened, interrupted bool) error {
	if !opened && !interrupted {
		return ErrNoneOpened
	}
	return nil
}

// perSecond returns n / seconds, or 0 when no time was measured.
func perSecond(n uint64, seconds float64) float64 {
	if seconds <= 0 {
		return 0
	}
	return float64(n) / seconds
}
