// Package pool keeps things that are expensive to make or hold, one set per
// event loop: free lists of reusable objects (FreeList) and the stacks of
// warm pre-connected backend sockets (Idle; docs/architecture.md, "Warm pool").
package pool

// FreeList is a bounded LIFO of reusable objects owned by one event loop.
// It is not safe for concurrent use: each loop keeps its own, so Get and Put
// need no lock and no sync.Pool (whose per-P caches would spread one loop's
// objects over every P). The zero value is not usable: call NewFreeList.
type FreeList[T any] struct {
	items []*T
	limit int
	keep  func(*T) bool
}

// NewFreeList returns a free list that holds at most limit objects. keep,
// if not nil, is asked before an object is put back: it resets the object
// and may refuse it (an object that grew too large should be dropped, not
// pinned forever).
func NewFreeList[T any](limit int, keep func(*T) bool) *FreeList[T] {
	return &FreeList[T]{items: make([]*T, 0, min(limit, 64)), limit: limit, keep: keep}
}

// Get returns a recycled object, or a new zero one when the list is empty.
func (f *FreeList[T]) Get() *T {
	if n := len(f.items); n > 0 {
		v := f.items[n-1]
		f.items[n-1] = nil
		f.items = f.items[:n-1]
		return v
	}
	return new(T)
}

// Put offers v for reuse. It is dropped when the list is full or keep
// refuses it.
func (f *FreeList[T]) Put(v *T) {
	if v == nil || len(f.items) >= f.limit {
		return
	}
	if f.keep != nil && !f.keep(v) {
		return
	}
	f.items = append(f.items, v)
}

// Len returns how many objects wait in the list.
func (f *FreeList[T]) Len() int { return len(f.items) }
