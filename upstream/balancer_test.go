package upstream

import (
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/throngproxy/throng/config"
)

func backends(weights ...int) []*Backend {
	bs := make([]*Backend, len(weights))
	for i, w := range weights {
		bs[i] = &Backend{Addr: "10.0.0." + string(rune('a'+i%26)) + ":80", Weight: w, Index: i}
	}
	return bs
}

func mustBalancer(t testing.TB, kind string, bs []*Backend) Balancer {
	t.Helper()
	b, err := NewBalancer(kind, bs, config.DefaultUpstream().HashLoadFactor)
	if err != nil {
		t.Fatalf("NewBalancer(%q): %v", kind, err)
	}
	return b
}

func TestNewBalancerErrors(t *testing.T) {
	tests := []struct {
		name string
		kind string
		bs   []*Backend
		want error
	}{
		{"unknown kind", "random", backends(1), ErrUnknownBalancer},
		{"empty kind", "", backends(1), ErrUnknownBalancer},
		{"no backends rr", config.BalanceRoundRobin, nil, ErrNoBackends},
		{"no backends wrr", config.BalanceWeightedRoundRobin, nil, ErrNoBackends},
		{"zero weight", config.BalanceWeightedRoundRobin, backends(1, 0), ErrBadWeight},
		{"zero weight least_conn", config.BalanceLeastConn, backends(0), ErrBadWeight},
		{"zero weight random_two", config.BalanceRandomTwo, backends(1, 0), ErrBadWeight},
		{"zero weight hash", config.BalanceHash, backends(1, -1), ErrBadWeight},
		{"no backends hash", config.BalanceHash, nil, ErrNoBackends},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewBalancer(tt.kind, tt.bs, 1.25)
			if !errors.Is(err, tt.want) {
				t.Fatalf("NewBalancer error %v; want %v", err, tt.want)
			}
			if !strings.HasPrefix(err.Error(), "upstream: ") {
				t.Fatalf("error %q lacks the package prefix", err)
			}
		})
	}
}

// TestSWRRSequence checks nginx's smooth sequence for weights 5, 1, 1.
func TestSWRRSequence(t *testing.T) {
	b := mustBalancer(t, config.BalanceWeightedRoundRobin, backends(5, 1, 1))
	want := "aabacaa"
	for round := 0; round < 3; round++ {
		var got []byte
		for range len(want) {
			got = append(got, byte('a'+b.Pick(0, 0).Index))
		}
		if string(got) != want {
			t.Fatalf("round %d: picks %s; want %s", round, got, want)
		}
	}
}

func TestDistribution(t *testing.T) {
	tests := []struct {
		name    string
		kind    string
		weights []int
		exclude uint64
		picks   int
		want    []int
	}{
		{"rr ignores weights", config.BalanceRoundRobin, []int{5, 3, 2}, 0, 999, []int{333, 333, 333}},
		{"rr exclude", config.BalanceRoundRobin, []int{1, 1, 1, 1}, 1 << 2, 999, []int{333, 333, 0, 333}},
		{"rr single", config.BalanceRoundRobin, []int{1}, 0, 1000, []int{1000}},
		{"swrr", config.BalanceWeightedRoundRobin, []int{5, 3, 2}, 0, 1000, []int{500, 300, 200}},
		{"swrr equal", config.BalanceWeightedRoundRobin, []int{1, 1, 1, 1}, 0, 1000, []int{250, 250, 250, 250}},
		{"swrr exclude", config.BalanceWeightedRoundRobin, []int{5, 3, 2}, 1 << 0, 1000, []int{0, 600, 400}},
		{"swrr max weight", config.BalanceWeightedRoundRobin, []int{1000, 1}, 0, 1001 * 3, []int{3000, 3}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := mustBalancer(t, tt.kind, backends(tt.weights...))
			got := make([]int, len(tt.weights))
			for range tt.picks {
				got[b.Pick(tt.exclude, 0).Index]++
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Fatalf("counts %v; want %v", got, tt.want)
				}
			}
		})
	}
}

// allKinds lists every balancer kind.
var allKinds = []string{config.BalanceRoundRobin, config.BalanceWeightedRoundRobin,
	config.BalanceLeastConn, config.BalanceRandomTwo, config.BalanceHash}

func TestPickAllExcluded(t *testing.T) {
	for _, kind := range allKinds {
		t.Run(kind, func(t *testing.T) {
			b := mustBalancer(t, kind, backends(1, 2, 3))
			if got := b.Pick(0b111, 0); got != nil {
				t.Fatalf("Pick(all) = %+v; want nil", got)
			}
			if got := b.Pick(^uint64(0), 0); got != nil {
				t.Fatalf("Pick(^0) = %+v; want nil", got)
			}
			// Exclusion does not disturb later picks.
			if got := b.Pick(0b011, 0); got == nil || got.Index != 2 {
				t.Fatalf("Pick(0b011) = %+v; want index 2", got)
			}
		})
	}
}

// TestPickHighIndexesNeverExcluded checks that backends from index 64 on
// stay eligible whatever the exclude mask.
func TestPickHighIndexesNeverExcluded(t *testing.T) {
	w := make([]int, 70)
	for i := range w {
		w[i] = 1
	}
	for _, kind := range allKinds {
		t.Run(kind, func(t *testing.T) {
			b := mustBalancer(t, kind, backends(w...))
			seen := map[int]int{}
			for range 60 {
				got := b.Pick(^uint64(0), 0)
				if got == nil || got.Index < 64 {
					t.Fatalf("Pick(^0) = %+v; want an index ≥ 64", got)
				}
				seen[got.Index]++
			}
			if rotates := kind == config.BalanceRoundRobin || kind == config.BalanceWeightedRoundRobin; rotates && len(seen) != 6 {
				t.Fatalf("picked %v; want all six of 64..69", seen)
			}
		})
	}
}

// TestPickConcurrent runs picks from several goroutines; under -race it
// checks the balancers' synchronisation, and the totals must still be
// exact because each pick is atomic.
func TestPickConcurrent(t *testing.T) {
	const goroutines, picks = 8, 5000
	tests := []struct {
		kind    string
		weights []int
		want    []int
	}{
		{config.BalanceRoundRobin, []int{1, 1, 1, 1}, []int{10000, 10000, 10000, 10000}},
		{config.BalanceWeightedRoundRobin, []int{5, 3, 2}, []int{20000, 12000, 8000}},
	}
	for _, tt := range tests {
		t.Run(tt.kind, func(t *testing.T) {
			b := mustBalancer(t, tt.kind, backends(tt.weights...))
			counts := make([][]int, goroutines)
			var wg sync.WaitGroup
			for g := range goroutines {
				counts[g] = make([]int, len(tt.weights))
				wg.Go(func() {
					for range picks {
						counts[g][b.Pick(0, 0).Index]++
					}
				})
			}
			wg.Wait()
			got := make([]int, len(tt.weights))
			for _, c := range counts {
				for i, n := range c {
					got[i] += n
				}
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Fatalf("counts %v; want %v", got, tt.want)
				}
			}
		})
	}
}
