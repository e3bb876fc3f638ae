package main

// Defects a black-box attack run found (issue 9), each reproduced with the
// attack's bytes through the real binary.

import (
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// forwardedHead starts a backend that records the request head it gets and
// answers 101, and a throng with extra config in front of it; it sends req
// from the test's own loopback address and returns that address and the
// head the backend saw.
func forwardedHead(t *testing.T, extra func(host string) string, req func(addr string) string) (string, string) {
	t.Helper()
	host := newHost()
	backend := net.JoinHostPort(host, "19001")
	heads := make(chan string, 1)
	fakeBackend(t, backend, func(c net.Conn) {
		h, _ := readHead(c)
		heads <- h
		_, _ = io.WriteString(c, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n")
		_, _ = io.Copy(io.Discard, c)
	})
	addr := net.JoinHostPort(host, "18080")
	startThrong(t, addr, basicConfig(addr, []string{backend}, extra(host)))
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(host)}}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, _ = io.WriteString(c, req(addr))
	if head, err := readHead(c); err != nil || statusOf(head) != 101 {
		t.Fatalf("answer %q (%v)", head, err)
	}
	select {
	case up := <-heads:
		return host, up
	case <-time.After(5 * time.Second):
		t.Fatal("backend saw no request")
	}
	return "", ""
}

// spoofHeaders are what an attacker sends to pass for another address.
var spoofHeaders = []string{
	"Forwarded: for=1.2.3.4;proto=https",
	"X-Real-IP: 1.2.3.4",
	"True-Client-IP: 1.2.3.4",
	"X-Client-IP: 1.2.3.4",
	"CF-Connecting-IP: 1.2.3.4",
	"Fastly-Client-IP: 1.2.3.4",
	"X-Cluster-Client-IP: 1.2.3.4",
	"X-Forwarded-For: 1.2.3.4",
}

// TestClientAddressHeaders: a client that is not a trusted proxy cannot
// hand the backend an address of its choice in any of the usual headers;
// a trusted proxy's are kept; forwarded_header adds throng's own RFC 7239
// element.
func TestClientAddressHeaders(t *testing.T) {
	spoof := func(addr string) string { return upgradeRequest("example.test", "/", spoofHeaders...) }
	t.Run("untrusted", func(t *testing.T) {
		host, up := forwardedHead(t, func(string) string { return "" }, spoof)
		if strings.Contains(up, "1.2.3.4") {
			t.Errorf("a spoofed address reached the backend:\n%s", up)
		}
		if !strings.Contains(up, "X-Forwarded-For: "+host+"\r\n") {
			t.Errorf("no X-Forwarded-For of the real peer %s:\n%s", host, up)
		}
		if strings.Contains(strings.ToLower(up), "forwarded: ") {
			t.Errorf("a Forwarded header went upstream without forwarded_header:\n%s", up)
		}
	})
	t.Run("untrusted with forwarded_header", func(t *testing.T) {
		host, up := forwardedHead(t, func(string) string { return "[server]\nforwarded_header = true\n" }, spoof)
		if strings.Contains(up, "1.2.3.4") {
			t.Errorf("a spoofed address reached the backend:\n%s", up)
		}
		want := "Forwarded: for=" + host + ";host=example.test;proto=http\r\n"
		if !strings.Contains(up, want) || strings.Count(up, "Forwarded: ") != 1 {
			t.Errorf("want exactly one Forwarded line %q:\n%s", want, up)
		}
	})
	t.Run("trusted proxy", func(t *testing.T) {
		host, up := forwardedHead(t, func(h string) string {
			return "[server]\nforwarded_header = true\ntrusted_proxies = [\"" + h + "\"]\n"
		}, spoof)
		for _, h := range spoofHeaders {
			if h == "X-Forwarded-For: 1.2.3.4" {
				h = "X-Forwarded-For: 1.2.3.4, " + host
			}
			if !strings.Contains(up, h+"\r\n") {
				t.Errorf("a trusted proxy's %q was not kept:\n%s", h, up)
			}
		}
		// throng's own element follows the proxy's, extending its list.
		own := "Forwarded: for=" + host + ";host=example.test;proto=http\r\n"
		if i, j := strings.Index(up, "Forwarded: for=1.2.3.4"), strings.Index(up, own); i < 0 || j < i {
			t.Errorf("want the proxy's Forwarded, then %q:\n%s", own, up)
		}
	})
}
