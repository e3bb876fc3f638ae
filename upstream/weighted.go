package upstream

import "sync"

// WeightedRoundRobin is nginx's smooth weighted round robin
// (ngx_http_upstream_get_peer, ngx_http_upstream_round_robin.c): on each
// pick every candidate's current weight grows by its weight, the largest
// (first on ties) wins and loses the sum of the candidates' weights. For
// weights 5, 1, 1 it yields a a b a c a a. Excluded backends take no part
// in a pick, nor do unavailable ones. Pick is safe for concurrent use and does not allocate.
type WeightedRoundRobin struct {
	mu       sync.Mutex // guards current
	current  []int      // current weight of backends[i]
	backends []*Backend
	health   *passive // the backends' passive health, or nil
}

// Pick returns the next available backend not in exclude, or nil when
// every backend is excluded or unavailable; it ignores key. It does not
// allocate and is safe for concurrent use.
func (w *WeightedRoundRobin) Pick(exclude, key uint64) *Backend {
	return pickAvailable(w, w.health, len(w.backends), exclude, key)
}

func (w *WeightedRoundRobin) pick(exclude, _ uint64, now int64) *Backend {
	w.mu.Lock()
	best, total := -1, 0
	for i, b := range w.backends {
		if skip(exclude, b, now) {
			continue
		}
		w.current[i] += b.Weight
		total += b.Weight
		if best < 0 || w.current[i] > w.current[best] {
			best = i
		}
	}
	if best < 0 {
		w.mu.Unlock()
		return nil
	}
	w.current[best] -= total
	w.mu.Unlock()
	return w.backends[best]
}
