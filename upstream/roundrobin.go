package upstream

import (
	"sync/atomic"

	"golang.org/x/sys/cpu"
)

// RoundRobin hands out backends in turn and ignores weights. Pick takes one
// atomic add, plus one per excluded backend it meets, so an excluded
// backend's turn goes round the ring rather than to its neighbour alone.
// It is safe for concurrent use and does not allocate.
type RoundRobin struct {
	_        cpu.CacheLinePad
	next     atomic.Uint64 // count of turns taken so far
	_        cpu.CacheLinePad
	backends []*Backend
	health   *passive // the backends' passive health, or nil
}

// Pick returns the next available backend not in exclude, or nil when
// every backend is excluded or unavailable; it ignores key. It does not
// allocate and is safe for concurrent use.
func (r *RoundRobin) Pick(exclude, key uint64) *Backend {
	return pickAvailable(r, r.health, len(r.backends), exclude, key)
}

func (r *RoundRobin) pick(exclude, _ uint64, now int64) *Backend {
	n := uint64(len(r.backends))
	for range n {
		if b := r.backends[(r.next.Add(1)-1)%n]; !skip(exclude, b, now) {
			return b
		}
	}
	// Concurrent picks may have taken the turns this one needed: scan.
	for _, b := range r.backends {
		if !skip(exclude, b, now) {
			return b
		}
	}
	return nil
}
