// Package enginetest is throng's test kit, as net/http/httptest is
// net/http's: the helpers the tests of several packages share, so that none
// is copied. It imports nothing of throng's, so the engine's own in-package
// tests can use it too.
package enginetest

import (
	"testing"
	"time"
)

// WaitFor polls cond every 10 ms until it holds, and fails t naming what
// was awaited if it does not within 5 s. It is for conditions that no event
// announces (a counter, a file, another process's state); where a channel
// or a read announces the event, wait on that instead.
func WaitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	WaitForWithin(t, 5*time.Second, what, cond)
}

// WaitForWithin is WaitFor with a deadline of d.
func WaitForWithin(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		<-tick.C
	}
}
