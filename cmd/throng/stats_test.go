package main

import (
	"net"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gobwas/ws"

	"github.com/throngproxy/throng/engine/enginetest"
)

// waitOutput waits until the process has written want.
func waitOutput(t *testing.T, p *proc, want string) string {
	t.Helper()
	var out string
	enginetest.WaitFor(t, "output "+strconv.Quote(want), func() bool {
		out = p.Output()
		return strings.Contains(out, want)
	})
	return out
}

// TestStatsOnSIGUSR1: SIGUSR1 logs the counters and the live heap.
func TestStatsOnSIGUSR1(t *testing.T) {
	th := setup(t, "")
	c := dialWS(t, th.addr, "/")
	echo(t, c, 1, []byte("count me"))
	line := stats(t, th)
	for _, want := range []string{`"sessions":1`, `"opened":1`, `"bytes_in":14`, `"bytes_out":10`, `"heap_live_bytes":`, `"bad_transitions":0`, `"stalled_frames":0`} {
		if !strings.Contains(line, want) {
			t.Errorf("stats line lacks %s:\n%s", want, line)
		}
	}
	c.Close()
}

// TestDualStackUnmapsClients: on a ":port" listener IPv4 clients arrive as
// ::ffff:a.b.c.d; logs and X-Forwarded-For show the plain IPv4 address.
func TestDualStackUnmapsClients(t *testing.T) {
	host := newHost()
	backend := net.JoinHostPort(host, "19001")
	startBackend(t, backend)
	const port = "18997" // all addresses: the only test on this port
	th := startThrong(t, net.JoinHostPort(host, port), basicConfig(":"+port, []string{backend}, ""))
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(host)}}
	c, err := d.Dial("tcp", net.JoinHostPort(host, port))
	if err != nil {
		t.Fatal(err)
	}
	if st, resp := upgradeOnWith(t, c, host); st != 101 {
		t.Fatalf("status %d:\n%s", st, resp)
	}
	c.Close()
	out := waitOutput(t, th.proc, `"status":101`)
	if !strings.Contains(out, `"client":"`+host+`:`) || strings.Contains(out, "::ffff:") {
		t.Fatalf("access log does not show the unmapped client %s:\n%s", host, tail(out))
	}
}

// stats asks th for a stats line (SIGUSR1) and returns it.
func stats(t testing.TB, th *throng) string {
	t.Helper()
	before := strings.Count(th.Output(), `"msg":"stats"`)
	_ = th.cmd.Process.Signal(syscall.SIGUSR1)
	var line string
	// The line forces a GC and visits every loop: on a CI machine whose two
	// cores also run other packages' tests and a proxy relaying hundreds of
	// MiB, it once took more than WaitFor's 5 s (TestStalledMinority).
	enginetest.WaitForWithin(t, 30*time.Second, "a stats line", func() bool {
		out := th.Output()
		if strings.Count(out, `"msg":"stats"`) <= before {
			return false
		}
		line = out[strings.LastIndex(out, `"msg":"stats"`):]
		j := strings.IndexByte(line, '\n')
		line = line[:max(j, 0)]
		return j >= 0
	})
	return line
}

// statOf returns the integer counter key of a stats line.
func statOf(t testing.TB, line, key string) int {
	t.Helper()
	_, rest, ok := strings.Cut(line, `"`+key+`":`)
	if !ok {
		t.Fatalf("stats line lacks %s: %s", key, line)
	}
	end := strings.IndexAny(rest, ",}")
	n, err := strconv.Atoi(rest[:end])
	if err != nil {
		t.Fatalf("%s: %v", key, err)
	}
	return n
}

// TestSessionIDsUniqueAcrossLoops: each loop numbers its own sessions, and
// the access log still never shows one id twice.
func TestSessionIDsUniqueAcrossLoops(t *testing.T) {
	th := setup(t, "") // two loops
	const n = 24
	for range n {
		c := dialWS(t, th.addr, "/")
		echo(t, c, ws.OpText, []byte("id"))
		c.Close()
	}
	var ids map[string]bool
	enginetest.WaitFor(t, "an access line per session", func() bool {
		ids = map[string]bool{}
		lines := 0
		for _, r := range logRecords(th.proc) {
			if r.str("msg") == "session closed" && r.str("status") == "101" {
				ids[r.str("session_id")] = true
				lines++
			}
		}
		return lines == n
	})
	if len(ids) != n {
		t.Fatalf("%d sessions logged %d distinct ids", n, len(ids))
	}
}
