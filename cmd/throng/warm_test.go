package main

import (
	"bufio"
	"io"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// countingBackend is taggedBackend that counts the connections it holds
// now and has accepted. A connection older than staleAfter when its
// request arrives is closed unanswered, as by a backend whose idle timer
// fired as the request came in; one idle for idleTimeout is closed (0: never).
func countingBackend(t *testing.T, addr string, idleTimeout, staleAfter time.Duration) (open, accepted *atomic.Int64) {
	t.Helper()
	open, accepted = new(atomic.Int64), new(atomic.Int64)
	fakeBackend(t, addr, func(c net.Conn) {
		born := time.Now()
		accepted.Add(1)
		open.Add(1)
		defer open.Add(-1)
		if idleTimeout > 0 {
			_ = c.SetReadDeadline(born.Add(idleTimeout))
		}
		br := bufio.NewReader(c)
		key := ""
		for {
			l, err := br.ReadString('\n')
			if err != nil {
				return // idle timeout or the proxy closed it
			}
			if k, ok := strings.CutPrefix(l, "Sec-WebSocket-Key: "); ok {
				key = strings.TrimSpace(k)
			}
			if l == "\r\n" {
				break
			}
		}
		if staleAfter > 0 && time.Since(born) > staleAfter {
			return
		}
		_ = c.SetReadDeadline(time.Time{})
		_, _ = io.WriteString(c, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
			"Sec-WebSocket-Accept: "+wsAcceptKey(key)+"\r\nX-Backend: "+addr+"\r\n\r\n")
		_, _ = io.Copy(io.Discard, br)
	})
	return open, accepted
}

// waitStat polls stats until key satisfies ok, and returns the last line.
func waitStat(t *testing.T, th *throng, key string, ok func(int) bool) string {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		line := stats(t, th)
		if ok(statOf(t, line, key)) {
			return line
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never reached the wanted value: %s", key, line)
		}
		waitABit(100 * time.Millisecond)
	}
}

// TestWarmPoolUsedAndRefilled: with warm = 4, sessions take pre-connected
// sockets, each loop's pool refills to its size and never past it.
func TestWarmPoolUsedAndRefilled(t *testing.T) {
	host := newHost()
	backend := net.JoinHostPort(host, "19001")
	open, _ := countingBackend(t, backend, 0, 0)
	addr := net.JoinHostPort(host, "18080")
	th := startThrong(t, addr, upstreamConfig(addr, []string{backend}, "warm = 4\nwarm_max_idle = \"30s\""))
	// Each loop learns of its pools from its first connection.
	for range 20 {
		if st, head := openHead(t, addr); st != 101 {
			t.Fatalf("status %d:\n%s", st, head)
		}
		waitABit(30 * time.Millisecond)
	}
	line := waitStat(t, th, "warm_idle", func(n int) bool { return n == 8 }) // 2 loops × 4
	if used := statOf(t, line, "warm_used"); used < 10 {
		t.Fatalf("warm_used = %d of 20 handshakes; want most: %s", used, line)
	}
	if n := statOf(t, line, "rejected"); n != 0 {
		t.Fatalf("rejected = %d: %s", n, line)
	}
	// The backend holds the 20 sessions and the pools, nothing more.
	if n := open.Load(); n > 20+8 {
		t.Fatalf("backend holds %d connections; want at most 20 sessions + 8 warm", n)
	}
	waitABit(500 * time.Millisecond)
	if line := stats(t, th); statOf(t, line, "warm_idle") != 8 {
		t.Fatalf("pools grew or shrank while idle: %s", line)
	}
}

// TestWarmPoolStaleSockets: a backend that closes idle sockets after 1 s,
// and drops a request arriving on a socket older than 300 ms unanswered,
// costs clients nothing: stale warm sockets are redone on fresh dials.
func TestWarmPoolStaleSockets(t *testing.T) {
	host := newHost()
	backend := net.JoinHostPort(host, "19001")
	countingBackend(t, backend, time.Second, 300*time.Millisecond)
	addr := net.JoinHostPort(host, "18080")
	th := startThrong(t, addr, upstreamConfig(addr, []string{backend}, "warm = 1\nwarm_max_idle = \"30s\"\nmax_fails = 1\nretries = 0"))
	for i := range 16 {
		if st, head := openHead(t, addr); st != 101 {
			t.Fatalf("handshake %d: status %d:\n%s", i, st, head)
		}
		waitABit(time.Duration(150+i*37%250) * time.Millisecond)
	}
	line := stats(t, th)
	if statOf(t, line, "warm_stale") == 0 || statOf(t, line, "warm_used") == 0 {
		t.Fatalf("want warm sockets used and some found stale: %s", line)
	}
	if statOf(t, line, "ejections") != 0 || statOf(t, line, "rejected") != 0 {
		t.Fatalf("stale warm sockets counted against the backend or the client: %s", line)
	}
}

// TestWarmPoolDropsEjectedBackend: a pool never holds sockets to an
// ejected backend.
func TestWarmPoolDropsEjectedBackend(t *testing.T) {
	host := newHost()
	flaky := net.JoinHostPort(host, "19001")
	statusBackend(t, flaky, 503, "")
	good := net.JoinHostPort(host, "19002")
	countingBackend(t, good, 0, 0)
	addr := net.JoinHostPort(host, "18080")
	th := startThrong(t, addr, upstreamConfig(addr, []string{flaky, good}, "warm = 3\nmax_fails = 2\neject_time = \"30s\""))
	for range 10 {
		if st, head := openHead(t, addr); st != 101 {
			t.Fatalf("status %d:\n%s", st, head)
		}
		waitABit(20 * time.Millisecond)
	}
	// Both loops hold 3 to the good backend only.
	line := waitStat(t, th, "warm_idle", func(n int) bool { return n == 6 })
	if statOf(t, line, "ejections") != 1 {
		t.Fatalf("want the 503 backend ejected: %s", line)
	}
}
