package engine

import (
	"sync/atomic"
	"testing"
	"time"
)

// testWheel is a wheel on its own clock; step advances both by one tick.
type testWheel struct {
	wheel
	c atomic.Int64
}

func newTestWheel() *testWheel {
	w := &testWheel{}
	w.clock = &w.c
	return w
}

func (w *testWheel) step(fire func(*session)) {
	w.c.Add(1)
	w.advance(fire)
}

func TestTicks(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want int64
	}{
		{0, 0}, {time.Millisecond, 1}, {100 * time.Millisecond, 1}, {101 * time.Millisecond, 2}, {10 * time.Second, 100},
	}
	for _, tt := range tests {
		if got := ticks(tt.d); got != tt.want {
			t.Errorf("ticks(%v) = %d, want %d", tt.d, got, tt.want)
		}
	}
}

// TestWheelFiresOnTime arms sessions at deadlines inside one turn, past one
// turn and several turns out, and checks each fires exactly at its tick.
func TestWheelFiresOnTime(t *testing.T) {
	w := newTestWheel()
	at := []int64{1, 2, 5, 5, wheelSlots - 1, wheelSlots, wheelSlots + 5, 3*wheelSlots + 7}
	ss := make([]*session, len(at))
	for i, a := range at {
		ss[i] = &session{}
		w.arm(ss[i], a)
	}
	fired := map[*session]int64{}
	for range 4 * wheelSlots {
		w.step(func(s *session) {
			if _, dup := fired[s]; dup {
				t.Fatalf("session fired twice")
			}
			fired[s] = w.now
		})
	}
	for i, s := range ss {
		if got := fired[s]; got != at[i] {
			t.Errorf("session %d armed for %d fired at %d", i, at[i], got)
		}
		if s.armed || s.deadline != 0 {
			t.Errorf("session %d still armed after firing", i)
		}
	}
}

// TestWheelRearmAndDisarm: re-arming moves a session, disarming removes it,
// and a callback may re-arm the session it is given.
func TestWheelRearmAndDisarm(t *testing.T) {
	w := newTestWheel()
	a, b, c := &session{}, &session{}, &session{}
	w.arm(a, 3)
	w.arm(b, 3)
	w.arm(c, 3)
	w.arm(a, 10) // moved
	w.disarm(b)  // gone
	var got []int64
	for range 20 {
		w.step(func(s *session) {
			got = append(got, w.now)
			if s == c && w.now == 3 {
				w.arm(c, 7) // a callback re-arming its own session
			}
		})
	}
	want := []int64{3, 7, 10}
	if len(got) != len(want) {
		t.Fatalf("fired at %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("fired at %v, want %v", got, want)
		}
	}
	if b.armed {
		t.Fatal("disarmed session still armed")
	}
}

// TestWheelPastDeadline: a deadline already passed fires on the next tick.
func TestWheelPastDeadline(t *testing.T) {
	w := newTestWheel()
	w.c.Store(50)
	w.now = 50
	s := &session{}
	w.arm(s, 10)
	fired := false
	w.step(func(*session) { fired = true })
	if !fired {
		t.Fatal("past deadline did not fire on the next tick")
	}
}

// TestWheelSkipsWhileEmpty: while nothing is armed the clock may run ahead
// without ticks; arming then counts from the clock, not the stale wheel.
func TestWheelSkipsWhileEmpty(t *testing.T) {
	w := newTestWheel()
	w.c.Store(1000) // ticks skipped: nothing was armed
	s := &session{}
	w.arm(s, w.c.Load()+5)
	fired := int64(0)
	for range 10 {
		w.step(func(*session) { fired = w.now })
	}
	if fired != 1005 {
		t.Fatalf("fired at %d, want 1005", fired)
	}
	if n := w.armed.Load(); n != 0 {
		t.Fatalf("armed count %d after firing, want 0", n)
	}
}

// TestTicksCapped: a timeout meant as "for ever" (ten years) becomes the
// largest tick count that still fits the 32-bit deadlines, not a wrapped one.
func TestTicksCapped(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want int64
	}{
		{0, 0},
		{time.Millisecond, 1},
		{time.Second, 10},
		{87600 * time.Hour, maxTicks},
	}
	for _, tt := range tests {
		if got := ticks(tt.d); got != tt.want {
			t.Errorf("ticks(%v) = %d, want %d", tt.d, got, tt.want)
		}
	}
	// A session armed that far out, on an engine up for three years, is
	// filed and removed again (a wrapped deadline indexed a negative slot).
	var clock atomic.Int64
	clock.Store(3 * 365 * 24 * 36000)
	w := &wheel{clock: &clock}
	s := &session{}
	w.arm(s, clock.Load()+ticks(87600*time.Hour))
	if s.deadline <= 0 {
		t.Fatalf("deadline %d wrapped", s.deadline)
	}
	w.disarm(s)
	if s.armed || w.armed.Load() != 0 {
		t.Error("session still armed")
	}
}
