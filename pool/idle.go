package pool

// Idle is one loop's stack of idle, ready-to-use things of one kind (warm
// backend sockets), each stamped with when it was put. Take returns the
// newest: the one least likely to have been closed by its peer meanwhile,
// while the oldest age out at the bottom (Expire). It never holds more
// than its limit. It is not safe for concurrent use: each loop keeps its
// own. The zero value holds nothing; use NewIdle.
type Idle[T comparable] struct {
	items []idleItem[T] // oldest first: stamps never decrease
	limit int
}

type idleItem[T comparable] struct {
	v  T
	at int64
}

// NewIdle returns an empty Idle that holds at most limit things.
func NewIdle[T comparable](limit int) *Idle[T] {
	return &Idle[T]{items: make([]idleItem[T], 0, limit), limit: limit}
}

// Len returns how many things are idle.
func (p *Idle[T]) Len() int { return len(p.items) }

// Limit returns the most p holds.
func (p *Idle[T]) Limit() int { return p.limit }

// Put adds v, stamped now, on top. now must not be before the last Put's.
// It reports false, keeping nothing, when p is full. It does not allocate.
func (p *Idle[T]) Put(v T, now int64) bool {
	if len(p.items) >= p.limit {
		return false
	}
	p.items = append(p.items, idleItem[T]{v, now})
	return true
}

// Take removes and returns the newest thing put at or after oldest. Older
// things are left for Expire. It does not allocate.
func (p *Idle[T]) Take(oldest int64) (v T, ok bool) {
	n := len(p.items)
	if n == 0 || p.items[n-1].at < oldest {
		return v, false
	}
	v = p.items[n-1].v
	p.items[n-1] = idleItem[T]{}
	p.items = p.items[:n-1]
	return v, true
}

// Remove takes v out wherever it is (its peer closed it) and returns
// when it was put; ok is false when v was not there. It does not allocate.
func (p *Idle[T]) Remove(v T) (at int64, ok bool) {
	for i := range p.items {
		if p.items[i].v == v {
			at = p.items[i].at
			copy(p.items[i:], p.items[i+1:])
			p.items[len(p.items)-1] = idleItem[T]{}
			p.items = p.items[:len(p.items)-1]
			return at, true
		}
	}
	return 0, false
}

// Expire removes every thing put before oldest, oldest first, and hands
// each to drop, which must not call back into p. It returns how many it
// removed. It does not allocate.
func (p *Idle[T]) Expire(oldest int64, drop func(T)) int {
	n := 0
	for n < len(p.items) && p.items[n].at < oldest {
		n++
	}
	return p.cut(n, drop)
}

// Drain removes every thing and hands each to drop, oldest first; drop
// must not call back into p. It does not allocate.
func (p *Idle[T]) Drain(drop func(T)) int { return p.cut(len(p.items), drop) }

// cut removes the n oldest things, handing each to drop.
func (p *Idle[T]) cut(n int, drop func(T)) int {
	for i := range n {
		drop(p.items[i].v)
	}
	m := copy(p.items, p.items[n:])
	clear(p.items[m:])
	p.items = p.items[:m]
	return n
}
