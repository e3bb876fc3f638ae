package main

// The binary upgrade: a new throng started with -takeover and the same
// configuration takes every new client from the moment its /readyz says
// so, and the old one drains and exits, while clients keep making
// handshakes the whole time: none may fail.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"

	"github.com/throngproxy/throng/engine/enginetest"
)

// adminStatus asks admin's /api/v1/status, over a fresh connection (a
// kept-alive one would stay with the process that accepted it), whether
// the process that answers is ready, and its pid: one answer, because two
// processes share the address during a takeover.
func adminStatus(admin string) (ready bool, pid int) {
	c := http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Get("http://" + admin + "/api/v1/status")
	if err != nil {
		return false, 0
	}
	defer resp.Body.Close()
	var st struct {
		PID   int  `json:"pid"`
		Ready bool `json:"ready"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		return false, 0
	}
	return st.Ready, st.PID
}

// handshakeLoops runs n clients, each making one session after the other
// (upgrade, one echo, close) until stop is closed, and counts them.
type handshakeLoops struct {
	ok, failed atomic.Int64
	mu         sync.Mutex
	errs       []string
	wg         sync.WaitGroup
}

func runHandshakeLoops(addr string, n int, stop <-chan struct{}) *handshakeLoops {
	h := &handshakeLoops{}
	for i := range n {
		h.wg.Add(1)
		go func() {
			defer h.wg.Done()
			// Bounded by count too: a loop never outlives the test.
			for j := 0; j < 100000; j++ {
				select {
				case <-stop:
					return
				default:
				}
				if err := oneSession(addr, fmt.Sprintf("client %d session %d", i, j)); err != nil {
					h.failed.Add(1)
					h.mu.Lock()
					if len(h.errs) < 10 {
						h.errs = append(h.errs, err.Error())
					}
					h.mu.Unlock()
					continue
				}
				h.ok.Add(1)
			}
		}()
	}
	return h
}

// oneSession is one client's visit: a handshake that must be answered 101
// and one message echoed. A Close 1001 after the 101 is a drain, not a
// failed handshake: the client would reconnect, and does.
func oneSession(addr, msg string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, br, _, err := ws.Dialer{}.Dial(ctx, "ws://"+addr+"/")
	if err != nil {
		return fmt.Errorf("handshake: %w", err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	var conn net.Conn = c
	if br != nil {
		conn = &bufConn{Conn: c, r: br}
	}
	if err := wsutil.WriteClientMessage(conn, ws.OpText, []byte(msg)); err != nil {
		return nil // written after a drain's Close: the handshake succeeded
	}
	got, _, err := wsutil.ReadServerData(conn)
	var ce wsutil.ClosedError
	switch {
	case err == nil && string(got) != msg:
		return fmt.Errorf("echo: got %q, want %q", got, msg)
	case err != nil && !(errors.As(err, &ce) && ce.Code == ws.StatusGoingAway):
		return fmt.Errorf("echo: %w", err)
	}
	return nil
}

// TestTakeoverRestart: the old throng serves, clients loop on handshakes,
// a new throng starts with -takeover and the same configuration file, and
// once its /readyz answers 200 the old one gets SIGTERM and exits 0; then
// once more. No handshake fails, before, during or after, for Go clients
// nor for Node's ws.
func TestTakeoverRestart(t *testing.T) {
	host := newHost()
	backend, listen := net.JoinHostPort(host, "19001"), net.JoinHostPort(host, "18080")
	admin := net.JoinHostPort(host, "19901")
	startBackend(t, backend)
	cfg := withTimeouts(basicConfig(listen, []string{backend}, fmt.Sprintf("[admin]\nlisten = %q\n", admin)), `drain = "10s"`)
	old := startThrong(t, listen, cfg)
	enginetest.WaitForWithin(t, 10*time.Second, "the old throng's /readyz", func() bool {
		r, _ := adminStatus(admin)
		return r
	})

	// Node's ws clients loop beside the Go ones, as an independent check.
	node := requireNode(t)
	nodeClients := launch(t, nil, node, filepath.Join(nodeDir, "restart.js"), "ws://"+listen+"/", "4", "8")
	t.Cleanup(func() { nodeClients.stop(t) })
	stop := make(chan struct{})
	loops := runHandshakeLoops(listen, 4, stop)
	stopLoops := sync.OnceFunc(func() { close(stop); loops.wg.Wait() })
	t.Cleanup(stopLoops)
	enginetest.WaitFor(t, "sessions through the old throng", func() bool { return loops.ok.Load() >= 50 })

	// Two upgrades in a row: the second successor replaces the first one's
	// steering program.
	cur := old.proc
	var newPID int
	for gen := 1; gen <= 2; gen++ {
		successor := launch(t, nil, throngBin, "-takeover", "-config", old.cfg)
		t.Cleanup(func() {
			successor.stop(t)
			if t.Failed() {
				t.Logf("throng of generation %d, output:\n%s", gen, tail(successor.Output()))
			}
		})
		newPID = successor.cmd.Process.Pid
		enginetest.WaitForWithin(t, 10*time.Second, "the new throng's /readyz", func() bool {
			select {
			case <-successor.done:
				t.Fatalf("the new throng exited: %v\n%s", successor.err, successor.Output())
			default:
			}
			r, pid := adminStatus(admin)
			return r && pid == newPID
		})
		_ = cur.cmd.Process.Signal(syscall.SIGTERM)
		if code := waitExit(t, cur, 15*time.Second); code != 0 {
			t.Errorf("generation %d exited %d, want 0", gen-1, code)
		}
		// Past the old one's exit, for as many sessions again.
		target := loops.ok.Load() + 200
		enginetest.WaitFor(t, "sessions through the new throng alone", func() bool { return loops.ok.Load() >= target })
		for _, w := range []string{"takeover: new connections steered to this process", `"sockets":2`} {
			if !strings.Contains(successor.Output(), w) {
				t.Errorf("generation %d's log lacks %q:\n%s", gen, w, tail(successor.Output()))
			}
		}
		t.Logf("generation %d took over: %d sessions so far, %d failed", gen, loops.ok.Load(), loops.failed.Load())
		cur = successor
	}
	stopLoops()
	select {
	case <-nodeClients.done:
		t.Fatalf("node's clients stopped before the restarts were over (raise restart.js's seconds):\n%s", nodeClients.Output())
	default:
	}
	if code := waitExit(t, nodeClients, 40*time.Second); code != 0 {
		t.Errorf("node restart.js exited %d:\n%s", code, tail(nodeClients.Output()))
	}
	t.Logf("node restart.js: %s", strings.TrimSpace(nodeClients.Output()))

	if n := loops.failed.Load(); n != 0 {
		t.Errorf("%d handshakes failed during the restarts, want 0; first errors:\n%s", n, strings.Join(loops.errs, "\n"))
	}
	if r, pid := adminStatus(admin); !r || pid != newPID {
		t.Errorf("after the restarts: ready %v from pid %d, want ready from %s", r, pid, strconv.Itoa(newPID))
	}
}
