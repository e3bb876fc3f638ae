package engine

import (
	"sync/atomic"
	"time"
)

// tickInterval is the resolution of every session deadline. Deadlines are
// coarse on purpose: a tick costs one Execute per loop, and no WebSocket
// timeout needs better than a tenth of a second.
const tickInterval = 100 * time.Millisecond

// wheelSlots is the number of buckets in a shard's timer wheel. With 100 ms
// ticks one turn covers 102.4 s; a deadline further out sits in its bucket and
// is skipped until the turn that reaches it.
const wheelSlots = 1024

// wheel is a hashed timer wheel owned by one event loop. A session is in at
// most one bucket, linked through its own tprev/tnext fields, so arming and
// disarming never allocate and an idle session with no deadline costs nothing.
//
// Time is the engine's clock, a tick count advanced by the ticker goroutine.
// The ticker posts a tick to a loop only while its wheel holds a session or
// it keeps warm pools: with idle = 0 and no pool, a loop of idle open
// sessions is never woken (each wake-up costs the runtime far more than the
// tick itself).
type wheel struct {
	clock *atomic.Int64 // the engine's tick count
	now   int64         // the last tick processed
	armed atomic.Int64  // sessions in buckets; read by the ticker
	slots [wheelSlots]*session
}

// ticks converts a duration to a tick count, rounding up so that a deadline
// never fires early.
//
// A duration is capped at maxTicks (about 1.7 years): session deadlines are
// 32-bit ticks (session.go), and a timeout configured to mean "for ever"
// must not wrap into the past.
func ticks(d time.Duration) int64 {
	return min(int64((d+tickInterval-1)/tickInterval), maxTicks)
}

// maxTicks bounds any one timeout: half of the 32-bit tick range still free
// after 3.4 years of uptime.
const maxTicks = 1 << 29

// arm sets s to fire at tick `at` (absolute), moving it between buckets.
func (w *wheel) arm(s *session, at int64) {
	w.disarm(s)
	if w.armed.Load() == 0 {
		// Ticks were skipped while the wheel was empty: catch up, with
		// nothing to fire.
		w.now = w.clock.Load()
	}
	if at <= w.now {
		at = w.now + 1
	}
	s.deadline = int32(at)
	i := int64(s.deadline) % wheelSlots
	s.tnext = w.slots[i]
	if s.tnext != nil {
		s.tnext.tprev = s
	}
	s.tprev = nil
	w.slots[i] = s
	s.armed = true
	w.armed.Add(1)
}

// disarm removes s from its bucket, if it is in one.
func (w *wheel) disarm(s *session) {
	if !s.armed {
		return
	}
	if s.tprev != nil {
		s.tprev.tnext = s.tnext
	} else {
		w.slots[s.deadline%wheelSlots] = s.tnext
	}
	if s.tnext != nil {
		s.tnext.tprev = s.tprev
	}
	s.tprev, s.tnext = nil, nil
	s.armed = false
	s.deadline = 0
	w.armed.Add(-1)
}

// advance processes every tick up to the clock and calls fire for each
// session whose deadline has come. fire may re-arm or disarm the session it
// is given but no other session: the rest of the bucket is detached and
// being walked.
func (w *wheel) advance(fire func(*session)) {
	for target := w.clock.Load(); w.now < target; {
		if w.armed.Load() == 0 {
			w.now = target
			return
		}
		w.now++
		w.fireSlot(w.now%wheelSlots, fire)
	}
}

func (w *wheel) fireSlot(i int64, fire func(*session)) {
	due := w.slots[i]
	w.slots[i] = nil
	for s := due; s != nil; {
		next := s.tnext
		if next != nil {
			next.tprev = nil
		}
		s.tprev, s.tnext = nil, nil
		s.armed = false
		w.armed.Add(-1)
		if int64(s.deadline) > w.now {
			// A later turn: put it back without touching its deadline.
			w.arm(s, int64(s.deadline))
		} else {
			s.deadline = 0
			fire(s)
		}
		s = next
	}
}
