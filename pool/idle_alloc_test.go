//go:build !race

package pool

import "testing"

func TestIdleAllocs(t *testing.T) {
	p := NewIdle[int](4)
	drop := func(int) {}
	if n := testing.AllocsPerRun(100, func() {
		p.Put(1, 1)
		p.Put(2, 2)
		p.Put(3, 3)
		p.Remove(1)
		p.Take(0)
		p.Expire(3, drop)
		p.Drain(drop)
	}); n != 0 {
		t.Fatalf("Put/Remove/Take/Expire/Drain allocate %v times", n)
	}
}
