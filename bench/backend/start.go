package backend

import (
	"context"
)

// Start runs Serve(ctx, cfg) on a goroutine of its own and returns once
// every event loop listens, or with Serve's error if it stopped first. wait,
// called once, blocks until Serve has returned and gives its result; call
// it after cancelling ctx, so the goroutine Start made has an owner that waits for
// it. Start itself does not time out: ctx bounds it.
func Start(ctx context.Context, cfg Config) (wait func() error, err error) {
	ready := make(chan struct{})
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, cfg, func() { close(ready) }) }()
	select {
	case <-ready:
	case err := <-done:
		if err == nil { // Serve returns nil only once ctx is done
			err = ctx.Err()
		}
		return nil, err
	}
	return func() error { return <-done }, nil
}
