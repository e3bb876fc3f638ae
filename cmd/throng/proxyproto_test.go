package main

// PROXY protocol: headers received from a trusted balancer in front, and
// sent to backends.

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"

	"github.com/throngproxy/throng/codec"
	"github.com/throngproxy/throng/engine/enginetest"
)

// TestProxyProtocolReceived: with proxy_protocol on, the address a v1 or v2
// header carries is the client's for X-Forwarded-For and the access log;
// LOCAL keeps the socket's; a connection without a valid header, or from
// a sender not in trusted_proxies, is closed unanswered and counted.
func TestProxyProtocolReceived(t *testing.T) {
	v2 := func(src, dst string) string {
		return string(codec.AppendProxyV2(nil, netip.MustParseAddrPort(src), netip.MustParseAddrPort(dst)))
	}
	v2Local := "\r\n\r\n\x00\r\nQUIT\n\x20\x00\x00\x00"
	tests := []struct {
		name, version, header, wantXFF string // wantXFF "" = the socket's own address
	}{
		{"v1 tcp4", "v1", "PROXY TCP4 192.0.2.7 198.51.100.1 40000 443\r\n", "192.0.2.7"},
		{"v1 tcp6", "v1", "PROXY TCP6 2001:db8::7 2001:db8::1 40000 443\r\n", "2001:db8::7"},
		{"v1 unknown", "v1", "PROXY UNKNOWN\r\n", ""},
		{"v2 tcp4", "v2", v2("192.0.2.8:40000", "198.51.100.1:443"), "192.0.2.8"},
		{"v2 tcp6", "v2", v2("[2001:db8::8]:40000", "[2001:db8::1]:443"), "2001:db8::8"},
		{"v2 local", "v2", v2Local, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			host, up, _ := forwardedHead(t, func(h string) string {
				return fmt.Sprintf("[server]\nproxy_protocol = %q\ntrusted_proxies = [%q]\n", tc.version, h)
			}, func(string) string { return tc.header + upgradeRequest("example.test", "/") })
			want := tc.wantXFF
			if want == "" {
				want = host
			}
			if !strings.Contains(up, "X-Forwarded-For: "+want+"\r\n") {
				t.Fatalf("want X-Forwarded-For %s:\n%s", want, up)
			}
		})
	}

	host := newHost()
	backend := net.JoinHostPort(host, "19001")
	startBackend(t, backend)
	addr := net.JoinHostPort(host, "18080")
	th := startThrong(t, addr, basicConfig(addr, []string{backend},
		fmt.Sprintf("[server]\nproxy_protocol = \"v1\"\ntrusted_proxies = [%q]\n", host)))
	dial := func(from string) net.Conn {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
		c, err := d.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	refused := 0
	for _, tc := range []struct{ name, from, send string }{
		{"no header", host, upgradeRequest("example.test", "/")},
		{"v2 header on a v1 listener", host, v2("192.0.2.8:1", "192.0.2.9:2") + upgradeRequest("example.test", "/")},
		{"bad address", host, "PROXY TCP4 192.0.2.300 198.51.100.1 1 2\r\n"},
		{"untrusted sender", newHost(), "PROXY TCP4 192.0.2.7 198.51.100.1 40000 443\r\n" + upgradeRequest("example.test", "/")},
	} {
		c := dial(tc.from)
		_, _ = io.WriteString(c, tc.send)
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if b, err := io.ReadAll(c); len(b) > 0 {
			t.Errorf("%s: answered %q (%v), want a close", tc.name, b, err)
		}
		refused++
	}
	// A header in several writes is still read whole. (Whether the proxy
	// reads them apart is the kernel's call; the machine test's
	// proxy_header rows cover a header cut between reads.)
	c := dial(host)
	for _, part := range []string{"PROXY TCP4 192.0", ".2.9 198.51.100.1 4", "0000 443\r", "\n"} {
		_, _ = io.WriteString(c, part)
	}
	_, _ = io.WriteString(c, upgradeRequest("example.test", "/"))
	if head, err := readHead(c); err != nil || statusOf(head) != 101 {
		t.Fatalf("split header: %q (%v)", head, err)
	}
	c.Close() // its access line is written when it ends
	waitOutput(t, th.proc, `"client":"192.0.2.9:40000"`)
	// startThrong's probe of the listener came from 127.0.0.1, which is
	// no trusted proxy either.
	if line := stats(t, th); statOf(t, line, "proxy_refused") != refused+1 {
		t.Fatalf("want proxy_refused %d: %s", refused, line)
	}
}

// TestProxyProtocolWithTLS: on a TLS listener the PROXY header comes
// first, before the ClientHello.
func TestProxyProtocolWithTLS(t *testing.T) {
	host := newHost()
	backend := net.JoinHostPort(host, "19001")
	heads := headBackend(t, backend)
	ca := enginetest.NewCA(t, "test CA")
	certPath, keyPath := ca.Issue(t, "localhost", []string{"localhost"}, enginetest.ECDSA, false).WriteFiles(t, t.TempDir(), "site")
	addr := net.JoinHostPort(host, "18443")
	startThrong(t, addr, tlsConfigDoc(addr, []string{backend},
		fmt.Sprintf("[server]\nproxy_protocol = \"v2\"\ntrusted_proxies = [%q]\n", host), certPath, keyPath))
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(host)}}
	raw, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	if _, err := raw.Write(codec.AppendProxyV2(nil, netip.MustParseAddrPort("203.0.113.5:5555"), netip.MustParseAddrPort("198.51.100.1:443"))); err != nil {
		t.Fatal(err)
	}
	c := tls.Client(raw, &tls.Config{RootCAs: ca.Pool, ServerName: "localhost"})
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, upgradeRequest("localhost", "/")); err != nil {
		t.Fatal(err)
	}
	if head, err := readHead(c); err != nil || statusOf(head) != 101 {
		t.Fatalf("answer %q (%v)", head, err)
	}
	select {
	case up := <-heads:
		if !strings.Contains(up, "X-Forwarded-For: 203.0.113.5\r\n") || !strings.Contains(up, "X-Forwarded-Proto: https\r\n") {
			t.Fatalf("backend request:\n%s", up)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("backend saw no request")
	}
}

// TestSendProxyProtocol: send_proxy_protocol puts a v1 or v2 header with
// the client's address before the upgrade request, on fresh and on warm
// backend sockets, and the session relays behind it.
func TestSendProxyProtocol(t *testing.T) {
	for _, tc := range []struct{ version, extra string }{
		{"v1", ""}, {"v2", ""}, {"v1", "warm = 2\n"}, {"v2", "warm = 2\n"},
	} {
		t.Run(tc.version+" "+strings.TrimSpace(tc.extra), func(t *testing.T) {
			host := newHost()
			backend := net.JoinHostPort(host, "19001")
			v, _ := codec.ParseProxyVersion(tc.version)
			got := make(chan codec.ProxyHeader, 8)
			fakeBackend(t, backend, func(c net.Conn) {
				br := bufio.NewReader(c)
				var buf []byte
				for {
					b, err := br.ReadByte()
					if err != nil {
						return
					}
					buf = append(buf, b)
					h, n, err := codec.ParseProxyHeader(buf, v)
					if err == nil && n == len(buf) {
						got <- h
						break
					}
					if err != nil && err != codec.ErrProxyIncomplete {
						return
					}
				}
				conn := &bufConn{Conn: c, r: br}
				if _, err := ws.Upgrade(rw{conn, c}); err != nil {
					return
				}
				for {
					msg, op, err := wsutil.ReadClientData(conn)
					if err != nil {
						return
					}
					_ = wsutil.WriteServerMessage(c, op, msg)
				}
			})
			addr := net.JoinHostPort(host, "18080")
			cfg := basicConfig(addr, []string{backend}, "")
			cfg = strings.Replace(cfg, "balance = \"round_robin\"\n", "balance = \"round_robin\"\nsend_proxy_protocol = \""+tc.version+"\"\n"+tc.extra, 1)
			th := startThrong(t, addr, cfg)
			if tc.extra != "" {
				// Two on each of the two loops: the session may land on either.
				enginetest.WaitFor(t, "warm sockets", func() bool { return statOf(t, stats(t, th), "warm_idle") >= 4 })
			}
			d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(host)}}
			raw, err := d.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer raw.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			c, _, _, err := ws.Dialer{NetDial: func(context.Context, string, string) (net.Conn, error) { return raw, nil }}.Dial(ctx, "ws://"+addr+"/")
			if err != nil {
				t.Fatal(err)
			}
			echo(t, c, ws.OpText, []byte("behind a PROXY header"))
			select {
			case h := <-got:
				if h.Source.Addr().String() != host || h.Dest.String() != addr {
					t.Fatalf("header %+v, want source %s and destination %s", h, host, addr)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("backend got no PROXY header")
			}
			if tc.extra != "" && statOf(t, stats(t, th), "warm_used") < 1 {
				t.Fatal("the session did not take a warm socket")
			}
		})
	}
}
