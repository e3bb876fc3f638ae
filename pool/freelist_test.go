package pool

import "testing"

type buf struct{ b []byte }

func TestFreeList(t *testing.T) {
	resets := 0
	f := NewFreeList(2, func(v *buf) bool {
		if cap(v.b) > 100 {
			return false // too big to keep
		}
		v.b = v.b[:0]
		resets++
		return true
	})
	a, b, c := f.Get(), f.Get(), f.Get()
	a.b = append(a.b, "aa"...)
	b.b = make([]byte, 0, 1000)
	f.Put(a)
	f.Put(b) // refused: too big
	f.Put(c)
	f.Put(&buf{}) // refused: full
	if got, want := f.Len(), 2; got != want {
		t.Fatalf("Len = %d, want %d", got, want)
	}
	if resets != 2 {
		t.Fatalf("keep called %d times, want 2", resets)
	}
	if got := f.Get(); got != c {
		t.Fatal("Get did not return the last object put (LIFO)")
	}
	if got := f.Get(); got != a || len(got.b) != 0 || cap(got.b) == 0 {
		t.Fatalf("recycled object not reset but with its capacity kept: %+v", got)
	}
	if got := f.Get(); got == nil || got == a || got == c {
		t.Fatal("empty list must return a fresh object")
	}
	f.Put(nil)
	if f.Len() != 0 {
		t.Fatal("nil was kept")
	}
}

func TestFreeListAllocs(t *testing.T) {
	f := NewFreeList[buf](4, nil)
	f.Put(f.Get())
	if got := testing.AllocsPerRun(100, func() { f.Put(f.Get()) }); got != 0 {
		t.Fatalf("Get+Put allocates %v times, want 0", got)
	}
}
