package main

import (
	"bufio"
	"context"
	"io"
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"

	"github.com/throngproxy/throng/engine/enginetest"
)

// TestSessionCapUnderFileLimit starts throng with RLIMIT_NOFILE 256 (hard and
// soft: Go raises the soft limit to the hard one, so only prlimit proves
// anything) and opens more sessions than fit. The ones past the cap get 503
// with Retry-After, the admitted ones keep working, and the proxy survives:
// accept never hits EMFILE, which would stop gnet's whole engine.
func TestSessionCapUnderFileLimit(t *testing.T) {
	prlimit, err := exec.LookPath("prlimit")
	if err != nil {
		t.Fatal("prlimit (util-linux) is required for this test")
	}
	host := newHost()
	backend := net.JoinHostPort(host, "19001")
	startBackend(t, backend)
	addr := net.JoinHostPort(host, "18080")
	th := startThrong(t, addr, basicConfig(addr, []string{backend}, ""), prlimit, "--nofile=256:256", "--")
	// (256 − 2×16 dial workers − 64) / 2
	const wantCap = 80
	if !strings.Contains(th.Output(), `"max_sessions":80`) {
		t.Fatalf("start-up log does not state the cap of %d:\n%s", wantCap, th.Output())
	}

	var open []net.Conn
	defer func() {
		for _, c := range open {
			c.Close()
		}
	}()
	refused := 0
	for i := 0; i < wantCap+60; i++ {
		c, err := net.DialTimeout("tcp", addr, 2*time.Second)
		if err != nil {
			t.Fatalf("connect %d: %v", i, err)
		}
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.WriteString(c, upgradeRequest(addr, "/")); err != nil {
			t.Fatal(err)
		}
		br := newReader(c)
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("session %d: no answer: %v", i, err)
		}
		switch statusOf(line) {
		case 101:
			for {
				l, err := br.ReadString('\n')
				if err != nil {
					t.Fatal(err)
				}
				if l == "\r\n" {
					break
				}
			}
			_ = c.SetDeadline(time.Time{})
			open = append(open, c)
		case 503:
			rest, _ := io.ReadAll(br)
			if !strings.Contains(string(rest), "Retry-After:") {
				t.Errorf("503 without Retry-After:\n%s%s", line, rest)
			}
			refused++
			c.Close()
		default:
			t.Fatalf("session %d: unexpected answer %q", i, line)
		}
	}
	if len(open) != wantCap || refused != 60 {
		t.Fatalf("admitted %d and refused %d, want %d and 60", len(open), refused, wantCap)
	}
	// The admitted sessions still relay.
	for _, i := range []int{0, wantCap / 2, wantCap - 1} {
		c := open[i]
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		if err := ws.WriteFrame(c, ws.MaskFrame(ws.NewTextFrame([]byte("alive")))); err != nil {
			t.Fatal(err)
		}
		f, err := ws.ReadFrame(c)
		if err != nil || string(f.Payload) != "alive" {
			t.Fatalf("session %d after the flood: %q %v", i, f.Payload, err)
		}
	}
	// Freed slots are reused.
	for _, c := range open[:10] {
		c.Close()
	}
	open = open[10:]
	deadline := time.Now().Add(5 * time.Second)
	for got := 0; got < 10; {
		if time.Now().After(deadline) {
			t.Fatalf("only %d new sessions admitted after 10 closed", got)
		}
		c, err := net.DialTimeout("tcp", addr, 2*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.WriteString(c, upgradeRequest(addr, "/"))
		_ = c.SetReadDeadline(time.Now().Add(3 * time.Second))
		line, _ := newReader(c).ReadString('\n')
		if statusOf(line) == 101 {
			got++
			open = append(open, c)
			continue
		}
		c.Close()
		// Refused: the closed sessions' slots are freed once throng sees
		// their clients go. Wait for that, not for a while.
		enginetest.WaitFor(t, "the freed slots", func() bool { return statOf(t, stats(t, th), "sessions") < 80 })
	}
}

// TestSubscriberCapUnderFileLimit is TestSessionCapUnderFileLimit for
// fan-out subscribers, which hold one descriptor each: under the same
// RLIMIT_NOFILE twice as many are admitted as proxied sessions, the ones
// past the descriptor budget get 503, the admitted ones still get every
// message, and closed subscribers' descriptors are reused.
func TestSubscriberCapUnderFileLimit(t *testing.T) {
	prlimit, err := exec.LookPath("prlimit")
	if err != nil {
		t.Fatal("prlimit (util-linux) is required for this test")
	}
	srv := enginetest.StartBusServer(t, enginetest.Redis)
	host := newHost()
	addr, admin := net.JoinHostPort(host, "18080"), net.JoinHostPort(host, "18090")
	th := startThrong(t, addr, fanoutConfig(addr, admin, "redis", srv.URL()), prlimit, "--nofile=256:256", "--")
	// 256 − 2×16 dial workers − 64 = 160 descriptors: 80 proxied sessions,
	// or 159 subscribers (an upgrade reserves two until it is answered).
	const wantCap = 159
	if out := th.Output(); !strings.Contains(out, `"max_sessions":80`) || !strings.Contains(out, `"max_subscribers":159`) {
		t.Fatalf("start-up log does not state the caps of 80 sessions and %d subscribers:\n%s", wantCap, out)
	}

	type sub struct {
		c  net.Conn
		br *bufio.Reader
	}
	var open []sub
	defer func() {
		for _, s := range open {
			s.c.Close()
		}
	}()
	refused := 0
	for i := 0; i < wantCap+40; i++ {
		c, br, st, head := handshakeFrom(t, host, addr, "/live/room")
		switch st {
		case 101:
			open = append(open, sub{c, br})
		case 503:
			if !strings.Contains(head, "Retry-After:") {
				t.Errorf("503 without Retry-After:\n%s", head)
			}
			refused++
			c.Close()
		default:
			t.Fatalf("subscriber %d: unexpected answer:\n%s", i, head)
		}
	}
	// An upgrade answered on one loop while the next is accepted on
	// another may still reserve its second descriptor: one fewer at most.
	if len(open) < wantCap-1 || len(open) > wantCap || len(open)+refused != wantCap+40 {
		t.Fatalf("admitted %d and refused %d, want %d (or one fewer) and the rest", len(open), refused, wantCap)
	}

	// Every admitted subscriber still gets what is published: probes until
	// the first subscriber hears one (the bus subscription is up), then one
	// message every subscriber must get.
	pub := openPublisher(t, srv.URL())
	first := open[0]
	enginetest.WaitFor(t, "the first subscriber hears a probe", func() bool {
		if err := pub.Publish(context.Background(), "t.room", []byte("probe")); err != nil {
			t.Fatal(err)
		}
		_ = first.c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		_, err := ws.ReadFrame(first.br)
		return err == nil
	})
	if err := pub.Publish(context.Background(), "t.room", []byte("everyone")); err != nil {
		t.Fatal(err)
	}
	for i, s := range open {
		_ = s.c.SetReadDeadline(time.Now().Add(10 * time.Second))
		for {
			f, err := ws.ReadFrame(s.br)
			if err != nil {
				t.Fatalf("subscriber %d: %v", i, err)
			}
			if string(f.Payload) == "everyone" {
				break
			}
		}
	}

	// Closed subscribers' descriptors are reused.
	for _, s := range open[:10] {
		s.c.Close()
	}
	open = open[10:]
	enginetest.WaitFor(t, "the freed descriptors", func() bool { return statOf(t, stats(t, th), "sessions") <= len(open) })
	for i := 0; i < 10; i++ {
		c, br, st, head := handshakeFrom(t, host, addr, "/live/room")
		if st != 101 {
			t.Fatalf("subscriber %d after 10 left: answer:\n%s", i, head)
		}
		open = append(open, sub{c, br})
	}
}
