//go:build !race

package upstream

import (
	"testing"
	"time"
)

func TestPickEjectedDoesNotAllocate(t *testing.T) {
	for _, kind := range allKinds {
		bs := passiveBackends(1, 5, 3, 1, 1)
		setActive(bs, 4, 1, 0, 2)
		bal := mustBalancer(t, kind, bs)
		eject(t, bs[1], time.Now().UnixNano())
		for _, exclude := range []uint64{0, 0b100, 0b1111} {
			if n := testing.AllocsPerRun(100, func() { bal.Pick(exclude, 0xdeadbeef) }); n != 0 {
				t.Errorf("%s Pick(%b) with an ejected backend: %v allocs; want 0", kind, exclude, n)
			}
		}
	}
}

func TestReportDoesNotAllocate(t *testing.T) {
	b := passiveBackends(3, 1)[0]
	var now int64
	if n := testing.AllocsPerRun(100, func() {
		now += int64(time.Second)
		b.ReportFailure(now)
		b.Available(now)
		b.ReportSuccess(now)
	}); n != 0 {
		t.Errorf("ReportFailure, Available, ReportSuccess: %v allocs; want 0", n)
	}
}
