package main

import (
	"net"
	"syscall"
	"testing"
	"time"
)

// blackhole returns an address that takes TCP connects but never completes
// them: a listener with a backlog of one that never accepts, its queue
// filled first. The kernel then drops further SYNs, so a connect to it
// hangs until the dialer's own timeout.
func blackhole(t *testing.T, host string) string {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Close(fd) })
	// A previous run's connections may linger in TIME_WAIT on this port.
	if err := syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_REUSEADDR, 1); err != nil {
		t.Fatal(err)
	}
	ip := net.ParseIP(host).To4()
	sa := &syscall.SockaddrInet4{Port: 19007}
	copy(sa.Addr[:], ip)
	if err := syscall.Bind(fd, sa); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Listen(fd, 0); err != nil {
		t.Fatal(err)
	}
	addr := net.JoinHostPort(host, "19007")
	// Fill the accept queue; these connects complete (or hang) in the kernel.
	for range 4 {
		c, err := net.DialTimeout("tcp", addr, 300*time.Millisecond)
		if err != nil {
			break // the queue is full: SYNs are being dropped
		}
		t.Cleanup(func() { c.Close() })
	}
	c, err := net.DialTimeout("tcp", addr, 300*time.Millisecond)
	if err == nil {
		c.Close()
		t.Skip("the kernel still completes connects to a full listener here")
	}
	return addr
}

// TestConnectTimeout: a backend that never completes the TCP handshake is
// given up after timeouts.connect and the next backend serves the client;
// alone, it earns a 502 once the connect timeout has passed.
func TestConnectTimeout(t *testing.T) {
	host := newHost()
	hole := blackhole(t, host)
	good := net.JoinHostPort(host, "19001")
	startBackend(t, good)

	addr := net.JoinHostPort(host, "18080")
	startThrong(t, addr, basicConfig(addr, []string{hole, good}, ""))
	start := time.Now()
	c := dialWS(t, addr, "/") // round robin tries the black hole first for one of the two
	echo(t, c, 1, []byte("after a connect timeout"))
	c.Close()
	c = dialWS(t, addr, "/")
	echo(t, c, 1, []byte("after a connect timeout"))
	c.Close()
	if d := time.Since(start); d < 900*time.Millisecond || d > 4*time.Second {
		t.Fatalf("two sessions took %v; one should have waited the 1s connect timeout", d)
	}

	alone := net.JoinHostPort(host, "18081")
	startThrong(t, alone, basicConfig(alone, []string{hole}, ""))
	start = time.Now()
	if st, resp := rawRequest(t, alone, upgradeRequest(alone, "/")); st != 502 {
		t.Fatalf("status %d, want 502:\n%s", st, resp)
	}
	if d := time.Since(start); d < 900*time.Millisecond {
		t.Fatalf("502 after %v, before the 1s connect timeout", d)
	}
}
