package upstream

import (
	"errors"
	"math"
	"math/rand/v2"
	"strconv"
	"sync"
	"testing"

	"github.com/throngproxy/throng/config"
)

// setActive sets each backend's live-session count.
func setActive(bs []*Backend, active ...int64) {
	for i, a := range active {
		bs[i].active.Store(a)
	}
}

// chiSquare returns Pearson's statistic of got against want (expected
// counts).
func chiSquare(got []int, want []float64) float64 {
	var x float64
	for i := range got {
		d := float64(got[i]) - want[i]
		x += d * d / want[i]
	}
	return x
}

// TestLoadBalancersDistribution picks 100,000 times from least_conn and
// random_two. With acquire, every pick adds a session that never ends, so
// the spread follows the weights; without it, every backend stays at 0 and
// picks spread evenly whatever the weights.
func TestLoadBalancersDistribution(t *testing.T) {
	const picks = 100_000
	tests := []struct {
		name    string
		kind    string
		weights []int
		exclude uint64
		acquire bool
		maxDev  float64 // largest |got/want - 1| allowed per backend
	}{
		{"least_conn idle equal", config.BalanceLeastConn, []int{1, 1, 1, 1}, 0, false, 0.001},
		{"least_conn idle ignores weight", config.BalanceLeastConn, []int{5, 3, 2}, 0, false, 0.001},
		{"least_conn acquire equal", config.BalanceLeastConn, []int{1, 1, 1, 1}, 0, true, 0.001},
		{"least_conn acquire weighted", config.BalanceLeastConn, []int{5, 3, 2}, 0, true, 0.001},
		{"least_conn exclude", config.BalanceLeastConn, []int{1, 1, 1, 1}, 1 << 1, true, 0.001},
		{"random_two idle", config.BalanceRandomTwo, []int{1, 1, 1, 1}, 0, false, 0.05},
		{"random_two acquire equal", config.BalanceRandomTwo, []int{1, 1, 1, 1, 1}, 0, true, 0.01},
		{"random_two acquire weighted", config.BalanceRandomTwo, []int{5, 3, 2}, 0, true, 0.01},
		{"random_two exclude", config.BalanceRandomTwo, []int{1, 1, 1, 1}, 1 << 3, true, 0.01},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bs := backends(tt.weights...)
			b := mustBalancer(t, tt.kind, bs)
			got := make([]int, len(bs))
			for range picks {
				p := b.Pick(tt.exclude, 0)
				got[p.Index]++
				if tt.acquire {
					p.Acquire()
				}
			}
			var wsum float64
			for i, w := range tt.weights {
				if !tt.acquire {
					w = 1
				}
				if !excluded(tt.exclude, i) {
					wsum += float64(w)
				}
			}
			want := make([]float64, len(bs))
			for i, w := range tt.weights {
				if !tt.acquire {
					w = 1
				}
				if excluded(tt.exclude, i) {
					if got[i] != 0 {
						t.Fatalf("excluded backend %d got %d picks; want 0", i, got[i])
					}
					continue
				}
				want[i] = picks * float64(w) / wsum
				if dev := math.Abs(float64(got[i])/want[i] - 1); dev > tt.maxDev {
					t.Fatalf("counts %v; want about %v (backend %d off by %.2f%%)", got, want, i, dev*100)
				}
			}
		})
	}
}

// TestRandomTwoChiSquare checks that idle random_two picks are uniform:
// chi-square with 4 degrees of freedom stays under 20.5 (p = 0.0004).
func TestRandomTwoChiSquare(t *testing.T) {
	const picks = 100_000
	b := mustBalancer(t, config.BalanceRandomTwo, backends(1, 1, 1, 1, 1))
	got := make([]int, 5)
	for range picks {
		got[b.Pick(0, 0).Index]++
	}
	want := []float64{picks / 5, picks / 5, picks / 5, picks / 5, picks / 5}
	if x := chiSquare(got, want); x > 20.5 {
		t.Fatalf("counts %v: chi-square %.1f; want < 20.5", got, x)
	}
}

// TestLoadBalancersReactToActive sets live-session counts and checks what
// least_conn and random_two choose.
func TestLoadBalancersReactToActive(t *testing.T) {
	tests := []struct {
		name    string
		weights []int
		active  []int64
		exclude uint64
		want    []int // acceptable indexes
	}{
		{"least loaded", []int{1, 1, 1}, []int64{5, 1, 3}, 0, []int{1}},
		{"weighted", []int{10, 1, 1}, []int64{9, 1, 1}, 0, []int{0}},            // 0.9 < 1
		{"weighted other way", []int{10, 1, 1}, []int64{20, 1, 3}, 0, []int{1}}, // 2 > 1
		{"exclude least", []int{1, 1, 1}, []int64{5, 1, 3}, 1 << 1, []int{2}},
		{"only one left", []int{1, 1, 1}, []int64{0, 9, 9}, 1 << 0, []int{1, 2}},
		{"tie", []int{2, 1}, []int64{4, 2}, 0, []int{0, 1}},
	}
	for _, kind := range []string{config.BalanceLeastConn, config.BalanceRandomTwo} {
		for _, tt := range tests {
			t.Run(kind+"/"+tt.name, func(t *testing.T) {
				bs := backends(tt.weights...)
				setActive(bs, tt.active...)
				b := mustBalancer(t, kind, bs)
				for range 1000 {
					got := b.Pick(tt.exclude, 0)
					ok := false
					for _, w := range tt.want {
						ok = ok || got.Index == w
					}
					// random_two may draw a pair without the least loaded:
					// it must still beat or tie the other of its pair.
					if !ok && kind == config.BalanceRandomTwo && len(tt.want) == 1 {
						for i, o := range bs {
							if i != got.Index && !excluded(tt.exclude, i) &&
								o.Active()*int64(got.Weight) >= got.Active()*int64(o.Weight) {
								ok = true
							}
						}
					}
					if !ok {
						t.Fatalf("Pick = %d; want one of %v", got.Index, tt.want)
					}
				}
			})
		}
	}
}

// TestRandomTwoNeverPicksTheMostLoaded: two distinct draws, so a backend
// more loaded than every other is never chosen.
func TestRandomTwoNeverPicksTheMostLoaded(t *testing.T) {
	bs := backends(1, 1, 1, 1)
	setActive(bs, 0, 100, 0, 0)
	b := mustBalancer(t, config.BalanceRandomTwo, bs)
	for range 10_000 {
		if got := b.Pick(0, 0); got.Index == 1 {
			t.Fatal("Pick chose the most loaded backend")
		}
	}
}

// TestPickConcurrentSessions picks, acquires and releases from several
// goroutines for every kind; under -race it checks synchronisation, and
// every counter must end at 0.
func TestPickConcurrentSessions(t *testing.T) {
	const goroutines, picks = 8, 2000
	for _, kind := range allKinds {
		t.Run(kind, func(t *testing.T) {
			bs := backends(3, 1, 2, 1)
			b := mustBalancer(t, kind, bs)
			var wg sync.WaitGroup
			for g := range goroutines {
				wg.Go(func() {
					held := make([]*Backend, 0, 16)
					for i := range picks {
						p := b.Pick(uint64(i%3), uint64(g*picks+i))
						if p == nil || excluded(uint64(i%3), p.Index) {
							t.Errorf("Pick(%b) = %v", i%3, p)
							return
						}
						p.Acquire()
						held = append(held, p)
						if len(held) == cap(held) {
							for _, h := range held {
								h.Release()
							}
							held = held[:0]
						}
					}
					for _, h := range held {
						h.Release()
					}
				})
			}
			wg.Wait()
			for _, x := range bs {
				if x.Active() != 0 {
					t.Fatalf("backend %d Active = %d; want 0", x.Index, x.Active())
				}
			}
		})
	}
}

func TestBackendCounter(t *testing.T) {
	b := &Backend{Addr: "h:1", Weight: 1}
	b.Acquire()
	b.Acquire()
	b.Release()
	if got := b.Active(); got != 1 {
		t.Fatalf("Active = %d; want 1", got)
	}
}

// addrBackends returns n weight-1 backends named "10.1.x.y:80", from the
// given first number on.
func addrBackends(first, n int) []*Backend {
	bs := make([]*Backend, n)
	for i := range bs {
		k := first + i
		bs[i] = &Backend{Addr: "10.1." + strconv.Itoa(k/256) + "." + strconv.Itoa(k%256) + ":80", Weight: 1, Index: i}
	}
	return bs
}

func mustHash(t testing.TB, bs []*Backend, f float64) *Hash {
	t.Helper()
	h, err := NewHash(bs, f)
	if err != nil {
		t.Fatalf("NewHash: %v", err)
	}
	return h
}

func TestNewHashErrors(t *testing.T) {
	tests := []struct {
		name string
		bs   []*Backend
		f    float64
		want error
	}{
		{"no backends", nil, 1.25, ErrNoBackends},
		{"weight", backends(1, 0), 1.25, ErrBadWeight},
		{"factor below 1", backends(1), 0.999, ErrBadLoadFactor},
		{"factor zero", backends(1), 0, ErrBadLoadFactor},
		{"factor NaN", backends(1), math.NaN(), ErrBadLoadFactor},
		{"factor Inf", backends(1), math.Inf(1), ErrBadLoadFactor},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := NewHash(tt.bs, tt.f); err != tt.want {
				t.Fatalf("NewHash error %v; want %v", err, tt.want)
			}
		})
	}
}

// TestHashDistribution hashes 100,000 random keys over idle backends: each
// gets its weighted share within 25% (100 points per unit of weight).
func TestHashDistribution(t *testing.T) {
	const keys = 100_000
	tests := []struct {
		name string
		bs   []*Backend
	}{
		{"equal 10", addrBackends(0, 10)},
		{"equal 3", addrBackends(100, 3)},
		{"weighted", backends(5, 3, 2, 1)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := mustHash(t, tt.bs, 1.25)
			rng := rand.New(rand.NewPCG(1, 2))
			got := make([]int, len(tt.bs))
			for range keys {
				got[h.Pick(0, rng.Uint64()).Index]++
			}
			var wsum float64
			for _, b := range tt.bs {
				wsum += float64(b.Weight)
			}
			for i, b := range tt.bs {
				want := keys * float64(b.Weight) / wsum
				if dev := math.Abs(float64(got[i])/want - 1); dev > 0.25 {
					t.Fatalf("counts %v: backend %d has %d, want about %.0f", got, i, got[i], want)
				}
			}
		})
	}
}

// TestHashSameKey checks that a key maps to the same backend on every pick
// and in a balancer built separately over the same addresses (as after a
// restart), and that HashKey-derived keys do too.
func TestHashSameKey(t *testing.T) {
	h1 := mustHash(t, addrBackends(0, 7), 1.25)
	h2 := mustHash(t, addrBackends(0, 7), 1.25)
	ks := KeySource{Kind: KeyHeader, Name: "X-User"}
	for i := range 1000 {
		key := ks.HashKey([]byte("192.0.2.1"), nil, nil) + uint64(i)*0x9e3779b97f4a7c15
		a := h1.Pick(0, key)
		if b := h1.Pick(0, key); b != a {
			t.Fatalf("key %x: picks %d then %d", key, a.Index, b.Index)
		}
		if b := h2.Pick(0, key); b.Addr != a.Addr {
			t.Fatalf("key %x: %s in one balancer, %s in another", key, a.Addr, b.Addr)
		}
	}
}

// TestHashMembershipChange compares 100,000 keys over N and N+1 backends:
// about 1/(N+1) move, all to the new backend; removing one of N moves
// only its keys, about 1/N.
func TestHashMembershipChange(t *testing.T) {
	const keys = 100_000
	for _, n := range []int{3, 10, 30} {
		t.Run(strconv.Itoa(n), func(t *testing.T) {
			small := mustHash(t, addrBackends(0, n), 1.25)
			big := mustHash(t, addrBackends(0, n+1), 1.25)
			rng := rand.New(rand.NewPCG(3, uint64(n)))
			moved, fromRemoved := 0, 0
			for range keys {
				key := rng.Uint64()
				a, b := small.Pick(0, key), big.Pick(0, key)
				if b.Index == n {
					fromRemoved++ // on the extra backend: moves when it goes
				}
				if a.Addr != b.Addr {
					moved++
					if b.Index != n {
						t.Fatalf("key %x moved from %s to %s, not to the new backend", key, a.Addr, b.Addr)
					}
				}
			}
			want := float64(keys) / float64(n+1)
			if got := float64(moved); got < 0.7*want || got > 1.3*want {
				t.Fatalf("%d of %d keys moved; want about %.0f (1/%d)", moved, keys, want, n+1)
			}
			if moved != fromRemoved {
				t.Fatalf("%d keys moved; want exactly the %d on the removed backend", moved, fromRemoved)
			}
		})
	}
}

// TestHashBoundedLoad opens sessions with skewed keys (80% the same key)
// and checks that no backend ever exceeds ceil(f × (total + 1) / n).
func TestHashBoundedLoad(t *testing.T) {
	const sessions = 20_000
	for _, f := range []float64{1, 1.25, 2} {
		t.Run(strconv.FormatFloat(f, 'g', -1, 64), func(t *testing.T) {
			bs := addrBackends(0, 8)
			h := mustHash(t, bs, f)
			rng := rand.New(rand.NewPCG(5, 6))
			hot := rng.Uint64()
			var total int64
			for i := range sessions {
				key := hot
				if rng.IntN(5) == 0 {
					key = rng.Uint64()
				}
				bound := max(int64(math.Ceil(f*float64(total+1)/float64(len(bs)))), hashMinBound)
				p := h.Pick(0, key)
				p.Acquire()
				total++
				if p.Active() > bound {
					t.Fatalf("session %d: backend %d has %d; bound %d", i, p.Index, p.Active(), bound)
				}
				// End a random earlier session now and then.
				if i%3 == 0 {
					if v := bs[rng.IntN(len(bs))]; v.Active() > 0 {
						v.Release()
						total--
					}
				}
			}
			for _, b := range bs {
				if max := int64(math.Ceil(f * float64(total) / float64(len(bs)))); b.Active() > max+1 {
					t.Errorf("backend %d ends with %d of %d; bound %d", b.Index, b.Active(), total, max)
				}
			}
		})
	}
}

// TestHashSticksAtLowLoad: users who reconnect one after another, each
// connection opening before the last one is released (the engine releases
// a backend when a session starts closing, a moment after the client
// has gone and may be back), and users who
// hold a few sessions each, all stay on their own backend: the bound's
// floor keeps a handful of sessions from counting as overload.
func TestHashSticksAtLowLoad(t *testing.T) {
	for _, weights := range [][]int{{1, 1, 1}, {1, 2, 3}} {
		bs := addrBackends(0, len(weights))
		for i, w := range weights {
			bs[i].Weight = w
		}
		h := mustHash(t, bs, 1.25)
		rng := rand.New(rand.NewPCG(11, 12))
		home := map[uint64]*Backend{}
		var prev *Backend
		for range 30 {
			key := rng.Uint64()
			for range 3 {
				b := h.Pick(0, key)
				if want, ok := home[key]; ok && b != want {
					t.Fatalf("weights %v: a reconnecting user moved from %d to %d", weights, want.Index, b.Index)
				}
				home[key] = b
				b.Acquire()
				if prev != nil {
					prev.Release() // the previous session is released only now
				}
				prev = b
			}
		}
		prev.Release()
		// Two users holding three sessions each, all at once.
		for _, key := range []uint64{rng.Uint64(), rng.Uint64()} {
			first := h.Pick(0, key)
			for range 3 {
				if b := h.Pick(0, key); b != first {
					t.Fatalf("weights %v: a user holding sessions moved from %d to %d", weights, first.Index, b.Index)
				}
				first.Acquire()
			}
		}
	}
}

// TestHashBoundWithLargeWeights: the floor follows the weights' shares,
// not their scale: with weights of 100 a hot key is bounded as with 1.
func TestHashBoundWithLargeWeights(t *testing.T) {
	for _, w := range []int{1, 100, 1000} {
		bs := addrBackends(0, 3)
		for _, b := range bs {
			b.Weight = w
		}
		h := mustHash(t, bs, 1.25)
		const sessions = 600
		for range sessions {
			h.Pick(0, 42).Acquire()
		}
		bound := int64(math.Ceil(1.25 * float64(sessions) / 3))
		for _, b := range bs {
			if b.Active() > bound {
				t.Errorf("weights %d: backend %d holds %d of %d; bound %d", w, b.Index, b.Active(), sessions, bound)
			}
		}
	}
}

// TestHashOverflowWalksClockwise: a full or excluded backend's keys go to
// the next backend on the ring, the same one for both reasons.
func TestHashOverflowWalksClockwise(t *testing.T) {
	bs := addrBackends(0, 5)
	h := mustHash(t, bs, 1.25)
	rng := rand.New(rand.NewPCG(7, 8))
	for range 1000 {
		key := rng.Uint64()
		home := h.Pick(0, key)
		next := h.Pick(1<<uint(home.Index), key)
		if next == nil || next == home {
			t.Fatalf("Pick excluding home %d = %v", home.Index, next)
		}
		// Fill home past its bound with sessions elsewhere idle.
		home.active.Store(10)
		if got := h.Pick(0, key); got != next {
			t.Fatalf("full home %d: Pick = %d; want %d, the next on the ring", home.Index, got.Index, next.Index)
		}
		home.active.Store(0)
	}
}

func TestHashExclusion(t *testing.T) {
	bs := addrBackends(0, 4)
	h := mustHash(t, bs, 1.25)
	rng := rand.New(rand.NewPCG(9, 10))
	for range 1000 {
		key := rng.Uint64()
		exclude := rng.Uint64() & 0b1111
		got := h.Pick(exclude, key)
		if exclude == 0b1111 {
			if got != nil {
				t.Fatalf("Pick(all excluded) = %d; want nil", got.Index)
			}
			continue
		}
		if got == nil || excluded(exclude, got.Index) {
			t.Fatalf("Pick(%04b) = %v; want a backend not excluded", exclude, got)
		}
	}
	// Excluded backends hold all the room: the bound gives way.
	setActive(bs, 0, 0, 50, 50)
	for range 100 {
		if got := h.Pick(0b0011, rng.Uint64()); got == nil || got.Index < 2 {
			t.Fatalf("Pick(0011) with 2 and 3 full = %v; want 2 or 3", got)
		}
	}
}

// TestHashLargeWeights keeps the ring bounded.
func TestHashLargeWeights(t *testing.T) {
	w := make([]int, 20)
	for i := range w {
		w[i] = 1000
	}
	h := mustHash(t, backends(w...), 1.25)
	if len(h.points) > maxRingPoints {
		t.Fatalf("ring has %d points; want ≤ %d", len(h.points), maxRingPoints)
	}
	if h.Pick(0, 12345) == nil {
		t.Fatal("Pick = nil")
	}
}

func TestNewTableHash(t *testing.T) {
	c := testConfig(config.Route{Host: "*", PathPrefix: "/"})
	c.Upstreams[0].Balance = config.BalanceHash
	c.Upstreams[0].HashKey = "cookie:sid"
	c.Upstreams[0].HashLoadFactor = 1.5
	tb := mustTable(t, c)
	u := tb.Upstreams[0]
	h, ok := u.Balancer.(*Hash)
	if !ok || !u.NeedsKey() {
		t.Fatalf("balancer %T, NeedsKey %v; want *Hash, true", u.Balancer, u.NeedsKey())
	}
	if h.loadFactor != 1.5 || u.HashKey != (KeySource{Kind: KeyCookie, Name: "sid"}) {
		t.Fatalf("load factor %v, key %+v; want 1.5, cookie:sid", h.loadFactor, u.HashKey)
	}
	for _, kind := range []string{config.BalanceRoundRobin, config.BalanceWeightedRoundRobin, config.BalanceLeastConn, config.BalanceRandomTwo} {
		c.Upstreams[0].Balance = kind
		if u := mustTable(t, c).Upstreams[0]; u.NeedsKey() || u.HashKey != (KeySource{}) {
			t.Errorf("%s: NeedsKey %v, HashKey %+v; want false, zero", kind, u.NeedsKey(), u.HashKey)
		}
	}
	c.Upstreams[0].Balance = config.BalanceHash
	c.Upstreams[0].HashKey = "cookie:"
	if _, err := NewTable(c, testStickyKey); !errors.Is(err, ErrBadHashKey) {
		t.Fatalf("NewTable(bad hash_key) error %v; want ErrBadHashKey", err)
	}
	c.Upstreams[0].HashKey = "ip"
	c.Upstreams[0].HashLoadFactor = 0
	if _, err := NewTable(c, testStickyKey); !errors.Is(err, ErrBadLoadFactor) {
		t.Fatalf("NewTable(load factor 0) error %v; want ErrBadLoadFactor", err)
	}
}
