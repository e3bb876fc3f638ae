package bench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/throngproxy/throng/bench/backend"
	"github.com/throngproxy/throng/codec"
)

// Handshake tests use 127.0.74.0/24: servers on .1, .10, .20, .30, .40,
// sources on the addresses just above each.

func TestHandshakeAgainstServe(t *testing.T) {
	const addr = "127.0.74.1:19474"
	startServe(t, backend.Config{Addr: addr, Loops: 1})
	srcs, err := ParseSources("127.0.74.2-5")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), loadTestTimeout)
	defer cancel()
	rep, err := Handshake(ctx, HandshakeConfig{
		LoadConfig: LoadConfig{URL: "ws://" + addr + "/hs", Sessions: 8, Sources: srcs, Loops: 2, PIDs: []int{os.Getpid()}},
		Duration:   2 * time.Second, Warmup: 200 * time.Millisecond,
	})
	if err != nil {
		t.Fatalf("Handshake = %v", err)
	}
	if rep.Handshakes == 0 || rep.Total < rep.Handshakes || len(rep.Failed) != 0 || rep.Interrupted {
		t.Errorf("got handshakes %d, total %d, failed %v, interrupted %v; want >0, >= handshakes, none, false",
			rep.Handshakes, rep.Total, rep.Failed, rep.Interrupted)
	}
	c := rep.Closes
	if c.ServerFirst != rep.Total || c.ClientFirst != 0 || c.CloseEchoed != rep.Total {
		t.Errorf("got closes %+v for total %d; want all server first with the Close echoed", c, rep.Total)
	}
	if rep.Latency.P50 <= 0 || rep.Latency.Max < rep.Latency.P99 || rep.Seconds < 1.9 {
		t.Errorf("got latency %+v, seconds %.2f; want p50 > 0, max >= p99, ~2s", rep.Latency, rep.Seconds)
	}
	if got := float64(rep.Handshakes) / rep.Seconds; got != rep.HandshakesPerSec {
		t.Errorf("got %.1f handshakes/s, want %.1f", rep.HandshakesPerSec, got)
	}
	if len(rep.Targets) != 1 || rep.Targets[0].Err != "" || rep.Targets[0].CPUSeconds <= 0 {
		t.Errorf("got targets %+v, want one sampled with CPU time", rep.Targets)
	}
	wantReportText(t, rep, "handshakes/s")
	var b strings.Builder
	var back HandshakeReport
	if err := WriteJSON(&b, rep); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(b.String()), &back); err != nil || back.Handshakes != rep.Handshakes || back.Mode != "handshake" {
		t.Errorf("JSON round trip = %+v, %v; want handshakes %d, mode handshake", back, err, rep.Handshakes)
	}
	t.Logf("%d handshakes in %.2fs (%.0f/s), p50 %.0fµs p99 %.0fµs", rep.Handshakes, rep.Seconds, rep.HandshakesPerSec, rep.Latency.P50, rep.Latency.P99)
}

// fakeServer accepts on addr and hands every connection to handle on its
// own goroutine, until the test ends.
func fakeServer(t *testing.T, addr string, handle func(net.Conn)) {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex // guards conns
	conns := map[net.Conn]struct{}{}
	t.Cleanup(func() {
		_ = ln.Close()
		mu.Lock()
		for c := range conns {
			_ = c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns[c] = struct{}{}
			mu.Unlock()
			_ = c.SetDeadline(time.Now().Add(loadTestTimeout))
			wg.Go(func() {
				defer func() {
					mu.Lock()
					delete(conns, c)
					mu.Unlock()
					_ = c.Close()
				}()
				handle(c)
			})
		}
	})
}

// upgradeAndHold answers the upgrade correctly, then reads and ignores
// everything, never closing first.
func upgradeAndHold(c net.Conn) {
	br := bufio.NewReader(c)
	req, err := http.ReadRequest(br)
	if err != nil {
		return
	}
	accept := codec.AppendAcceptKey(nil, []byte(req.Header.Get("Sec-WebSocket-Key")))
	_, _ = c.Write([]byte("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " +
		string(accept) + "\r\n\r\n"))
	buf := make([]byte, 512)
	for {
		if _, err := br.Read(buf); err != nil {
			return
		}
	}
}

// respond writes resp after the request head, then closes.
func respond(resp string) func(net.Conn) {
	return func(c net.Conn) {
		if _, err := http.ReadRequest(bufio.NewReader(c)); err != nil {
			return
		}
		_, _ = c.Write([]byte(resp))
	}
}

// silent reads the request and never answers.
func silent(c net.Conn) { _, _ = c.Read(make([]byte, 4096)); _, _ = c.Read(make([]byte, 1)) }

func TestHandshakeServerNeverCloses(t *testing.T) {
	const addr = "127.0.74.10:19474"
	fakeServer(t, addr, upgradeAndHold)
	ctx, cancel := context.WithTimeout(context.Background(), loadTestTimeout)
	defer cancel()
	rep, err := Handshake(ctx, HandshakeConfig{
		LoadConfig: LoadConfig{URL: "ws://" + addr + "/", Sessions: 2, Loops: 1},
		Duration:   300 * time.Millisecond, Warmup: 50 * time.Millisecond, CloseTimeout: 60 * time.Millisecond,
	})
	if err != nil {
		t.Fatalf("Handshake = %v", err)
	}
	c := rep.Closes
	if rep.Total == 0 || len(rep.Failed) != 0 || c.ClientFirst != rep.Total || c.ServerFirst != 0 || c.CloseEchoed != 0 {
		t.Errorf("got total %d, failed %v, closes %+v; want >0, none, all client first, none echoed", rep.Total, rep.Failed, c)
	}
}

func TestHandshakeFailures(t *testing.T) {
	const (
		notWS    = "127.0.74.20:19474"
		badKey   = "127.0.74.30:19474"
		noAnswer = "127.0.74.40:19474"
	)
	fakeServer(t, notWS, respond("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"))
	fakeServer(t, badKey, respond("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Accept: AAAAAAAAAAAAAAAAAAAAAAAAAAA=\r\n\r\n"))
	fakeServer(t, noAnswer, silent)
	tests := []struct {
		name     string
		url      string
		wantKind clientFail
	}{
		{"refused", "ws://127.0.74.50:19474/", clientFailRefused},
		{"404", "ws://" + notWS + "/", clientFailStatus},
		{"bad accept", "ws://" + badKey + "/", clientFailHandshake},
		{"no answer", "ws://" + noAnswer + "/", clientFailHandshakeTimeout},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), loadTestTimeout)
			defer cancel()
			rep, err := Handshake(ctx, HandshakeConfig{
				LoadConfig: LoadConfig{URL: tt.url, Sessions: 2, Loops: 1, HandshakeTimeout: 50 * time.Millisecond},
				Duration:   200 * time.Millisecond, Warmup: 20 * time.Millisecond,
			})
			if !errors.Is(err, ErrNoneOpened) {
				t.Fatalf("Handshake = %v, want %v", err, ErrNoneOpened)
			}
			if got := rep.Failed[tt.wantKind.String()]; got == 0 || len(rep.Failed) != 1 || rep.Total != 0 {
				t.Errorf("got failed %v, total %d; want only %s > 0, 0", rep.Failed, rep.Total, tt.wantKind)
			}
		})
	}
}

func TestHandshakeInterrupted(t *testing.T) {
	const addr = "127.0.74.1:19475"
	startServe(t, backend.Config{Addr: addr, Loops: 1})
	rep, err := runCancelled(t, "Handshake", func(ctx context.Context) (*HandshakeReport, error) {
		return Handshake(ctx, HandshakeConfig{LoadConfig: LoadConfig{URL: "ws://" + addr + "/", Sessions: 4, Loops: 1}, Duration: time.Hour})
	}, nil)
	if err != nil || !rep.Interrupted {
		t.Errorf("Handshake = %+v, %v; want an interrupted report", rep, err)
	}
}

func TestHandshakeConfigErrors(t *testing.T) {
	tests := []struct {
		name string
		cfg  HandshakeConfig
		want []error
	}{
		{"empty", HandshakeConfig{}, []error{ErrBadURL}},
		{"bad scheme and negatives", HandshakeConfig{LoadConfig: LoadConfig{URL: "https://x/", Sessions: -1, Rate: -1, PIDs: []int{-2}}},
			[]error{ErrBadURL, ErrBadSessions, ErrBadRate, ErrBadPID}},
		{"negative close timeout", HandshakeConfig{LoadConfig: LoadConfig{URL: "ws://x/"}, CloseTimeout: -1}, []error{ErrBadTimeout}},
		{"negative duration", HandshakeConfig{LoadConfig: LoadConfig{URL: "ws://x/", Loops: 300}, Duration: -1},
			[]error{ErrBadTimeout, ErrBadLoops}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rep, err := Handshake(context.Background(), tt.cfg)
			if rep != nil {
				t.Errorf("got report %+v, want nil", rep)
			}
			for _, w := range tt.want {
				if !errors.Is(err, w) {
					t.Errorf("got %v, want it to include %v", err, w)
				}
			}
		})
	}
}

func TestHandshakeDefaults(t *testing.T) {
	got := HandshakeConfig{LoadConfig: LoadConfig{URL: "ws://x/"}}.WithDefaults()
	if got.Sessions != defaultHandshakeWorkers || got.Duration != defaultDuration ||
		got.Warmup != defaultWarmup || got.CloseTimeout != defaultHandshakeCloseTimeout || got.Loops < 1 {
		t.Errorf("WithDefaults = %+v, want workers %d, duration %v, warmup %v, close timeout %v, loops >= 1", got,
			defaultHandshakeWorkers, defaultDuration, defaultWarmup, defaultHandshakeCloseTimeout)
	}
}

func TestHandshakeStateString(t *testing.T) {
	tests := []struct {
		s    hsState
		want string
	}{
		{hsStateDialing, "dialing"},
		{hsStateAbandoned, "abandoned"},
		{hsStateHandshake, "handshake"},
		{hsStateClosing, "closing"},
		{hsStateFailed, "failed"},
		{hsStateClosed, "closed"},
		{hsStateClosed + 1, "unknown"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			if got := tt.s.String(); got != tt.want {
				t.Errorf("hsState(%d).String() = %q, want %q", tt.s, got, tt.want)
			}
		})
	}
}

func TestHandshakeReportText(t *testing.T) {
	rep := &HandshakeReport{
		URL: "ws://127.0.0.1:1/", Workers: 3, Duration: "1s", Warmup: "0s", CloseTimeout: "1s",
		Seconds: 1, Handshakes: 1234, HandshakesPerSec: 1234, Total: 1300,
		Failed:      map[string]uint64{"refused": 2},
		Closes:      HandshakeCloses{ServerFirst: 1299, ClientFirst: 1, CloseEchoed: 1299},
		Targets:     []HandshakeTarget{{PID: 7, CPUSeconds: 0.5, HandshakesPerCPUSecond: 2468}},
		Interrupted: true,
	}
	var b bytes.Buffer
	if err := rep.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"1234 handshakes/s", "refused=2", "server first 1299, client first (timeout) 1", "2468 handshakes per cpu-second", "interrupted"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("WriteText = %q, want it to contain %q", b.String(), want)
		}
	}
}
