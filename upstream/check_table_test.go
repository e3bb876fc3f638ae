package upstream

import (
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/throngproxy/throng/config"
	"github.com/throngproxy/throng/engine/enginetest"
)

// logBuffer is a bytes.Buffer safe for the checkers' concurrent writes.
type logBuffer struct {
	mu  sync.Mutex // guards buf
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

// records returns the JSON log records with message msg.
func (l *logBuffer) records(t testing.TB, msg string) []map[string]any {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []map[string]any
	for line := range strings.SplitSeq(strings.TrimSpace(l.buf.String()), "\n") {
		if line == "" {
			continue
		}
		var r map[string]any
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		if r["msg"] == msg {
			out = append(out, r)
		}
	}
	return out
}

// newLog returns a JSON logger at debug level writing to a logBuffer.
func newLog() (*slog.Logger, *logBuffer) {
	lb := &logBuffer{}
	return slog.New(slog.NewJSONHandler(lb, &slog.HandlerOptions{Level: slog.LevelDebug})), lb
}

// healthTable builds a table of one upstream "u" over addrs with active
// checks hc and max_fails maxFails, balanced by kind.
func healthTable(t testing.TB, kind string, maxFails int, hc config.HealthCheck, addrs ...string) *Table {
	t.Helper()
	c := config.Default()
	u := config.DefaultUpstream()
	u.Name, u.Balance, u.MaxFails, u.Health = "u", kind, maxFails, hc
	for _, a := range addrs {
		u.Backends = append(u.Backends, config.Backend{Addr: a, Weight: 1})
	}
	c.Upstreams = []config.Upstream{u}
	c.Routes = []config.Route{{Host: "*", PathPrefix: "/", Upstream: "u"}}
	tb, err := NewTable(c, testStickyKey)
	if err != nil {
		t.Fatal(err)
	}
	return tb
}

// startChecks starts tb's checks and stops them at cleanup.
func startChecks(t testing.TB, tb *Table, log *slog.Logger, prev *Table) {
	t.Helper()
	tb.StartHealthChecks(log, prev)
	t.Cleanup(tb.StopHealthChecks)
}

// neverPicks fails the test if any balancer kind over bs picks bad in n
// picks, or picks nothing.
func neverPicks(t testing.TB, bs []*Backend, bad *Backend, n int) {
	t.Helper()
	for _, kind := range allKinds {
		bal := mustBalancer(t, kind, bs)
		for i := range n {
			p := bal.Pick(0, mix64(uint64(i)))
			if p == nil || p == bad {
				t.Fatalf("%s Pick #%d = %v; want a backend other than %s", kind, i, p, bad.Addr)
			}
		}
	}
}

// TestFallRise: a stopped backend goes down after fall failed checks and
// no balancer picks it; restarted on the same address, it comes up after
// rise passed checks. Each flip is logged once.
func TestFallRise(t *testing.T) {
	const addrA = "127.0.51.20:20020"
	srvA := serve(t, addrA, hangUp)
	srvB := serve(t, "127.0.51.21:0", hangUp)
	tb := healthTable(t, config.BalanceRoundRobin, 3, healthCheck(config.HealthTCP), addrA, srvB.addr())
	log, lb := newLog()
	startChecks(t, tb, log, nil)
	a, b := tb.Upstreams[0].Backends[0], tb.Upstreams[0].Backends[1]
	enginetest.WaitFor(t, "first passing checks", func() bool { return a.h.okRun.Load() >= 2 && b.h.okRun.Load() >= 2 })
	if a.Down() || !a.Healthy() || tb.HealthFlips() != 0 {
		t.Fatalf("before: Down %v, Healthy %v, flips %d; want false, true, 0", a.Down(), a.Healthy(), tb.HealthFlips())
	}

	srvA.stop()
	enginetest.WaitFor(t, "backend A down", a.Down)
	if got := a.h.failRun.Load(); got < 2 {
		t.Fatalf("down after %d failed checks; want ≥ 2", got)
	}
	if a.Healthy() || a.Available(time.Now().UnixNano()) || a.Ejected() {
		t.Fatalf("down: Healthy %v, Available %v, Ejected %v; want false, false, false", a.Healthy(), a.Available(time.Now().UnixNano()), a.Ejected())
	}
	if b.Down() || !b.Healthy() {
		t.Fatal("backend B went down with A")
	}
	neverPicks(t, tb.Upstreams[0].Backends, a, 1000)
	for i := range 1000 {
		if p := tb.Upstreams[0].Balancer.Pick(0, uint64(i)); p != b {
			t.Fatalf("table Pick #%d = %v; want B", i, p)
		}
	}

	serve(t, addrA, hangUp)
	enginetest.WaitFor(t, "backend A up", func() bool { return !a.Down() })
	if got := a.h.okRun.Load(); got < 2 {
		t.Fatalf("up after %d passing checks; want ≥ 2", got)
	}
	if !a.Healthy() || tb.Upstreams[0].Backends[0].h.p.unavailable.Load() != 0 {
		t.Fatal("backend A up but not healthy, or the upstream still counts it")
	}
	// A few more checks: no more lines.
	enginetest.WaitFor(t, "more passing checks", func() bool { return a.h.okRun.Load() >= 5 })
	downs, ups := lb.records(t, "backend down"), lb.records(t, "backend up")
	if len(downs) != 1 || len(ups) != 1 {
		t.Fatalf("%d \"backend down\" and %d \"backend up\" lines; want 1 and 1", len(downs), len(ups))
	}
	wantAttrs := map[string]any{"upstream": "u", "backend": addrA, "check": "tcp", "level": "WARN"}
	for k, v := range wantAttrs {
		if downs[0][k] != v {
			t.Errorf("backend down %s = %v; want %v", k, downs[0][k], v)
		}
	}
	if e, _ := downs[0]["err"].(string); !strings.Contains(e, "refused") {
		t.Errorf("backend down err = %q; want a refused connect", e)
	}
	wantAttrs["level"] = "INFO"
	for k, v := range wantAttrs {
		if ups[0][k] != v {
			t.Errorf("backend up %s = %v; want %v", k, ups[0][k], v)
		}
	}
	if got := tb.HealthFlips(); got != 2 {
		t.Fatalf("HealthFlips = %d; want 2", got)
	}
}

// TestRecordCheck drives fall and rise without a network.
func TestRecordCheck(t *testing.T) {
	fail := errors.New("fail")
	tests := []struct {
		name       string
		rise, fall int
		checks     string // p: pass, f: fail
		wantDown   string // Down after each check: 0 or 1
		wantFlips  uint64
	}{
		{name: "fall 2", rise: 2, fall: 2, checks: "pffpf", wantDown: "00111", wantFlips: 1},
		{name: "fall 1", rise: 1, fall: 1, checks: "fpfp", wantDown: "1010", wantFlips: 4},
		{name: "rise 3", rise: 3, fall: 2, checks: "ffppfppp", wantDown: "01111110", wantFlips: 2},
		{name: "flapping never falls", rise: 2, fall: 2, checks: "fpfpfpfp", wantDown: "00000000", wantFlips: 0},
		{name: "flapping never rises", rise: 2, fall: 1, checks: "fpfpfp", wantDown: "111111", wantFlips: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hc := healthCheck(config.HealthTCP)
			hc.Rise, hc.Fall = tt.rise, tt.fall
			tb := healthTable(t, config.BalanceRoundRobin, 0, hc, "127.0.51.30:1", "127.0.51.30:2")
			log, lb := newLog()
			b := tb.Upstreams[0].Backends[0]
			pol := policyOf(hc)
			var got strings.Builder
			for _, c := range tt.checks {
				var err error
				if c == 'f' {
					err = fail
				}
				b.recordCheck(err, log, &pol)
				if b.Down() {
					got.WriteByte('1')
				} else {
					got.WriteByte('0')
				}
				want := int64(0)
				if b.Down() {
					want = downUnit
				}
				if n := b.h.p.unavailable.Load(); n != want {
					t.Fatalf("unavailable = %d; want %d", n, want)
				}
			}
			if got.String() != tt.wantDown {
				t.Fatalf("Down after each check = %s; want %s", got.String(), tt.wantDown)
			}
			if f := tb.Upstreams[0].HealthFlips(); f != tt.wantFlips {
				t.Fatalf("HealthFlips = %d; want %d", f, tt.wantFlips)
			}
			if n := uint64(len(lb.records(t, "backend down")) + len(lb.records(t, "backend up"))); n != tt.wantFlips {
				t.Fatalf("%d flip lines; want %d", n, tt.wantFlips)
			}
		})
	}
}

// TestRiseUnejects: a backend that comes up after rise passed checks has
// its breaker closed and its eject-time doubling reset; passes while it
// is up do not uneject it.
func TestRiseUnejects(t *testing.T) {
	const addrA = "127.0.51.22:20022"
	srvB := serve(t, "127.0.51.21:0", hangUp)
	tb := healthTable(t, config.BalanceRoundRobin, 1, healthCheck(config.HealthTCP), addrA, srvB.addr())
	startChecks(t, tb, nil, nil)
	a, b := tb.Upstreams[0].Backends[0], tb.Upstreams[0].Backends[1]
	enginetest.WaitFor(t, "backend A down", a.Down)

	// Eject A, as if for the third time in a row: level 3.
	now := time.Now().UnixNano()
	if !a.ReportFailure(now) {
		t.Fatal("ReportFailure did not eject A")
	}
	a.h.mu.Lock()
	a.h.level.Store(3)
	a.h.mu.Unlock()
	if !a.Ejected() {
		t.Fatal("A not ejected")
	}
	// Eject B, which is up: its passing checks leave it ejected.
	if !b.ReportFailure(now) {
		t.Fatal("ReportFailure did not eject B")
	}
	okB := b.h.okRun.Load()
	enginetest.WaitFor(t, "B's next checks", func() bool { return b.h.okRun.Load() >= okB+3 })
	if !b.Ejected() || b.Healthy() {
		t.Fatal("passing checks of an up backend unejected it")
	}

	serve(t, addrA, hangUp)
	enginetest.WaitFor(t, "backend A up", func() bool { return !a.Down() })
	if a.Ejected() || !a.Healthy() || a.h.level.Load() != 0 {
		t.Fatalf("after rise: Ejected %v, Healthy %v, level %d; want false, true, 0", a.Ejected(), a.Healthy(), a.h.level.Load())
	}
	if got := a.h.p.unavailable.Load(); got != 1 { // B is still ejected
		t.Fatalf("unavailable = %d; want 1", got)
	}
	// The doubling was reset: the next ejection lasts eject_time.
	now = time.Now().UnixNano()
	if !a.ReportFailure(now) {
		t.Fatal("ReportFailure did not eject A after its rise")
	}
	if got, want := a.h.until.Load()-now, int64(30*time.Second); got != want {
		t.Fatalf("next ejection lasts %v; want %v", time.Duration(got), time.Duration(want))
	}
}

// TestInheritState: a new table takes the active state of the same
// backends of the table it replaces, when they check the same way.
func TestInheritState(t *testing.T) {
	const addrA = "127.0.51.23:20023" // never listens: down
	srvB := serve(t, "127.0.51.24:0", hangUp)
	hc := healthCheck(config.HealthTCP)
	prev := healthTable(t, config.BalanceRoundRobin, 0, hc, addrA, srvB.addr())
	startChecks(t, prev, nil, nil)
	pa, pb := prev.Upstreams[0].Backends[0], prev.Upstreams[0].Backends[1]
	enginetest.WaitFor(t, "prev: A down, B passing", func() bool { return pa.Down() && pb.h.okRun.Load() >= 3 })

	tests := []struct {
		name      string
		typ       string
		upstream  string
		wantDownA bool
	}{
		{name: "same check", typ: config.HealthTCP, upstream: "u", wantDownA: true},
		{name: "other check type", typ: config.HealthHTTP, upstream: "u"},
		{name: "other upstream", typ: config.HealthTCP, upstream: "v"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hc := healthCheck(tt.typ)
			// A long interval: the state seen is the inherited one.
			hc.Interval, hc.Timeout = config.DurationOf(time.Hour), config.DurationOf(time.Second)
			next := healthTable(t, config.BalanceRoundRobin, 0, hc, addrA, srvB.addr(), "127.0.51.24:20024")
			next.Upstreams[0].Name = tt.upstream
			next.StartHealthChecks(nil, prev)
			a, b, c := next.Upstreams[0].Backends[0], next.Upstreams[0].Backends[1], next.Upstreams[0].Backends[2]
			if a.Down() != tt.wantDownA {
				t.Fatalf("A Down = %v; want %v", a.Down(), tt.wantDownA)
			}
			wantUnavail := int64(0)
			if tt.wantDownA {
				wantUnavail = downUnit
				if a.h.failRun.Load() < 2 || b.h.okRun.Load() < 3 {
					t.Fatalf("runs: A fails %d, B passes %d; want ≥ 2 and ≥ 3 (copied)", a.h.failRun.Load(), b.h.okRun.Load())
				}
				neverPicks(t, next.Upstreams[0].Backends, a, 1000)
			}
			if got := a.h.p.unavailable.Load(); got != wantUnavail {
				t.Fatalf("unavailable = %d; want %d", got, wantUnavail)
			}
			if b.Down() || c.Down() {
				t.Fatal("B or the new backend C starts down")
			}
			next.StopHealthChecks()
			if got := next.HealthFlips(); got != 0 {
				t.Fatalf("HealthFlips = %d; want 0 (inheriting is no flip)", got)
			}
		})
	}
}

// TestStopHealthChecks: Stop aborts checks in flight, waits for every
// checker and is idempotent; Start twice starts once.
func TestStopHealthChecks(t *testing.T) {
	never := healthTable(t, config.BalanceRoundRobin, 3, healthCheck(config.HealthTCP), "127.0.51.25:1")
	never.StopHealthChecks() // never started
	off := healthTable(t, config.BalanceRoundRobin, 0, config.DefaultHealthCheck(), "127.0.51.25:1")
	off.StartHealthChecks(nil, nil) // no checks: nothing to start
	off.StopHealthChecks()

	silentSrv := serve(t, "127.0.51.25:0", silent)
	upSrv := serve(t, "127.0.51.25:0", hangUp)
	before := runtime.NumGoroutine()
	for _, typ := range []string{config.HealthHTTP, config.HealthWebSocket} {
		t.Run(typ, func(t *testing.T) {
			hc := healthCheck(typ)
			hc.Interval, hc.Timeout = config.DurationOf(time.Hour), config.DurationOf(time.Hour)
			tb := healthTable(t, config.BalanceRoundRobin, 3, hc, silentSrv.addr(), closedAddr, upSrv.addr())
			tb.StartHealthChecks(nil, nil)
			p := tb.Upstreams[0].Backends[0].h.p
			p.mu.Lock()
			run := p.run
			p.mu.Unlock()
			tb.StartHealthChecks(nil, nil)
			p.mu.Lock()
			same := p.run == run
			p.mu.Unlock()
			if !same {
				t.Fatal("a second StartHealthChecks started the checks again")
			}
			enginetest.WaitFor(t, "a check in flight", func() bool {
				silentSrv.mu.Lock()
				defer silentSrv.mu.Unlock()
				return len(silentSrv.conns) > 0
			})
			done := make(chan struct{})
			go func() {
				tb.StopHealthChecks()
				close(done)
			}()
			select {
			case <-done:
			case <-time.After(5 * time.Second):
				t.Fatal("StopHealthChecks did not return: it waits for the hour-long check")
			}
			tb.StopHealthChecks()
			for _, b := range tb.Upstreams[0].Backends {
				if b.Down() {
					t.Fatalf("backend %s down: an aborted check counted", b.Addr)
				}
			}
			if got := tb.HealthFlips(); got != 0 {
				t.Fatalf("HealthFlips = %d; want 0", got)
			}
			enginetest.WaitFor(t, "the aborted check's connection to close", func() bool {
				silentSrv.mu.Lock()
				defer silentSrv.mu.Unlock()
				return len(silentSrv.conns) == 0
			})
		})
	}
	enginetest.WaitFor(t, "the checkers' goroutines to end", func() bool { return runtime.NumGoroutine() <= before })
}

// TestActiveWithoutPassive: with max_fails = 0 a down backend is still
// skipped, and a pick with every backend up takes the fast path.
func TestActiveWithoutPassive(t *testing.T) {
	const addrA = "127.0.51.26:20026"
	srvA := serve(t, addrA, hangUp)
	srvB := serve(t, "127.0.51.27:0", hangUp)
	for _, kind := range allKinds {
		t.Run(kind, func(t *testing.T) {
			tb := healthTable(t, kind, 0, healthCheck(config.HealthTCP), addrA, srvB.addr())
			a := tb.Upstreams[0].Backends[0]
			p := a.h.p
			if p == nil || p.maxFails != 0 || a.h.fails != nil {
				t.Fatal("active checks without max_fails: want shared health with passive ejection off")
			}
			if a.ReportFailure(time.Now().UnixNano()) || a.Ejected() {
				t.Fatal("ReportFailure with max_fails = 0 ejected")
			}
			if pickNow(p) != 0 {
				t.Fatal("pickNow with every backend up read the clock")
			}
			a.setDown(true)
			if got := pickNow(p); got != 1 {
				t.Fatalf("pickNow with a backend down, none ejected = %d; want 1 (no clock)", got)
			}
			for i := range 1000 {
				if got := tb.Upstreams[0].Balancer.Pick(0, mix64(uint64(i))); got != tb.Upstreams[0].Backends[1] {
					t.Fatalf("Pick #%d = %v; want B", i, got)
				}
			}
			if got := tb.Upstreams[0].Balancer.Pick(1<<1, 0); got != nil {
				t.Fatalf("Pick excluding B with A down = %s; want nil", got.Addr)
			}
			a.setDown(false)
			if pickNow(p) != 0 {
				t.Fatal("pickNow after A came up read the clock")
			}
		})
	}
	// The same, driven by real checks.
	tb := healthTable(t, config.BalanceLeastConn, 0, healthCheck(config.HealthTCP), addrA, srvB.addr())
	startChecks(t, tb, nil, nil)
	a := tb.Upstreams[0].Backends[0]
	enginetest.WaitFor(t, "first checks", func() bool { return a.h.okRun.Load() >= 1 })
	srvA.stop()
	enginetest.WaitFor(t, "backend A down", a.Down)
	neverPicks(t, tb.Upstreams[0].Backends, a, 1000)
}

// TestHealthyAndDown: Healthy is false while down or ejected (open or
// half-open); Down and Ejected each see only their own state.
func TestHealthyAndDown(t *testing.T) {
	tb := healthTable(t, config.BalanceRoundRobin, 1, healthCheck(config.HealthTCP), "127.0.51.28:1", "127.0.51.28:2")
	b := tb.Upstreams[0].Backends[0]
	if !b.Healthy() || b.Down() || b.Ejected() {
		t.Fatal("a new backend is not plainly healthy")
	}
	b.setDown(true)
	if b.Healthy() || !b.Down() || b.Ejected() {
		t.Fatal("down: want Healthy false, Down true, Ejected false")
	}
	now := time.Now().UnixNano()
	b.ReportFailure(now)
	if b.Healthy() || !b.Down() || !b.Ejected() {
		t.Fatal("down and ejected: want Healthy false, Down true, Ejected true")
	}
	if got := b.h.p.unavailable.Load(); got != downUnit+1 {
		t.Fatalf("unavailable = %#x; want %#x (down and ejected)", got, downUnit+1)
	}
	b.setDown(false)
	if b.Healthy() || b.Down() || !b.Ejected() {
		t.Fatal("ejected: want Healthy false, Down false, Ejected true")
	}
	later := b.h.until.Load()
	if !b.Available(later) { // half-open: the probe
		t.Fatal("Available at half-open = false")
	}
	if b.Healthy() {
		t.Fatal("half-open: Healthy = true")
	}
	b.ReportSuccess(later)
	if !b.Healthy() || b.h.p.unavailable.Load() != 0 {
		t.Fatal("restored: not healthy, or still counted")
	}
}

// BenchmarkPickActive: picks over an upstream with active checks, with
// every backend up (the fast path: one atomic load, no clock) and with
// one down.
func BenchmarkPickActive(b *testing.B) {
	for _, down := range []bool{false, true} {
		for _, kind := range allKinds {
			name := kind + "/none_down"
			if down {
				name = kind + "/one_down"
			}
			b.Run(name, func(b *testing.B) {
				bs := healthTable(b, kind, 0, healthCheck(config.HealthTCP), "127.0.51.32:1", "127.0.51.32:2", "127.0.51.32:3", "127.0.51.32:4").Upstreams[0].Backends
				bal := mustBalancer(b, kind, bs)
				bs[1].setDown(down)
				b.ReportAllocs()
				var i uint64
				for b.Loop() {
					i++
					bal.Pick(0, i)
				}
			})
		}
	}
}

func BenchmarkHealthy(b *testing.B) {
	bk := healthTable(b, config.BalanceRoundRobin, 3, healthCheck(config.HealthTCP), "127.0.51.32:1").Upstreams[0].Backends[0]
	b.ReportAllocs()
	for b.Loop() {
		bk.Healthy()
	}
}
