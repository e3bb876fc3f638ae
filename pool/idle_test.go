package pool

import (
	"slices"
	"testing"
)

func TestIdleTakesNewestWithinAge(t *testing.T) {
	p := NewIdle[int](3)
	for i, at := range []int64{10, 20, 30} {
		if !p.Put(i+1, at) {
			t.Fatalf("Put(%d) refused below the limit", i+1)
		}
	}
	if p.Put(4, 40) {
		t.Fatal("Put past the limit accepted")
	}
	tests := []struct {
		oldest int64
		want   int
		ok     bool
	}{
		{31, 0, false}, // the newest is too old: nothing taken
		{25, 3, true},
		{25, 0, false}, // 2 (at 20) is too old
		{0, 2, true},
		{0, 1, true},
		{0, 0, false}, // empty
	}
	for i, tt := range tests {
		v, ok := p.Take(tt.oldest)
		if v != tt.want || ok != tt.ok {
			t.Fatalf("step %d: Take(%d) = %d, %v; want %d, %v", i, tt.oldest, v, ok, tt.want, tt.ok)
		}
	}
}

func TestIdleExpireRemoveDrain(t *testing.T) {
	p := NewIdle[int](8)
	for i := 1; i <= 6; i++ {
		p.Put(i, int64(i*10))
	}
	var dropped []int
	drop := func(v int) { dropped = append(dropped, v) }
	if n := p.Expire(30, drop); n != 2 || !slices.Equal(dropped, []int{1, 2}) {
		t.Fatalf("Expire(30) = %d, dropped %v; want 2, [1 2]", n, dropped)
	}
	if at, ok := p.Remove(4); !ok || at != 40 {
		t.Fatalf("Remove(4) = %d, %v; want 40, true", at, ok)
	}
	if _, ok := p.Remove(4); ok {
		t.Fatal("Remove(4) twice: want false the second time")
	}
	if _, ok := p.Remove(99); ok {
		t.Fatal("Remove of an absent value: want false")
	}
	if v, _ := p.Take(0); v != 6 {
		t.Fatalf("Take after Remove = %d; want 6", v)
	}
	dropped = nil
	if n := p.Drain(drop); n != 2 || !slices.Equal(dropped, []int{3, 5}) || p.Len() != 0 {
		t.Fatalf("Drain = %d, dropped %v, Len %d; want 2, [3 5], 0", n, dropped, p.Len())
	}
}
