package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/throngproxy/throng/bench/procs"
)

// Worker is one worker process of a run split over processes by IdleProcs,
// EchoProcs, HandshakeProcs or FanoutProcs: procs.Serve with the scenarios as jobs and
// the run's live counters as progress. See procs.Serve for what it reads,
// writes and returns.
func Worker(ctx context.Context, in io.Reader, out io.Writer) error {
	live := new(Live)
	return procs.Serve(ctx, in, out, func(ctx context.Context, line json.RawMessage, ready func(context.Context)) (any, any, error) {
		var job workerJob
		if err := json.Unmarshal(line, &job); err != nil {
			return nil, nil, fmt.Errorf("%w: job: %w", procs.ErrProtocol, err)
		}
		rep, hist, err := runJob(ctx, job, live, ready)
		if hist == nil {
			return rep, nil, err
		}
		return rep, encodeHist(hist), err
	}, func() any { return live.Sample() })
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
	case job.Mode == workerModeFanout && job.Fanout != nil:
		cfg := *job.Fanout
		cfg.Live, cfg.ready = live, ready
		rep, hist, err := fanout(ctx, cfg)
		return nilIfNil(rep), hist, err
	}
	return nil, nil, fmt.Errorf("%w: job of mode %q", procs.ErrProtocol, job.Mode)
}

// nilIfNil returns p as an any that is nil when p is.
func nilIfNil[T any](p *T) any {
	if p == nil {
		return nil
	}
	return p
}
