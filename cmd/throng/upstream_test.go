package main

import (
	"io"
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// upstreamConfig is basicConfig with keys added to the round-robin
// [[upstream]] table.
func upstreamConfig(listen string, backends []string, keys string) string {
	return balanceConfig(listen, backends, "balance = \"round_robin\"\n"+keys)
}

// refusingAddr returns an address on host where nothing listens.
func refusingAddr(t *testing.T, host, port string) string {
	t.Helper()
	addr := net.JoinHostPort(host, port)
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	ln.Close()
	return addr
}

// statusBackend answers every upgrade with status and extra header lines.
func statusBackend(t *testing.T, addr string, status int, header string) *atomic.Int64 {
	t.Helper()
	var hits atomic.Int64
	fakeBackend(t, addr, func(c net.Conn) {
		if _, err := readHead(c); err != nil {
			return
		}
		hits.Add(1)
		body := strconv.Itoa(status) + " from " + addr
		_, _ = io.WriteString(c, "HTTP/1.1 "+strconv.Itoa(status)+" Nope\r\n"+header+
			"Content-Length: "+strconv.Itoa(len(body))+"\r\n\r\n"+body)
	})
	return &hits
}

// cookiePair returns "name=value" of the Set-Cookie for name in head, or "".
func cookiePair(head, name string) string {
	for _, l := range strings.Split(head, "\r\n") {
		if v, ok := strings.CutPrefix(l, "Set-Cookie: "+name+"="); ok {
			val, _, _ := strings.Cut(v, ";")
			return name + "=" + val
		}
	}
	return ""
}

// openHead opens a session with extra headers and returns the status, the
// head and the connection (closed by the test's end).
func openHead(t *testing.T, addr string, headers ...string) (int, string) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return upgradeOnWith(t, c, addr, headers...)
}

// TestStickyCookie: the 101 sets a signed cookie naming the backend; a
// client that sends it back returns to that backend (and is not sent the
// cookie again), a forged one is ignored, and when its backend dies the
// client moves and gets a new cookie.
func TestStickyCookie(t *testing.T) {
	host := newHost()
	backends := []string{net.JoinHostPort(host, "19001"), net.JoinHostPort(host, "19002"), net.JoinHostPort(host, "19003")}
	lns := make([]net.Listener, len(backends))
	for i, b := range backends {
		ln, err := net.Listen("tcp", b)
		if err != nil {
			t.Fatal(err)
		}
		lns[i] = ln
		serveOn(ln, answerTagged(b))
	}
	addr := net.JoinHostPort(host, "18080")
	startThrong(t, addr, upstreamConfig(addr, backends, "sticky_cookie = \"throng_backend\"\nmax_fails = 1"))

	st, head := openHead(t, addr)
	first := headValue(head, "X-Backend")
	cookie := cookiePair(head, "throng_backend")
	if st != 101 || first == "" || cookie == "" {
		t.Fatalf("first handshake: status %d, backend %q, cookie %q:\n%s", st, first, cookie, head)
	}
	if strings.Contains(cookie, host) {
		t.Fatalf("cookie %q shows the backend address", cookie)
	}
	for i := range 9 {
		st, head := openHead(t, addr, "Cookie: a=1; "+cookie+"; b=2")
		if b := headValue(head, "X-Backend"); st != 101 || b != first {
			t.Fatalf("handshake %d with the cookie went to %q (status %d); want %s", i, b, st, first)
		}
		if c := cookiePair(head, "throng_backend"); c != "" {
			t.Fatalf("handshake %d with a valid cookie got another: %q", i, c)
		}
	}
	// A forged value is ignored: round robin goes on and a real cookie comes back.
	seen := map[string]bool{}
	for range 6 {
		st, head := openHead(t, addr, "Cookie: throng_backend=AAAAAAAAAAAAAAAAAAAAAA")
		seen[headValue(head, "X-Backend")] = true
		if st != 101 || cookiePair(head, "throng_backend") == "" {
			t.Fatalf("forged cookie: status %d, no new cookie:\n%s", st, head)
		}
	}
	if len(seen) != 3 {
		t.Fatalf("forged cookies reached %d backends; want all 3 (round robin)", len(seen))
	}
	// The sticky backend dies: the client goes elsewhere, told so by a new cookie.
	for i, b := range backends {
		if b == first {
			lns[i].Close()
		}
	}
	st, head = openHead(t, addr, "Cookie: "+cookie)
	moved := headValue(head, "X-Backend")
	if st != 101 || moved == first || cookiePair(head, "throng_backend") == "" || cookiePair(head, "throng_backend") == cookie {
		t.Fatalf("after its backend died: status %d, backend %q, cookie %q", st, moved, cookiePair(head, "throng_backend"))
	}
}

// TestRetriesHideFailingBackends: with a backend that refuses connects and
// one that answers 503 beside a good one, every client gets its 101 from
// the good one; no client ever sees the failures.
func TestRetriesHideFailingBackends(t *testing.T) {
	host := newHost()
	dead := refusingAddr(t, host, "19001")
	busy := net.JoinHostPort(host, "19002")
	hits := statusBackend(t, busy, 503, "Retry-After: 7\r\n")
	good := net.JoinHostPort(host, "19003")
	taggedBackend(t, good)
	addr := net.JoinHostPort(host, "18080")
	// No ejection: every handshake must get past both failures itself.
	th := startThrong(t, addr, upstreamConfig(addr, []string{dead, busy, good},
		"max_fails = 0\nretries = 2\nretry_backoff = \"5ms\"\nretry_backoff_max = \"20ms\""))
	for i := range 30 {
		st, head := openHead(t, addr)
		if b := headValue(head, "X-Backend"); st != 101 || b != good {
			t.Fatalf("handshake %d: status %d from %q; want 101 from %s:\n%s", i, st, b, good, head)
		}
	}
	if hits.Load() == 0 {
		t.Fatal("the 503 backend was never tried")
	}
	line := stats(t, th)
	if n := statOf(t, line, "retries"); n < 20 {
		t.Fatalf("retries = %d; want most of the 30 handshakes to have retried: %s", n, line)
	}
	if n := statOf(t, line, "rejected"); n != 0 {
		t.Fatalf("rejected = %d; want 0", n)
	}
}

// TestRetriesBounded: retries = 0 lets the first failure through (502 for
// a refused connect), and a 503 that cannot be retried is relayed as the
// backend sent it, Retry-After and body included.
func TestRetriesBounded(t *testing.T) {
	host := newHost()
	dead := refusingAddr(t, host, "19001")
	good := net.JoinHostPort(host, "19002")
	taggedBackend(t, good)
	addr := net.JoinHostPort(host, "18080")
	startThrong(t, addr, upstreamConfig(addr, []string{dead, good}, "max_fails = 0\nretries = 0"))
	codes := map[int]int{}
	for range 10 {
		st, _ := openHead(t, addr)
		codes[st]++
	}
	if codes[502] != 5 || codes[101] != 5 {
		t.Fatalf("statuses %v; want five 502 and five 101 (round robin, no retry)", codes)
	}

	host2 := newHost()
	busy := net.JoinHostPort(host2, "19001")
	statusBackend(t, busy, 503, "Retry-After: 7\r\n")
	addr2 := net.JoinHostPort(host2, "18080")
	startThrong(t, addr2, upstreamConfig(addr2, []string{busy}, "max_fails = 0"))
	st, head := openHead(t, addr2)
	if st != 503 || headValue(head, "Retry-After") != "7" {
		t.Fatalf("single 503 backend: status %d, Retry-After %q; want the backend's 503 and 7:\n%s", st, headValue(head, "Retry-After"), head)
	}
}

// TestFallbackUpstream: while no backend of the route's upstream is
// available the fallback upstream takes the handshakes; without a
// fallback the client gets 503 with Retry-After.
func TestFallbackUpstream(t *testing.T) {
	host := newHost()
	dead1, dead2 := refusingAddr(t, host, "19001"), refusingAddr(t, host, "19002")
	spare := net.JoinHostPort(host, "19003")
	taggedBackend(t, spare)
	addr := net.JoinHostPort(host, "18080")
	cfg := upstreamConfig(addr, []string{dead1, dead2}, "max_fails = 1\neject_time = \"30s\"\nfallback_upstream = \"spare\"") +
		"[[upstream]]\nname = \"spare\"\nbackends = [{ addr = \"" + spare + "\" }]\n"
	th := startThrong(t, addr, cfg)
	for i := range 10 {
		st, head := openHead(t, addr)
		if b := headValue(head, "X-Backend"); st != 101 || b != spare {
			t.Fatalf("handshake %d: status %d from %q; want 101 from the fallback %s", i, st, b, spare)
		}
	}
	if line := stats(t, th); statOf(t, line, "ejections") != 2 {
		t.Fatalf("want both primary backends ejected: %s", line)
	}

	host2 := newHost()
	dead3 := refusingAddr(t, host2, "19001")
	addr2 := net.JoinHostPort(host2, "18080")
	startThrong(t, addr2, upstreamConfig(addr2, []string{dead3}, "max_fails = 1\neject_time = \"30s\""))
	if st, _ := openHead(t, addr2); st != 502 {
		t.Fatalf("first handshake to a dead backend: %d; want 502", st)
	}
	st, head := openHead(t, addr2)
	if st != 503 || headValue(head, "Retry-After") == "" {
		t.Fatalf("no backend available: status %d, Retry-After %q; want 503 with Retry-After", st, headValue(head, "Retry-After"))
	}
}

// TestStickyWithoutSecret: a sticky cookie without sticky_secret is keyed
// by the process; throng warns of it at start and at a reload, and a
// reload keeps the cookie valid.
func TestStickyWithoutSecret(t *testing.T) {
	host := newHost()
	backends := []string{net.JoinHostPort(host, "19001"), net.JoinHostPort(host, "19002")}
	for _, b := range backends {
		fakeBackend(t, b, answerTagged(b))
	}
	addr := net.JoinHostPort(host, "18080")
	cfg := upstreamConfig(addr, backends, "sticky_cookie = \"throng_backend\"")
	th := startThrong(t, addr, cfg)
	const warning = "sticky_cookie without sticky_secret: only this process honours the cookie, until it restarts"
	waitLog(t, th.proc, 5*time.Second, 1, warning, func(r logRecord) bool {
		return r.str("msg") == warning && r.str("level") == "WARN" && r.str("upstream") == "main"
	})
	st, head := openHead(t, addr)
	first, cookie := headValue(head, "X-Backend"), cookiePair(head, "throng_backend")
	if st != 101 || cookie == "" {
		t.Fatalf("status %d, cookie %q", st, cookie)
	}
	_ = th.cmd.Process.Signal(syscall.SIGHUP)
	waitLog(t, th.proc, 5*time.Second, 1, "configuration reloaded", func(r logRecord) bool { return r.str("msg") == "configuration reloaded" })
	waitLog(t, th.proc, 5*time.Second, 2, warning, func(r logRecord) bool { return r.str("msg") == warning })
	for i := range 4 {
		st, head := openHead(t, addr, "Cookie: "+cookie)
		if b := headValue(head, "X-Backend"); st != 101 || b != first {
			t.Fatalf("handshake %d after the reload went to %q; want %s", i, b, first)
		}
	}
}
