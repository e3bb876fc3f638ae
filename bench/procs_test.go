package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/throngproxy/throng/bench/backend"
	"github.com/throngproxy/throng/bench/procs"
	"github.com/throngproxy/throng/bench/sysstat"
)

// Tests of runs split over processes use 127.0.76.0/24: servers on .1 and
// .2, sources from .10 up.

// workerEnv makes this test binary a worker process (see TestMain): "run"
// runs Worker; "exit" fails at once; "hang" never answers; "one-exit:DIR"
// and "one-hang:DIR" make one worker of a run fail so.
const workerEnv = "BENCH_TEST_WORKER"

func TestMain(m *testing.M) {
	mode, dir, _ := strings.Cut(os.Getenv(workerEnv), ":")
	if rest, ok := strings.CutPrefix(mode, "one-"); ok {
		// "one-exit:DIR", "one-hang:DIR": the worker that claims DIR
		// fails so; the others run.
		mode = "run"
		if os.Mkdir(dir+"/claimed", 0o700) == nil {
			mode = rest
		}
	}
	switch mode {
	case "":
		os.Exit(m.Run())
	case "run":
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		err := Worker(ctx, os.Stdin, os.Stdout)
		stop()
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	case "exit":
		fmt.Fprintln(os.Stderr, "worker: boom")
		os.Exit(3)
	case "hang":
		// A stuck worker: the parent must kill it at its deadline.
		time.Sleep(2 * time.Minute)
	}
	os.Exit(4)
}

// testProcs returns a procs.Config whose workers are this test binary in
// mode (see workerEnv).
func testProcs(n int, mode string) procs.Config {
	return procs.Config{
		Procs:   n,
		Command: []string{os.Args[0], "-test.run=^$"},
		Env:     append(os.Environ(), workerEnv+"="+mode),
	}
}

func mustSources(t testing.TB, s string) []netip.Addr {
	t.Helper()
	srcs, err := ParseSources(s)
	if err != nil {
		t.Fatal(err)
	}
	return srcs
}

func TestSplitLoad(t *testing.T) {
	eight := mustSources(t, "127.0.76.10-17")
	base := LoadConfig{URL: "ws://127.0.76.1:1/", Sessions: 10, Rate: 300, Sources: eight, PIDs: []int{1}, Live: new(Live)}
	tests := []struct {
		name         string
		cfg          LoadConfig
		procs        int
		wantErr      []error
		wantSessions []int
		wantSources  []int // addresses per share
	}{
		{"three shares", base, 3, nil, []int{4, 3, 3}, []int{2, 3, 3}},
		{"one share", base, 1, nil, []int{10}, []int{8}},
		{"as many as sources", base, 8, nil, []int{2, 2, 1, 1, 1, 1, 1, 1}, []int{1, 1, 1, 1, 1, 1, 1, 1}},
		{"kernel's sources", LoadConfig{Sessions: 5}, 2, nil, []int{3, 2}, []int{0, 0}},
		{"no procs", base, 0, []error{ErrBadProcs}, nil, nil},
		{"negative procs", base, -2, []error{ErrBadProcs}, nil, nil},
		{"more procs than sources", base, 9, []error{ErrProcsSources}, nil, nil},
		{"more procs than sessions", LoadConfig{Sessions: 2}, 3, []error{ErrProcsSessions}, nil, nil},
		{"both", LoadConfig{Sessions: 2, Sources: eight[:2]}, 3, []error{ErrProcsSources, ErrProcsSessions}, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := splitLoad(tt.cfg, tt.procs)
			for _, want := range tt.wantErr {
				if !errors.Is(err, want) {
					t.Errorf("splitLoad error = %v, want %v", err, want)
				}
			}
			if tt.wantErr != nil {
				return
			}
			if err != nil || len(got) != len(tt.wantSessions) {
				t.Fatalf("splitLoad = %d shares, %v; want %d, nil", len(got), err, len(tt.wantSessions))
			}
			var srcs []netip.Addr
			for i, s := range got {
				if s.Sessions != tt.wantSessions[i] || len(s.Sources) != tt.wantSources[i] {
					t.Errorf("share %d: got %d sessions, %d sources; want %d, %d",
						i, s.Sessions, len(s.Sources), tt.wantSessions[i], tt.wantSources[i])
				}
				if s.PIDs != nil || s.Live != nil || s.Rate != tt.cfg.Rate/float64(tt.procs) || s.URL != tt.cfg.URL {
					t.Errorf("share %d: got pids %v, live %v, rate %v, url %q; want none, nil, %v, %q",
						i, s.PIDs, s.Live, s.Rate, s.URL, tt.cfg.Rate/float64(tt.procs), tt.cfg.URL)
				}
				srcs = append(srcs, s.Sources...)
			}
			if fmt.Sprint(srcs) != fmt.Sprint(tt.cfg.Sources) && len(tt.cfg.Sources) > 0 {
				t.Errorf("shares' sources %v, want the whole range once, in order: %v", srcs, tt.cfg.Sources)
			}
		})
	}
}

func TestHistogramMerge(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	whole := newClientHistogram()
	parts := []*hdrhistogram.Histogram{newClientHistogram(), newClientHistogram(), newClientHistogram()}
	for i := range 100_000 {
		// Latencies from 1 µs to ~10 s, log-spread, and a few extremes.
		v := int64(float64(int64(1e3)<<rng.IntN(24)) * (1 + rng.Float64()))
		switch i {
		case 7:
			v = 1
		case 8:
			v = whole.HighestTrackableValue()
		}
		_ = whole.RecordValue(v)
		_ = parts[rng.IntN(len(parts))].RecordValue(v)
	}
	var ws []procs.Result
	for i, p := range parts {
		b, err := json.Marshal(encodeHist(p))
		if err != nil {
			t.Fatal(err)
		}
		ws = append(ws, procs.Result{Worker: i, Hist: b})
	}
	merged, err := mergeHists(ws)
	if err != nil {
		t.Fatalf("mergeHists = %v", err)
	}
	if !merged.Equals(whole) {
		t.Errorf("merged histogram differs from the one fed every value")
	}
	for _, q := range []float64{0, 1, 10, 50, 90, 99, 99.9, 99.99, 100} {
		if got, want := merged.ValueAtQuantile(q), whole.ValueAtQuantile(q); got != want {
			t.Errorf("p%v: got %d, want %d", q, got, want)
		}
	}
	if merged.TotalCount() != whole.TotalCount() || merged.Max() != whole.Max() || merged.Min() != whole.Min() ||
		merged.Mean() != whole.Mean() {
		t.Errorf("got count %d, min %d, max %d, mean %v; want %d, %d, %d, %v",
			merged.TotalCount(), merged.Min(), merged.Max(), merged.Mean(),
			whole.TotalCount(), whole.Min(), whole.Max(), whole.Mean())
	}
	if got, want := latencyOf(merged), latencyOf(whole); got != want {
		t.Errorf("latencyOf(merged) = %+v, want %+v", got, want)
	}
}

func TestDecodeHistErrors(t *testing.T) {
	good := encodeHist(newClientHistogram())
	n := -good.Counts[0] // one run of zeros
	tests := []struct {
		name string
		w    *histWire
	}{
		{"nil", nil},
		{"other range", &histWire{Lowest: 1, Highest: 10, Digits: 3, Counts: []int64{-n}}},
		{"too few counts", &histWire{Lowest: good.Lowest, Highest: good.Highest, Digits: good.Digits, Counts: []int64{-(n - 1)}}},
		{"too many counts", &histWire{Lowest: good.Lowest, Highest: good.Highest, Digits: good.Digits, Counts: []int64{-n, 5}}},
		{"zero run too long", &histWire{Lowest: good.Lowest, Highest: good.Highest, Digits: good.Digits, Counts: []int64{1, -n}}},
		{"huge zero run", &histWire{Lowest: good.Lowest, Highest: good.Highest, Digits: good.Digits, Counts: []int64{-1 << 63}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := decodeHist(tt.w); !errors.Is(err, procs.ErrProtocol) {
				t.Errorf("decodeHist = %v, want %v", err, procs.ErrProtocol)
			}
		})
	}
	if h, err := decodeHist(good); err != nil || h.TotalCount() != 0 {
		t.Errorf("decodeHist(empty) = %v, %v; want an empty histogram", h, err)
	}
}

func TestMergeReports(t *testing.T) {
	h := newClientHistogram()
	for v := int64(1000); v <= 100_000; v += 1000 {
		_ = h.RecordValue(v)
	}
	echo := newEchoReport(EchoConfig{LoadConfig: LoadConfig{URL: "ws://127.0.76.1:1/", Sessions: 30}, Size: 64, Window: 1})
	mergeTimed(echo, []*EchoReport{
		{Loops: 2, Connected: 10, Messages: 1000, MsgsPerSec: 500, BytesPerSec: 32000, Seconds: 2, Sent: 1100, Received: 1100,
			Failed: map[string]uint64{"refused": 1}, ClientCPUSeconds: 0.5},
		{Loops: 2, Connected: 20, Messages: 3000, MsgsPerSec: 1499, BytesPerSec: 95936, Seconds: 2.001, Sent: 3100, Received: 3099,
			Errors: 1, Failed: map[string]uint64{"refused": 2, "closed_by_peer": 1}, ClientCPUSeconds: 0.7, Interrupted: true},
	}, h)
	wantEcho := EchoReport{Procs: 2, Loops: 4, Connected: 30, Messages: 4000, MsgsPerSec: 1999, BytesPerSec: 127936, Seconds: 2.001,
		Sent: 4200, Received: 4199, Errors: 1, ClientCPUSeconds: 1.2, Interrupted: true}
	if echo.Procs != wantEcho.Procs || echo.Loops != wantEcho.Loops || echo.Connected != wantEcho.Connected ||
		echo.Messages != wantEcho.Messages || echo.MsgsPerSec != wantEcho.MsgsPerSec || echo.BytesPerSec != wantEcho.BytesPerSec ||
		echo.Seconds != wantEcho.Seconds || echo.Sent != wantEcho.Sent || echo.Received != wantEcho.Received ||
		echo.Errors != wantEcho.Errors || echo.Interrupted != wantEcho.Interrupted ||
		fmt.Sprintf("%.1f", echo.ClientCPUSeconds) != "1.2" ||
		fmt.Sprint(echo.Failed) != "map[closed_by_peer:1 refused:3]" || echo.Latency != latencyOf(h) {
		t.Errorf("mergeTimed(echo) = %+v\nwant %+v, failed closed_by_peer 1 refused 3, latency %+v", *echo, wantEcho, latencyOf(h))
	}
	var b strings.Builder
	if err := echo.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"processes 2 workers, results merged", "messages 4000 (1999 msgs/s", "closed_by_peer=1, refused=3",
		"latency µs p50 50.0", "interrupted yes"} {
		if !strings.Contains(squash(b.String()), want) {
			t.Errorf("WriteText:\n%s\nwant it to contain %q", b.String(), want)
		}
	}

	idle := newIdleReport(IdleConfig{LoadConfig: LoadConfig{URL: "ws://127.0.76.1:1/", Sessions: 300}, Hold: time.Second,
		Ping: 100 * time.Millisecond})
	mergeIdle(idle, []*IdleReport{
		{Loops: 1, Attempted: 100, Connected: 100, Alive: 100, ConnectSeconds: 1.5, HeldSeconds: 1.01, PingsSent: 1000, PongsReceived: 1000},
		{Loops: 1, Attempted: 100, Connected: 99, Alive: 98, ConnectSeconds: 2, HeldSeconds: 1.002, Failed: map[string]uint64{"refused": 1},
			PingsSent: 990, PongsReceived: 989},
		{Loops: 1, Attempted: 100, Connected: 100, Alive: 100, ConnectSeconds: 1, HeldSeconds: 1.005, Mismatches: 2,
			PingsSent: 1000, PongsReceived: 1000},
	})
	if idle.Procs != 3 || idle.Loops != 3 || idle.Attempted != 300 || idle.Connected != 299 || idle.Alive != 298 ||
		idle.ConnectSeconds != 2 || idle.ConnectRate != 149.5 || idle.HeldSeconds != 1.002 || idle.Mismatches != 2 ||
		idle.PingsSent != 2990 || idle.PongsReceived != 2989 || fmt.Sprint(idle.Failed) != "map[refused:1]" {
		t.Errorf("mergeIdle = %+v; want 3 procs and loops, 300 attempted, 299 connected, 298 alive, connect 2 s at 149.5/s, "+
			"held 1.002 s, 2990 pings, 2989 pongs", *idle)
	}
	b.Reset()
	if err := idle.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"processes 3 workers", "connected 299 of 300 attempted in 2.00s (150/s)",
		"hold 1s, a Ping every 100ms", "pings 2990 sent, 2989 pongs received"} {
		if !strings.Contains(squash(b.String()), want) {
			t.Errorf("WriteText:\n%s\nwant it to contain %q", b.String(), want)
		}
	}

	hs := newHandshakeReport(HandshakeConfig{LoadConfig: LoadConfig{URL: "ws://127.0.76.1:1/", Sessions: 8}}, sysstat.Machine{})
	mergeTimed(hs, []*HandshakeReport{
		{Loops: 1, Handshakes: 100, HandshakesPerSec: 50, Total: 120, Seconds: 2, Closes: HandshakeCloses{ServerFirst: 119, ClientFirst: 1, CloseEchoed: 120}},
		{Loops: 1, Handshakes: 200, HandshakesPerSec: 100, Total: 230, Seconds: 2, Closes: HandshakeCloses{ServerFirst: 230, CloseEchoed: 230},
			Failed: map[string]uint64{"handshake_timeout": 2}},
	}, h)
	if hs.Procs != 2 || hs.Handshakes != 300 || hs.HandshakesPerSec != 150 || hs.Total != 350 ||
		hs.Closes != (HandshakeCloses{ServerFirst: 349, ClientFirst: 1, CloseEchoed: 350}) ||
		fmt.Sprint(hs.Failed) != "map[handshake_timeout:2]" || hs.Latency != latencyOf(h) {
		t.Errorf("mergeTimed(handshake) = %+v; want 2 procs, 300 handshakes at 150/s, 350 in all", *hs)
	}
	wantReportText(t, hs, "handshakes 300 (150 handshakes/s; 350 in all phases)")
}

// squash returns s with every run of spaces made one space.
func squash(s string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = strings.Join(strings.Fields(l), " ")
	}
	return strings.Join(lines, "\n")
}

func TestProcsConfigErrors(t *testing.T) {
	url := "ws://127.0.76.1:1/"
	srcs := mustSources(t, "127.0.76.10-11")
	ctx := context.Background()
	tests := []struct {
		name string
		run  func() error
		want error
	}{
		{"idle no procs", func() error {
			_, err := IdleProcs(ctx, IdleConfig{LoadConfig: LoadConfig{URL: url, Sessions: 4}}, testProcs(0, "run"))
			return err
		}, ErrBadProcs},
		{"idle bad config", func() error {
			_, err := IdleProcs(ctx, IdleConfig{LoadConfig: LoadConfig{URL: "http://x/", Sessions: 4}}, testProcs(2, "run"))
			return err
		}, ErrBadURL},
		{"echo more procs than sources", func() error {
			_, err := EchoProcs(ctx, EchoConfig{LoadConfig: LoadConfig{URL: url, Sessions: 4, Sources: srcs}}, testProcs(3, "run"))
			return err
		}, ErrProcsSources},
		{"handshake more procs than sessions", func() error {
			_, err := HandshakeProcs(ctx, HandshakeConfig{LoadConfig: LoadConfig{URL: url, Sessions: 1}}, testProcs(2, "run"))
			return err
		}, ErrProcsSessions},
		{"no command", func() error {
			_, err := IdleProcs(ctx, IdleConfig{LoadConfig: LoadConfig{URL: url, Sessions: 4}}, procs.Config{Procs: 2})
			return err
		}, procs.ErrCommand},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.run(); !errors.Is(err, tt.want) {
				t.Errorf("got %v, want %v", err, tt.want)
			}
		})
	}
}

func TestProcsAgainstServe(t *testing.T) {
	const addr = "127.0.76.1:19611"
	startServe(t, backend.Config{Addr: addr, Loops: 1})
	srcs := mustSources(t, "127.0.76.10-13")
	ctx, cancel := context.WithTimeout(context.Background(), loadTestTimeout)
	defer cancel()
	load := LoadConfig{URL: "ws://" + addr + "/", Sources: srcs, Loops: 1, PIDs: []int{os.Getpid()}}

	t.Run("idle", func(t *testing.T) {
		cfg := IdleConfig{LoadConfig: load, Hold: 300 * time.Millisecond, Settle: 50 * time.Millisecond}
		cfg.Sessions, cfg.Live = 101, new(Live)
		rep, err := IdleProcs(ctx, cfg, testProcs(2, "run"))
		if err != nil {
			t.Fatalf("IdleProcs = %v", err)
		}
		if rep.Procs != 2 || rep.Loops != 2 || rep.Attempted != 101 || rep.Connected != 101 || rep.Alive != 101 ||
			len(rep.Failed) != 0 || rep.Mismatches != 0 || rep.Interrupted {
			t.Errorf("got %+v; want 2 procs, 101 attempted, connected and alive, no failures", *rep)
		}
		// This process serves: it holds one socket per session, on the URL's address.
		if len(rep.Targets) != 1 || rep.Targets[0].SessionsHeld != 101 || rep.Targets[0].Err != "" {
			t.Errorf("got targets %+v, want this process holding 101 sessions", rep.Targets)
		}
		if got := cfg.Live.Sample(); got.Msgs != 101 || got.Errors != 0 {
			t.Errorf("live = %+v, want the workers' 101 verify echoes and no errors", got)
		}
	})
	t.Run("echo", func(t *testing.T) {
		cfg := EchoConfig{LoadConfig: load, Duration: 500 * time.Millisecond, Warmup: 100 * time.Millisecond}
		cfg.Sessions = 6
		rep, err := EchoProcs(ctx, cfg, testProcs(3, "run"))
		if err != nil {
			t.Fatalf("EchoProcs = %v", err)
		}
		if rep.Procs != 3 || rep.Connected != 6 || rep.Messages == 0 || rep.MsgsPerSec <= 0 || rep.Errors != 0 ||
			len(rep.Failed) != 0 || rep.Sent != rep.Received || rep.Latency.P50 <= 0 || rep.Latency.Max < rep.Latency.P99 {
			t.Errorf("got %+v; want 3 procs, 6 connected, messages, no errors, latencies", *rep)
		}
		if len(rep.Targets) != 1 || rep.Targets[0].CPUSeconds <= 0 || rep.Targets[0].Err != "" {
			t.Errorf("got targets %+v, want this process's CPU over the measured time", rep.Targets)
		}
	})
	t.Run("handshake", func(t *testing.T) {
		cfg := HandshakeConfig{LoadConfig: load, Duration: 500 * time.Millisecond, Warmup: 100 * time.Millisecond}
		cfg.Sessions = 4
		rep, err := HandshakeProcs(ctx, cfg, testProcs(2, "run"))
		if err != nil {
			t.Fatalf("HandshakeProcs = %v", err)
		}
		if rep.Procs != 2 || rep.Workers != 4 || rep.Handshakes == 0 || rep.HandshakesPerSec <= 0 || len(rep.Failed) != 0 ||
			rep.Latency.P50 <= 0 || rep.Closes.ServerFirst != rep.Total {
			t.Errorf("got %+v; want 2 procs, 4 workers, handshakes, no failures, every close server-first", *rep)
		}
	})
	t.Run("interrupted", func(t *testing.T) {
		ictx, icancel := context.WithCancel(ctx)
		cfg := IdleConfig{LoadConfig: load, Hold: time.Minute}
		cfg.Sessions, cfg.Live = 10, new(Live)
		done := make(chan struct{})
		go func() { // cancels the run once its sessions are up
			defer close(done)
			tick := time.NewTicker(10 * time.Millisecond)
			defer tick.Stop()
			for cfg.Live.Sample().Up < 10 && ictx.Err() == nil {
				<-tick.C
			}
			icancel()
		}()
		rep, err := IdleProcs(ictx, cfg, testProcs(2, "run"))
		<-done
		if err != nil || !rep.Interrupted || rep.Connected != 10 || rep.HeldSeconds > 30 {
			t.Errorf("IdleProcs = %+v, %v; want an interrupted report of 10 sessions, early", rep, err)
		}
	})
}

func TestProcsWorkerFails(t *testing.T) {
	const addr = "127.0.76.2:19611"
	startServe(t, backend.Config{Addr: addr, Loops: 1})
	cfg := IdleConfig{LoadConfig: LoadConfig{URL: "ws://" + addr + "/", Sessions: 4, Loops: 1}, Hold: time.Minute}
	tests := []struct {
		name    string
		mode    string
		readyBy time.Duration
		want    string
	}{
		{"exits", "one-exit", 10 * time.Second, "worker: boom"},
		{"hangs", "one-hang", 300 * time.Millisecond, "not connected after 300ms"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// One worker runs, the other fails. The run must end at once,
			// not after the minute's hold, and the hung one be killed.
			start := time.Now()
			_, err := runWorkers(context.Background(), testProcs(2, tt.mode+":"+t.TempDir()),
				[]workerJob{{Mode: workerModeIdle, Idle: &cfg}, {Mode: workerModeIdle, Idle: &cfg}},
				procs.Plan{ReadyBy: tt.readyBy, RunFor: time.Minute, StopWait: time.Second}, nil)
			if !errors.Is(err, procs.ErrWorker) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("runWorkers = %v; want %v mentioning %q", err, procs.ErrWorker, tt.want)
			}
			if d := time.Since(start); d > 20*time.Second {
				t.Errorf("runWorkers took %v, want well under the hold", d)
			}
		})
	}
}

func TestWorkerBadJob(t *testing.T) {
	tests := []struct {
		name, in string
	}{
		{"empty", ""},
		{"not json", "idle please\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out strings.Builder
			if err := Worker(context.Background(), strings.NewReader(tt.in), &out); !errors.Is(err, procs.ErrProtocol) {
				t.Errorf("Worker = %v, want %v", err, procs.ErrProtocol)
			}
		})
	}
	// A job of no known mode is reported as a failed run.
	var out strings.Builder
	if err := Worker(context.Background(), strings.NewReader(`{"mode":"dance"}`+"\n"), &out); err != nil {
		t.Fatalf("Worker = %v, want nil", err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	var m procs.Msg
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &m); err != nil || !m.Done || m.Result != nil ||
		!strings.Contains(m.Err, `mode "dance"`) {
		t.Errorf("Worker wrote %q (%v); want a last done line with the error and no result", out.String(), err)
	}
}

func FuzzDecodeHist(f *testing.F) {
	h := newClientHistogram()
	for _, v := range []int64{1, 999, 1000, 123456, 60e9} {
		_ = h.RecordValue(v)
	}
	good, _ := json.Marshal(encodeHist(h))
	f.Add(good)
	f.Add([]byte(`{"lowest":1,"highest":60000000000,"digits":3,"counts":[-5,7]}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, in []byte) {
		var w *histWire
		if json.Unmarshal(in, &w) != nil {
			return
		}
		h, err := decodeHist(w)
		if err != nil {
			return
		}
		// What decodes encodes to the same counts (zero runs may merge).
		back, err := decodeHist(encodeHist(h))
		if err != nil || !back.Equals(h) {
			t.Errorf("decodeHist(encodeHist(decodeHist(%s))) = %v, want the same histogram", in, err)
		}
	})
}

// TestFanoutProcs runs a fan-out over three workers: the first publishes
// on two channels, the other two only subscribe, and every subscriber of
// every worker gets every message (delivery counted per process, latency
// measured across processes).
func TestFanoutProcs(t *testing.T) {
	const addr = "127.0.76.1:19612"
	startServe(t, backend.Config{Addr: addr, Mode: backend.ModeFanout})
	ctx, cancel := context.WithTimeout(context.Background(), loadTestTimeout)
	defer cancel()
	cfg := FanoutConfig{
		LoadConfig: LoadConfig{URL: "ws://" + addr + "/procs", Sessions: 30, Sources: mustSources(t, "127.0.76.20-22"),
			Loops: 1, PIDs: []int{os.Getpid()}},
		MsgRate: 40, Channels: 2, Duration: time.Second, Warmup: 200 * time.Millisecond,
	}
	rep, err := FanoutProcs(ctx, cfg, testProcs(3, "run"))
	if err != nil {
		t.Fatalf("FanoutProcs = %v", err)
	}
	if rep.Procs != 3 || rep.Connected != 30 || rep.Publishers != 2 || rep.Errors != 0 || len(rep.Failed) != 0 {
		t.Errorf("got procs %d, subscribers %d, publishers %d, errors %d, failed %v; want 3, 30, 2, 0, none",
			rep.Procs, rep.Connected, rep.Publishers, rep.Errors, rep.Failed)
	}
	if rep.PerChannel != 40 || rep.Published != 80 || rep.Expected != 40*30 || rep.Delivered != rep.Expected {
		t.Errorf("got per channel %d, published %d, expected %d, delivered %d; want 40, 80, 1200, 1200",
			rep.PerChannel, rep.Published, rep.Expected, rep.Delivered)
	}
	// Cross-process latency: stamps of one machine's clock, so a delivery
	// takes more than nothing and far less than the run.
	if rep.Latency.P50 < 5 || rep.Latency.Max > 1e6 { // µs; a clamped negative latency would be 0.001
		t.Errorf("got latency %+v; want p50 of 5 µs or more and max under 1 s", rep.Latency)
	}
	if len(rep.Targets) != 1 || rep.Targets[0].CPUSeconds <= 0 {
		t.Errorf("got targets %+v, want this process's CPU time", rep.Targets)
	}
	t.Logf("latency %+v", rep.Latency)
}

// TestMeasureFanoutUntilIdle: the parent's samples of a fan-out run go on
// past the publishing time while the sampled process is busy (delivering
// what it owes), and stop soon after it goes idle.
func TestMeasureFanoutUntilIdle(t *testing.T) {
	const publish, busy = 100 * time.Millisecond, 700 * time.Millisecond
	pids := []int{os.Getpid()}
	tests := []struct {
		name     string
		busy     time.Duration // this process spins this long from the start
		min, max time.Duration // the sampled time
	}{
		{"idle after publishing", 0, publish, publish + 3*fanoutIdleProbe},
		{"busy past publishing", busy, busy, busy + 3*fanoutIdleProbe},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			end := time.Now().Add(tt.busy)
			spun := make(chan struct{})
			go func() {
				defer close(spun)
				for n := 0; time.Now().Before(end); n++ {
					_ = n * n
				}
			}()
			var m clientMeasure
			measureFanout(context.Background(), &m, pids, publish, 5*time.Second)
			<-spun
			got := time.Duration(m.seconds() * float64(time.Second))
			if got < tt.min || got > tt.max {
				t.Errorf("sampled %v; want %v to %v", got, tt.min, tt.max)
			}
			if cpu := m.targets(pids, 1)[0].cpu; tt.busy > 0 && cpu < 0.3 {
				t.Errorf("sampled %.2f CPU-s of a process that spun %v; want most of it", cpu, tt.busy)
			}
		})
	}
}
