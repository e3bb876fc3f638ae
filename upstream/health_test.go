package upstream

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/throngproxy/throng/config"
)

const (
	sec        = int64(time.Second)
	testWindow = 10 * time.Second
	testEject  = 30 * time.Second
)

// passiveBackends returns backends of weights with passive health:
// maxFails failures within 10s eject for 30s.
func passiveBackends(maxFails int, weights ...int) []*Backend {
	bs := backends(weights...)
	setPassive(bs, maxFails, testWindow, testEject)
	return bs
}

// eject ejects b at now (it must be closed), failing the test otherwise.
func eject(t testing.TB, b *Backend, now int64) {
	t.Helper()
	for i := range b.h.p.maxFails {
		got := b.ReportFailure(now)
		if want := i == b.h.p.maxFails-1; got != want {
			t.Fatalf("ReportFailure #%d = %v; want %v", i+1, got, want)
		}
	}
}

func TestEjection(t *testing.T) {
	tests := []struct {
		name     string
		maxFails int
		fails    []int64 // failure times, seconds
		want     int     // index in fails of the ejecting call; -1 for none
	}{
		{"three at once", 3, []int64{0, 0, 0}, 2},
		{"three within window", 3, []int64{0, 4, 10}, 2},
		{"two are not enough", 3, []int64{0, 1}, -1},
		{"spread wider", 3, []int64{0, 6, 12, 18, 24, 30}, -1},
		{"sliding window", 3, []int64{0, 9, 15, 16}, 3},
		{"just outside window", 3, []int64{0, 5, 11}, -1},
		{"one", 1, []int64{5}, 0},
		{"off", 0, []int64{0, 0, 0, 0, 0}, -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := passiveBackends(tt.maxFails, 1)[0]
			got := -1
			for i, s := range tt.fails {
				if b.ReportFailure(s*sec + 1) {
					if got >= 0 {
						t.Fatalf("ReportFailure ejected again at #%d (first at #%d)", i, got)
					}
					got = i
				}
			}
			if got != tt.want {
				t.Fatalf("ejected at failure #%d; want #%d", got, tt.want)
			}
			last := tt.fails[len(tt.fails)-1]*sec + 1
			if avail := b.Available(last); avail != (tt.want < 0) {
				t.Fatalf("Available after = %v; want %v", avail, tt.want < 0)
			}
			if tt.maxFails > 0 {
				wantCount := int64(0)
				if tt.want >= 0 {
					wantCount = 1
				}
				if got := b.h.p.unavailable.Load(); got != wantCount {
					t.Fatalf("ejected count = %d; want %d", got, wantCount)
				}
			}
		})
	}
}

// TestFailuresWhileOpenCountForNothing: sessions begun before an
// ejection that fail afterwards neither extend it nor count toward the
// next one.
func TestFailuresWhileOpenCountForNothing(t *testing.T) {
	b := passiveBackends(3, 1)[0]
	eject(t, b, sec)
	for range 10 {
		if b.ReportFailure(2 * sec) {
			t.Fatal("ReportFailure while open = true; want false")
		}
	}
	if got, want := b.h.until.Load(), sec+int64(testEject); got != want {
		t.Fatalf("until = %d; want %d", got, want)
	}
	if b.ReportSuccess(3 * sec) {
		t.Fatal("ReportSuccess while open = true; want false")
	}
	if b.Available(3 * sec) {
		t.Fatal("Available while open = true; want false")
	}
}

// TestEjectTimeDoubles: each failed probe opens the breaker for twice the
// last time, up to 10 × eject_time.
func TestEjectTimeDoubles(t *testing.T) {
	b := passiveBackends(3, 1)[0]
	now := int64(1)
	eject(t, b, now)
	wants := []time.Duration{30, 60, 120, 240, 300, 300, 300}
	for i, w := range wants {
		want := int64(w * time.Second)
		if got := b.h.until.Load() - now; got != want {
			t.Fatalf("ejection %d lasts %v; want %v", i+1, time.Duration(got), time.Duration(want))
		}
		if b.Available(now + want - 1) {
			t.Fatalf("ejection %d: Available before its end = true", i+1)
		}
		now += want
		if !b.Available(now) {
			t.Fatalf("ejection %d: Available at half-open = false; want the probe", i+1)
		}
		if !b.ReportFailure(now) {
			t.Fatalf("ejection %d: probe ReportFailure = false; want true (ejected again)", i+1)
		}
	}
	if got := b.h.p.unavailable.Load(); got != 1 {
		t.Fatalf("ejected count = %d; want 1", got)
	}
}

func TestHalfOpenSingleProbe(t *testing.T) {
	b := passiveBackends(3, 1)[0]
	eject(t, b, 0)
	half := int64(testEject)
	if !b.Available(half) {
		t.Fatal("first Available at half-open = false; want true (the probe)")
	}
	for i := range 5 {
		if b.Available(half + int64(i)*sec) {
			t.Fatalf("Available #%d with a probe in flight = true; want false", i+2)
		}
	}
	// A probe never reported frees its place after eject_time.
	if !b.Available(half + int64(testEject)) {
		t.Fatal("Available after the probe lease = false; want true")
	}
	if b.Available(half + int64(testEject)) {
		t.Fatal("second Available after the probe lease = true; want false")
	}
}

func TestConcurrentProbe(t *testing.T) {
	b := passiveBackends(3, 1)[0]
	eject(t, b, 0)
	var granted atomic.Int32
	var wg sync.WaitGroup
	start := make(chan struct{})
	for range 16 {
		wg.Go(func() {
			<-start
			if b.Available(int64(testEject)) {
				granted.Add(1)
			}
		})
	}
	close(start)
	wg.Wait()
	if got := granted.Load(); got != 1 {
		t.Fatalf("%d probes let through; want 1", got)
	}
}

func TestRestore(t *testing.T) {
	tests := []struct {
		name        string
		failedProbe bool // one probe fails before the one that succeeds
		settle      bool // a success after the return
		wantNext    time.Duration
	}{
		{"first probe", false, false, 60 * time.Second},
		{"first probe then success", false, true, 30 * time.Second},
		{"second probe", true, false, 120 * time.Second},
		{"second probe then success", true, true, 30 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := passiveBackends(3, 1)[0]
			eject(t, b, 0)
			now := int64(testEject)
			if tt.failedProbe {
				if !b.Available(now) || !b.ReportFailure(now) {
					t.Fatal("failed probe did not eject again")
				}
				now += 2 * int64(testEject)
			}
			if !b.Available(now) {
				t.Fatal("Available at half-open = false")
			}
			if !b.ReportSuccess(now) {
				t.Fatal("probe ReportSuccess = false; want true (restored)")
			}
			if got := b.h.p.unavailable.Load(); got != 0 {
				t.Fatalf("ejected count = %d; want 0", got)
			}
			for range 3 {
				if !b.Available(now) {
					t.Fatal("Available after restore = false")
				}
			}
			if tt.settle {
				now += sec
				if b.ReportSuccess(now) {
					t.Fatal("ReportSuccess after the return = true; want false")
				}
			}
			now += sec
			eject(t, b, now)
			if got := time.Duration(b.h.until.Load() - now); got != tt.wantNext {
				t.Fatalf("next ejection lasts %v; want %v", got, tt.wantNext)
			}
		})
	}
}

// TestProbeReportBeforeHalfOpenClock: a probe's outcome counts even when
// the reporter's cached clock lags the one that let the probe through.
func TestProbeReportBeforeHalfOpenClock(t *testing.T) {
	b := passiveBackends(3, 1)[0]
	eject(t, b, 0)
	half := int64(testEject)
	if !b.Available(half + 1) {
		t.Fatal("Available at half-open = false")
	}
	if !b.ReportSuccess(half - int64(time.Millisecond)) {
		t.Fatal("ReportSuccess with a lagging clock = false; want true")
	}
}

func TestPassiveOffAlwaysAvailable(t *testing.T) {
	b := backends(1)[0]
	for i := range 10 {
		if b.ReportFailure(int64(i)) {
			t.Fatal("ReportFailure without passive health = true")
		}
	}
	if !b.Available(0) || b.ReportSuccess(0) || b.Ejected() {
		t.Fatal("a backend without passive health is not plainly available")
	}
}

// TestBalancersSkipEjected: every kind passes over an ejected backend,
// returns nil when all are out, and hands a half-open one out once.
func TestBalancersSkipEjected(t *testing.T) {
	for _, kind := range allKinds {
		t.Run(kind, func(t *testing.T) {
			bs := passiveBackends(1, 1, 2, 3, 1)
			bal := mustBalancer(t, kind, bs)
			now := time.Now().UnixNano()
			eject(t, bs[1], now)
			for i := range 1000 {
				p := bal.Pick(0, uint64(i)*0x9e3779b97f4a7c15)
				if p == nil || p == bs[1] {
					t.Fatalf("Pick = %v; want a backend other than 1", p)
				}
				p.Acquire()
			}
			if p := bal.Pick(1<<0|1<<2|1<<3, 7); p != nil {
				t.Fatalf("Pick excluding the rest = backend %d; want nil", p.Index)
			}
			for _, b := range bs {
				if !b.Ejected() {
					eject(t, b, now)
				}
			}
			if p := bal.Pick(0, 7); p != nil {
				t.Fatalf("Pick with all ejected = backend %d; want nil", p.Index)
			}
			// Make backend 2 half-open: ejected long enough ago.
			old := now - int64(testEject) - sec
			bs[2].h.until.Store(old + int64(testEject))
			if p := bal.Pick(0, 7); p != bs[2] {
				t.Fatalf("Pick with backend 2 half-open = %v; want backend 2", p)
			}
			if p := bal.Pick(0, 7); p != nil {
				t.Fatalf("Pick with the probe in flight = backend %d; want nil", p.Index)
			}
			if !bs[2].ReportSuccess(time.Now().UnixNano()) {
				t.Fatal("probe ReportSuccess = false")
			}
			for range 10 {
				if p := bal.Pick(0, 7); p != bs[2] {
					t.Fatalf("Pick with only backend 2 restored = %v; want it", p)
				}
			}
		})
	}
}

// TestHashKeysReturnAfterRestore: keys of an ejected backend move to
// others, the rest stay, and all go back once it is restored.
func TestHashKeysReturnAfterRestore(t *testing.T) {
	bs := passiveBackends(1, 1, 1, 1, 1)
	h, err := NewHash(bs, 100) // a loose bound: placement by the ring alone
	if err != nil {
		t.Fatal(err)
	}
	const keys = 2000
	before := make([]*Backend, keys)
	for i := range keys {
		before[i] = h.Pick(0, mix64(uint64(i)))
	}
	now := time.Now().UnixNano() - int64(testEject) - sec
	eject(t, bs[0], now)
	if !bs[0].Available(time.Now().UnixNano()) { // take the probe: it stays out
		t.Fatal("Available at half-open = false")
	}
	for i := range keys {
		got := h.Pick(0, mix64(uint64(i)))
		if got == bs[0] || before[i] != bs[0] && got != before[i] {
			t.Fatalf("key %d while ejected: backend %d; was %d", i, got.Index, before[i].Index)
		}
	}
	bs[0].ReportSuccess(time.Now().UnixNano())
	for i := range keys {
		if got := h.Pick(0, mix64(uint64(i))); got != before[i] {
			t.Fatalf("key %d after restore: backend %d; want %d", i, got.Index, before[i].Index)
		}
	}
}

// TestHealthConcurrent races picks, failures and successes (run with
// -race) and checks the upstream's ejected count against the backends.
func TestHealthConcurrent(t *testing.T) {
	for _, kind := range allKinds {
		t.Run(kind, func(t *testing.T) {
			bs := passiveBackends(2, 1, 1, 1, 1)
			bal := mustBalancer(t, kind, bs)
			var clock atomic.Int64
			clock.Store(time.Now().UnixNano())
			var wg sync.WaitGroup
			for g := range 8 {
				wg.Go(func() {
					for i := range 2000 {
						now := clock.Add(int64(time.Second))
						p := bal.Pick(0, uint64(i*g))
						if p == nil {
							p = bs[i%len(bs)]
						}
						if (i+g)%3 == 0 {
							p.ReportFailure(now)
						} else {
							p.ReportSuccess(now)
						}
					}
				})
			}
			wg.Wait()
			var n int64
			for _, b := range bs {
				if b.Ejected() {
					n++
				}
			}
			if got := bs[0].h.p.unavailable.Load(); got != n {
				t.Fatalf("ejected count = %d; want %d (backends not closed)", got, n)
			}
		})
	}
}

func TestNewTablePassive(t *testing.T) {
	tests := []struct {
		name     string
		maxFails int
		wantOn   bool
	}{
		{"default", 3, true},
		{"off", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := config.Default()
			u := config.DefaultUpstream()
			u.Name, u.MaxFails = "u", tt.maxFails
			u.Backends = []config.Backend{{Addr: "127.0.0.1:1", Weight: 1}, {Addr: "127.0.0.1:2", Weight: 1}}
			c.Upstreams = []config.Upstream{u}
			c.Routes = []config.Route{{Host: "*", PathPrefix: "/", Upstream: "u"}}
			tb, err := NewTable(c, testStickyKey)
			if err != nil {
				t.Fatal(err)
			}
			ub := tb.Upstreams[0].Backends
			now := time.Now().UnixNano()
			ejected := false
			for range tt.maxFails + 3 {
				ejected = ub[0].ReportFailure(now) || ejected
			}
			if ejected != tt.wantOn {
				t.Fatalf("ejected = %v; want %v", ejected, tt.wantOn)
			}
			if p := ub[0].h.p; tt.wantOn && (p.maxFails != 3 || p.failWindow != int64(10*time.Second) || p.ejectTime != int64(30*time.Second)) {
				t.Fatalf("policy = %+v; want 3, 10s, 30s", p)
			}
			for range 10 {
				if p := tb.Upstreams[0].Balancer.Pick(0, 0); tt.wantOn && p != ub[1] || p == nil {
					t.Fatalf("Pick = %v; want backend 1 when 0 is ejected", p)
				}
			}
		})
	}
}

func BenchmarkPickEjected(b *testing.B) {
	for _, kind := range allKinds {
		b.Run(kind, func(b *testing.B) {
			bs := passiveBackends(1, 1, 1, 1, 1)
			bal := mustBalancer(b, kind, bs)
			eject(b, bs[1], time.Now().UnixNano())
			b.ReportAllocs()
			var i uint64
			for b.Loop() {
				i++
				bal.Pick(0, i)
			}
		})
	}
}

func BenchmarkReportSuccessHealthy(b *testing.B) {
	bk := passiveBackends(3, 1)[0]
	b.ReportAllocs()
	for b.Loop() {
		bk.ReportSuccess(1)
	}
}

func BenchmarkReportFailure(b *testing.B) {
	bk := passiveBackends(3, 1)[0]
	b.ReportAllocs()
	var now int64
	for b.Loop() {
		now += int64(testWindow) // spread: never ejects
		bk.ReportFailure(now)
	}
}
