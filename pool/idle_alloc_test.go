//go:build !race

package pool

import "testing"

func TestIdleAllocs(t *testing.T) {
	p := NewIdle[int](4)
	if n := testing.AllocsPerRun(100, func() {
		p.Put(1, 1)
		p.Put(2, 2)
		p.Remove(1)
		p.Take(0)
	}); n != 0 {
		t.Fatalf("Put/Remove/Take allocate %v times", n)
	}
}
