package main

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestBadHandshakes(t *testing.T) {
	th := setup(t, "[limits]\nmax_header_bytes = \"2KiB\"\n")
	host := th.addr
	const key = "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
	const ver = "Sec-WebSocket-Version: 13\r\n"
	const up = "Upgrade: websocket\r\nConnection: Upgrade\r\n"
	tests := []struct {
		name   string
		req    string
		status int
		header string // a header line the answer must carry
	}{
		{"plain http", "GET / HTTP/1.1\r\nHost: " + host + "\r\n\r\n", 426, "Upgrade: websocket"},
		{"post", "POST / HTTP/1.1\r\nHost: " + host + "\r\n" + up + key + ver + "\r\n", 405, ""},
		{"http/1.0", "GET / HTTP/1.0\r\nHost: " + host + "\r\n" + up + key + ver + "\r\n", 400, ""},
		{"no key", "GET / HTTP/1.1\r\nHost: " + host + "\r\n" + up + ver + "\r\n", 400, ""},
		{"bad key", "GET / HTTP/1.1\r\nHost: " + host + "\r\n" + up + "Sec-WebSocket-Key: short\r\n" + ver + "\r\n", 400, ""},
		{"duplicate host", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n" + up + key + ver + "\r\n", 400, ""},
		{"duplicate key", "GET / HTTP/1.1\r\nHost: " + host + "\r\n" + up + key + key + ver + "\r\n", 400, ""},
		{"content-length", "GET / HTTP/1.1\r\nHost: " + host + "\r\n" + up + key + ver + "Content-Length: 5\r\n\r\nhello", 400, ""},
		{"content-length 0", "GET / HTTP/1.1\r\nHost: " + host + "\r\n" + up + key + ver + "Content-Length: 0\r\n\r\n", 400, ""},
		{"transfer-encoding", "GET / HTTP/1.1\r\nHost: " + host + "\r\n" + up + key + ver + "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400, ""},
		{"malformed", "GARBAGE\r\n\r\n", 400, ""},
		{"version 8", "GET / HTTP/1.1\r\nHost: " + host + "\r\n" + up + key + "Sec-WebSocket-Version: 8\r\n\r\n", 426, "Sec-WebSocket-Version: 13"},
		{"head too large", "GET / HTTP/1.1\r\nHost: " + host + "\r\n" + up + key + ver + "X-Big: " + strings.Repeat("a", 3000) + "\r\n\r\n", 431, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, resp := rawRequest(t, th.addr, tt.req)
			if st != tt.status {
				t.Fatalf("status %d, want %d; answer:\n%s", st, tt.status, resp)
			}
			if !strings.Contains(resp, "Connection: close\r\n") {
				t.Errorf("answer lacks Connection: close:\n%s", resp)
			}
			if tt.header != "" && !strings.Contains(resp, tt.header+"\r\n") {
				t.Errorf("answer lacks %q:\n%s", tt.header, resp)
			}
		})
	}
	// Nothing above broke the proxy.
	c := dialWS(t, th.addr, "/")
	c.Close()
}

func TestNoRoute(t *testing.T) {
	host := newHost()
	backend := net.JoinHostPort(host, "19001")
	startBackend(t, backend)
	addr := net.JoinHostPort(host, "18080")
	cfg := basicConfig(addr, []string{backend}, "")
	cfg = strings.Replace(cfg, "path_prefix = \"/\"", "path_prefix = \"/chat\"", 1)
	startThrong(t, addr, cfg)
	if st, resp := rawRequest(t, addr, upgradeRequest(addr, "/other")); st != 404 {
		t.Fatalf("status %d, want 404:\n%s", st, resp)
	}
	c := dialWS(t, addr, "/chat/room")
	c.Close()
}

func TestBackendDown(t *testing.T) {
	host := newHost()
	addr := net.JoinHostPort(host, "18080")
	// Nothing listens on the backend port.
	startThrong(t, addr, basicConfig(addr, []string{net.JoinHostPort(host, "19009")}, ""))
	if st, resp := rawRequest(t, addr, upgradeRequest(addr, "/")); st != 502 {
		t.Fatalf("status %d, want 502:\n%s", st, resp)
	}
}

// TestFailover: the first backend refuses connections, the second works; the
// client never notices.
func TestFailover(t *testing.T) {
	host := newHost()
	good := net.JoinHostPort(host, "19001")
	startBackend(t, good)
	addr := net.JoinHostPort(host, "18080")
	startThrong(t, addr, basicConfig(addr, []string{net.JoinHostPort(host, "19009"), good}, ""))
	for range 4 {
		c := dialWS(t, addr, "/")
		echo(t, c, 1, []byte("through the good one"))
		c.Close()
	}
}

// fakeBackend accepts connections and runs answer on each.
func fakeBackend(t *testing.T, addr string, answer func(net.Conn)) {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	serveOn(ln, answer)
}

// serveOn runs answer for every connection ln accepts until ln is closed;
// closing ln makes new connects to its address fail.
func serveOn(ln net.Listener, answer func(net.Conn)) {
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				answer(c)
			}()
		}
	}()
}

// readHead consumes an HTTP head from c.
func readHead(c net.Conn) (string, error) {
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	br := bufio.NewReader(c)
	var b strings.Builder
	for {
		l, err := br.ReadString('\n')
		b.WriteString(l)
		if err != nil {
			return b.String(), err
		}
		if l == "\r\n" {
			return b.String(), nil
		}
	}
}

func TestBackendAnswers(t *testing.T) {
	tests := []struct {
		name   string
		answer string // sent after the request head, then closed; "" sends nothing and waits
		status int
		body   string
	}{
		{"403 relayed", "HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\nX-Why: policy\r\nContent-Length: 9\r\n\r\nforbidden", 403, "forbidden"},
		{"500 chunked", "HTTP/1.1 500 Oops\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nbad \r\n5\r\nthing\r\n0\r\n\r\n", 500, "bad thing"},
		{"401 close-delimited after 100", "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 401 Unauthorized\r\n\r\nwho are you", 401, "who are you"},
		{"garbage", "SSH-2.0-OpenSSH_9.2\r\n\r\n", 502, ""},
		{"101 from HTTP/1.0", "HTTP/1.0 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n", 502, ""},
		{"101 with bad accept", "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: AAAAAAAAAAAAAAAAAAAAAAAAAAA=\r\n\r\n", 502, ""},
		{"101 naming unoffered subprotocol", "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\nSec-WebSocket-Protocol: mqtt\r\n\r\n", 502, ""},
		{"101 naming unoffered extension", "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\nSec-WebSocket-Extensions: permessage-deflate\r\n\r\n", 502, ""},
		{"never answers", "", 504, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			host := newHost()
			backend := net.JoinHostPort(host, "19001")
			fakeBackend(t, backend, func(c net.Conn) {
				_, _ = readHead(c)
				if tt.answer == "" {
					_, _ = io.Copy(io.Discard, c) // until the proxy gives up
					return
				}
				// Then close: that ends a close-delimited body.
				_, _ = io.WriteString(c, tt.answer)
			})
			addr := net.JoinHostPort(host, "18080")
			startThrong(t, addr, basicConfig(addr, []string{backend}, ""))
			st, resp := rawRequest(t, addr, upgradeRequest(addr, "/"))
			if st != tt.status {
				t.Fatalf("status %d, want %d:\n%s", st, tt.status, resp)
			}
			if !strings.Contains(resp, "Connection: close\r\n") {
				t.Errorf("no Connection: close:\n%s", resp)
			}
			if tt.body != "" {
				// net/http's client reads the answer: an independent
				// parser, which fails on a body cut short.
				r, err := http.ReadResponse(bufio.NewReader(strings.NewReader(resp)), nil)
				if err != nil {
					t.Fatalf("net/http cannot read the answer: %v\n%s", err, resp)
				}
				body, err := io.ReadAll(r.Body)
				if err != nil || string(body) != tt.body {
					t.Errorf("body %q (%v), want %q:\n%s", body, err, tt.body, resp)
				}
			}
		})
	}
}

// TestForwardedHeaders: the backend sees the client's key and the proxy's
// X-Forwarded-* and X-Request-Id; the client gets the request id back.
func TestForwardedHeaders(t *testing.T) {
	host, up, head := forwardedHead(t, func(string) string { return "" }, func(string) string {
		return upgradeRequest("example.test", "/x?y=1", "Connection: keep-alive, Upgrade, X-Hop", "X-Hop: secret", "Keep-Alive: 5", "X-Forwarded-For: 6.6.6.6", "Origin: http://example.test")
	})
	for _, want := range []string{
		"GET /x?y=1 HTTP/1.1\r\n", "Host: example.test\r\n", "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n",
		"X-Forwarded-For: " + host + "\r\n", "X-Forwarded-Proto: http\r\n", "X-Forwarded-Host: example.test\r\n",
		"Origin: http://example.test\r\n",
	} {
		if !strings.Contains(up, want) {
			t.Errorf("upstream request lacks %q:\n%s", want, up)
		}
	}
	for _, bad := range []string{"X-Hop", "Keep-Alive", "6.6.6.6"} {
		if strings.Contains(up, bad) {
			t.Errorf("upstream request still has %q:\n%s", bad, up)
		}
	}
	i := strings.Index(up, "X-Request-Id: ")
	if i < 0 || len(up) < i+14+32 {
		t.Fatalf("no X-Request-Id upstream:\n%s", up)
	}
	id := up[i+14 : i+14+32]
	if !strings.Contains(head, "X-Request-Id: "+id+"\r\n") {
		t.Errorf("101 lacks the request id %s:\n%s", id, head)
	}
}

// TestSlowloris: half a request line is closed at the handshake timeout.
func TestSlowloris(t *testing.T) {
	th := setup(t, "")
	c, err := net.Dial("tcp", th.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	start := time.Now()
	_, _ = io.WriteString(c, "GET /cha")
	expectEOF(t, c, 8*time.Second)
	if d := time.Since(start); d < 2500*time.Millisecond {
		t.Fatalf("closed after %v, before the 3s handshake timeout", d)
	}
	// Others still get through.
	cc := dialWS(t, th.addr, "/")
	echo(t, cc, 1, []byte("still fine"))
	cc.Close()
}
