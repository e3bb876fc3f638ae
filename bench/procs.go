package bench

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/throngproxy/throng/bench/sysstat"
)

// A run split over worker processes: one process holds at most RLIMIT_NOFILE
// sockets (20,000 here), so IdleProcs, EchoProcs and HandshakeProcs start P
// workers (Worker, in a process of their own), give each 1/P of the
// sessions and of the connect rate and a disjoint slice of the source
// addresses, start their held or measured time together once all are
// connected, and merge their results: counts summed, latency histograms
// merged, rates summed over the common measured time. The sampled PIDs and
// the kernel are sampled once, by the parent.

// ProcsConfig says how a run is split over worker processes.
type ProcsConfig struct {
	// Procs is the number of worker processes, at least 1.
	Procs int
	// Command starts one worker: a program and its arguments that run
	// Worker on their standard input and output, e.g. throng-bench's own
	// binary (os.Executable) and its hidden "worker" subcommand. Required.
	Command []string
	// Env is the workers' environment. Default nil: the parent's.
	Env []string
}

// Errors of a run split over processes.
var (
	ErrBadProcs      = errors.New("bench: procs must be at least 1")
	ErrProcsSources  = errors.New("bench: procs: fewer source addresses than processes (each needs its own)")
	ErrProcsSessions = errors.New("bench: procs: fewer sessions than processes")
	ErrProcsCommand  = errors.New("bench: procs: no worker command")
	ErrWorker        = errors.New("bench: procs: worker failed")
)

// Deadlines of a run split over processes, beyond what the run's config
// says its phases take.
const (
	procsSlack          = 30 * time.Second // start-up, scheduling
	procsMinConnectRate = 500              // connects per second assumed when the rate is unbounded
	// procsStopWait bounds a worker's stop after its input ends: the close
	// handshakes and the wait for stuck handshakes, with room to spare.
	procsStopWait     = 2*clientCloseTimeout + 10*time.Second
	procsWriteTimeout = 5 * time.Second // one line to a worker's input
	procsStderrTail   = 4 << 10         // bytes of a worker's stderr kept for its failure
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
// ProcsConfig) and merges their reports. The parent samples cfg.PIDs and
// the kernel once every worker is connected (after cfg.Settle) and at the
// end of the hold. A worker that fails, or outlives its deadline (killed),
// fails the run with ErrWorker. Cancelling ctx stops the workers, which
// still report.
func IdleProcs(ctx context.Context, cfg IdleConfig, pc ProcsConfig) (*IdleReport, error) {
	cfg = cfg.withDefaults()
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
	ws, err := runProcs(ctx, pc, procsPlan{
		jobs:    jobs,
		readyBy: connectBudget(shares[0]) + procsSlack,
		runFor:  cfg.Hold + cfg.VerifyTimeout + procsStopWait + procsSlack,
		onReady: func(ctx context.Context) {
			if len(cfg.PIDs) > 0 {
				sleepClient(ctx, cfg.Settle)
			}
			probe.sampleConnected()
		},
		onGo: func(ctx context.Context) {
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
// ProcsConfig) and merges their reports. The workers warm up and measure
// together; the parent samples cfg.PIDs over the measured time. Failures
// and cancelling are as for IdleProcs.
func EchoProcs(ctx context.Context, cfg EchoConfig, pc ProcsConfig) (*EchoReport, error) {
	cfg, _, err := prepareConfig(cfg)
	if err != nil {
		return nil, err
	}
	run, err := runTimedProcs[EchoReport](ctx, pc, cfg.LoadConfig, func(s LoadConfig) workerJob {
		c := cfg
		c.LoadConfig = s
		return workerJob{Mode: workerModeEcho, Echo: &c}
	}, connectBudget, cfg.Warmup, cfg.Duration, cfg.DrainTimeout)
	if err != nil {
		return nil, err
	}
	rep := newEchoReport(cfg)
	mergeEcho(rep, run.parts, run.hist)
	rep.Interrupted = rep.Interrupted || ctx.Err() != nil
	rep.Targets = echoTargets(run.measure.targets(cfg.PIDs, rep.Messages))
	return rep, noneOpened(rep.Connected > 0, rep.Interrupted)
}

// HandshakeProcs runs Handshake split over pc.Procs worker processes (see
// ProcsConfig): cfg.Sessions workers (connections in flight) in all. The
// processes warm up and measure together; the parent samples cfg.PIDs over
// the measured time. Failures and cancelling are as for IdleProcs.
func HandshakeProcs(ctx context.Context, cfg HandshakeConfig, pc ProcsConfig) (*HandshakeReport, error) {
	cfg, _, err := prepareConfig(cfg)
	if err != nil {
		return nil, err
	}
	// Handshake workers connect as they go: nothing to wait for before go.
	noConnect := func(LoadConfig) time.Duration { return 0 }
	run, err := runTimedProcs[HandshakeReport](ctx, pc, cfg.LoadConfig, func(s LoadConfig) workerJob {
		c := cfg
		c.LoadConfig = s
		return workerJob{Mode: workerModeHandshake, Handshake: &c}
	}, noConnect, cfg.Warmup, cfg.Duration, cfg.HandshakeTimeout+cfg.CloseTimeout+time.Second)
	if err != nil {
		return nil, err
	}
	rep := newHandshakeReport(cfg, sysstat.ReadMachine())
	mergeHandshake(rep, run.parts, run.hist)
	rep.Interrupted = rep.Interrupted || ctx.Err() != nil
	rep.Targets = handshakeTargets(run.measure.targets(cfg.PIDs, rep.Handshakes))
	return rep, noneOpened(rep.Total > 0, rep.Interrupted)
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
// jobFor makes from its share, waits up to connect(share)+slack for them
// to be connected, then lets them warm up, measure for duration and
// finish within tail, sampling load.PIDs over the measured time.
func runTimedProcs[R any](ctx context.Context, pc ProcsConfig, load LoadConfig, jobFor func(LoadConfig) workerJob,
	connect func(LoadConfig) time.Duration, warmup, duration, tail time.Duration) (*timedProcs[R], error) {
	shares, err := splitLoad(load, pc.Procs)
	if err != nil {
		return nil, err
	}
	jobs := make([]workerJob, len(shares))
	for i, s := range shares {
		jobs[i] = jobFor(s)
	}
	run := &timedProcs[R]{}
	ws, err := runProcs(ctx, pc, procsPlan{
		jobs:    jobs,
		readyBy: connect(shares[0]) + procsSlack,
		runFor:  warmup + duration + tail + procsStopWait + procsSlack,
		onGo:    func(ctx context.Context) { measureTimed(ctx, &run.measure, load.PIDs, warmup, duration) },
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

// mergeIdle merges the workers' reports into rep, which holds the whole
// run's parameters. Connect time is the longest, hold time the shortest.
func mergeIdle(rep *IdleReport, parts []*IdleReport) {
	rep.Procs, rep.Loops = len(parts), 0
	rep.Failed = map[string]uint64{}
	for i, p := range parts {
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
		rep.ConnectSeconds = max(rep.ConnectSeconds, p.ConnectSeconds)
		if i == 0 || p.HeldSeconds < rep.HeldSeconds {
			rep.HeldSeconds = p.HeldSeconds
		}
	}
	if rep.ConnectSeconds > 0 {
		rep.ConnectRate = float64(rep.Connected) / rep.ConnectSeconds
	}
	// The workers share the parent's CPUs: judged together, not one by one.
	rep.ClientCPUBound = cpuBound(rep.ClientCPUSeconds, rep.ConnectSeconds)
}

// mergeEcho merges the workers' reports and their merged histogram into
// rep, which holds the whole run's parameters. The workers measured over
// the same wall time (they start together): their rates are summed, and
// the measured time is the longest.
func mergeEcho(rep *EchoReport, parts []*EchoReport, hist *hdrhistogram.Histogram) {
	rep.Procs, rep.Loops = len(parts), 0
	rep.Failed = map[string]uint64{}
	for _, p := range parts {
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
	}
	rep.ClientCPUBound = cpuBound(rep.ClientCPUSeconds, rep.Seconds)
	rep.Latency = latencyOrZero(hist)
}

// mergeHandshake merges the workers' reports and their merged histogram
// into rep, as mergeEcho does.
func mergeHandshake(rep *HandshakeReport, parts []*HandshakeReport, hist *hdrhistogram.Histogram) {
	rep.Procs, rep.Loops = len(parts), 0
	rep.Failed = map[string]uint64{}
	for _, p := range parts {
		rep.Loops += p.Loops
		rep.Handshakes += p.Handshakes
		rep.HandshakesPerSec += p.HandshakesPerSec
		rep.Total += p.Total
		rep.Closes.ServerFirst += p.Closes.ServerFirst
		rep.Closes.ClientFirst += p.Closes.ClientFirst
		rep.Closes.CloseEchoed += p.Closes.CloseEchoed
		rep.Interrupted = rep.Interrupted || p.Interrupted
		rep.ClientCPUSeconds += p.ClientCPUSeconds
		rep.Seconds = max(rep.Seconds, p.Seconds)
		addFailed(rep.Failed, p.Failed)
	}
	rep.ClientCPUBound = cpuBound(rep.ClientCPUSeconds, rep.Seconds)
	rep.Latency = latencyOrZero(hist)
}

// addFailed adds the failure counts of src to dst.
func addFailed(dst, src map[string]uint64) {
	for k, v := range src {
		dst[k] += v
	}
}

// mergeHists merges the workers' latency histograms.
func mergeHists(ws []*procWorker) (*hdrhistogram.Histogram, error) {
	out := newClientHistogram()
	for _, w := range ws {
		h, err := decodeHist(w.hist)
		if err != nil {
			return nil, fmt.Errorf("worker %d: %w", w.idx, err)
		}
		if dropped := out.Merge(h); dropped > 0 {
			return nil, fmt.Errorf("%w: worker %d: %d values out of range", ErrWorkerProtocol, w.idx, dropped)
		}
	}
	return out, nil
}

// decodeResults decodes the workers' reports as R.
func decodeResults[R any](ws []*procWorker) ([]*R, error) {
	out := make([]*R, len(ws))
	for i, w := range ws {
		out[i] = new(R)
		if err := json.Unmarshal(w.result, out[i]); err != nil {
			return nil, fmt.Errorf("%w: worker %d result: %w", ErrWorkerProtocol, w.idx, err)
		}
	}
	return out, nil
}

// procsPlan is what runProcs does besides running the workers.
type procsPlan struct {
	jobs    []workerJob
	readyBy time.Duration // deadline for every worker to be connected
	runFor  time.Duration // deadline for every result after go
	// onReady runs once every worker is connected, before go; onGo after
	// go, while the workers run (its ctx ends early if one ends). Either
	// may be nil.
	onReady, onGo func(ctx context.Context)
	// stopWait bounds the wait for workers to stop once their input is
	// closed, before they are killed. Default procsStopWait.
	stopWait time.Duration
}

// procWorker is one worker process and what it said. The fields below
// done are written by its reader goroutine and read after done is closed.
type procWorker struct {
	idx    int
	cmd    *exec.Cmd
	stdin  *os.File
	stderr tailWriter
	ready  chan struct{} // closed at the ready line
	done   chan struct{} // closed once the process has exited and its output is read
	once   sync.Once     // closes stdin

	result json.RawMessage
	hist   *histWire
	runErr string
	err    error // why the worker failed, or nil
}

// runProcs starts a worker process per job, waits until all are connected,
// runs plan.onReady, tells them to go, runs plan.onGo and waits for their
// results, each step bounded by the plan's deadlines; past them the
// workers are killed. It returns the workers, each with its result, or the
// first failure (ErrWorker). When ctx is done it closes the workers' input
// so that they stop and report, and returns what they report. The workers'
// progress is summed into live (if not nil).
func runProcs(ctx context.Context, pc ProcsConfig, plan procsPlan, live *Live) ([]*procWorker, error) {
	if len(pc.Command) == 0 {
		return nil, ErrProcsCommand
	}
	r := &procsRun{live: live, lives: make([]LiveSample, len(plan.jobs)), failed: make(chan struct{})}
	stopWait := cmp.Or(plan.stopWait, procsStopWait)
	defer r.stop(stopWait)
	for i, job := range plan.jobs {
		w, err := r.start(pc, i, job)
		if w != nil {
			r.ws = append(r.ws, w)
		}
		if err != nil {
			return nil, err
		}
	}
	// Once ctx is done the workers' input ends: they stop and report.
	defer context.AfterFunc(ctx, r.closeInputs)()
	if err := r.awaitReady(ctx, plan.readyBy); err != nil {
		return nil, err
	}
	if ctx.Err() != nil { // the workers' input is closed: they report
		return r.finish(stopWait)
	}
	if plan.onReady != nil {
		plan.onReady(ctx)
	}
	for _, w := range r.ws {
		if err := w.writeLine([]byte(workerGo)); err != nil && ctx.Err() == nil {
			return nil, w.failure(fmt.Errorf("cannot start it: %w", err))
		}
	}
	if plan.onGo != nil && ctx.Err() == nil {
		// The phase ends early when a worker ends (or fails) before it.
		phase, cancel := context.WithCancel(ctx)
		var watch sync.WaitGroup
		for _, w := range r.ws {
			watch.Go(func() {
				select {
				case <-w.done:
					cancel()
				case <-phase.Done():
				}
			})
		}
		plan.onGo(phase)
		cancel()
		watch.Wait()
	}
	return r.finish(plan.runFor)
}

// procsRun is the parent's side of a run split over processes.
type procsRun struct {
	ws     []*procWorker // written before the workers are told to go
	live   *Live
	failed chan struct{} // closed once a worker has failed (its done closed)
	once   sync.Once     // closes failed
	mu     sync.Mutex    // guards lives
	lives  []LiveSample  // the last progress of each worker
}

// start starts worker i with job. It returns the worker if its process
// started, and an error if it or sending the job failed.
func (r *procsRun) start(pc ProcsConfig, i int, job workerJob) (*procWorker, error) {
	line, err := json.Marshal(job)
	if err != nil {
		return nil, fmt.Errorf("bench: procs: %w", err)
	}
	inR, inW, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("bench: procs: %w", err)
	}
	w := &procWorker{idx: i, stdin: inW, ready: make(chan struct{}), done: make(chan struct{})}
	w.stderr.max = procsStderrTail
	w.cmd = exec.Command(pc.Command[0], pc.Command[1:]...)
	w.cmd.Env = pc.Env
	w.cmd.Stdin = inR
	w.cmd.Stderr = &w.stderr
	out, err := w.cmd.StdoutPipe()
	if err != nil {
		_ = inR.Close()
		_ = inW.Close()
		return nil, fmt.Errorf("bench: procs: %w", err)
	}
	err = w.cmd.Start()
	_ = inR.Close() // the child has its copy
	if err != nil {
		_ = inW.Close()
		return nil, fmt.Errorf("%w: worker %d: %w", ErrWorker, i, err)
	}
	go r.read(w, out) // ends with the process's output
	if err := w.writeLine(line); err != nil {
		return w, w.failure(fmt.Errorf("cannot send its job: %w", err))
	}
	return w, nil
}

// read reads w's lines until its output ends, then waits for its exit and
// closes w.done.
func (r *procsRun) read(w *procWorker, out io.Reader) {
	defer func() {
		close(w.done)
		if w.err != nil {
			r.once.Do(func() { close(r.failed) })
		}
	}()
	br := bufio.NewReader(out)
	var protoErr error
	gotDone := false
	for {
		line, err := br.ReadBytes('\n')
		if len(line) > 0 && !gotDone && protoErr == nil {
			var m workerMsg
			switch uerr := json.Unmarshal(line, &m); {
			case uerr != nil:
				protoErr = fmt.Errorf("%w: %w", ErrWorkerProtocol, uerr)
				w.closeInput() // it should stop
			case m.Done:
				gotDone = true
				w.result, w.hist, w.runErr = m.Result, m.Hist, m.Err
				w.closeInput() // lets it exit
			case m.Ready:
				closeOnce(w.ready)
			case m.Live != nil:
				r.setLive(w.idx, *m.Live)
			}
		}
		if err != nil {
			break
		}
	}
	werr := w.cmd.Wait()
	w.closeInput()
	switch {
	case protoErr != nil:
		w.err = w.failure(protoErr)
	case !gotDone:
		w.err = w.failure(fmt.Errorf("ended without a result (%v)", werr))
	case werr != nil:
		w.err = w.failure(fmt.Errorf("reported, then %v", werr))
	case len(w.result) == 0 || string(w.result) == "null":
		w.err = w.failure(fmt.Errorf("its run could not start: %s", w.runErr))
	}
}

// setLive records worker i's progress and stores the sum of all workers'
// in r.live.
func (r *procsRun) setLive(i int, s LiveSample) {
	if r.live == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.lives[i] = s
	var sum LiveSample
	for _, l := range r.lives {
		sum = sum.add(l)
	}
	r.live.store(sum)
}

// closeInputs closes every started worker's input.
func (r *procsRun) closeInputs() {
	for _, w := range r.ws {
		w.closeInput()
	}
}

// awaitReady waits until every worker is connected, d has passed (an
// error) or ctx is done (nil: the caller sees ctx).
func (r *procsRun) awaitReady(ctx context.Context, d time.Duration) error {
	timer := time.NewTimer(d)
	defer timer.Stop()
	for _, w := range r.ws {
		select {
		case <-w.ready:
		case <-w.done:
			select {
			case <-w.ready:
				continue // it was ready before it ended
			default:
			}
			if w.err != nil {
				return w.err
			}
			if ctx.Err() != nil {
				return nil
			}
			return w.failure(errors.New("ended before it was connected"))
		case <-r.failed:
			return r.firstErr()
		case <-ctx.Done():
			return nil
		case <-timer.C:
			return w.failure(fmt.Errorf("not connected after %v", d))
		}
	}
	return nil
}

// firstErr returns the failure of the first ended worker that failed.
func (r *procsRun) firstErr() error {
	for _, w := range r.ws {
		select {
		case <-w.done:
			if w.err != nil {
				return w.err
			}
		default:
		}
	}
	return ErrWorker // not reached: failed is closed after a failure
}

// finish waits, up to d, for every worker's result. It returns the
// workers, or the first failure as soon as there is one.
func (r *procsRun) finish(d time.Duration) ([]*procWorker, error) {
	timer := time.NewTimer(d)
	defer timer.Stop()
	for _, w := range r.ws {
		select {
		case <-w.done:
		case <-r.failed:
			return nil, r.firstErr()
		case <-timer.C:
			return nil, w.failure(fmt.Errorf("no result after %v; killed", d))
		}
		if w.err != nil {
			return nil, w.err
		}
	}
	return r.ws, nil
}

// stop ends every worker still running: it closes their input, waits (up
// to d) for them to report and exit, then kills the rest, by PID, and
// waits for their exit.
func (r *procsRun) stop(d time.Duration) {
	r.closeInputs()
	timer := time.NewTimer(d)
	defer timer.Stop()
	expired := false // the timer fires once: past it, every worker left is killed
	for _, w := range r.ws {
		if !expired {
			select {
			case <-w.done:
				continue
			case <-timer.C:
				expired = true
			}
		}
		select {
		case <-w.done:
			continue
		default:
		}
		_ = w.cmd.Process.Kill()
		<-w.done // the output ends with the process
	}
}

// closeInput closes w's input: a worker stops when it ends.
func (w *procWorker) closeInput() {
	w.once.Do(func() { _ = w.stdin.Close() })
}

// writeLine writes one line to w's input, bounded by procsWriteTimeout.
func (w *procWorker) writeLine(b []byte) error {
	if err := w.stdin.SetWriteDeadline(time.Now().Add(procsWriteTimeout)); err != nil {
		return err
	}
	_, err := w.stdin.Write(append(b[:len(b):len(b)], '\n'))
	return err
}

// failure returns err as w's failure, with the end of its stderr.
func (w *procWorker) failure(err error) error {
	pid := 0
	if w.cmd.Process != nil {
		pid = w.cmd.Process.Pid
	}
	msg := fmt.Errorf("%w: worker %d (pid %d): %w", ErrWorker, w.idx, pid, err)
	if tail := w.stderr.String(); tail != "" {
		msg = fmt.Errorf("%w; its stderr: %s", msg, tail)
	}
	return msg
}

// closeOnce closes ch unless it is closed already; one goroutine only.
func closeOnce(ch chan struct{}) {
	select {
	case <-ch:
	default:
		close(ch)
	}
}

// tailWriter keeps the last max bytes written to it.
type tailWriter struct {
	mu  sync.Mutex // guards buf
	buf []byte
	max int
}

func (t *tailWriter) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if over := len(t.buf) - t.max; over > 0 {
		t.buf = append(t.buf[:0], t.buf[over:]...)
	}
	return len(p), nil
}

// String returns what was kept, without surrounding space.
func (t *tailWriter) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(bytes.TrimSpace(t.buf))
}
