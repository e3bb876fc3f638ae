package upstream

import (
	"math"
	"slices"
	"sort"
)

// Ring sizes: pointsPerWeight virtual nodes per unit of weight, at most
// maxRingPoints in all (weights are scaled down past it, each backend
// keeping at least one point).
const (
	pointsPerWeight = 100
	maxRingPoints   = 1 << 20
)

// Hash is consistent hashing with bounded loads (Mirrokni, Thorup,
// Zadimoghaddam, "Consistent Hashing with Bounded Loads", 2018; as in
// HAProxy's hash-balance-factor). Each backend owns 100 × weight points on
// a 64-bit ring, placed by hashing its Addr, so the ring depends only on
// addresses and weights: every process and every restart maps a key alike,
// and adding or removing one backend of N moves about 1/N of keys.
//
// A key goes to the owner of the first point at or after it, clockwise,
// unless that backend is excluded, unavailable or full, in which case the
// walk goes on to the next point whose backend is none of these. Full means
// Active() has reached ceil(loadFactor × (total Active + 1) × weight /
// total weight), which for equal weights is ceil(loadFactor × (total + 1)
// / n), and also a floor: hashMinBound (4) sessions, times weight / mean
// weight for a backend heavier than the mean, whatever scale the weights
// use. Should exclusions leave only full backends, the bound is ignored.
//
// The ring is built once and never modified; Pick reads the backends'
// counters without a lock, so concurrent picks may each let a backend pass
// its bound by one.
type Hash struct {
	backends    []*Backend
	points      []uint64 // ring positions, ascending
	owners      []int32  // owners[i]: position in backends of points[i]
	loadFactor  float64
	totalWeight int64
	floors      []float64 // by backend position: the bound's floor (see full)
	health      *passive  // the backends' passive health, or nil
}

// NewHash returns a hash balancer over backends (weights ≥ 1, Index equal
// to position) with loadFactor, a finite number ≥ 1 (config key
// hash_load_factor). Errors: ErrNoBackends, ErrBadWeight,
// ErrBadLoadFactor. It allocates the ring (12 bytes per point); build it
// off the loops. Pick does not allocate.
func NewHash(backends []*Backend, loadFactor float64) (*Hash, error) {
	if len(backends) == 0 {
		return nil, ErrNoBackends
	}
	if !(loadFactor >= 1) || math.IsInf(loadFactor, 1) {
		return nil, ErrBadLoadFactor
	}
	h := &Hash{backends: backends, loadFactor: loadFactor, health: passiveOf(backends)}
	for _, b := range backends {
		if b.Weight < 1 {
			return nil, ErrBadWeight
		}
		h.totalWeight += int64(b.Weight)
	}
	// The floor: hashMinBound sessions, times weight / mean weight for a
	// backend heavier than the mean. Built once: Pick only compares.
	h.floors = make([]float64, len(backends))
	for i, b := range backends {
		h.floors[i] = max(math.Ceil(hashMinBound*float64(b.Weight)*float64(len(backends))/float64(h.totalWeight)), hashMinBound)
	}
	per := func(b *Backend) int {
		n := int64(b.Weight) * pointsPerWeight
		if total := h.totalWeight * pointsPerWeight; total > maxRingPoints {
			n = n * maxRingPoints / total
		}
		return max(int(n), 1)
	}
	total := 0
	for _, b := range backends {
		total += per(b)
	}
	type point struct {
		pos   uint64
		owner int32
	}
	ring := make([]point, 0, total)
	for i, b := range backends {
		seed := hashBytes([]byte(b.Addr))
		for k := range per(b) {
			// Point k of a backend does not depend on how many it has.
			ring = append(ring, point{mix64(seed + uint64(k+1)*0x9e3779b97f4a7c15), int32(i)})
		}
	}
	sort.Slice(ring, func(i, j int) bool {
		if ring[i].pos != ring[j].pos {
			return ring[i].pos < ring[j].pos
		}
		return ring[i].owner < ring[j].owner
	})
	h.points = make([]uint64, len(ring))
	h.owners = make([]int32, len(ring))
	for i, p := range ring {
		h.points[i], h.owners[i] = p.pos, p.owner
	}
	return h, nil
}

// Pick returns the backend for key: the owner of the first ring point at
// or after key that is available and neither excluded nor full (see
// Hash), or nil when every backend is excluded or unavailable. While a
// backend is ejected its keys walk on to the next point, and come back
// when it is restored. It reads every backend's counter once to sum the
// load, takes no lock, does not allocate, and is safe for concurrent use.
func (h *Hash) Pick(exclude, key uint64) *Backend {
	return pickAvailable(h, h.health, len(h.backends), exclude, key)
}

func (h *Hash) pick(exclude, key uint64, now int64) *Backend {
	var total int64
	for _, b := range h.backends {
		total += b.Active()
	}
	// Capacity per unit of weight; backend b is full at ceil(perWeight × w).
	perWeight := h.loadFactor * float64(total+1) / float64(h.totalWeight)
	bounded := true
	if exclude != 0 || now != 0 {
		// Excluded or unavailable backends may hold the only room left,
		// and the walk must not go round the whole ring for nothing.
		open, room := false, false
		for _, b := range h.backends {
			if skip(exclude, b, now) {
				continue
			}
			open = true
			if !h.full(b, perWeight) {
				room = true
				break
			}
		}
		if !open {
			return nil
		}
		bounded = room
	}
	start, _ := slices.BinarySearch(h.points, key)
	n := len(h.points)
	for range 2 {
		for i := range n {
			j := start + i
			if j >= n {
				j -= n
			}
			b := h.backends[h.owners[j]]
			if skip(exclude, b, now) || bounded && h.full(b, perWeight) {
				continue
			}
			return b
		}
		// Counters moved under us and every backend filled up: drop the
		// bound.
		bounded = false
	}
	return nil
}

// hashMinBound is the floor of the bound, per unit of weight. At small
// loads the bound is tiny (with three backends and one session still being
// released, ceil(1.25 × 2 / 3) = 1), so a user reconnecting right after
// leaving would find its own backend full and move; no backend is
// overloaded by a handful of sessions, so below the floor keys stay put.
// Under real load the bound is far above it.
const hashMinBound = 4

// full reports whether b has reached its bound: ceil(perWeight × weight),
// and at least the floor, hashMinBound for a backend of average weight or
// less, proportionally more for a heavier one. Weights only say how
// backends share the load, so the floor must not grow with their scale:
// weights of 100 are weights of 1.
func (h *Hash) full(b *Backend, perWeight float64) bool {
	return float64(b.Active()) >= max(math.Ceil(perWeight*float64(b.Weight)), h.floors[b.Index])
}
