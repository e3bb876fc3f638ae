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
