package main

import (
	"net"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestPassiveEjection: a backend that dies mid-run is ejected after
// max_fails failed attempts (the clients never notice: each fails over),
// the ejection is logged once, and no new session dials it afterwards.
func TestPassiveEjection(t *testing.T) {
	host := newHost()
	good := net.JoinHostPort(host, "19001")
	taggedBackend(t, good)
	dying := net.JoinHostPort(host, "19002")
	ln, err := net.Listen("tcp", dying)
	if err != nil {
		t.Fatal(err)
	}
	ln.Close() // dead from the start of the test: connects are refused

	addr := net.JoinHostPort(host, "18080")
	cfg := basicConfig(addr, []string{dying, good}, "")
	cfg = strings.Replace(cfg, `balance = "round_robin"`, "balance = \"round_robin\"\nmax_fails = 2\nfail_window = \"10s\"\neject_time = \"30s\"", 1)
	th := startThrong(t, addr, cfg)
	for range 20 {
		b, c := openTagged(t, addr)
		c.Close()
		if b != good {
			t.Fatalf("session served by %s", b)
		}
	}
	_ = th.cmd.Process.Signal(syscall.SIGUSR1)
	out := waitOutput(t, th.proc, `"msg":"stats"`)
	if n := strings.Count(out, `"msg":"backend ejected"`); n != 1 {
		t.Fatalf("%d ejection lines, want 1:\n%s", n, tail(out))
	}
	line := out[strings.Index(out, `"msg":"stats"`):]
	// Two refused connects ejected it; nothing dialled it after that.
	if !strings.Contains(line, `"dial_failed":2,`) || !strings.Contains(line, `"ejections":1,`) {
		t.Fatalf("stats line: %s", line[:strings.IndexByte(line, '\n')])
	}
}

// TestEjectedBackendReturns: after eject_time one handshake probes the
// ejected backend; once it answers again it is restored (logged once) and
// takes sessions again.
func TestEjectedBackendReturns(t *testing.T) {
	host := newHost()
	good := net.JoinHostPort(host, "19001")
	taggedBackend(t, good)
	back := net.JoinHostPort(host, "19002") // nothing listens yet
	addr := net.JoinHostPort(host, "18080")
	cfg := basicConfig(addr, []string{back, good}, "")
	cfg = strings.Replace(cfg, `balance = "round_robin"`, "balance = \"round_robin\"\nmax_fails = 1\neject_time = \"1s\"", 1)
	th := startThrong(t, addr, cfg)
	for range 4 {
		_, c := openTagged(t, addr)
		c.Close()
	}
	waitOutput(t, th.proc, `"msg":"backend ejected"`)
	taggedBackend(t, back)
	deadline := time.Now().Add(6 * time.Second)
	for {
		b, c := openTagged(t, addr)
		c.Close()
		if b == back {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the restarted backend never got a session back")
		}
		waitABit(50 * time.Millisecond)
	}
	waitOutput(t, th.proc, `"msg":"backend restored"`)
}
