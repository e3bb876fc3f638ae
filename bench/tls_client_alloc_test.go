//go:build !race

package bench

import (
	"testing"

	"github.com/gobwas/ws"
)

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

// TestPingAllocs checks that a session sends the hold's Ping and counts a
// Pong without allocating, on either path (appendPing, handle).
func TestPingAllocs(t *testing.T) {
	s, _ := newTLSBenchSession(t, 64)
	pong := clientServerFrame(true, ws.OpPong, make([]byte, clientPingLen))
	tests := []struct {
		name string
		fn   func()
	}{
		{"ping", func() { s.lp.out = s.cs.appendPing(s.lp.out[:0]) }},
		{"pong", func() { _, _ = s.cs.handle(pong, clientPhaseHold, 1000) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := testing.AllocsPerRun(100, tt.fn); got != 0 {
				t.Errorf("AllocsPerRun = %v, want 0", got)
			}
		})
	}
	if s.cs.pings == 0 || s.cs.pongs == 0 {
		t.Errorf("got %d pings, %d pongs; want both counted", s.cs.pings, s.cs.pongs)
	}
}
