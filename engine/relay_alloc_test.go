//go:build !race

package engine

import "testing"

// TestRelayAllocs: relaying a read of frames costs no allocation.
func TestRelayAllocs(t *testing.T) {
	for _, size := range []int{0, 64, 4 << 10, 70000} {
		s, span := newBenchSession(t, size)
		// A split header takes the held path (Writev) too.
		cut := len(span) - 3
		if got := testing.AllocsPerRun(200, func() {
			s.relayFromClient(span[:cut])
			s.relayFromClient(span[cut:])
		}); got != 0 {
			t.Errorf("frames of %d bytes: %v allocs per relay, want 0", size, got)
		}
	}
}

// TestRelayGatedAllocs: so does relaying them through per-message limits,
// forwarding every message or dropping most.
func TestRelayGatedAllocs(t *testing.T) {
	for _, tt := range []struct {
		name      string
		perSecond int64
		drop      bool
	}{{"forward", 1 << 40, false}, {"drop", 1, true}} {
		for _, size := range []int{0, 64, 70000} {
			s, span := newBenchSession(t, size)
			gate(s, tt.perSecond, tt.drop, 1<<20)
			cut := len(span) - 3
			if got := testing.AllocsPerRun(200, func() {
				s.relayFromClient(span[:cut])
				s.relayFromClient(span[cut:])
			}); got != 0 {
				t.Errorf("%s, frames of %d bytes: %v allocs per relay, want 0", tt.name, size, got)
			}
			if s.flags&flagClientFailed != 0 {
				t.Errorf("%s, frames of %d bytes: the session was closed", tt.name, size)
			}
		}
	}
}
