package procs

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
	"time"
)

// Config says how a run is split over worker processes.
type Config struct {
	// Procs is the number of worker processes, at least 1.
	Procs int
	// Command starts one worker: a program and its arguments that call
	// Serve on their standard input and output, e.g. throng-bench's own
	// binary (os.Executable) and its hidden "worker" subcommand. Required.
	Command []string
	// Env is the workers' environment. Default nil: the parent's.
	Env []string
}

// Errors of a run split over processes.
var (
	ErrCommand = errors.New("procs: no worker command")
	ErrWorker  = errors.New("procs: worker failed")
)

// Limits of the parent's side.
const (
	writeTimeout = 5 * time.Second // one line to a worker's input
	stderrTail   = 4 << 10         // bytes of a worker's stderr kept for its failure
)

// Plan is what Run does besides running the workers.
type Plan struct {
	// Jobs holds one job per worker, sent as its first line (JSON).
	Jobs    []any
	ReadyBy time.Duration // deadline for every worker to be connected
	RunFor  time.Duration // deadline for every result after go
	// StopWait bounds the wait for workers to stop once their input is
	// closed, before they are killed. Required.
	StopWait time.Duration
	// OnReady runs once every worker is connected, before go; OnGo after
	// go, while the workers run (its ctx ends early if one ends). Either
	// may be nil.
	OnReady, OnGo func(ctx context.Context)
	// OnLive, if not nil, gets each progress line of worker i, from that
	// worker's reader goroutine: concurrent calls for different workers.
	OnLive func(i int, live json.RawMessage)
}

// Result is what one worker sent back with its last line.
type Result struct {
	Worker int             // its index in Plan.Jobs
	Result json.RawMessage // the run's result, as the worker encoded it
	Hist   json.RawMessage // its latency histogram, or empty
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
	hist   json.RawMessage
	runErr string
	err    error // why the worker failed, or nil
}

// Run starts a worker process per job, waits until all are connected,
// runs plan.OnReady, tells them to go, runs plan.OnGo and waits for their
// results, each step bounded by the plan's deadlines; past them the
// workers are killed. It returns the workers, each with its result, or the
// first failure (ErrWorker). When ctx is done it closes the workers' input
// so that they stop and report, and returns what they report.
func Run(ctx context.Context, pc Config, plan Plan) ([]Result, error) {
	if len(pc.Command) == 0 {
		return nil, ErrCommand
	}
	r := &procsRun{onLive: plan.OnLive, failed: make(chan struct{})}
	stopWait := plan.StopWait
	defer r.stop(stopWait)
	for i, job := range plan.Jobs {
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
	if err := r.awaitReady(ctx, plan.ReadyBy); err != nil {
		return nil, err
	}
	if ctx.Err() != nil { // the workers' input is closed: they report
		return r.finish(stopWait)
	}
	if plan.OnReady != nil {
		plan.OnReady(ctx)
	}
	for _, w := range r.ws {
		if err := w.writeLine([]byte(goLine)); err != nil && ctx.Err() == nil {
			return nil, w.failure(fmt.Errorf("cannot start it: %w", err))
		}
	}
	if plan.OnGo != nil && ctx.Err() == nil {
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
		plan.OnGo(phase)
		cancel()
		watch.Wait()
	}
	return r.finish(plan.RunFor)
}

// procsRun is the parent's side of a run split over processes.
type procsRun struct {
	ws     []*procWorker // written before the workers are told to go
	onLive func(i int, live json.RawMessage)
	failed chan struct{} // closed once a worker has failed (its done closed)
	once   sync.Once     // closes failed
}

// start starts worker i with job. It returns the worker if its process
// started, and an error if it or sending the job failed.
func (r *procsRun) start(pc Config, i int, job any) (*procWorker, error) {
	line, err := json.Marshal(job)
	if err != nil {
		return nil, fmt.Errorf("procs: %w", err)
	}
	inR, inW, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("procs: %w", err)
	}
	w := &procWorker{idx: i, stdin: inW, ready: make(chan struct{}), done: make(chan struct{})}
	w.stderr.max = stderrTail
	w.cmd = exec.Command(pc.Command[0], pc.Command[1:]...)
	w.cmd.Env = pc.Env
	w.cmd.Stdin = inR
	w.cmd.Stderr = &w.stderr
	out, err := w.cmd.StdoutPipe()
	if err != nil {
		_ = inR.Close()
		_ = inW.Close()
		return nil, fmt.Errorf("procs: %w", err)
	}
	err = w.cmd.Start()
	_ = inR.Close() // the child has its copy
	if err != nil {
		_ = inW.Close()
		return nil, fmt.Errorf("%w: worker %d: %w", ErrWorker, i, err)
	}
	go r.read(w, out) // ends with the process's output
	if err := w.writeLine(line); err != nil {
		// The worker went away before reading its job: its stderr says
		// why, and is complete only once it has exited (read waits).
		select {
		case <-w.done:
		case <-time.After(jobFailWait):
		}
		return w, w.failure(fmt.Errorf("cannot send its job: %w", err))
	}
	return w, nil
}

// jobFailWait bounds how long a worker that refused its job is given to
// exit, so that its stderr can be reported.
const jobFailWait = 2 * time.Second

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
			var m Msg
			switch uerr := json.Unmarshal(line, &m); {
			case uerr != nil:
				protoErr = fmt.Errorf("%w: %w", ErrProtocol, uerr)
				w.closeInput() // it should stop
			case m.Done:
				gotDone = true
				w.result, w.hist, w.runErr = m.Result, m.Hist, m.Err
				w.closeInput() // lets it exit
			case m.Ready:
				closeOnce(w.ready)
			case len(m.Live) > 0 && r.onLive != nil:
				r.onLive(w.idx, m.Live)
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
// results, or the first failure as soon as there is one.
func (r *procsRun) finish(d time.Duration) ([]Result, error) {
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
	out := make([]Result, len(r.ws))
	for i, w := range r.ws {
		out[i] = Result{Worker: w.idx, Result: w.result, Hist: w.hist}
	}
	return out, nil
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

// writeLine writes one line to w's input, bounded by writeTimeout.
func (w *procWorker) writeLine(b []byte) error {
	if err := w.stdin.SetWriteDeadline(time.Now().Add(writeTimeout)); err != nil {
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
