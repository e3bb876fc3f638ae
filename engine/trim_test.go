package engine

import "testing"

func TestMemoryTrimmer(t *testing.T) {
	var m memoryTrimmer
	steps := []struct {
		accepted uint64
		want     bool
	}{
		{0, false},    // nothing happened
		{500, false},  // burst running
		{1500, false}, // still running
		{1500, true},  // quiet after 1,500 set-ups: trim
		{1500, false}, // already trimmed
		{1600, false}, // small burst
		{1600, false}, // quiet, but only 100 since the trim
		{3000, false}, // running
		{3000, true},  // quiet again after 1,500
	}
	for i, st := range steps {
		if got := m.check(st.accepted); got != st.want {
			t.Fatalf("step %d (accepted %d): trimmed %v, want %v", i, st.accepted, got, st.want)
		}
	}
}
