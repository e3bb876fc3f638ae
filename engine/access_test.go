package engine

import "testing"

// TestRefusalLimiter: a burst, then refusalsPerTick a tick, and the count
// of lines left out reported with the next one written; tick 0 included
// (a flood in the engine's first 100 ms).
func TestRefusalLimiter(t *testing.T) {
	tests := []struct {
		name     string
		ticks    []int64 // the tick of each call
		allowed  int
		reported uint64 // suppressed counts reported by allowed calls
	}{
		{"burst at tick 0", repeat(0, 150), refusalBurst, 0},
		{"burst later", repeat(7, 150), refusalBurst, 0},
		{"refill after a tick", append(repeat(3, 150), repeat(4, 20)...), refusalBurst + refusalsPerTick, 50},
		{"full again after a pause", append(repeat(1, 100), repeat(100, 100)...), 2 * refusalBurst, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var l refusalLimiter
			allowed := 0
			var reported uint64
			for _, now := range tt.ticks {
				if ok, n := l.allow(now); ok {
					allowed++
					reported += n
				}
			}
			if allowed != tt.allowed || reported != tt.reported {
				t.Errorf("allowed %d, reported %d suppressed; want %d and %d", allowed, reported, tt.allowed, tt.reported)
			}
		})
	}
}

func repeat(v int64, n int) []int64 {
	out := make([]int64, n)
	for i := range out {
		out[i] = v
	}
	return out
}
