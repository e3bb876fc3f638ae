package engine

import (
	"testing"
	"time"
)

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
	var w wheel
	at := []int64{1, 2, 5, 5, wheelSlots - 1, wheelSlots, wheelSlots + 5, 3*wheelSlots + 7}
	ss := make([]*session, len(at))
	for i, a := range at {
		ss[i] = &session{}
		w.arm(ss[i], a)
	}
	fired := map[*session]int64{}
	for range 4 * wheelSlots {
		w.advance(func(s *session) {
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
	var w wheel
	a, b, c := &session{}, &session{}, &session{}
	w.arm(a, 3)
	w.arm(b, 3)
	w.arm(c, 3)
	w.arm(a, 10) // moved
	w.disarm(b)  // gone
	var got []int64
	for range 20 {
		w.advance(func(s *session) {
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
	var w wheel
	w.now = 50
	s := &session{}
	w.arm(s, 10)
	fired := false
	w.advance(func(*session) { fired = true })
	if !fired {
		t.Fatal("past deadline did not fire on the next tick")
	}
}
