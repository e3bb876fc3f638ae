package main

import (
	"net"
	"testing"
	"time"

	"github.com/throngproxy/throng/engine/enginetest"
)

// TestConnectTimeout: a backend that never completes the TCP handshake is
// given up after timeouts.connect and the next backend serves the client;
// alone, it earns a 502 once the connect timeout has passed.
func TestConnectTimeout(t *testing.T) {
	host := newHost()
	hole := enginetest.Blackhole(t, host)
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
