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
)

// The parent's side of a run split over worker processes: starting them,
// reading their lines, the ready/go/stop steps and their deadlines. What
// the workers run and how their reports merge is in procs.go; the wire
// format in procs_wire.go; the worker's side in procs_worker.go.

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
