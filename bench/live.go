package bench

import (
	"sync/atomic"

	"golang.org/x/sys/cpu"
)

// Live holds a run's counters while it goes, for a progress line: the run
// adds to them from its event loops and any goroutine may read them with
// Sample. A nil *Live counts nothing. The zero value is ready to use.
type Live struct {
	up     atomic.Int64 // sessions open now; handshake: connections in flight
	msgs   atomic.Uint64
	errors atomic.Uint64
	_      cpu.CacheLinePad
}

// LiveSample is one reading of a Live.
type LiveSample struct {
	// Up is the number of sessions open now (handshake: connections in
	// flight).
	Up int64 `json:"up"`
	// Msgs is the number of messages received so far (handshake: 101s).
	Msgs uint64 `json:"msgs"`
	// Errors is failures and damaged messages so far.
	Errors uint64 `json:"errors"`
}

// Sample reads l. Safe from any goroutine; it does not allocate. A nil l
// reads as zero.
func (l *Live) Sample() LiveSample {
	if l == nil {
		return LiveSample{}
	}
	return LiveSample{Up: l.up.Load(), Msgs: l.msgs.Load(), Errors: l.errors.Load()}
}

// store replaces l's counters with s (a parent summing its workers).
func (l *Live) store(s LiveSample) {
	if l == nil {
		return
	}
	l.up.Store(s.Up)
	l.msgs.Store(s.Msgs)
	l.errors.Store(s.Errors)
}

// addUp counts n sessions opened (or closed, n < 0).
func (l *Live) addUp(n int64) {
	if l != nil {
		l.up.Add(n)
	}
}

// addMsgs counts n messages received.
func (l *Live) addMsgs(n uint64) {
	if l != nil && n > 0 {
		l.msgs.Add(n)
	}
}

// addErrors counts n failures or damaged messages.
func (l *Live) addErrors(n uint64) {
	if l != nil && n > 0 {
		l.errors.Add(n)
	}
}

// add returns s + o.
func (s LiveSample) add(o LiveSample) LiveSample {
	return LiveSample{Up: s.Up + o.Up, Msgs: s.Msgs + o.Msgs, Errors: s.Errors + o.Errors}
}
