//go:build !race

package upstream

import (
	"strings"
	"testing"

	"github.com/throngproxy/throng/config"
)

func TestMatchDoesNotAllocate(t *testing.T) {
	tb := benchTable(t)
	long := []byte(strings.Repeat("x", 300) + ".example.com")
	for i := range benchHosts {
		host, target := benchHosts[i], benchTargets[i]
		if n := testing.AllocsPerRun(100, func() { tb.Match(host, target) }); n != 0 {
			t.Errorf("Match(%q, %q): %v allocs; want 0", host, target, n)
		}
	}
	if n := testing.AllocsPerRun(100, func() { tb.Match(long, benchTargets[0]) }); n != 0 {
		t.Errorf("Match(long host): %v allocs; want 0", n)
	}
}

func TestPickDoesNotAllocate(t *testing.T) {
	for _, kind := range []string{config.BalanceRoundRobin, config.BalanceWeightedRoundRobin} {
		b := mustBalancer(t, kind, backends(5, 3, 1, 1))
		if n := testing.AllocsPerRun(100, func() { b.Pick(0b10) }); n != 0 {
			t.Errorf("%s Pick: %v allocs; want 0", kind, n)
		}
	}
}
