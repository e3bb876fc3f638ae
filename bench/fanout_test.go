package bench

import (
	"context"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/throngproxy/throng/bench/backend"
)

func TestFanoutAgainstServe(t *testing.T) {
	const addr = "127.0.74.1:19401"
	startServe(t, backend.Config{Addr: addr, Mode: backend.ModeFanout})
	srcs, err := ParseSources("127.0.74.2-4")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), loadTestTimeout)
	defer cancel()
	rep, err := Fanout(ctx, FanoutConfig{
		LoadConfig: LoadConfig{
			URL: "ws://" + addr + "/room", Sessions: 50, Sources: srcs, Loops: 2, PIDs: []int{os.Getpid()},
		},
		MsgRate: 100, Duration: 2 * time.Second, Warmup: 200 * time.Millisecond,
	})
	if err != nil {
		t.Fatalf("Fanout = %v", err)
	}
	if rep.Connected != 50 || len(rep.Failed) != 0 || rep.Errors != 0 || rep.Interrupted {
		t.Errorf("got connected %d, failed %v, errors %d, interrupted %v; want 50, none, 0, false",
			rep.Connected, rep.Failed, rep.Errors, rep.Interrupted)
	}
	if rep.Published != 200 || rep.Expected != 200*50 || rep.Delivered != rep.Expected {
		t.Errorf("got published %d, expected %d, delivered %d; want 200, 10000, 10000",
			rep.Published, rep.Expected, rep.Delivered)
	}
	if rep.Sent != 220 || rep.Received != 220*50 {
		t.Errorf("got sent %d, received %d; want 220, 11000", rep.Sent, rep.Received)
	}
	if rep.Latency.P50 <= 0 || rep.Latency.Max < rep.Latency.P99 {
		t.Errorf("got latency %+v; want p50 > 0, max >= p99", rep.Latency)
	}
	if len(rep.Targets) != 1 || rep.Targets[0].Err != "" || rep.Targets[0].CPUSeconds <= 0 {
		t.Errorf("got targets %+v, want one sampled with CPU time", rep.Targets)
	}
	t.Logf("\n%s", wantReportText(t, rep, "10000 of 10000 expected"))
}

func TestFanoutErrors(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), loadTestTimeout)
	defer cancel()
	for _, tt := range []struct {
		name string
		cfg  FanoutConfig
		want []error
	}{
		{"no url", FanoutConfig{}, []error{ErrBadURL}},
		{"bad rate", FanoutConfig{LoadConfig: LoadConfig{URL: "ws://127.0.74.9:1/"}, MsgRate: -1}, []error{ErrBadMsgRate}},
		{"too fast", FanoutConfig{LoadConfig: LoadConfig{URL: "ws://127.0.74.9:1/"}, MsgRate: 2e6}, []error{ErrBadMsgRate}},
		{"all", FanoutConfig{LoadConfig: LoadConfig{Sessions: -1}, MsgRate: -1, Size: 1},
			[]error{ErrBadURL, ErrBadSessions, ErrBadMsgRate, ErrBadSize}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rep, err := Fanout(ctx, tt.cfg)
			if rep != nil {
				t.Errorf("got report %+v, want nil", rep)
			}
			for _, w := range tt.want {
				if !errors.Is(err, w) {
					t.Errorf("got %v, want %v", err, w)
				}
			}
		})
	}
	t.Run("refused", func(t *testing.T) {
		rep, err := Fanout(ctx, FanoutConfig{
			LoadConfig: LoadConfig{URL: "ws://127.0.74.9:19401/", Sessions: 2},
			Duration:   time.Second,
		})
		if !errors.Is(err, ErrNoneOpened) || rep == nil || rep.Failed[clientFailRefused.String()] != 3 {
			t.Errorf("got %v, %+v; want ErrNoneOpened with 3 refused", err, rep)
		}
	})
}
