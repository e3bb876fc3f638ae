package upstream

import (
	"sync/atomic"

	"golang.org/x/sys/cpu"
)

// LeastConn is weighted least connections: it picks the backend with the
// fewest live sessions (Backend.Active, counted across every loop) per unit
// of weight. A session counts from its dial until it starts closing: a
// backend slow to finish close handshakes still holds those sockets for up
// to timeouts.close but is not charged for them. Ties go to the first tied backend from a start index that
// rotates on each pick, so an idle upstream is served in turn rather than
// always from backend 0. Pick reads each counter once without a lock, so
// two loops picking at once may both see the same minimum; the counts
// correct themselves on the next picks.
type LeastConn struct {
	_        cpu.CacheLinePad
	next     atomic.Uint64 // count of picks so far: the rotating start index
	_        cpu.CacheLinePad
	backends []*Backend
	health   *passive // the backends' passive health, or nil
}

// Pick returns the available, non-excluded backend with the least
// Active()/Weight, or nil when every backend is excluded or unavailable;
// it ignores key. It takes one atomic add and reads each backend's
// counter: no lock, no allocation. Safe for concurrent use.
func (l *LeastConn) Pick(exclude, key uint64) *Backend {
	return pickAvailable(l, l.health, len(l.backends), exclude, key)
}

func (l *LeastConn) pick(exclude, _ uint64, now int64) *Backend {
	n := len(l.backends)
	start := int((l.next.Add(1) - 1) % uint64(n))
	var best *Backend
	var bestActive int64
	for i := range n {
		j := start + i
		if j >= n {
			j -= n
		}
		b := l.backends[j]
		if skip(exclude, b, now) {
			continue
		}
		// a/w < bestActive/bestW, without division.
		if a := b.Active(); best == nil || a*int64(best.Weight) < bestActive*int64(b.Weight) {
			best, bestActive = b, a
		}
	}
	return best
}
