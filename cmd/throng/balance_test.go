package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// taggedBackend is a WebSocket backend that names itself in its 101
// (X-Backend) and then holds the connection until the client leaves.
func taggedBackend(t *testing.T, addr string) {
	t.Helper()
	fakeBackend(t, addr, answerTagged(addr))
}

// answerTagged answers an upgrade with a 101 naming name in X-Backend,
// then reads until the client leaves.
func answerTagged(name string) func(net.Conn) {
	return func(c net.Conn) {
		br := bufio.NewReader(c)
		key, ok := readUpgrade(br)
		if !ok {
			return
		}
		writeTagged101(c, key, name)
		_, _ = io.Copy(io.Discard, br)
	}
}

// readUpgrade reads a request head and returns its Sec-WebSocket-Key.
func readUpgrade(br *bufio.Reader) (key string, ok bool) {
	for {
		l, err := br.ReadString('\n')
		if err != nil {
			return "", false
		}
		if k, found := strings.CutPrefix(l, "Sec-WebSocket-Key: "); found {
			key = strings.TrimSpace(k)
		}
		if l == "\r\n" {
			return key, true
		}
	}
}

// writeTagged101 accepts the upgrade with key, naming name in X-Backend.
func writeTagged101(c net.Conn, key, name string) {
	_, _ = io.WriteString(c, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Accept: "+wsAcceptKey(key)+"\r\nX-Backend: "+name+"\r\n\r\n")
}

// openTagged opens a session with extra request headers and returns the
// backend that answered and the open connection.
func openTagged(t *testing.T, addr string, headers ...string) (string, net.Conn) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	st, head := upgradeOnWith(t, c, addr, headers...)
	if st != 101 {
		t.Fatalf("status %d:\n%s", st, head)
	}
	for _, l := range strings.Split(head, "\r\n") {
		if b, ok := strings.CutPrefix(l, "X-Backend: "); ok {
			return b, c
		}
	}
	t.Fatalf("101 without X-Backend:\n%s", head)
	return "", nil
}

func upgradeOnWith(t *testing.T, c net.Conn, host string, headers ...string) (int, string) {
	t.Helper()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	defer c.SetDeadline(time.Time{})
	if _, err := io.WriteString(c, upgradeRequest(host, "/", headers...)); err != nil {
		t.Fatal(err)
	}
	head, err := readHead(c)
	if err != nil {
		t.Fatalf("read answer: %v", err)
	}
	return statusOf(head), head
}

func balanceConfig(listen string, backends []string, balance string) string {
	cfg := basicConfig(listen, backends, "")
	return strings.Replace(cfg, `balance = "round_robin"`, balance, 1)
}

// TestLeastConnSpreadsHeldSessions: with sessions held open, least_conn
// sends each new one to the backend with the fewest.
func TestLeastConnSpreadsHeldSessions(t *testing.T) {
	host := newHost()
	var backends []string
	for i := range 3 {
		b := net.JoinHostPort(host, fmt.Sprint(19001+i))
		taggedBackend(t, b)
		backends = append(backends, b)
	}
	addr := net.JoinHostPort(host, "18080")
	startThrong(t, addr, balanceConfig(addr, backends, `balance = "least_conn"`))
	count := map[string]int{}
	var open []net.Conn
	defer func() {
		for _, c := range open {
			c.Close()
		}
	}()
	for range 30 {
		b, c := openTagged(t, addr)
		count[b]++
		open = append(open, c)
	}
	for _, b := range backends {
		if count[b] != 10 {
			t.Fatalf("sessions per backend %v, want 10 each", count)
		}
	}
}

// TestHashStickyAcrossRestart: balance = "hash" on a header sends a user to
// the same backend every time, and to the same one after throng restarts
// (consistent hashing holds no state).
func TestHashStickyAcrossRestart(t *testing.T) {
	host := newHost()
	var backends []string
	for i := range 4 {
		b := net.JoinHostPort(host, fmt.Sprint(19001+i))
		taggedBackend(t, b)
		backends = append(backends, b)
	}
	addr := net.JoinHostPort(host, "18080")
	// The default load factor: a user who reconnects while its last
	// session is still being released stays put (the bound's floor).
	cfg := balanceConfig(addr, backends, "balance = \"hash\"\nhash_key = \"header:X-User\"")
	first := map[string]string{}
	used := map[string]bool{}
	for run := range 2 {
		th := startThrong(t, addr, cfg)
		for u := range 40 {
			user := fmt.Sprintf("user-%d", u)
			for range 2 {
				b, c := openTagged(t, addr, "X-User: "+user)
				c.Close()
				used[b] = true
				if want, ok := first[user]; ok && want != b {
					t.Fatalf("run %d: %s went to %s, before to %s", run, user, b, want)
				}
				first[user] = b
			}
		}
		th.stop(t)
	}
	if len(used) < 3 {
		t.Fatalf("40 users used only %d of 4 backends", len(used))
	}
}
