package main

import (
	"io"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/throngproxy/throng/engine/enginetest"
)

// TestPassiveEjection: a backend that dies mid-run is ejected after
// max_fails failed attempts (the clients never notice: each fails over),
// the ejection is logged once, and no new session dials it afterwards.
func TestPassiveEjection(t *testing.T) {
	host := newHost()
	good := net.JoinHostPort(host, "19001")
	taggedBackend(t, good)
	dying := refusingAddr(t, host, "19002") // dead from the start: connects are refused

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
	line := stats(t, th)
	if n := strings.Count(th.Output(), `"msg":"backend ejected"`); n != 1 {
		t.Fatalf("%d ejection lines, want 1:\n%s", n, tail(th.Output()))
	}
	// Two refused connects ejected it; nothing dialled it after that.
	if statOf(t, line, "dial_failed") != 2 || statOf(t, line, "ejections") != 1 {
		t.Fatalf("stats line: %s", line)
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
	enginetest.WaitForWithin(t, 6*time.Second, "the restarted backend to get a session back", func() bool {
		b, c := openTagged(t, addr)
		c.Close()
		return b == back
	})
	waitOutput(t, th.proc, `"msg":"backend restored"`)
}

// TestActiveHealthCheck: a backend killed mid-run is taken down by active
// websocket checks (logged once) and no new session dials it; restarted,
// it comes back after rise passing checks and takes sessions again.
func TestActiveHealthCheck(t *testing.T) {
	host := newHost()
	flappy := net.JoinHostPort(host, "19001")
	ln, err := net.Listen("tcp", flappy)
	if err != nil {
		t.Fatal(err)
	}
	serveOn(ln, answerTagged(flappy))
	good := net.JoinHostPort(host, "19002")
	taggedBackend(t, good)
	addr := net.JoinHostPort(host, "18080")
	// Passive health off: only the active checks may take it down.
	cfg := upstreamConfig(addr, []string{flappy, good}, "max_fails = 0") +
		"[upstream.health]\ntype = \"websocket\"\npath = \"/healthz\"\ninterval = \"200ms\"\ntimeout = \"150ms\"\nrise = 2\nfall = 2\n"
	th := startThrong(t, addr, cfg)
	seen := map[string]bool{}
	for range 4 {
		b, c := openTagged(t, addr)
		c.Close()
		seen[b] = true
	}
	if !seen[flappy] || !seen[good] {
		t.Fatalf("sessions reached %v; want both backends", seen)
	}

	ln.Close()
	waitOutput(t, th.proc, `"msg":"backend down"`)
	failedBefore := statOf(t, stats(t, th), "dial_failed")
	for i := range 20 {
		if b, c := openTagged(t, addr); b != good {
			t.Fatalf("session %d went to the down backend", i)
		} else {
			c.Close()
		}
	}
	if line := stats(t, th); statOf(t, line, "dial_failed") != failedBefore {
		t.Fatalf("sessions still dialled the down backend: %s", line)
	}

	ln2, err := net.Listen("tcp", flappy)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln2.Close() })
	serveOn(ln2, answerTagged(flappy))
	waitOutput(t, th.proc, `"msg":"backend up"`)
	deadline := time.Now().Add(5 * time.Second)
	for {
		b, c := openTagged(t, addr)
		c.Close()
		if b == flappy {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the backend that came up never got a session")
		}
	}
	out := th.Output()
	if d, u := strings.Count(out, `"msg":"backend down"`), strings.Count(out, `"msg":"backend up"`); d != 1 || u != 1 {
		t.Fatalf("%d down and %d up lines; want one each", d, u)
	}
	if n := statOf(t, stats(t, th), "health_flips"); n != 2 {
		t.Fatalf("health_flips = %d; want 2", n)
	}
}

// TestFlappingBackendTripsBreaker: a backend that fails every other
// handshake is ejected (the breaker opens) while retries keep every client
// whole; after eject_time the half-open breaker lets it fail again (its
// probe, or the failures after a lucky probe) and it is ejected again.
func TestFlappingBackendTripsBreaker(t *testing.T) {
	host := newHost()
	flappy := net.JoinHostPort(host, "19001")
	var n atomic.Int64
	fakeBackend(t, flappy, func(c net.Conn) {
		head, err := readHead(c)
		if err != nil {
			return
		}
		if n.Add(1)%2 == 0 {
			_, _ = io.WriteString(c, "HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
			return
		}
		writeTagged101(c, headValue(head, "Sec-WebSocket-Key"), flappy)
		_, _ = io.Copy(io.Discard, c)
	})
	good := net.JoinHostPort(host, "19002")
	taggedBackend(t, good)
	addr := net.JoinHostPort(host, "18080")
	th := startThrong(t, addr, upstreamConfig(addr, []string{flappy, good}, "max_fails = 2\nfail_window = \"10s\"\neject_time = \"500ms\"\nretry_backoff = \"0s\""))
	// Each round is a handshake: the ejections come from the clients.
	enginetest.WaitForWithin(t, 8*time.Second, "the flapping backend to be ejected twice", func() bool {
		if st, head := openHead(t, addr); st != 101 {
			t.Fatalf("a client saw the flapping: status %d:\n%s", st, head)
		}
		return strings.Count(th.Output(), `"msg":"backend ejected"`) >= 2
	})
}
