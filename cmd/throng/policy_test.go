package main

// Admission policy at the upgrade (docs/policy.md): address lists, Origin,
// per-address handshake rate and session cap, through the real binary.

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"
)

// policyConfig is a proxy on host:18080 (admin on host:18090) whose routes
// each test one rule; hostB is a second client address.
func policyConfig(addr, admin, backend, hostB string) string {
	return basicConfig(addr, []string{backend}, fmt.Sprintf(`[admin]
listen = %q

[[route]]
path_prefix = "/cidr"
upstream = "main"
allow_cidrs = ["127.0.0.0/8"]
deny_cidrs = [%q]

[[route]]
path_prefix = "/origin"
upstream = "main"
allow_origins = ["https://app.example.com", "https://*.example.org"]
require_origin = true

[[route]]
path_prefix = "/few"
upstream = "main"
[route.limits]
max_sessions_per_ip = 2

[[route]]
path_prefix = "/rate"
upstream = "main"
[route.limits]
handshakes_per_ip = "3/m"
handshake_burst = 3
`, admin, hostB))
}

// handshakeFrom sends an upgrade request for path from source address
// from (extra header lines added) and returns the connection, its reader
// and the answer's status line and head.
func handshakeFrom(t testing.TB, from, addr, path string, extra ...string) (net.Conn, *bufio.Reader, int, string) {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}, Timeout: 2 * time.Second}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, upgradeRequest("example.test", path, extra...)); err != nil {
		t.Fatal(err)
	}
	br := newReader(c)
	var head strings.Builder
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("%s from %s: answer cut short: %v (%q)", path, from, err, head.String())
		}
		head.WriteString(line)
		if line == "\r\n" {
			break
		}
	}
	_ = c.SetDeadline(time.Time{})
	return c, br, statusOf(head.String()), head.String()
}

func TestAdmissionPolicy(t *testing.T) {
	hostA, hostB := newHost(), newHost()
	backend := net.JoinHostPort(hostA, "19001")
	startBackend(t, backend)
	addr, admin := net.JoinHostPort(hostA, "18080"), net.JoinHostPort(hostA, "18090")
	startThrong(t, addr, policyConfig(addr, admin, backend, hostB))

	// A session open throughout: refusals around it must not disturb it.
	bystander := dialWS(t, addr, "/")
	echo(t, bystander, ws.OpText, []byte("before"))

	expect := func(from, path string, want int, extra ...string) (net.Conn, string) {
		t.Helper()
		c, _, got, head := handshakeFrom(t, from, addr, path, extra...)
		if got != want {
			t.Fatalf("%s from %s %v: status %d, want %d:\n%s", path, from, extra, got, want, head)
		}
		if want != 101 {
			expectEOF(t, c, 5*time.Second)
		}
		return c, head
	}

	t.Run("cidr", func(t *testing.T) {
		expect(hostA, "/cidr", 101)
		expect(hostB, "/cidr", 403)
	})
	t.Run("origin", func(t *testing.T) {
		expect(hostA, "/origin", 403) // require_origin
		expect(hostA, "/origin", 101, "Origin: https://app.example.com")
		expect(hostA, "/origin", 101, "Origin: https://chat.EXAMPLE.org")
		expect(hostA, "/origin", 403, "Origin: https://evil.example.com")
		expect(hostA, "/origin", 403, "Origin: https://example.org") // the wildcard wants a subdomain
		expect(hostA, "/origin", 403, "Origin: http://chat.example.org")
		expect(hostA, "/origin", 403, "Origin: null")
		expect(hostA, "/", 101, "Origin: https://evil.example.com") // another route: no origin rule
	})
	t.Run("sessions per ip", func(t *testing.T) {
		first, _ := expect(hostA, "/few", 101)
		expect(hostA, "/few", 101)
		_, head := expect(hostA, "/few", 429)
		if !strings.Contains(head, "\r\nRetry-After: 1\r\n") {
			t.Errorf("429 without Retry-After:\n%s", head)
		}
		expect(hostB, "/few", 101) // another address has its own count
		expect(hostA, "/", 101)    // and another route its own cap (none)
		// The slot comes back as the session starts closing: by the time
		// the client has the Close echoed, it is free.
		closeFrame := ws.MaskFrame(ws.NewCloseFrame(ws.NewCloseFrameBody(ws.StatusNormalClosure, "")))
		if err := ws.WriteFrame(first, closeFrame); err != nil {
			t.Fatal(err)
		}
		if code := expectClose(t, first, 5*time.Second); code != ws.StatusNormalClosure {
			t.Fatalf("close echoed with %d", code)
		}
		expect(hostA, "/few", 101)
	})
	t.Run("handshake rate", func(t *testing.T) {
		for range 3 {
			c, _ := expect(hostA, "/rate", 101)
			c.Close()
		}
		_, head := expect(hostA, "/rate", 429)
		ra := headerValue(head, "Retry-After")
		if n, err := strconv.Atoi(ra); err != nil || n < 15 || n > 20 {
			t.Errorf("Retry-After %q, want the 20 s to the next token of 3/m", ra)
		}
		expect(hostB, "/rate", 101) // its own bucket
	})

	echo(t, bystander, ws.OpText, []byte("after"))
	mfs := scrape(t, admin)
	for reason, want := range map[string]float64{"address": 1, "origin": 5, "sessions_per_ip": 1, "handshake_rate": 1} {
		if got := metricValue(mfs, "throng_policy_refused_total", "reason", reason); got != want {
			t.Errorf("throng_policy_refused_total{reason=%q} = %v, want %v", reason, got, want)
		}
	}
}

// headerValue is the first value of header name in an HTTP head.
func headerValue(head, name string) string {
	for _, line := range strings.Split(head, "\r\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.EqualFold(k, name) {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// TestAdmissionPolicyXFF: behind a trusted proxy, the per-address limits
// and address lists apply to the client X-Forwarded-For names, not to the
// proxy's address.
func TestAdmissionPolicyXFF(t *testing.T) {
	host := newHost()
	backend := net.JoinHostPort(host, "19001")
	startBackend(t, backend)
	addr := net.JoinHostPort(host, "18080")
	startThrong(t, addr, basicConfig(addr, []string{backend}, fmt.Sprintf(`[server]
trusted_proxies = [%q]

[[route]]
path_prefix = "/few"
upstream = "main"
deny_cidrs = ["192.0.2.66"]
[route.limits]
max_sessions_per_ip = 1
`, host)))
	c, _, st, _ := handshakeFrom(t, host, addr, "/few", "X-Forwarded-For: 192.0.2.1")
	if st != 101 {
		t.Fatalf("first client: %d", st)
	}
	defer c.Close()
	if _, _, st, _ := handshakeFrom(t, host, addr, "/few", "X-Forwarded-For: 192.0.2.1"); st != 429 {
		t.Errorf("same client again: %d, want 429", st)
	}
	if _, _, st, _ := handshakeFrom(t, host, addr, "/few", "X-Forwarded-For: 192.0.2.2"); st != 101 {
		t.Errorf("another client behind the same proxy: %d, want 101", st)
	}
	if _, _, st, _ := handshakeFrom(t, host, addr, "/few", "X-Forwarded-For: 192.0.2.66"); st != 403 {
		t.Errorf("denied client behind the proxy: %d, want 403", st)
	}
}

// TestAdmissionPolicyPython drives the Origin rule with Python's
// websockets, an independent client: an allowed Origin echoes, another
// is refused with 403.
func TestAdmissionPolicyPython(t *testing.T) {
	python := requirePythonWebsockets(t)
	host := newHost()
	backend := net.JoinHostPort(host, "19001")
	startBackend(t, backend)
	addr, admin := net.JoinHostPort(host, "18080"), net.JoinHostPort(host, "18090")
	startThrong(t, addr, policyConfig(addr, admin, backend, newHost()))
	script, _ := filepath.Abs(filepath.Join("testdata", "python", "origin_client.py"))
	if _, err := os.Stat(script); err != nil {
		t.Fatal(err)
	}
	runPython(t, python, 30*time.Second, script, "ws://"+addr+"/origin", "https://app.example.com", "101")
	runPython(t, python, 30*time.Second, script, "ws://"+addr+"/origin", "https://evil.example.net", "403")
}

// vmRSS is a process's resident set in bytes (/proc/PID/status).
func vmRSS(t testing.TB, pid int) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Fatal("no VmRSS")
	return 0
}

// TestHandshakeFlood: 300 source addresses flood handshakes far over
// handshakes_per_ip. Each gets its burst and then 429s, the proxy's memory
// stays bounded, and a legitimate client from a fresh address is admitted
// in the middle of it.
func TestHandshakeFlood(t *testing.T) {
	host := newHost()
	backend := net.JoinHostPort(host, "19001")
	startBackend(t, backend)
	addr := net.JoinHostPort(host, "18080")
	th := startThrong(t, addr, basicConfig(addr, []string{backend}, `[limits]
handshakes_per_ip = "2/s"
handshake_burst = 4
tracked_ips = 1024
`))
	pid := th.cmd.Process.Pid
	before := vmRSS(t, pid)

	const sources, perSource = 300, 12
	type result struct{ ok, limited, other int }
	results := make(chan result, sources)
	sem := make(chan struct{}, 48)
	for range sources {
		from := newHost()
		sem <- struct{}{}
		go func() {
			defer func() { <-sem }()
			var r result
			for range perSource {
				st := quickHandshake(from, addr)
				switch st {
				case 101:
					r.ok++
				case 429:
					r.limited++
				default:
					r.other++
				}
			}
			results <- r
		}()
	}
	// Mid-flood, a client that sent nothing yet gets its own full bucket.
	c, _, st, _ := handshakeFrom(t, newHost(), addr, "/")
	if st != 101 {
		t.Fatalf("legitimate client during the flood: %d, want 101", st)
	}
	echo(t, c, ws.OpText, []byte("still served"))
	var total result
	for range sources {
		r := <-results
		total.ok += r.ok
		total.limited += r.limited
		total.other += r.other
	}
	t.Logf("flood: %d admitted, %d rate limited, %d other", total.ok, total.limited, total.other)
	if total.other != 0 {
		t.Errorf("%d handshakes got neither 101 nor 429", total.other)
	}
	// Each address gets its burst of 4, plus what refilled at 2/s while the
	// flood ran; never the whole 12.
	if total.ok < sources*4 || total.limited < sources*4 {
		t.Errorf("admitted %d, limited %d: want each address to get about its burst of 4 and no more", total.ok, total.limited)
	}
	after := vmRSS(t, pid)
	t.Logf("RSS before %d KiB, after %d KiB", before>>10, after>>10)
	if after-before > 64<<20 {
		t.Errorf("RSS grew by %d MiB under the flood", (after-before)>>20)
	}
	echo(t, c, ws.OpText, []byte("after the flood"))
}

// quickHandshake sends one upgrade request from from and returns the
// status (0 on any error), closing the connection at once.
func quickHandshake(from, addr string) int {
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}, Timeout: 2 * time.Second}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		return 0
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, upgradeRequest("example.test", "/")); err != nil {
		return 0
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return 0
	}
	return statusOf(line)
}

// TestSlowlorisHalfOpen: 2,000 connections from 20 addresses send part of
// a request head and then nothing. All are closed at the handshake
// timeout, while 100 real sessions keep relaying.
func TestSlowlorisHalfOpen(t *testing.T) {
	host := newHost()
	backend := net.JoinHostPort(host, "19001")
	startBackend(t, backend)
	addr := net.JoinHostPort(host, "18080")
	startThrong(t, addr, basicConfig(addr, []string{backend}, "")) // timeouts.handshake = 3s

	real := make([]net.Conn, 100)
	for i := range real {
		real[i] = dialWS(t, addr, "/")
	}
	var sources [20]string
	for i := range sources {
		sources[i] = newHost()
	}
	const n = 2000
	conns := make([]net.Conn, 0, n)
	start := time.Now()
	for i := range n {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(sources[i%len(sources)])}, Timeout: 2 * time.Second}
		c, err := d.Dial("tcp", addr)
		if err != nil {
			t.Fatalf("slow connection %d: %v", i, err)
		}
		t.Cleanup(func() { c.Close() })
		if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: example.test\r\nUpgrade: websocket\r\n"); err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	// The real sessions relay while the slow ones wait.
	for round := range 3 {
		for _, c := range real {
			echo(t, c, ws.OpBinary, []byte(fmt.Sprintf("round %d", round)))
		}
	}
	for i, c := range conns {
		_ = c.SetReadDeadline(start.Add(10 * time.Second))
		if _, err := io.Copy(io.Discard, c); err != nil {
			t.Fatalf("slow connection %d not closed by the handshake timeout: %v", i, err)
		}
	}
	elapsed := time.Since(start)
	t.Logf("2000 slow connections closed %v after the first opened", elapsed)
	if elapsed < 2*time.Second {
		t.Errorf("slow connections closed after %v, before the 3 s handshake timeout", elapsed)
	}
	for _, c := range real {
		echo(t, c, ws.OpText, []byte("after"))
	}
}
