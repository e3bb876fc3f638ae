package main

import (
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
