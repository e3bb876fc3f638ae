package main

import (
	"bufio"
	"io"
	"net"
	"os"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/throngproxy/throng/engine/enginetest"
)

// poolBackend is a tagged backend that counts the connections it holds
// now and has accepted. A connection older than staleAfter when its
// request arrives is closed unanswered, as by a backend whose idle timer
// fired as the request came in; one idle for idleTimeout is closed (0:
// never). With status ≠ 0 it refuses every upgrade with that status.
type poolBackend struct {
	idleTimeout, staleAfter time.Duration
	status                  string // e.g. "503 Service Unavailable"; "" accepts
	open, accepted          atomic.Int64
}

func (pb *poolBackend) start(t *testing.T, addr string) *poolBackend {
	t.Helper()
	fakeBackend(t, addr, func(c net.Conn) {
		born := time.Now()
		pb.accepted.Add(1)
		pb.open.Add(1)
		defer pb.open.Add(-1)
		if pb.idleTimeout > 0 {
			_ = c.SetReadDeadline(born.Add(pb.idleTimeout))
		}
		br := bufio.NewReader(c)
		key, ok := readUpgrade(br)
		if !ok || pb.staleAfter > 0 && time.Since(born) > pb.staleAfter {
			return // idle timeout, the proxy closed it, or stale
		}
		if pb.status != "" {
			_, _ = io.WriteString(c, "HTTP/1.1 "+pb.status+"\r\nContent-Length: 0\r\n\r\n")
			return
		}
		_ = c.SetReadDeadline(time.Time{})
		writeTagged101(c, key, addr)
		_, _ = io.Copy(io.Discard, br)
	})
	return pb
}

// waitStat polls stats until key satisfies ok, and returns the last line.
func waitStat(t *testing.T, th *throng, key string, ok func(int) bool) string {
	t.Helper()
	var line string
	enginetest.WaitFor(t, key+" to reach the wanted value", func() bool {
		line = stats(t, th)
		return ok(statOf(t, line, key))
	})
	return line
}

// TestWarmPoolUsedAndRefilled: with warm = 4, each loop's pool fills to
// its size at start, before any client, and never grows past it; a
// session on a full pool takes a socket (no dial), and the pool refills
// after it.
func TestWarmPoolUsedAndRefilled(t *testing.T) {
	host := newHost()
	backend := net.JoinHostPort(host, "19001")
	pb := (&poolBackend{}).start(t, backend)
	addr := net.JoinHostPort(host, "18080")
	th := startThrong(t, addr, upstreamConfig(addr, []string{backend}, "warm = 4\nwarm_max_idle = \"30s\""))
	waitStat(t, th, "warm_idle", func(n int) bool { return n == 8 }) // 2 loops × 4, no client yet
	if n := pb.accepted.Load(); n != 8 {
		t.Fatalf("backend accepted %d connections before any client; want the 8 warm ones", n)
	}
	sessions := 0
	for i := range 8 {
		before := stats(t, th)
		if st, head := openHead(t, addr); st != 101 {
			t.Fatalf("status %d:\n%s", st, head)
		}
		sessions++
		after := waitStat(t, th, "warm_idle", func(n int) bool { return n == 8 })
		if used := statOf(t, after, "warm_used") - statOf(t, before, "warm_used"); used != 1 {
			t.Fatalf("session %d on full pools took %d warm sockets; want 1: %s", i, used, after)
		}
		if dials := statOf(t, after, "dials") - statOf(t, before, "dials"); dials != 0 {
			t.Fatalf("session %d on full pools dialled %d times; want 0", i, dials)
		}
	}
	// The backend holds the sessions and the pools, nothing more.
	if n := pb.open.Load(); n != int64(sessions+8) {
		t.Fatalf("backend holds %d connections; want %d sessions + 8 warm", n, sessions)
	}
}

// TestWarmPoolStaleSockets: a backend that closes idle sockets after 1 s,
// and drops a request arriving on a socket older than 300 ms unanswered,
// costs clients nothing: stale warm sockets are redone on fresh dials.
func TestWarmPoolStaleSockets(t *testing.T) {
	host := newHost()
	backend := net.JoinHostPort(host, "19001")
	(&poolBackend{idleTimeout: time.Second, staleAfter: 300 * time.Millisecond}).start(t, backend)
	addr := net.JoinHostPort(host, "18080")
	th := startThrong(t, addr, upstreamConfig(addr, []string{backend}, "warm = 1\nwarm_max_idle = \"30s\"\nmax_fails = 1\nretries = 0"))
	deadline := time.Now().Add(15 * time.Second)
	for i := 0; ; i++ {
		if st, head := openHead(t, addr); st != 101 {
			t.Fatalf("handshake %d: status %d:\n%s", i, st, head)
		}
		line := stats(t, th)
		if statOf(t, line, "warm_stale") > 0 {
			if statOf(t, line, "ejections") != 0 || statOf(t, line, "rejected") != 0 {
				t.Fatalf("stale warm sockets counted against the backend or the client: %s", line)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no warm socket was ever found stale: %s", line)
		}
		// Not a wait for an event: the scenario is a pool socket aged
		// past the backend's 300 ms (but not to its 1 s).
		<-time.After(400 * time.Millisecond)
	}
}

// TestWarmPoolDropsEjectedBackend: a pool never keeps sockets to an
// ejected backend and does not reconnect to it while it is ejected.
func TestWarmPoolDropsEjectedBackend(t *testing.T) {
	host := newHost()
	flaky := net.JoinHostPort(host, "19001")
	bad := (&poolBackend{status: "503 Service Unavailable"}).start(t, flaky)
	good := net.JoinHostPort(host, "19002")
	(&poolBackend{}).start(t, good)
	addr := net.JoinHostPort(host, "18080")
	th := startThrong(t, addr, upstreamConfig(addr, []string{flaky, good}, "warm = 3\nmax_fails = 2\neject_time = \"30s\""))
	deadline := time.Now().Add(10 * time.Second)
	for statOf(t, stats(t, th), "ejections") == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the 503 backend was never ejected")
		}
		if st, head := openHead(t, addr); st != 101 {
			t.Fatalf("status %d:\n%s", st, head)
		}
	}
	// Within a tick or two every pool lets go of its sockets to it.
	enginetest.WaitFor(t, "the pools to let go of the ejected backend", func() bool { return bad.open.Load() == 0 })
	accepted := bad.accepted.Load()
	dials := statOf(t, stats(t, th), "warm_dials")
	for range 10 {
		if st, head := openHead(t, addr); st != 101 {
			t.Fatalf("status %d:\n%s", st, head)
		}
	}
	// The sessions took warm sockets to the good backend: once the pools
	// have refilled, every refill has been made, none to the ejected one.
	waitStat(t, th, "warm_dials", func(n int) bool { return n > dials })
	waitStat(t, th, "warm_idle", func(n int) bool { return n == 6 }) // 2 loops × 3, good backend only
	if n := bad.accepted.Load(); n != accepted {
		t.Fatalf("the ejected backend got %d new connections", n-accepted)
	}
}

// TestWarmPoolFollowsReload: a reload that turns the pool on fills it
// without waiting for a client, one that moves the upstream to another
// backend lets go of the old backend's sockets, and one that turns it off
// empties it.
func TestWarmPoolFollowsReload(t *testing.T) {
	host := newHost()
	a, b := net.JoinHostPort(host, "19001"), net.JoinHostPort(host, "19002")
	pa := (&poolBackend{}).start(t, a)
	pb := (&poolBackend{}).start(t, b)
	addr := net.JoinHostPort(host, "18080")
	th := startThrong(t, addr, upstreamConfig(addr, []string{a}, ""))
	reload := func(cfg string) {
		t.Helper()
		before := strings.Count(th.Output(), "configuration reloaded")
		if err := os.WriteFile(th.cfg, []byte(cfg), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := th.cmd.Process.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		enginetest.WaitFor(t, "the reload", func() bool { return strings.Count(th.Output(), "configuration reloaded") > before })
	}
	reload(upstreamConfig(addr, []string{a}, "warm = 2"))
	waitStat(t, th, "warm_idle", func(n int) bool { return n == 4 }) // 2 loops × 2
	reload(upstreamConfig(addr, []string{b}, "warm = 2"))
	waitStat(t, th, "warm_idle", func(n int) bool { return n == 4 })
	enginetest.WaitFor(t, "the pool to move: no socket to the old backend, 4 to the new", func() bool {
		return pa.open.Load() == 0 && pb.open.Load() == 4
	})
	reload(upstreamConfig(addr, []string{b}, ""))
	waitStat(t, th, "warm_idle", func(n int) bool { return n == 0 })
}
