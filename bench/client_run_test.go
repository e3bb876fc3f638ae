package bench

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/throngproxy/throng/bench/backend"
)

// loadTestTimeout bounds each whole load-generator run in these tests.
const loadTestTimeout = 60 * time.Second

func TestEchoAgainstServe(t *testing.T) {
	const addr = "127.0.0.90:19101"
	startServe(t, backend.Config{Addr: addr, Loops: 1})
	srcs, err := ParseSources("127.0.0.91-93")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), loadTestTimeout)
	defer cancel()
	for _, tt := range []struct {
		name         string
		size, window int
	}{
		{"64B window 1", 64, 1},
		{"70000B window 4", 70000, 4},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rep, err := Echo(ctx, EchoConfig{
				LoadConfig: LoadConfig{
					URL: "ws://" + addr + "/echo", Sessions: 10, Sources: srcs, Loops: 2, PIDs: []int{1},
				},
				Size: tt.size, Window: tt.window, Duration: 2 * time.Second, Warmup: 200 * time.Millisecond,
			})
			if err != nil {
				t.Fatalf("Echo = %v", err)
			}
			if rep.Connected != 10 || len(rep.Failed) != 0 || rep.Errors != 0 || rep.Messages == 0 || rep.Interrupted {
				t.Errorf("got connected %d, failed %v, errors %d, messages %d, interrupted %v; want 10, none, 0, >0, false",
					rep.Connected, rep.Failed, rep.Errors, rep.Messages, rep.Interrupted)
			}
			if rep.Sent != rep.Received {
				t.Errorf("got sent %d, received %d; want equal after the drain", rep.Sent, rep.Received)
			}
			if rep.Latency.P50 <= 0 || rep.Latency.Max < rep.Latency.P99 {
				t.Errorf("got latency %+v, want p50 > 0 and max >= p99", rep.Latency)
			}
			if len(rep.Targets) != 1 || rep.Targets[0].Err != "" {
				t.Errorf("got targets %+v, want one sampled without error", rep.Targets)
			}
			wantReportText(t, rep, "msgs/s")
		})
	}
}

func TestIdleAgainstServe(t *testing.T) {
	const addr = "127.0.0.94:19101"
	startServe(t, backend.Config{Addr: addr, Loops: 1})
	srcs, err := ParseSources("127.0.0.95-97")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), loadTestTimeout)
	defer cancel()
	rep, err := Idle(ctx, IdleConfig{
		LoadConfig: LoadConfig{
			URL: "ws://" + addr + "/", Sessions: 200, Rate: 5000, Sources: srcs, Loops: 2, PIDs: []int{1},
		},
		Hold: 300 * time.Millisecond, Settle: 100 * time.Millisecond,
	})
	if err != nil {
		t.Fatalf("Idle = %v", err)
	}
	if rep.Attempted != 200 || rep.Connected != 200 || rep.Alive != 200 || len(rep.Failed) != 0 || rep.Mismatches != 0 {
		t.Errorf("got attempted %d, connected %d, alive %d, failed %v, mismatches %d; want 200, 200, 200, none, 0",
			rep.Attempted, rep.Connected, rep.Alive, rep.Failed, rep.Mismatches)
	}
	if len(rep.Targets) != 1 || rep.Targets[0].Connected.RSSBytes <= 0 {
		t.Errorf("got targets %+v, want one with RSS", rep.Targets)
	}
	wantReportText(t, rep, "alive at end")
}

func TestIdleFailures(t *testing.T) {
	// A listener that answers every request with 404 and closes.
	const notWS = "127.0.0.98:19101"
	startResponder(t, notWS, "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
	tests := []struct {
		name     string
		url      string
		wantKind string
	}{
		{"refused", "ws://127.0.0.99:19101/", clientFailRefused.String()},
		{"404", "ws://" + notWS + "/", clientFailStatus.String()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), loadTestTimeout)
			defer cancel()
			rep, err := Idle(ctx, IdleConfig{LoadConfig: LoadConfig{URL: tt.url, Sessions: 5, Loops: 1}, Hold: time.Millisecond})
			if !errors.Is(err, ErrNoneOpened) {
				t.Fatalf("Idle = %v, want %v", err, ErrNoneOpened)
			}
			if got := rep.Failed[tt.wantKind]; got != 5 || rep.Connected != 0 {
				t.Errorf("got failed %v, connected %d; want %s=5, 0", rep.Failed, rep.Connected, tt.wantKind)
			}
		})
	}
}

// startResponder listens on addr and answers what each connection sends
// first with resp, then closes it; it stops listening when t ends.
func startResponder(t *testing.T, addr, resp string) {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	go func() { // ends when the listener is closed
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(loadTestTimeout))
				buf := make([]byte, 4096)
				_, _ = c.Read(buf)
				_, _ = c.Write([]byte(resp))
			}()
		}
	}()
}

func TestEchoInterrupted(t *testing.T) {
	const addr = "127.0.0.90:19102"
	startServe(t, backend.Config{Addr: addr, Loops: 1})
	rep, err := runCancelled(t, "Echo", func(ctx context.Context) (*EchoReport, error) {
		return Echo(ctx, EchoConfig{LoadConfig: LoadConfig{URL: "ws://" + addr + "/", Sessions: 4, Loops: 1}, Duration: time.Hour})
	}, nil)
	if err != nil || !rep.Interrupted {
		t.Errorf("Echo = %+v, %v; want an interrupted report", rep, err)
	}
}

// runCancelled runs run, named name, in a goroutine on a context it
// cancels once started returns (at once for a nil started), and returns
// what run returned. It fails t if run goes on for loadTestTimeout after
// the cancel.
func runCancelled[R any](t *testing.T, name string, run func(context.Context) (*R, error), started func()) (*R, error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan struct{})
	var (
		rep *R
		err error
	)
	go func() {
		defer close(done)
		rep, err = run(ctx)
	}()
	if started != nil {
		started()
	}
	cancel()
	select {
	case <-done:
	case <-time.After(loadTestTimeout):
		t.Fatalf("%s still running after cancel", name)
	}
	return rep, err
}

func TestLoadConfigErrors(t *testing.T) {
	tests := []struct {
		name string
		run  func() error
		want []error
	}{
		{"idle empty", func() error { _, err := Idle(context.Background(), IdleConfig{}); return err },
			[]error{ErrBadURL, ErrBadSessions}},
		{"idle bad scheme", func() error {
			_, err := Idle(context.Background(), IdleConfig{LoadConfig: LoadConfig{URL: "https://x/", Sessions: 1, Rate: -1, PIDs: []int{0}}})
			return err
		}, []error{ErrBadURL, ErrBadRate, ErrBadPID}},
		{"echo small", func() error {
			_, err := Echo(context.Background(), EchoConfig{LoadConfig: LoadConfig{URL: "ws://x/", Loops: 999}, Size: 8, Window: 5000})
			return err
		}, []error{ErrBadSize, ErrBadWindow, ErrBadLoops}},
		{"idle negative timeouts", func() error {
			_, err := Idle(context.Background(), IdleConfig{
				LoadConfig: LoadConfig{URL: "ws://x/", Sessions: 1, ConnectTimeout: -1}, Hold: -1,
			})
			return err
		}, []error{ErrBadTimeout}},
		{"echo negative drain", func() error {
			_, err := Echo(context.Background(), EchoConfig{LoadConfig: LoadConfig{URL: "ws://x/"}, DrainTimeout: -1})
			return err
		}, []error{ErrBadTimeout}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.run()
			for _, w := range tt.want {
				if !errors.Is(err, w) {
					t.Errorf("got %v, want it to include %v", err, w)
				}
			}
		})
	}
}

func TestParseSources(t *testing.T) {
	tests := []struct {
		in      string
		want    string
		wantErr bool
	}{
		{"127.0.0.2", "127.0.0.2", false},
		{"127.0.0.2-127.0.0.4", "127.0.0.2 127.0.0.3 127.0.0.4", false},
		{"127.0.0.2-4", "127.0.0.2 127.0.0.3 127.0.0.4", false},
		{"127.0.0.255-127.0.1.0", "127.0.0.255 127.0.1.0", false},
		{"10.0.0.1, 10.0.0.3", "10.0.0.1 10.0.0.3", false},
		{"127.0.0.4-2", "", true},
		{"::1", "", true},
		{"x", "", true},
		{"127.0.0.1-300", "", true},
		{"10.0.0.0-10.2.0.0", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseSources(tt.in)
			if (err != nil) != tt.wantErr || strings.Join(addrStrings(got), " ") != tt.want {
				t.Errorf("ParseSources(%q) = %v, %v; want %q, error %v", tt.in, got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestDefaultSources(t *testing.T) {
	tests := []struct {
		url  string
		want int
	}{
		{"ws://127.0.0.1:9180/", 8},
		{"ws://127.0.0.1/", 8},
		{"ws://localhost:9180/", 0},
		{"ws://[::1]:9180/", 0},
		{"ws://192.0.2.1:80/", 0},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			if got := len(DefaultSources(tt.url)); got != tt.want {
				t.Errorf("len(DefaultSources(%q)) = %d, want %d", tt.url, got, tt.want)
			}
		})
	}
}
