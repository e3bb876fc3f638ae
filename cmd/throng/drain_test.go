package main

// SIGTERM drains through the real binary: every one of 500 sessions gets
// 1001 and the process exits 0 within timeouts.drain; drain_spread spreads
// the Close frames; a session in the middle of a frame gets its Close after
// the frame, not a dropped connection; a second SIGTERM exits at once.

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
)

// TestDrain500: 500 open sessions, SIGTERM. Without drain_spread every
// client gets 1001 at once; with drain_spread = "2s" the Close frames
// arrive over about two seconds. Both exit 0 within timeouts.drain.
func TestDrain500(t *testing.T) {
	for _, spread := range []time.Duration{0, 2 * time.Second} {
		t.Run(fmt.Sprintf("drain_spread=%v", spread), func(t *testing.T) {
			host := newHost()
			backend, addr := net.JoinHostPort(host, "19001"), net.JoinHostPort(host, "18080")
			startBackend(t, backend)
			cfg := withTimeouts(basicConfig(addr, []string{backend},
				fmt.Sprintf("[server]\ndrain_spread = %q\n", spread.String())), `drain = "10s"`)
			th := startThrong(t, addr, cfg)
			const n = 500
			conns := make([]net.Conn, n)
			for i := range conns {
				conns[i] = dialWS(t, addr, "/")
				defer conns[i].Close()
			}
			echo(t, conns[0], ws.OpText, []byte("before the drain"))
			start := time.Now()
			if err := th.cmd.Process.Signal(syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			at := make([]time.Duration, n)
			var wg sync.WaitGroup
			errs := make(chan error, n)
			for i, c := range conns {
				wg.Go(func() {
					if code := expectClose(t, c, 8*time.Second); code != ws.StatusGoingAway {
						errs <- fmt.Errorf("session %d: close %d, want 1001", i, code)
						return
					}
					at[i] = time.Since(start)
					// Answer, as a client does.
					_ = ws.WriteFrame(c, ws.MaskFrame(ws.NewCloseFrame(ws.NewCloseFrameBody(ws.StatusGoingAway, ""))))
				})
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Error(err)
			}
			if code := waitExit(t, th.proc, 10*time.Second); code != 0 {
				t.Fatalf("exit code %d, want 0", code)
			}
			exited := time.Since(start)
			slices.Sort(at)
			first, last := at[0], at[n-1]
			t.Logf("Close frames from %v to %v after SIGTERM; exited after %v", first.Round(time.Millisecond), last.Round(time.Millisecond), exited.Round(time.Millisecond))
			if spread == 0 {
				if last > time.Second {
					t.Errorf("last Close %v after SIGTERM, want all at once", last)
				}
				return
			}
			// Spread: about two seconds from first to last, several
			// half-second buckets used, none holding most of them.
			if last-first < spread*3/4 || last > spread+time.Second {
				t.Errorf("Close frames from %v to %v, want spread over about %v", first, last, spread)
			}
			buckets := map[time.Duration]int{}
			for _, d := range at {
				buckets[d/(500*time.Millisecond)]++
			}
			for b, k := range buckets {
				if k > n/2 {
					t.Errorf("%d of %d Close frames in the half-second from %v", k, n, b*500*time.Millisecond)
				}
			}
		})
	}
}

// TestDrainMidFrame: a session whose client is half-way through a frame
// when SIGTERM comes keeps it: the rest of the frame is relayed, the echo
// comes back whole, and only then the Close 1001.
func TestDrainMidFrame(t *testing.T) {
	host := newHost()
	backend, addr := net.JoinHostPort(host, "19001"), net.JoinHostPort(host, "18080")
	startBackend(t, backend)
	th := startThrong(t, addr, withTimeouts(basicConfig(addr, []string{backend}, ""), `drain = "10s"`))
	c := dialWS(t, addr, "/")
	defer c.Close()
	payload := bytes.Repeat([]byte("mid-frame "), 10000)
	frame := wireFrame(true, 0, ws.OpBinary, true, payload)
	half := len(frame) / 2
	if _, err := c.Write(frame[:half]); err != nil {
		t.Fatal(err)
	}
	// The first half went through (its echo starts to come back): the
	// proxy's streams stand in the middle of the frame both ways.
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	h, err := ws.ReadHeader(c)
	if err != nil || h.Length != int64(len(payload)) {
		t.Fatalf("echo header %+v, %v", h, err)
	}
	if err := th.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	// Give the drain time to run before the rest arrives: wait for its
	// log line rather than a fixed time.
	waitOutput(t, th.proc, `"msg":"draining"`)
	if _, err := c.Write(frame[half:]); err != nil {
		t.Fatalf("the rest of the frame: %v (the proxy dropped the connection)", err)
	}
	got := make([]byte, h.Length)
	if _, err := io.ReadFull(c, got); err != nil || !bytes.Equal(got, payload) {
		t.Fatalf("echo: %v", err)
	}
	if code := expectClose(t, c, 5*time.Second); code != ws.StatusGoingAway {
		t.Fatalf("close %d after the frame, want 1001", code)
	}
	_ = ws.WriteFrame(c, ws.MaskFrame(ws.NewCloseFrame(ws.NewCloseFrameBody(ws.StatusGoingAway, ""))))
	if code := waitExit(t, th.proc, 10*time.Second); code != 0 {
		t.Fatalf("exit code %d, want 0", code)
	}
}

// TestSecondSIGTERM: a drain waiting for a backend that never closes ends
// at the second SIGTERM.
func TestSecondSIGTERM(t *testing.T) {
	host := newHost()
	backend, addr := net.JoinHostPort(host, "19001"), net.JoinHostPort(host, "18080")
	fakeBackend(t, backend, func(c net.Conn) {
		if _, err := ws.Upgrade(c); err == nil {
			for {
				if _, _, err := wsutil.ReadClientData(c); err != nil {
					return
				}
			}
		}
	})
	cfg := withTimeouts(basicConfig(addr, []string{backend}, ""), `drain = "30s"`)
	cfg = strings.Replace(cfg, `close = "1s"`, `close = "25s"`, 1)
	th := startThrong(t, addr, cfg)
	c := dialWS(t, addr, "/")
	defer c.Close()
	_ = th.cmd.Process.Signal(syscall.SIGTERM)
	waitOutput(t, th.proc, `"msg":"draining"`)
	start := time.Now()
	_ = th.cmd.Process.Signal(syscall.SIGTERM)
	code := waitExit(t, th.proc, 5*time.Second)
	t.Logf("exited with %d %v after the second SIGTERM", code, time.Since(start).Round(time.Millisecond))
	if code != 1 {
		t.Errorf("exit code %d, want 1 (the drain was cut short)", code)
	}
}
