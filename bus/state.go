package bus

import (
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// State is the state of a Bus's connection to its server.
type State uint8

const (
	// Connecting is the state from Open until the first connection
	// attempt has succeeded (Up) or failed (Down).
	Connecting State = iota
	// Up means connected, with every subscription made before the change
	// to Up in force on the server.
	Up
	// Down means disconnected; the Bus is retrying with backoff, and
	// Subscribe and Unsubscribe still work (they take effect on reconnect).
	Down
)

// String is the state's name for logs and metric labels.
func (s State) String() string {
	switch s {
	case Connecting:
		return "connecting"
	case Up:
		return "up"
	case Down:
		return "down"
	default:
		return "state(" + strconv.Itoa(int(s)) + ")"
	}
}

// stateTracker holds a Bus's State and tells OnState of each change once,
// and OnError of asynchronous errors. State() reads an atomic so that it
// never waits for a callback; changes are made, and callbacks called, under
// mu, so that reports come out in the order of the changes and none begins
// after stop has returned (Close's promise).
type stateTracker struct {
	cur     atomic.Uint32
	mu      sync.Mutex
	stopped bool
	onState func(State, error)
	onError func(error)
}

func (t *stateTracker) get() State { return State(t.cur.Load()) }

// set moves to s, calling onState if that is a change.
func (t *stateTracker) set(s State, err error) {
	if t.get() == s {
		return // the common case, once per message: no lock
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.stopped || t.get() == s {
		return
	}
	t.cur.Store(uint32(s))
	if t.onState != nil {
		if s == Up {
			err = nil
		}
		t.onState(s, err)
	}
}

// report passes err to onError, unless stopped.
func (t *stateTracker) report(err error) {
	if t.onError == nil {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.stopped {
		t.onError(err)
	}
}

// stop ends reporting, waiting for a report in progress, and leaves the
// state Down without telling anyone: the caller closed the Bus itself.
func (t *stateTracker) stop() {
	t.mu.Lock()
	t.stopped = true
	t.cur.Store(uint32(Down))
	t.mu.Unlock()
}

// backoff is the delay before reconnect attempt n (0 for the first after a
// failure): lo doubled n times, capped at hi, of which the upper half is
// random, so that many throng processes that lost the same server do not
// come back at the same instant.
func backoff(n int, lo, hi time.Duration) time.Duration {
	d := hi
	if n < 32 {
		if x := lo << uint(n); x > 0 && x < hi {
			d = x
		}
	}
	half := d / 2
	return half + rand.N(d-half+1)
}
