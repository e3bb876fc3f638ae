package main

// wss:// toward backends: tls = true with server_name and ca, for dials,
// warm sockets and health checks.

import (
	"crypto/tls"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"

	"github.com/throngproxy/throng/engine/enginetest"
)

// tlsEchoBackend serves WebSocket echo over TLS on addr with a certificate
// for "app.internal" from ca, at TLS version v (0: Go's default, 1.3).
func tlsEchoBackend(t *testing.T, addr string, ca *enginetest.CA, v uint16) {
	t.Helper()
	leaf := ca.Issue(t, "app.internal", []string{"app.internal"}, enginetest.ECDSA, false)
	ln, err := tls.Listen("tcp", addr, &tls.Config{Certificates: []tls.Certificate{leaf.TLS(t)}, MinVersion: v, MaxVersion: v})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	serveOn(ln, func(c net.Conn) {
		if _, err := ws.Upgrade(c); err != nil {
			return
		}
		for {
			msg, op, err := wsutil.ReadClientData(c)
			if err != nil {
				return
			}
			if err := wsutil.WriteServerMessage(c, op, msg); err != nil {
				return
			}
		}
	})
}

// tlsBackendConfig is basicConfig with every backend spoken to over TLS,
// verified for app.internal against caFile; upstreamExtra joins the
// [[upstream]] table.
func tlsBackendConfig(listen string, backends []string, caFile, upstreamExtra, extra string) string {
	cfg := basicConfig(listen, backends, extra)
	for _, b := range backends {
		cfg = strings.Replace(cfg, fmt.Sprintf("{ addr = %q }", b),
			fmt.Sprintf("{ addr = %q, tls = true, server_name = \"app.internal\", ca = %q }", b, caFile), 1)
	}
	return strings.Replace(cfg, "balance = \"round_robin\"\n", "balance = \"round_robin\"\n"+upstreamExtra, 1)
}

// TestUpstreamTLS: a backend with tls = true is reached over wss, on fresh
// dials and on warm sockets whose handshake is done (TLS 1.3 tickets they
// get while idle do not spoil them), and its health checks speak TLS.
func TestUpstreamTLS(t *testing.T) {
	for _, v := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		t.Run(fmt.Sprintf("%x", v), func(t *testing.T) {
			host := newHost()
			ca := enginetest.NewCA(t, "internal CA")
			caFile := filepath.Join(t.TempDir(), "internal-ca.pem")
			enginetest.WriteFile(t, caFile, ca.PEM)
			backend := net.JoinHostPort(host, "19443")
			tlsEchoBackend(t, backend, ca, v)
			addr := net.JoinHostPort(host, "18080")
			th := startThrong(t, addr, tlsBackendConfig(addr, []string{backend}, caFile,
				"warm = 2\n", "[upstream.health]\ntype = \"websocket\"\ninterval = \"1s\"\n"))
			c := dialWS(t, addr, "/")
			for _, n := range []int{0, 1, 16384, 16385, 1 << 20} {
				echo(t, c, ws.OpBinary, make([]byte, n))
			}
			c.Close()
			// Two on each of the two loops: the session may land on either.
			enginetest.WaitFor(t, "warm sockets", func() bool { return statOf(t, stats(t, th), "warm_idle") >= 4 })
			c = dialWS(t, addr, "/")
			echo(t, c, ws.OpText, []byte("on a warm socket"))
			c.Close()
			line := stats(t, th)
			if statOf(t, line, "warm_used") < 1 || statOf(t, line, "dial_failed") != 0 || statOf(t, line, "health_flips") != 0 {
				t.Fatalf("stats: %s", line)
			}
		})
	}
}

// TestUpstreamTLSVerification: a backend whose certificate the configured
// CA did not sign is a failed attempt: retried on the next backend, and
// 502 when none is left.
func TestUpstreamTLSVerification(t *testing.T) {
	host := newHost()
	trusted := enginetest.NewCA(t, "internal CA")
	stranger := enginetest.NewCA(t, "someone else")
	caFile := filepath.Join(t.TempDir(), "internal-ca.pem")
	enginetest.WriteFile(t, caFile, trusted.PEM)
	bad := net.JoinHostPort(host, "19443")
	good := net.JoinHostPort(host, "19444")
	tlsEchoBackend(t, bad, stranger, 0)
	tlsEchoBackend(t, good, trusted, 0)

	addr := net.JoinHostPort(host, "18080")
	th := startThrong(t, addr, tlsBackendConfig(addr, []string{bad, good}, caFile, "retries = 1\nmax_fails = 100\n", ""))
	for range 4 {
		c := dialWS(t, addr, "/")
		echo(t, c, ws.OpText, []byte("through the good one"))
		c.Close()
	}
	if line := stats(t, th); statOf(t, line, "dial_failed") < 1 {
		t.Fatalf("the untrusted backend never failed: %s", line)
	}

	h2 := newHost()
	only := net.JoinHostPort(h2, "18080")
	startThrong(t, only, tlsBackendConfig(only, []string{bad}, caFile, "", ""))
	if st, resp := rawRequest(t, only, upgradeRequest("example.test", "/")); st != 502 {
		t.Fatalf("want 502 from a backend with an untrusted certificate, got %d:\n%s", st, resp)
	}
}
