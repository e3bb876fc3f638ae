package engine

import "time"

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
type wheel struct {
	now   int64 // ticks since the shard started
	slots [wheelSlots]*session
}

// ticks converts a duration to a tick count, rounding up so that a deadline
// never fires early.
func ticks(d time.Duration) int64 {
	return int64((d + tickInterval - 1) / tickInterval)
}

// arm sets s to fire at tick `at` (absolute), moving it between buckets.
func (w *wheel) arm(s *session, at int64) {
	if at <= w.now {
		at = w.now + 1
	}
	w.disarm(s)
	s.deadline = at
	i := at % wheelSlots
	s.tnext = w.slots[i]
	if s.tnext != nil {
		s.tnext.tprev = s
	}
	s.tprev = nil
	w.slots[i] = s
	s.armed = true
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
}

// advance moves the wheel one tick and calls fire for every session whose
// deadline has come. fire may re-arm or disarm the session it is given but
// no other session: the rest of the bucket is detached and being walked.
func (w *wheel) advance(fire func(*session)) {
	w.now++
	i := w.now % wheelSlots
	due := w.slots[i]
	w.slots[i] = nil
	for s := due; s != nil; {
		next := s.tnext
		if next != nil {
			next.tprev = nil
		}
		s.tprev, s.tnext = nil, nil
		if s.deadline > w.now {
			// A later turn: put it back without touching its deadline.
			at := s.deadline
			s.armed = false
			w.arm(s, at)
		} else {
			s.armed = false
			s.deadline = 0
			fire(s)
		}
		s = next
	}
}
