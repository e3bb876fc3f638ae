package bench

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/throngproxy/throng/bench/procs"
	"github.com/throngproxy/throng/bench/sysstat"
)

// A run split over worker processes: one process holds at most RLIMIT_NOFILE
// sockets (20,000 here), so IdleProcs, EchoProcs, HandshakeProcs and
// FanoutProcs start P
// workers (Worker, in a process of their own), give each 1/P of the
// sessions and of the connect rate and a disjoint slice of the source
// addresses, start their held or measured time together once all are
// connected, and merge their results: counts summed, latency histograms
// merged, rates summed over the common measured time. The sampled PIDs and
// the kernel are sampled once, by the parent.

// Errors of a run split over processes.
var (
	ErrBadProcs      = errors.New("bench: procs must be at least 1")
	ErrProcsSources  = errors.New("bench: procs: fewer source addresses than processes (each needs its own)")
	ErrProcsSessions = errors.New("bench: procs: fewer sessions than processes")
)

// Deadlines of a run split over processes, beyond what the run's config
// says its phases take.
const (
	procsSlack          = 30 * time.Second // start-up, scheduling
	procsMinConnectRate = 500              // connects per second assumed when the rate is unbounded
	// procsStopWait bounds a worker's stop after its input ends: the close
	// handshakes and the wait for stuck handshakes, with room to spare.
	procsStopWait = 2*clientCloseTimeout + 10*time.Second
)

// splitLoad returns procs shares of c: the sessions and the connect rate
// divided (the first Sessions%procs shares have one session more), the
// sources in disjoint contiguous slices (each share all of them when c has
// none: the kernel chooses), and no PIDs (the parent samples them).
func splitLoad(c LoadConfig, procs int) ([]LoadConfig, error) {
	var errs []error
	if procs < 1 {
		errs = append(errs, ErrBadProcs)
	}
	if procs > 0 && len(c.Sources) > 0 && len(c.Sources) < procs {
		errs = append(errs, fmt.Errorf("%w: %d addresses, %d processes", ErrProcsSources, len(c.Sources), procs))
	}
	if procs > 0 && c.Sessions < procs {
		errs = append(errs, fmt.Errorf("%w: %d sessions, %d processes", ErrProcsSessions, c.Sessions, procs))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	out := make([]LoadConfig, procs)
	for i := range out {
		s := c
		s.Sessions = c.Sessions / procs
		if i < c.Sessions%procs {
			s.Sessions++
		}
		s.Rate = c.Rate / float64(procs)
		if n := len(c.Sources); n > 0 {
			s.Sources = c.Sources[i*n/procs : (i+1)*n/procs]
		}
		s.PIDs, s.Live, s.ready = nil, nil, nil
		out[i] = s
	}
	return out, nil
}

// connectBudget is how long a share may take to connect: its sessions at
// its rate (or at procsMinConnectRate when unbounded), half as long again,
// and its timeouts.
func connectBudget(s LoadConfig) time.Duration {
	rate := s.Rate
	if rate <= 0 {
		rate = procsMinConnectRate
	}
	return time.Duration(1.5*float64(s.Sessions)/rate*float64(time.Second)) + s.ConnectTimeout + s.HandshakeTimeout
}

// IdleProcs runs Idle split over pc.Procs worker processes (see
// procs.Config) and merges their reports. The parent samples cfg.PIDs and
// the kernel once every worker is connected (after cfg.Settle) and at the
// end of the hold. A worker that fails, or outlives its deadline (killed),
// fails the run with procs.ErrWorker. Cancelling ctx stops the workers, which
// still report.
func IdleProcs(ctx context.Context, cfg IdleConfig, pc procs.Config) (*IdleReport, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	shares, err := splitLoad(cfg.LoadConfig, pc.Procs)
	if err != nil {
		return nil, err
	}
	jobs := make([]workerJob, len(shares))
	for i, s := range shares {
		c := cfg
		c.LoadConfig = s
		jobs[i] = workerJob{Mode: workerModeIdle, Idle: &c}
	}
	rep := newIdleReport(cfg)
	target, _ := parseClientTarget(cfg.URL)
	probe := idleProbe{pids: cfg.PIDs, local: target.local()}
	probe.sampleBefore()
	ws, err := runWorkers(ctx, pc, jobs, procs.Plan{
		ReadyBy: connectBudget(shares[0]) + procsSlack,
		RunFor:  cfg.Hold + cfg.VerifyTimeout + procsStopWait + procsSlack,
		OnReady: func(ctx context.Context) {
			if len(cfg.PIDs) > 0 {
				sleepClient(ctx, cfg.Settle)
			}
			probe.sampleConnected()
		},
		OnGo: func(ctx context.Context) {
			sleepClient(ctx, cfg.Hold)
			probe.sampleEnd()
		},
	}, cfg.Live)
	if err != nil {
		return nil, err
	}
	parts, err := decodeResults[IdleReport](ws)
	if err != nil {
		return nil, err
	}
	mergeIdle(rep, parts)
	rep.Interrupted = rep.Interrupted || ctx.Err() != nil
	probe.fill(rep)
	return rep, noneOpened(rep.Connected > 0, rep.Interrupted)
}

// EchoProcs runs Echo split over pc.Procs worker processes (see
// procs.Config) and merges their reports. The workers warm up and measure
// together; the parent samples cfg.PIDs over the measured time. Failures
// and cancelling are as for IdleProcs.
func EchoProcs(ctx context.Context, cfg EchoConfig, pc procs.Config) (*EchoReport, error) {
	cfg, _, err := prepareConfig(cfg)
	if err != nil {
		return nil, err
	}
	run, err := runTimedProcs[EchoReport](ctx, pc, cfg.LoadConfig, func(_ int, s LoadConfig) workerJob {
		c := cfg
		c.LoadConfig = s
		return workerJob{Mode: workerModeEcho, Echo: &c}
	}, connectBudget, cfg.Warmup, cfg.Duration, cfg.DrainTimeout, func(ctx context.Context, m *clientMeasure) {
		measureTimed(ctx, m, cfg.PIDs, cfg.Warmup, cfg.Duration)
	})
	if err != nil {
		return nil, err
	}
	rep := newEchoReport(cfg)
	mergeTimed(rep, run.parts, run.hist)
	rep.Interrupted = rep.Interrupted || ctx.Err() != nil
	rep.Targets = echoTargets(run.measure.targets(cfg.PIDs, rep.Messages))
	return rep, noneOpened(rep.Connected > 0, rep.Interrupted)
}

// HandshakeProcs runs Handshake split over pc.Procs worker processes (see
// procs.Config): cfg.Sessions workers (connections in flight) in all. The
// processes warm up and measure together; the parent samples cfg.PIDs over
// the measured time. Failures and cancelling are as for IdleProcs.
func HandshakeProcs(ctx context.Context, cfg HandshakeConfig, pc procs.Config) (*HandshakeReport, error) {
	cfg, _, err := prepareConfig(cfg)
	if err != nil {
		return nil, err
	}
	// Handshake workers connect as they go: nothing to wait for before go.
	noConnect := func(LoadConfig) time.Duration { return 0 }
	run, err := runTimedProcs[HandshakeReport](ctx, pc, cfg.LoadConfig, func(_ int, s LoadConfig) workerJob {
		c := cfg
		c.LoadConfig = s
		return workerJob{Mode: workerModeHandshake, Handshake: &c}
	}, noConnect, cfg.Warmup, cfg.Duration, cfg.HandshakeTimeout+cfg.CloseTimeout+time.Second,
		func(ctx context.Context, m *clientMeasure) { measureTimed(ctx, m, cfg.PIDs, cfg.Warmup, cfg.Duration) })
	if err != nil {
		return nil, err
	}
	rep := newHandshakeReport(cfg, sysstat.ReadMachine())
	mergeTimed(rep, run.parts, run.hist)
	rep.Interrupted = rep.Interrupted || ctx.Err() != nil
	rep.Targets = handshakeTargets(run.measure.targets(cfg.PIDs, rep.Handshakes))
	return rep, noneOpened(rep.Total > 0, rep.Interrupted)
}

// FanoutProcs runs Fanout split over pc.Procs worker processes (see
// procs.Config) and merges their reports. The first worker opens the
// publishers as well as its share of the subscribers; the others subscribe
// only. They warm up and measure together, and read each other's stamps
// (clientCore.anchor); the parent samples cfg.PIDs from go until they
// are idle after the last publish (measureFanout). Failures and cancelling
// are as for IdleProcs.
func FanoutProcs(ctx context.Context, cfg FanoutConfig, pc procs.Config) (*FanoutReport, error) {
	cfg, _, err := prepareConfig(cfg)
	if err != nil {
		return nil, err
	}
	run, err := runTimedProcs[FanoutReport](ctx, pc, cfg.LoadConfig, func(i int, s LoadConfig) workerJob {
		c := cfg
		c.LoadConfig = s
		c.SubscribeOnly = i > 0
		return workerJob{Mode: workerModeFanout, Fanout: &c}
	}, connectBudget, cfg.Warmup, cfg.Duration, cfg.DrainTimeout, func(ctx context.Context, m *clientMeasure) {
		measureFanout(ctx, m, cfg.PIDs, cfg.Warmup+cfg.Duration, cfg.DrainTimeout)
	})
	if err != nil {
		return nil, err
	}
	rep := newFanoutReport(cfg)
	mergeTimed(rep, run.parts, run.hist)
	rep.Interrupted = rep.Interrupted || ctx.Err() != nil
	rep.Targets = echoTargets(run.measure.targets(cfg.PIDs, rep.Received))
	switch {
	case rep.Interrupted:
	case rep.Connected == 0 && rep.Publishers == 0:
		return rep, ErrNoneOpened
	case rep.Connected == 0 || rep.Publishers == 0:
		return rep, ErrNoSubscribers
	}
	return rep, nil
}

// timedProcs is what the workers of a timed scenario (echo, handshake)
// sent back: their reports, their merged histogram, and the parent's
// samples of the measured time.
type timedProcs[R any] struct {
	parts   []*R
	hist    *hdrhistogram.Histogram
	measure clientMeasure
}

// runTimedProcs splits load over pc.Procs workers, each given the job
// jobFor makes from its share (the i-th), waits up to connect(share)+slack for them
// to be connected, then lets them warm up, measure for duration and
// finish within tail, sampling load.PIDs with measure (measureTimed: over
// the measured time).
func runTimedProcs[R any](ctx context.Context, pc procs.Config, load LoadConfig, jobFor func(int, LoadConfig) workerJob,
	connect func(LoadConfig) time.Duration, warmup, duration, tail time.Duration,
	measure func(context.Context, *clientMeasure)) (*timedProcs[R], error) {
	shares, err := splitLoad(load, pc.Procs)
	if err != nil {
		return nil, err
	}
	jobs := make([]workerJob, len(shares))
	for i, s := range shares {
		jobs[i] = jobFor(i, s)
	}
	run := &timedProcs[R]{}
	ws, err := runWorkers(ctx, pc, jobs, procs.Plan{
		ReadyBy: connect(shares[0]) + procsSlack,
		RunFor:  warmup + duration + tail + procsStopWait + procsSlack,
		OnGo:    func(ctx context.Context) { measure(ctx, &run.measure) },
	}, load.Live)
	if err != nil {
		return nil, err
	}
	if run.parts, err = decodeResults[R](ws); err != nil {
		return nil, err
	}
	if run.hist, err = mergeHists(ws); err != nil {
		return nil, err
	}
	return run, nil
}

// measureTimed samples pids into m over the measured time: from warmup
// after now for duration, as the workers do; nothing if ctx ends first.
func measureTimed(ctx context.Context, m *clientMeasure, pids []int, warmup, duration time.Duration) {
	if !sleepClient(ctx, warmup) {
		return
	}
	m.begin(pids)
	sleepClient(ctx, duration)
	m.end(pids)
}

// measureFanout samples pids into m from now, when the workers start
// publishing, until the sampled processes are idle once publish has
// passed (the deliveries drained: Fanout's own measure ends at the last
// delivery, which only the workers see), at most tail after it; nothing if
// ctx ends first. Idle is under 10% of a CPU over fanoutIdleProbe.
func measureFanout(ctx context.Context, m *clientMeasure, pids []int, publish, tail time.Duration) {
	m.begin(pids)
	if !sleepClient(ctx, publish) {
		return
	}
	deadline := time.Now().Add(tail)
	last := sampleCPU(pids)
	for time.Now().Before(deadline) && sleepClient(ctx, fanoutIdleProbe) {
		now := sampleCPU(pids)
		if now-last < fanoutIdleProbe.Seconds()/10 {
			break
		}
		last = now
	}
	m.end(pids)
}

// fanoutIdleProbe is the interval measureFanout judges idleness over:
// several clock ticks, so that a busy process cannot read as idle.
const fanoutIdleProbe = 200 * time.Millisecond

// sampleCPU returns the CPU-seconds the pids have used, summed (those that
// cannot be read count 0).
func sampleCPU(pids []int) float64 {
	var sum float64
	for _, r := range sampleAll(pids) {
		sum += r.s.CPUSeconds
	}
	return sum
}

// Merging the workers' reports. Each report type has one addPart method
// that says, for every field a worker fills, how the parts combine;
// TestMergeCoversEveryField fails when a field is neither merged there nor
// listed as the parent's own, so a new counter cannot be forgotten.

// mergeIdle merges the workers' reports into rep, which holds the whole
// run's parameters. Connect time is the longest, hold time the shortest.
func mergeIdle(rep *IdleReport, parts []*IdleReport) {
	rep.Procs, rep.Loops = len(parts), 0
	rep.Failed = map[string]uint64{}
	for i, p := range parts {
		rep.addPart(p, i == 0)
	}
	if rep.ConnectSeconds > 0 {
		rep.ConnectRate = float64(rep.Connected) / rep.ConnectSeconds
	}
	// The workers share the parent's CPUs: judged together, not one by one.
	rep.ClientCPUBound = cpuBound(rep.ClientCPUSeconds, rep.ConnectSeconds)
}

// addPart adds worker report p to rep; first says p is the first part.
func (rep *IdleReport) addPart(p *IdleReport, first bool) {
	rep.Loops += p.Loops
	rep.Attempted += p.Attempted
	rep.Connected += p.Connected
	rep.Alive += p.Alive
	rep.Mismatches += p.Mismatches
	rep.PingsSent += p.PingsSent
	rep.PongsReceived += p.PongsReceived
	rep.Interrupted = rep.Interrupted || p.Interrupted
	rep.ClientCPUSeconds += p.ClientCPUSeconds
	addFailed(rep.Failed, p.Failed)
	rep.TLS.addPart(&p.TLS)
	rep.ConnectSeconds = max(rep.ConnectSeconds, p.ConnectSeconds)
	if first || p.HeldSeconds < rep.HeldSeconds {
		rep.HeldSeconds = p.HeldSeconds
	}
}

// timedReport is a timed scenario's report (echo, handshake) as
// mergeTimed sees it: Go generics cannot reach a field, so each report
// type gives the fields mergeTimed sets through three small methods.
type timedReport[R any] interface {
	*R
	// beginMerge sets the report up to add procs worker reports to it.
	beginMerge(procs int)
	// addPart adds worker report p to the report.
	addPart(p *R)
	// endMerge sets what follows from the sums, and the merged latency.
	endMerge(hist *hdrhistogram.Histogram)
}

// mergeTimed merges the workers' reports and their merged histogram into
// rep, which holds the whole run's parameters. The workers measured over
// the same wall time (they start together): their rates are summed, and
// the measured time is the longest.
func mergeTimed[R any, P timedReport[R]](rep P, parts []*R, hist *hdrhistogram.Histogram) {
	rep.beginMerge(len(parts))
	for _, p := range parts {
		rep.addPart(p)
	}
	rep.endMerge(hist)
}

// beginMerge sets rep up to merge procs workers' reports (timedReport).
func (rep *EchoReport) beginMerge(procs int) {
	rep.Procs, rep.Loops, rep.Failed = procs, 0, map[string]uint64{}
}

// endMerge sets rep's CPU bound and merged latency (timedReport).
func (rep *EchoReport) endMerge(hist *hdrhistogram.Histogram) {
	rep.ClientCPUBound, rep.Latency = cpuBound(rep.ClientCPUSeconds, rep.Seconds), latencyOrZero(hist)
}

// addPart adds worker report p to rep.
func (rep *EchoReport) addPart(p *EchoReport) {
	rep.Loops += p.Loops
	rep.Connected += p.Connected
	rep.Messages += p.Messages
	rep.MsgsPerSec += p.MsgsPerSec
	rep.BytesPerSec += p.BytesPerSec
	rep.Sent += p.Sent
	rep.Received += p.Received
	rep.Errors += p.Errors
	rep.Interrupted = rep.Interrupted || p.Interrupted
	rep.ClientCPUSeconds += p.ClientCPUSeconds
	rep.Seconds = max(rep.Seconds, p.Seconds)
	addFailed(rep.Failed, p.Failed)
	rep.TLS.addPart(&p.TLS)
}

// beginMerge sets rep up to merge procs workers' reports (timedReport).
func (rep *HandshakeReport) beginMerge(procs int) {
	rep.Procs, rep.Loops, rep.Failed = procs, 0, map[string]uint64{}
}

// endMerge sets rep's CPU bound and merged latency (timedReport).
func (rep *HandshakeReport) endMerge(hist *hdrhistogram.Histogram) {
	rep.ClientCPUBound, rep.Latency = cpuBound(rep.ClientCPUSeconds, rep.Seconds), latencyOrZero(hist)
}

// addPart adds worker report p to rep.
func (rep *HandshakeReport) addPart(p *HandshakeReport) {
	rep.Loops += p.Loops
	rep.Handshakes += p.Handshakes
	rep.HandshakesPerSec += p.HandshakesPerSec
	rep.Total += p.Total
	rep.Closes.add(p.Closes)
	rep.Interrupted = rep.Interrupted || p.Interrupted
	rep.ClientCPUSeconds += p.ClientCPUSeconds
	rep.Seconds = max(rep.Seconds, p.Seconds)
	addFailed(rep.Failed, p.Failed)
	rep.TLS.addPart(&p.TLS)
}

// beginMerge sets rep up to merge procs workers' reports (timedReport).
func (rep *FanoutReport) beginMerge(procs int) {
	rep.Procs, rep.Loops, rep.Failed = procs, 0, map[string]uint64{}
}

// endMerge sets what follows from the sums, the CPU bound and the merged
// latency (timedReport).
func (rep *FanoutReport) endMerge(hist *hdrhistogram.Histogram) {
	rep.fillRatios()
	rep.ClientCPUBound, rep.Latency = cpuBound(rep.ClientCPUSeconds, rep.SampledSeconds), latencyOrZero(hist)
}

// addPart adds worker report p to rep. Every worker publishes (or
// expects) as many messages per channel; the measured time is the
// longest.
func (rep *FanoutReport) addPart(p *FanoutReport) {
	rep.Loops += p.Loops
	rep.Connected += p.Connected
	rep.Publishers += p.Publishers
	rep.Published += p.Published
	rep.Delivered += p.Delivered
	rep.Sent += p.Sent
	rep.Received += p.Received
	rep.Errors += p.Errors
	rep.Interrupted = rep.Interrupted || p.Interrupted
	rep.ClientCPUSeconds += p.ClientCPUSeconds
	rep.PerChannel = max(rep.PerChannel, p.PerChannel)
	rep.Seconds = max(rep.Seconds, p.Seconds)
	rep.SampledSeconds = max(rep.SampledSeconds, p.SampledSeconds)
	addFailed(rep.Failed, p.Failed)
	rep.TLS.addPart(&p.TLS)
}

// add adds the counts of o to c.
func (c *HandshakeCloses) add(o HandshakeCloses) {
	c.ServerFirst += o.ServerFirst
	c.ClientFirst += o.ClientFirst
	c.CloseEchoed += o.CloseEchoed
}

// addFailed adds the failure counts of src to dst.
func addFailed(dst, src map[string]uint64) {
	for k, v := range src {
		dst[k] += v
	}
}

// runWorkers runs plan with one worker per job (procs.Run), stopping
// workers within procsStopWait unless plan says otherwise, and sums the
// workers' progress into live (if not nil).
func runWorkers(ctx context.Context, pc procs.Config, jobs []workerJob, plan procs.Plan, live *Live) ([]procs.Result, error) {
	plan.Jobs = make([]any, len(jobs))
	for i, j := range jobs {
		plan.Jobs[i] = j
	}
	plan.StopWait = cmp.Or(plan.StopWait, procsStopWait)
	if live != nil {
		sum := &liveSum{live: live, lives: make([]LiveSample, len(jobs))}
		plan.OnLive = sum.set
	}
	return procs.Run(ctx, pc, plan)
}

// liveSum adds up the workers' progress lines into one Live.
type liveSum struct {
	live  *Live
	mu    sync.Mutex   // guards lives
	lives []LiveSample // the last progress of each worker
}

// set records worker i's progress line and stores the sum of all workers'
// in s.live. A line that cannot be read is dropped: progress is advisory.
func (s *liveSum) set(i int, line json.RawMessage) {
	var l LiveSample
	if json.Unmarshal(line, &l) != nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lives[i] = l
	var sum LiveSample
	for _, l := range s.lives {
		sum = sum.add(l)
	}
	s.live.store(sum)
}

// mergeHists merges the workers' latency histograms.
func mergeHists(ws []procs.Result) (*hdrhistogram.Histogram, error) {
	out := newClientHistogram()
	for _, w := range ws {
		var hw *histWire
		if len(w.Hist) > 0 {
			if err := json.Unmarshal(w.Hist, &hw); err != nil {
				return nil, fmt.Errorf("%w: worker %d histogram: %w", procs.ErrProtocol, w.Worker, err)
			}
		}
		h, err := decodeHist(hw)
		if err != nil {
			return nil, fmt.Errorf("worker %d: %w", w.Worker, err)
		}
		if dropped := out.Merge(h); dropped > 0 {
			return nil, fmt.Errorf("%w: worker %d: %d values out of range", procs.ErrProtocol, w.Worker, dropped)
		}
	}
	return out, nil
}

// decodeResults decodes the workers' reports as R.
func decodeResults[R any](ws []procs.Result) ([]*R, error) {
	out := make([]*R, len(ws))
	for i, w := range ws {
		out[i] = new(R)
		if err := json.Unmarshal(w.Result, out[i]); err != nil {
			return nil, fmt.Errorf("%w: worker %d result: %w", procs.ErrProtocol, w.Worker, err)
		}
	}
	return out, nil
}
