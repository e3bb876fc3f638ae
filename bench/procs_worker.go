package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// Timing of a worker process.
const (
	// workerLiveEvery is how often a worker reports its progress.
	workerLiveEvery = 500 * time.Millisecond
	// workerInputWait bounds how long a finished worker waits for its
	// parent to close its input.
	workerInputWait = 5 * time.Second
)

// Worker is one worker process of a run split over processes by IdleProcs,
// EchoProcs or HandshakeProcs: it reads its job, one JSON line, from in,
// runs it, and writes its progress, readiness and result to out as JSON
// lines. Once connected it waits for the "go" line on in before the held or
// measured time. It stops early, closing its sessions and still reporting,
// when in ends before its result (the parent aborting or gone) or ctx is
// done. It returns an error only when in holds no job or out cannot be
// written: a run's failure is part of its result. It returns once in has
// ended, at most 5 s after writing its result.
func Worker(ctx context.Context, in io.Reader, out io.Writer) error {
	br := bufio.NewReader(in)
	line, err := br.ReadBytes('\n')
	if err != nil && len(line) == 0 {
		return fmt.Errorf("%w: no job: %w", ErrWorkerProtocol, err)
	}
	var job workerJob
	if err := json.Unmarshal(line, &job); err != nil {
		return fmt.Errorf("%w: job: %w", ErrWorkerProtocol, err)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	start := make(chan struct{})
	inDone := make(chan struct{})
	go func() { // owned by Worker: it ends with in, which Worker waits for
		defer close(inDone)
		defer cancel() // in ended: stop
		l, err := br.ReadBytes('\n')
		if err != nil || string(trimEOL(l)) != workerGo {
			return
		}
		close(start)
		_, _ = io.Copy(io.Discard, br)
	}()

	w := &workerOut{enc: json.NewEncoder(out)}
	live := new(Live)
	stopLive := make(chan struct{})
	var lives sync.WaitGroup
	lives.Go(func() { w.reportLive(live, stopLive) })
	ready := func(ctx context.Context) {
		w.send(workerMsg{Ready: true})
		select {
		case <-start:
		case <-ctx.Done():
		}
	}
	rep, hist, runErr := runJob(ctx, job, live, ready)
	close(stopLive)
	lives.Wait()

	msg := workerMsg{Done: true, Hist: encodeHist(hist)}
	if runErr != nil {
		msg.Err = runErr.Error()
	}
	if rep != nil {
		if msg.Result, err = json.Marshal(rep); err != nil {
			return fmt.Errorf("bench: worker: %w", err)
		}
	}
	w.send(msg)
	timer := time.NewTimer(workerInputWait)
	defer timer.Stop()
	select {
	case <-inDone:
	case <-timer.C:
	}
	return w.err()
}

// runJob runs job with live counters and the ready hook; it returns the
// report (nil if the run could not start), its latency histogram (nil for
// idle) and the run's error.
func runJob(ctx context.Context, job workerJob, live *Live, ready func(context.Context)) (any, *hdrhistogram.Histogram, error) {
	switch {
	case job.Mode == workerModeIdle && job.Idle != nil:
		cfg := *job.Idle
		cfg.Live, cfg.ready = live, ready
		rep, err := Idle(ctx, cfg)
		return nilIfNil(rep), nil, err
	case job.Mode == workerModeEcho && job.Echo != nil:
		cfg := *job.Echo
		cfg.Live, cfg.ready = live, ready
		rep, hist, err := echo(ctx, cfg)
		return nilIfNil(rep), hist, err
	case job.Mode == workerModeHandshake && job.Handshake != nil:
		cfg := *job.Handshake
		cfg.Live, cfg.ready = live, ready
		rep, hist, err := handshake(ctx, cfg)
		return nilIfNil(rep), hist, err
	}
	return nil, nil, fmt.Errorf("%w: job of mode %q", ErrWorkerProtocol, job.Mode)
}

// nilIfNil returns p as an any that is nil when p is.
func nilIfNil[T any](p *T) any {
	if p == nil {
		return nil
	}
	return p
}

// trimEOL strips a trailing "\n" or "\r\n".
func trimEOL(b []byte) []byte {
	if n := len(b); n > 0 && b[n-1] == '\n' {
		b = b[:n-1]
	}
	if n := len(b); n > 0 && b[n-1] == '\r' {
		b = b[:n-1]
	}
	return b
}

// workerOut writes a worker's lines, one at a time.
type workerOut struct {
	mu   sync.Mutex // guards enc, werr
	enc  *json.Encoder
	werr error
}

// send writes one line; after a failed write it writes nothing more.
func (w *workerOut) send(m workerMsg) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.werr == nil {
		w.werr = w.enc.Encode(m) // Encode ends the value with "\n"
	}
}

// err returns the first write error.
func (w *workerOut) err() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.werr != nil {
		return fmt.Errorf("bench: worker: %w", w.werr)
	}
	return nil
}

// reportLive sends live's counters every workerLiveEvery, and once more
// when stop is closed.
func (w *workerOut) reportLive(live *Live, stop <-chan struct{}) {
	t := time.NewTicker(workerLiveEvery)
	defer t.Stop()
	for {
		var last bool
		select {
		case <-stop:
			last = true
		case <-t.C:
		}
		s := live.Sample()
		w.send(workerMsg{Live: &s})
		if last {
			return
		}
	}
}
