package upstream

import (
	"math/bits"
	"math/rand/v2"
)

// RandomTwo is the power of two choices (Mitzenmacher, "The Power of Two
// Choices in Randomized Load Balancing", 2001): it draws two distinct
// non-excluded backends uniformly at random and keeps the one with fewer
// live sessions (Backend.Active) per unit of weight, the first drawn on a
// tie. Its state is the backends' counters: Pick takes no lock and shares
// no counter of its own, and draws from math/rand/v2's global source, which
// is safe for concurrent use and does not allocate.
type RandomTwo struct {
	backends []*Backend
	health   *passive // the backends' passive health, or nil
}

// Pick returns the less loaded of two random available, non-excluded
// backends, the only one left when one is, or nil when every backend is
// excluded or unavailable; it ignores key. It does not allocate and is
// safe for concurrent use.
func (r *RandomTwo) Pick(exclude, key uint64) *Backend {
	return pickAvailable(r, r.health, len(r.backends), exclude, key)
}

func (r *RandomTwo) pick(exclude, _ uint64, now int64) *Backend {
	n := len(r.backends)
	m := n
	switch {
	case now != 0:
		m = 0
		for _, b := range r.backends {
			if !skip(exclude, b, now) {
				m++
			}
		}
	case exclude != 0:
		mask := ^uint64(0)
		if n < 64 {
			mask = 1<<uint(n) - 1
		}
		m -= bits.OnesCount64(exclude & mask)
	}
	switch m {
	case 0:
		return nil
	case 1:
		return r.nth(exclude, now, 0)
	}
	i := rand.IntN(m)
	j := rand.IntN(m - 1)
	if j >= i {
		j++
	}
	a, b := r.nth(exclude, now, i), r.nth(exclude, now, j)
	// A backend ejected since the count may leave nth short.
	switch {
	case a == nil:
		return b
	case b == nil:
		return a
	}
	if b.Active()*int64(a.Weight) < a.Active()*int64(b.Weight) {
		return b
	}
	return a
}

// nth returns the i-th (from 0) backend not skipped at now, or nil when
// there are fewer.
func (r *RandomTwo) nth(exclude uint64, now int64, i int) *Backend {
	if exclude == 0 && now == 0 {
		return r.backends[i]
	}
	for _, b := range r.backends {
		if skip(exclude, b, now) {
			continue
		}
		if i == 0 {
			return b
		}
		i--
	}
	return nil
}
