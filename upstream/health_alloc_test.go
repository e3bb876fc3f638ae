//go:build !race

package upstream

import (
	"testing"
	"time"

	"github.com/throngproxy/throng/config"
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

func TestPickDownDoesNotAllocate(t *testing.T) {
	for _, kind := range allKinds {
		hc := healthCheck(config.HealthTCP)
		bs := healthTable(t, kind, 0, hc, "127.0.51.31:1", "127.0.51.31:2", "127.0.51.31:3").Upstreams[0].Backends
		bal := mustBalancer(t, kind, bs)
		if n := testing.AllocsPerRun(100, func() { bal.Pick(0, 0xdeadbeef) }); n != 0 {
			t.Errorf("%s Pick with active checks, none down: %v allocs; want 0", kind, n)
		}
		bs[1].setDown(true)
		for _, exclude := range []uint64{0, 0b100, 0b111} {
			if n := testing.AllocsPerRun(100, func() { bal.Pick(exclude, 0xdeadbeef) }); n != 0 {
				t.Errorf("%s Pick(%b) with a backend down: %v allocs; want 0", kind, exclude, n)
			}
		}
	}
}

func TestHealthyDoesNotAllocate(t *testing.T) {
	b := healthTable(t, config.BalanceRoundRobin, 3, healthCheck(config.HealthTCP), "127.0.51.31:1").Upstreams[0].Backends[0]
	b.setDown(true)
	if n := testing.AllocsPerRun(100, func() {
		b.Healthy()
		b.Down()
		b.Available(1)
	}); n != 0 {
		t.Errorf("Healthy, Down, Available: %v allocs; want 0", n)
	}
}
