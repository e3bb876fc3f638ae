package procs

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sync"
	"time"
)

// Timing of a worker process.
const (
	// liveEvery is how often a worker reports its progress.
	liveEvery = 500 * time.Millisecond
	// inputWait bounds how long a finished worker waits for its parent to
	// close its input.
	inputWait = 5 * time.Second
)

// Job runs one worker's job, the JSON line its parent sent. It calls ready
// once connected, which returns when the parent says go or ctx is done. It
// returns the run's result and latency histogram, each encoded as JSON
// (nil for none; a nil result says the run could not start), and the run's
// error, which is reported to the parent rather than returned by Serve.
type Job func(ctx context.Context, job json.RawMessage, ready func(context.Context)) (result, hist any, err error)

// Serve is one worker process of a run (see Run): it reads its job, one
// JSON line, from in, runs it, and writes its progress (live's value every
// 500 ms and once at the end, if live is not nil), readiness and result to
// out as JSON lines. It stops early, closing its sessions and still
// reporting, when in ends before its result (the parent aborting or gone)
// or ctx is done. It returns an error only when in holds no job or out
// cannot be written: a run's failure is part of its result. It returns once
// in has ended, at most 5 s after writing its result.
func Serve(ctx context.Context, in io.Reader, out io.Writer, run Job, live func() any) error {
	br := bufio.NewReader(in)
	line, err := br.ReadBytes('\n')
	if err != nil && len(line) == 0 {
		return fmt.Errorf("%w: no job: %w", ErrProtocol, err)
	}
	if !json.Valid(line) {
		return fmt.Errorf("%w: job is not JSON", ErrProtocol)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	start := make(chan struct{})
	inDone := make(chan struct{})
	go func() { // owned by Serve: it ends with in, which Serve waits for
		defer close(inDone)
		defer cancel() // in ended: stop
		l, err := br.ReadBytes('\n')
		if err != nil || string(trimEOL(l)) != goLine {
			return
		}
		close(start)
		_, _ = io.Copy(io.Discard, br)
	}()

	w := &workerOut{enc: json.NewEncoder(out)}
	stopLive := make(chan struct{})
	var lives sync.WaitGroup
	if live != nil {
		lives.Go(func() { w.reportLive(live, stopLive) })
	}
	ready := func(ctx context.Context) {
		w.send(Msg{Ready: true})
		select {
		case <-start:
		case <-ctx.Done():
		}
	}
	rep, hist, runErr := run(ctx, trimEOL(line), ready)
	close(stopLive)
	lives.Wait()

	msg := Msg{Done: true}
	if runErr != nil {
		msg.Err = runErr.Error()
	}
	if rep != nil {
		if msg.Result, err = json.Marshal(rep); err != nil {
			return fmt.Errorf("procs: worker: %w", err)
		}
	}
	if hist != nil {
		if msg.Hist, err = json.Marshal(hist); err != nil {
			return fmt.Errorf("procs: worker: %w", err)
		}
	}
	w.send(msg)
	timer := time.NewTimer(inputWait)
	defer timer.Stop()
	select {
	case <-inDone:
	case <-timer.C:
	}
	return w.err()
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
func (w *workerOut) send(m Msg) {
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
		return fmt.Errorf("procs: worker: %w", w.werr)
	}
	return nil
}

// reportLive sends live's value every liveEvery, and once more when stop is
// closed. A value that cannot be encoded is not sent.
func (w *workerOut) reportLive(live func() any, stop <-chan struct{}) {
	t := time.NewTicker(liveEvery)
	defer t.Stop()
	for {
		var last bool
		select {
		case <-stop:
			last = true
		case <-t.C:
		}
		if b, err := json.Marshal(live()); err == nil {
			w.send(Msg{Live: b})
		}
		if last {
			return
		}
	}
}
