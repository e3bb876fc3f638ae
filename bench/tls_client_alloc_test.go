//go:build !race

package bench

import "testing"

// TestTLSSessionAllocs checks that a TLS session handles an echo and sends
// the next message (process) without allocating.
func TestTLSSessionAllocs(t *testing.T) {
	s, echo := newTLSBenchSession(t, 64)
	if got := testing.AllocsPerRun(100, func() { s.feed(echo, 1000) }); got != 0 {
		t.Errorf("AllocsPerRun = %v, want 0", got)
	}
	if s.lp.mismatches != 0 || s.lp.msgs == 0 || len(s.lp.out) == 0 {
		t.Errorf("got mismatches %d, msgs %d, %d bytes out; want 0, more, the next message", s.lp.mismatches, s.lp.msgs, len(s.lp.out))
	}
}
