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

func TestChannelRoles(t *testing.T) {
	for _, tt := range []struct {
		name      string
		target    string
		channels  int
		subOnly   bool
		sessions  int
		wantPaths []string
		wantPubs  int
	}{
		{"one channel", "/room?x=1", 1, false, 3, []string{"/room?x=1", "/room?x=1", "/room?x=1"}, 1},
		{"three", "/room", 3, false, 7, []string{"/room0", "/room1", "/room2", "/room0", "/room1", "/room2", "/room0"}, 3},
		{"query kept", "/r?k=v", 2, false, 4, []string{"/r0?k=v", "/r1?k=v", "/r0?k=v", "/r1?k=v"}, 2},
		{"subscribe only", "/r", 2, true, 3, []string{"/r0", "/r1", "/r0"}, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := newClientFanout(FanoutConfig{Channels: tt.channels, SubscribeOnly: tt.subOnly}, tt.target)
			pubs := 0
			for i := range tt.sessions {
				path, pub := f.role(i)
				if path != tt.wantPaths[i] {
					t.Errorf("role(%d) path = %q, want %q", i, path, tt.wantPaths[i])
				}
				if pub != (i < tt.wantPubs) {
					t.Errorf("role(%d) publisher = %v, want %v", i, pub, i < tt.wantPubs)
				}
				if pub {
					pubs++
				}
			}
			if pubs != tt.wantPubs {
				t.Errorf("got %d publishers, want %d", pubs, tt.wantPubs)
			}
		})
	}
}

// TestFanoutChannels spreads 40 subscribers over 4 channels of the fan-out
// server: each receives its own channel's messages only, in sequence (a
// message from another channel would break the sequence: an error).
func TestFanoutChannels(t *testing.T) {
	const addr = "127.0.74.1:19402"
	startServe(t, backend.Config{Addr: addr, Mode: backend.ModeFanout})
	ctx, cancel := context.WithTimeout(context.Background(), loadTestTimeout)
	defer cancel()
	rep, err := Fanout(ctx, FanoutConfig{
		LoadConfig: LoadConfig{URL: "ws://" + addr + "/room", Sessions: 40, Loops: 2},
		MsgRate:    50, Channels: 4, Duration: time.Second, Warmup: 200 * time.Millisecond,
	})
	if err != nil {
		t.Fatalf("Fanout = %v", err)
	}
	if rep.Channels != 4 || rep.Publishers != 4 || rep.Connected != 40 || rep.Errors != 0 {
		t.Errorf("got channels %d, publishers %d, connected %d, errors %d; want 4, 4, 40, 0",
			rep.Channels, rep.Publishers, rep.Connected, rep.Errors)
	}
	if rep.PerChannel != 50 || rep.Published != 200 || rep.Expected != 50*40 || rep.Delivered != rep.Expected {
		t.Errorf("got per channel %d, published %d, expected %d, delivered %d; want 50, 200, 2000, 2000",
			rep.PerChannel, rep.Published, rep.Expected, rep.Delivered)
	}
	t.Run("bad channels", func(t *testing.T) {
		for _, n := range []int{-1, maxFanoutChannels + 1} {
			_, err := Fanout(ctx, FanoutConfig{LoadConfig: LoadConfig{URL: "ws://" + addr + "/"}, Channels: n})
			if !errors.Is(err, ErrBadChannels) {
				t.Errorf("channels %d: got %v, want ErrBadChannels", n, err)
			}
		}
	})
}
