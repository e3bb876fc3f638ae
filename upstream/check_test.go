package upstream

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gobwas/ws"

	"github.com/throngproxy/throng/codec"
	"github.com/throngproxy/throng/config"
	"github.com/throngproxy/throng/engine/enginetest"
)

// errAny stands for any non-nil error in test tables.
var errAny = errors.New("any error")

// Test addresses: 127.0.51.1..254 only. Backends a test stops and starts
// again listen on fixed ports in 20000..29999; the others on port 0.
const closedAddr = "127.0.51.9:20009" // nothing listens here

// server is a loopback listener that runs handle for each connection.
type server struct {
	ln    net.Listener
	wg    sync.WaitGroup
	mu    sync.Mutex // guards conns, closed
	conns map[net.Conn]struct{}
	once  sync.Once
}

// serve listens on addr and runs handle for each accepted connection
// until stop (also run at cleanup); handle must return once its conn is
// closed.
func serve(t testing.TB, addr string, handle func(net.Conn)) *server {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("listen %s: %v", addr, err)
	}
	s := &server{ln: ln, conns: make(map[net.Conn]struct{})}
	s.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			s.conns[c] = struct{}{}
			s.mu.Unlock()
			s.wg.Go(func() {
				handle(c)
				c.Close()
				s.mu.Lock()
				delete(s.conns, c)
				s.mu.Unlock()
			})
		}
	})
	t.Cleanup(s.stop)
	return s
}

// addr returns the address s listens on.
func (s *server) addr() string { return s.ln.Addr().String() }

// stop closes the listener and every open connection, and waits for the
// handlers. It is idempotent.
func (s *server) stop() {
	s.once.Do(func() {
		s.ln.Close()
		s.mu.Lock()
		for c := range s.conns {
			c.Close()
		}
		s.mu.Unlock()
		s.wg.Wait()
	})
}

// hangUp closes the connection at once.
func hangUp(net.Conn) {}

// silent never answers: it reads until the peer closes.
func silent(c net.Conn) {
	var buf [512]byte
	for {
		if _, err := c.Read(buf[:]); err != nil {
			return
		}
	}
}

// answer reads a request head and writes resp.
func answer(resp string) func(net.Conn) {
	return func(c net.Conn) {
		if _, err := readHead(bufio.NewReader(c)); err != nil {
			return
		}
		c.Write([]byte(resp))
		silent(c)
	}
}

// answerAndClose reads a request head, writes resp and closes.
func answerAndClose(resp string) func(net.Conn) {
	return func(c net.Conn) {
		if _, err := readHead(bufio.NewReader(c)); err == nil {
			c.Write([]byte(resp))
		}
	}
}

// readHead reads a request head and returns its header lines.
func readHead(br *bufio.Reader) ([]string, error) {
	var lines []string
	for {
		l, err := br.ReadString('\n')
		if err != nil {
			return nil, err
		}
		l = strings.TrimRight(l, "\r\n")
		if l == "" {
			return lines, nil
		}
		lines = append(lines, l)
	}
}

// header returns the value of the first header line named name.
func header(lines []string, name string) string {
	for _, l := range lines[1:] {
		k, v, _ := strings.Cut(l, ":")
		if strings.EqualFold(k, name) {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// wsServer answers a WebSocket opening handshake: accept is the
// Sec-WebSocket-Accept it sends, computed from the key when "". With
// status 101 it then reads one frame and sends true on closed when it is
// a masked Close 1000 (false otherwise).
func wsServer(status int, accept string, closed chan<- bool) func(net.Conn) {
	return func(c net.Conn) {
		br := bufio.NewReader(c)
		lines, err := readHead(br)
		if err != nil {
			return
		}
		if status != 101 {
			c.Write([]byte("HTTP/1.1 " + strconv.Itoa(status) + " No\r\nContent-Length: 0\r\n\r\n"))
			silent(c)
			return
		}
		if accept == "" {
			accept = string(codec.AppendAcceptKey(nil, []byte(header(lines, "Sec-WebSocket-Key"))))
		}
		c.Write([]byte("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " + accept + "\r\n\r\n"))
		h, err := ws.ReadHeader(br)
		ok := err == nil && h.OpCode == ws.OpClose && h.Masked && h.Length == 2
		if ok {
			var p [2]byte
			_, err = br.Read(p[:])
			ws.Cipher(p[:], h.Mask, 0)
			ok = err == nil && binary.BigEndian.Uint16(p[:]) == uint16(ws.StatusNormalClosure)
		}
		if closed != nil {
			closed <- ok
		}
		silent(c)
	}
}

// httpServer serves status on addr with net/http and records the last
// request's Host, User-Agent, path and Connection: close.
type httpServer struct {
	mu                sync.Mutex // guards host, agent, path, close
	host, agent, path string
	close             bool
	srv               *http.Server
	ln                net.Listener
}

func serveHTTP(t testing.TB, addr string, status int) *httpServer {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	h := &httpServer{ln: ln}
	h.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.mu.Lock()
		h.host, h.agent, h.path, h.close = r.Host, r.UserAgent(), r.URL.RequestURI(), r.Close
		h.mu.Unlock()
		w.WriteHeader(status)
	})}
	go h.srv.Serve(ln)
	t.Cleanup(func() { h.srv.Close() })
	return h
}

func healthCheck(typ string) config.HealthCheck {
	hc := config.DefaultHealthCheck()
	hc.Type = typ
	hc.Interval = config.DurationOf(100 * time.Millisecond)
	hc.Timeout = config.DurationOf(80 * time.Millisecond)
	return hc
}

// TestCheck runs each check type against real servers that pass and fail
// it.
func TestCheck(t *testing.T) {
	closedCh := make(chan bool, 1)
	tcpOK := serve(t, "127.0.51.2:0", hangUp)
	silentSrv := serve(t, "127.0.51.5:0", silent)
	httpOK := serveHTTP(t, "127.0.51.3:0", 200)
	http204 := serveHTTP(t, "127.0.51.3:0", 204)
	http500 := serveHTTP(t, "127.0.51.3:0", 500)
	garbage := serve(t, "127.0.51.3:0", answer("hello there\r\n\r\n"))
	http10 := serve(t, "127.0.51.3:0", answer("HTTP/1.0 200 OK\r\n\r\n"))
	short := serve(t, "127.0.51.3:0", answerAndClose("HTTP/1.1 20"))
	shortSilent := serve(t, "127.0.51.3:0", answer("HTTP/1.1 20"))
	wsOK := serve(t, "127.0.51.4:0", wsServer(101, "", closedCh))
	ws403 := serve(t, "127.0.51.4:0", wsServer(403, "", nil))
	ws200 := serve(t, "127.0.51.4:0", wsServer(200, "", nil))
	wsBadKey := serve(t, "127.0.51.4:0", wsServer(101, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=", nil))
	noUpgrade := serve(t, "127.0.51.4:0", answer("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n\r\n"))

	tests := []struct {
		name   string
		typ    string
		addr   string
		expect string // expect_status; "" keeps the default
		want   error  // nil: passes
	}{
		{name: "tcp up", typ: config.HealthTCP, addr: tcpOK.addr()},
		{name: "tcp silent passes", typ: config.HealthTCP, addr: silentSrv.addr()},
		{name: "tcp closed port", typ: config.HealthTCP, addr: closedAddr, want: syscall.ECONNREFUSED},
		{name: "http 200", typ: config.HealthHTTP, addr: httpOK.ln.Addr().String()},
		{name: "http 204 single", typ: config.HealthHTTP, addr: http204.ln.Addr().String(), expect: "204"},
		{name: "http 200 not 204", typ: config.HealthHTTP, addr: httpOK.ln.Addr().String(), expect: "204", want: ErrUnexpectedStatus},
		{name: "http 500", typ: config.HealthHTTP, addr: http500.ln.Addr().String(), want: ErrUnexpectedStatus},
		{name: "http 500 in range", typ: config.HealthHTTP, addr: http500.ln.Addr().String(), expect: "200-599"},
		{name: "http garbage", typ: config.HealthHTTP, addr: garbage.addr(), want: ErrMalformedAnswer},
		{name: "http/1.0", typ: config.HealthHTTP, addr: http10.addr()},
		{name: "http short", typ: config.HealthHTTP, addr: short.addr(), want: ErrMalformedAnswer},
		{name: "http short then silent", typ: config.HealthHTTP, addr: shortSilent.addr(), want: ErrCheckTimeout},
		{name: "http closed port", typ: config.HealthHTTP, addr: closedAddr, want: syscall.ECONNREFUSED},
		{name: "http hang up", typ: config.HealthHTTP, addr: tcpOK.addr(), want: errAny}, // EOF or a reset
		{name: "http silent", typ: config.HealthHTTP, addr: silentSrv.addr(), want: ErrCheckTimeout},
		{name: "websocket 101", typ: config.HealthWebSocket, addr: wsOK.addr()},
		{name: "websocket 403", typ: config.HealthWebSocket, addr: ws403.addr(), want: ErrUnexpectedStatus},
		{name: "websocket 200", typ: config.HealthWebSocket, addr: ws200.addr(), want: ErrUnexpectedStatus},
		{name: "websocket wrong accept", typ: config.HealthWebSocket, addr: wsBadKey.addr(), want: ErrBadUpgrade},
		{name: "websocket no upgrade", typ: config.HealthWebSocket, addr: noUpgrade.addr(), want: ErrBadUpgrade},
		{name: "websocket garbage", typ: config.HealthWebSocket, addr: garbage.addr(), want: ErrBadUpgrade},
		{name: "websocket hang up", typ: config.HealthWebSocket, addr: tcpOK.addr(), want: errAny},
		{name: "websocket closed port", typ: config.HealthWebSocket, addr: closedAddr, want: syscall.ECONNREFUSED},
		{name: "websocket silent", typ: config.HealthWebSocket, addr: silentSrv.addr(), want: ErrCheckTimeout},
		{name: "unknown type", typ: "udp", addr: tcpOK.addr(), want: ErrUnknownCheck},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hc := healthCheck(tt.typ)
			hc.Path = "/healthz?probe=1"
			if tt.expect != "" {
				hc.ExpectStatus = tt.expect
			}
			start := time.Now()
			err := Check(context.Background(), &hc, tt.addr)
			elapsed := time.Since(start)
			switch {
			case tt.want == nil && err != nil:
				t.Fatalf("Check = %v; want nil", err)
			case tt.want == errAny && err == nil:
				t.Fatal("Check = nil; want an error")
			case tt.want != nil && tt.want != errAny && !errors.Is(err, tt.want):
				t.Fatalf("Check = %v; want %v", err, tt.want)
			}
			// The timeout bounds every check (slack for -race).
			if limit := hc.Timeout.D() + 500*time.Millisecond; elapsed > limit {
				t.Fatalf("Check took %v; want at most %v", elapsed, limit)
			}
			if errors.Is(err, ErrCheckTimeout) && elapsed < hc.Timeout.D() {
				t.Fatalf("Check timed out after %v; want at least %v", elapsed, hc.Timeout.D())
			}
		})
	}
	select {
	case ok := <-closedCh:
		if !ok {
			t.Fatal("websocket check sent no masked Close 1000 after the 101")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("websocket check: the server saw no frame after the 101")
	}
}

// TestCheckHTTPRequest checks the request an http check sends.
func TestCheckHTTPRequest(t *testing.T) {
	tests := []struct {
		name     string
		host     string
		wantHost string // "" means the backend's address
	}{
		{name: "host from addr"},
		{name: "host set", host: "health.example", wantHost: "health.example"},
	}
	srv := serveHTTP(t, "127.0.51.3:0", 204)
	addr := srv.ln.Addr().String()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hc := healthCheck(config.HealthHTTP)
			hc.Path, hc.Host = "/ready?x=1", tt.host
			if err := Check(context.Background(), &hc, addr); err != nil {
				t.Fatal(err)
			}
			srv.mu.Lock()
			defer srv.mu.Unlock()
			want := tt.wantHost
			if want == "" {
				want = addr
			}
			if srv.host != want || srv.agent != "throng-health" || srv.path != "/ready?x=1" || !srv.close {
				t.Fatalf("request: host %q, agent %q, target %q, close %v; want %q, throng-health, /ready?x=1, true",
					srv.host, srv.agent, srv.path, srv.close, want)
			}
		})
	}
}

// TestCheckCancel: cancelling the context aborts a check in flight at
// once, whatever its timeout.
func TestCheckCancel(t *testing.T) {
	srv := serve(t, "127.0.51.5:0", silent)
	for _, typ := range []string{config.HealthHTTP, config.HealthWebSocket} {
		t.Run(typ, func(t *testing.T) {
			hc := healthCheck(typ)
			hc.Timeout = config.DurationOf(time.Minute)
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- Check(ctx, &hc, srv.addr()) }()
			// Wait until the check is in flight: the server holds its conn.
			enginetest.WaitFor(t, "the check's connection", func() bool {
				srv.mu.Lock()
				defer srv.mu.Unlock()
				return len(srv.conns) > 0
			})
			cancel()
			select {
			case err := <-done:
				if err == nil {
					t.Fatal("cancelled Check = nil; want an error")
				}
			case <-time.After(5 * time.Second):
				t.Fatal("Check did not return after cancel")
			}
		})
	}
}

func TestParseStatus(t *testing.T) {
	tests := []struct {
		in     string
		want   int
		wantOK bool
	}{
		{"HTTP/1.1 200 OK", 200, true},
		{"HTTP/1.0 503 ", 503, true},
		{"HTTP/1.1 204\r\n", 204, true},
		{"HTTP/1.1 204\n", 204, true},
		{"HTTP/1.1 2045", 0, false},
		{"HTTP/1.1 099 x", 0, false},
		{"HTTP/2.0 200 OK", 0, false},
		{"HTTP/1.1  200 OK", 0, false},
		{"HTTP/1.1 2x0 OK", 0, false},
		{"HTTP/1.1 200", 0, false},
		{"", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			in := tt.in
			if len(in) > 13 {
				in = in[:13]
			}
			got, ok := parseStatus([]byte(in))
			if got != tt.want || ok != tt.wantOK {
				t.Fatalf("parseStatus(%q) = %d, %v; want %d, %v", in, got, ok, tt.want, tt.wantOK)
			}
		})
	}
}

// FuzzParseStatus: every status line codec.ParseResponse accepts,
// parseStatus accepts from its first 13 bytes, with the same status.
func FuzzParseStatus(f *testing.F) {
	for _, s := range []string{"HTTP/1.1 200 OK", "HTTP/1.1 101", "HTTP/1.0 503 Service Unavailable", "HTTP/1.1 999 ", "HTTP/1.1 20"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		if strings.ContainsAny(line, "\r\n") {
			return
		}
		head := []byte(line + "\r\n\r\n")
		var resp codec.Response
		codecErr := codec.ParseResponse(head, &resp)
		got, ok := parseStatus(head[:min(13, len(head))])
		if codecErr == nil && (!ok || got != resp.Status) {
			t.Fatalf("parseStatus(%q) = %d, %v; codec says %d", line, got, ok, resp.Status)
		}
		if ok && (got < 100 || got > 999) {
			t.Fatalf("parseStatus(%q) = %d; want 100..999", line, got)
		}
	})
}

// TestCheckProxyHeader: checks of a backend behind send_proxy_protocol
// start with a header without addresses (v1 UNKNOWN, v2 LOCAL), which a
// backend that requires PROXY accepts as the balancer's own connection;
// without send_proxy_protocol nothing precedes the check.
func TestCheckProxyHeader(t *testing.T) {
	for _, v := range []codec.ProxyVersion{codec.ProxyOff, codec.ProxyV1, codec.ProxyV2} {
		t.Run(v.String(), func(t *testing.T) {
			got := make(chan []byte, 1)
			srv := serve(t, "127.0.51.30:0", func(c net.Conn) {
				_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
				buf := make([]byte, 0, 64)
				one := make([]byte, 1)
				for len(buf) < cap(buf) {
					if _, err := c.Read(one); err != nil {
						break
					}
					buf = append(buf, one...)
					if v == codec.ProxyOff && len(buf) == 3 {
						break // "GET"
					}
					if v != codec.ProxyOff {
						if _, n, err := codec.ParseProxyHeader(buf, v); err == nil && n == len(buf) {
							break
						}
					}
				}
				got <- buf
				wsServer(101, "", nil)(c)
			})
			u := &Upstream{SendProxy: v}
			b := &Backend{Addr: srv.addr(), Upstream: u}
			hc := healthCheck(config.HealthTCP)
			_ = check(context.Background(), &hc, b.Addr, nil, b.checkProxyHeader())
			first := <-got
			if v == codec.ProxyOff {
				if len(first) != 0 && string(first) != "GET" {
					t.Fatalf("a check without send_proxy_protocol began with %q", first)
				}
				return
			}
			h, n, err := codec.ParseProxyHeader(first, v)
			if err != nil || n != len(first) || !h.Local {
				t.Fatalf("check began with %q: %+v %d %v, want a header without addresses", first, h, n, err)
			}
		})
	}
}
