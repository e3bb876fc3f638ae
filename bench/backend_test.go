package bench

import (
	"context"
	"testing"

	"github.com/throngproxy/throng/bench/backend"
)

// startServe runs the backend on cfg.Addr (its own loopback address per
// test) until the test ends and waits until it is ready.
func startServe(t testing.TB, cfg backend.Config) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	wait, err := backend.Start(ctx, cfg)
	if err != nil {
		cancel()
		t.Fatalf("backend.Start(%s) = %v", cfg.Addr, err)
	}
	t.Cleanup(func() {
		cancel()
		if err := wait(); err != nil {
			t.Errorf("backend.Serve(%s) = %v, want nil", cfg.Addr, err)
		}
	})
}
