package bench

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/panjf2000/gnet/v2"

	"github.com/throngproxy/throng/bench/backend"
)

// Tests of the hold's Pings use 127.0.77.0/24: servers on .1 to .3,
// client sources from .10.

func TestPingSpread(t *testing.T) {
	tests := []struct {
		every      time.Duration
		wantSlices int
		wantTick   time.Duration
	}{
		{10 * time.Millisecond, 1, 10 * time.Millisecond},
		{25 * time.Millisecond, 2, 12500 * time.Microsecond},
		{100 * time.Millisecond, 10, 10 * time.Millisecond},
		{time.Second, 100, 10 * time.Millisecond},
		{30 * time.Second, 100, 300 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.every.String(), func(t *testing.T) {
			slices, tick := pingSpread(tt.every)
			if slices != tt.wantSlices || tick != tt.wantTick {
				t.Errorf("pingSpread(%v) = %d, %v; want %d, %v", tt.every, slices, tick, tt.wantSlices, tt.wantTick)
			}
		})
	}
}

func TestAppendPing(t *testing.T) {
	s, _ := newTLSBenchSession(t, 64)
	for want := range uint64(3) {
		out := s.cs.appendPing(nil)
		h, err := ws.ReadHeader(bytes.NewReader(out))
		if err != nil {
			t.Fatalf("ReadHeader = %v", err)
		}
		if !h.Fin || h.OpCode != ws.OpPing || !h.Masked || h.Mask != s.cs.frame.mask || h.Length != clientPingLen {
			t.Fatalf("Ping %d: header %+v, want a final masked Ping of %d bytes", want, h, clientPingLen)
		}
		p := bytes.Clone(out[len(out)-clientPingLen:])
		ws.Cipher(p, h.Mask, 0)
		if got := binary.LittleEndian.Uint64(p); got != want {
			t.Errorf("Ping %d: payload %d, want %d", want, got, want)
		}
	}
	if s.cs.pings != 3 || s.lp.pings != 3 {
		t.Errorf("got %d pings on the session, %d on the loop; want 3, 3", s.cs.pings, s.lp.pings)
	}
}

// TestPongsAndVerify checks that Pongs are counted, and that a session
// whose verify echo comes with no Pong since its last Ping counts
// pong_missing, while one Pong for the latest of several Pings will do
// (RFC 6455 §5.5.3).
func TestPongsAndVerify(t *testing.T) {
	pong := clientServerFrame(true, ws.OpPong, []byte("01234567"))
	tests := []struct {
		name        string
		pings       int // Pings sent before the Pongs came
		pongsBefore int // Pongs ahead of the echo
		wantMissing uint64
	}{
		{"all answered", 2, 2, 0},
		{"two pings, one pong for the latest", 2, 1, 0},
		{"missing", 1, 0, 1},
		{"none sent", 0, 0, 0},
		{"unsolicited", 0, 1, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, echo := newTLSBenchSession(t, 64)
			r := s.run
			cd := newClientCountdown()
			r.verify.Store(cd)
			cd.add()
			s.cs.verifyArmed.Store(true)
			cd.done()
			for range tt.pings {
				s.lp.out = s.cs.appendPing(s.lp.out[:0])
			}
			in := append(bytes.Repeat(pong, tt.pongsBefore), echo...)
			s.c.in = append(s.c.in[:0], in...)
			if end := s.process(clientPhaseVerify, 1000); end {
				t.Fatal("process ended the session")
			}
			if s.cs.pongs != uint64(tt.pongsBefore) || s.lp.pongs != uint64(tt.pongsBefore) {
				t.Errorf("got %d pongs on the session, %d on the loop; want %d", s.cs.pongs, s.lp.pongs, tt.pongsBefore)
			}
			if got := r.fails[clientFailPongMissing].Load(); got != tt.wantMissing {
				t.Errorf("pong_missing = %d, want %d", got, tt.wantMissing)
			}
			select {
			case <-cd.zero:
			default:
				t.Error("the verify countdown is not done")
			}
			if r.alive.Load() != 1 || len(s.c.in) != 0 {
				t.Errorf("got alive %d, %d bytes left; want 1, 0", r.alive.Load(), len(s.c.in))
			}
		})
	}
}

// TestTLSPingSchedule checks when a TLS session pings in a hold: first
// after its slice of the interval, then every interval, and once (not a
// burst) when late.
func TestTLSPingSchedule(t *testing.T) {
	s, _ := newTLSBenchSession(t, 64)
	s.run.spec.ping = 100 * time.Millisecond // 10 slices of 10ms
	s.slot = 13                              // slice 3
	const ms = int64(time.Millisecond)
	steps := []struct {
		now       int64
		wantPings uint64
		wantWait  time.Duration
	}{
		{1000 * ms, 0, 40 * time.Millisecond}, // first sight: due in 4 slices
		{1039 * ms, 0, time.Millisecond},
		{1040 * ms, 1, 100 * time.Millisecond},
		{1141 * ms, 2, 99 * time.Millisecond},
		{1500 * ms, 3, 100 * time.Millisecond}, // late by more than an interval: one Ping
	}
	for _, st := range steps {
		s.process(clientPhaseHold, st.now)
		if s.cs.pings != st.wantPings || s.readWait(clientPhaseHold, st.now) != st.wantWait {
			t.Errorf("at %dms: %d pings, next read waits %v; want %d, %v",
				st.now/ms, s.cs.pings, s.readWait(clientPhaseHold, st.now), st.wantPings, st.wantWait)
		}
	}
	s.process(clientPhaseVerify, 1700*ms)
	if s.cs.pings != 3 {
		t.Errorf("after the hold: %d pings, want 3", s.cs.pings)
	}
}

// TestIdlePing holds sessions for 1s with a Ping every 100ms against
// throng-bench serve (gnet, and split over processes) and the TLS test
// server: about ten Pings per session, every one answered, no failure, and
// every session alive after them.
func TestIdlePing(t *testing.T) {
	const (
		serveAddr = "127.0.77.1:19771"
		tlsAddr   = "127.0.77.2:19771"
		sessions  = 100
		minPings  = 8 // of the ~10 a 1s hold has room for
	)
	startServe(t, backend.Config{Addr: serveAddr, Loops: 1})
	tlsSrv := startTLSTestServer(t, tlsAddr, false)
	srcs := mustSources(t, "127.0.77.10-13")
	tests := []struct {
		name  string
		url   string
		opts  TLSOptions
		procs int
	}{
		{"gnet", "ws://" + serveAddr + "/", TLSOptions{}, 1},
		{"gnet procs", "ws://" + serveAddr + "/", TLSOptions{}, 2},
		{"tls", tlsSrv.url("/"), TLSOptions{Insecure: true}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), loadTestTimeout)
			defer cancel()
			cfg := IdleConfig{
				LoadConfig: LoadConfig{URL: tt.url, Sessions: sessions, Sources: srcs, Loops: 2, TLS: tt.opts},
				Hold:       time.Second, Ping: 100 * time.Millisecond,
			}
			var (
				rep *IdleReport
				err error
			)
			if tt.procs > 1 {
				rep, err = IdleProcs(ctx, cfg, testProcs(tt.procs, "run"))
			} else {
				rep, err = Idle(ctx, cfg)
			}
			if err != nil {
				t.Fatalf("Idle = %v", err)
			}
			t.Logf("%s: %d sessions held %.2fs: %d pings sent, %d pongs received", tt.name, rep.Connected, rep.HeldSeconds,
				rep.PingsSent, rep.PongsReceived)
			if rep.Connected != sessions || rep.Alive != sessions || len(rep.Failed) != 0 || rep.Mismatches != 0 || rep.Ping != "100ms" {
				t.Errorf("got connected %d, alive %d, failed %v, mismatches %d, ping %q; want %d, %d, none, 0, 100ms",
					rep.Connected, rep.Alive, rep.Failed, rep.Mismatches, rep.Ping, sessions, sessions)
			}
			if rep.PingsSent < sessions*minPings || rep.PongsReceived != rep.PingsSent {
				t.Errorf("got %d pings sent, %d pongs received; want at least %d, all answered",
					rep.PingsSent, rep.PongsReceived, sessions*minPings)
			}
			wantReportText(t, rep, "pongs received")
		})
	}
}

func TestIdlePingErrors(t *testing.T) {
	tests := []struct {
		name string
		ping time.Duration
		want error
	}{
		{"too short", 5 * time.Millisecond, ErrBadPing},
		{"negative", -time.Second, ErrBadTimeout},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Idle(context.Background(), IdleConfig{LoadConfig: LoadConfig{URL: "ws://127.0.77.3:1/", Sessions: 1}, Ping: tt.ping})
			if !errors.Is(err, tt.want) {
				t.Errorf("Idle(ping %v) = %v, want %v", tt.ping, err, tt.want)
			}
		})
	}
}

// tickTestLoop is an event loop that runs what it is handed at once and
// says so on ran.
type tickTestLoop struct {
	gnet.EventLoop // nil: only Execute is called
	ran            chan struct{}
}

func (l *tickTestLoop) Execute(ctx context.Context, r gnet.Runnable) error {
	_ = r.Run(ctx)
	select {
	case l.ran <- struct{}{}:
	default:
	}
	return nil
}

// TestTickLoopsLateLoop checks that tickLoops reads the loops at every
// tick: a loop that joins after the ticker started (its first session
// opened late) is served too.
func TestTickLoopsLateLoop(t *testing.T) {
	var mu sync.Mutex
	loops := map[gnet.EventLoop]int{}
	early := &tickTestLoop{ran: make(chan struct{}, 1)}
	late := &tickTestLoop{ran: make(chan struct{}, 1)}
	loops[early] = 1
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		tickLoops(stop, time.Millisecond, &mu, loops, func(int) gnet.Runnable { return tickTestTask{} })
	})
	defer func() {
		close(stop)
		wg.Wait()
	}()
	deadline := time.NewTimer(10 * time.Second)
	defer deadline.Stop()
	select {
	case <-early.ran:
	case <-deadline.C:
		t.Fatal("the first loop was not served within 10s")
	}
	mu.Lock()
	loops[late] = 2
	mu.Unlock()
	select {
	case <-late.ran:
	case <-deadline.C:
		t.Fatal("the loop that joined late was not served within 10s")
	}
}

// tickTestTask is a runnable that does nothing.
type tickTestTask struct{}

func (tickTestTask) Run(context.Context) error { return nil }
