package main

// forward_auth at the upgrade (docs/policy.md), through the real binary,
// against a real HTTP auth service on loopback: admit with headers copied
// (spoofed copies removed), refusals relayed as they came, a slow or
// absent service answered with 503, answers cached, early frames held
// while the service thinks.

import (
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gobwas/ws"
)

// authService serves /check on addr: the Cookie decides the answer. It
// counts the questions.
func authService(t *testing.T, addr string) *atomic.Int32 {
	t.Helper()
	var calls atomic.Int32
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		if r.URL.Path != "/check" || r.Header.Get("X-Forwarded-Uri") == "" || r.Header.Get("Upgrade") != "" {
			w.WriteHeader(500)
			return
		}
		switch r.Header.Get("Cookie") {
		case "sid=good":
			w.Header().Set("X-User", "alice")
			w.Header().Set("X-Secret", "not for the backend")
			w.WriteHeader(200)
		case "sid=redirect":
			http.Redirect(w, r, "https://login.example/?next="+r.Header.Get("X-Forwarded-Uri"), http.StatusFound)
		case "sid=slow":
			<-r.Context().Done() // answers only after throng gave up
		default:
			w.Header().Set("WWW-Authenticate", `Cookie realm="app"`)
			w.WriteHeader(401)
			_, _ = w.Write([]byte("go away"))
		}
	})}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { srv.Close() })
	return &calls
}

func fwdAuthConfig(addr, admin, backend, auth, dead string) string {
	return basicConfig(addr, []string{backend}, fmt.Sprintf(`[admin]
listen = %q

[[route]]
path_prefix = "/fa"
upstream = "main"
forward_auth = "http://%s/check"
forward_auth_headers = ["X-User"]
forward_auth_timeout = "500ms"

[[route]]
path_prefix = "/cached"
upstream = "main"
forward_auth = "http://%s/check"
forward_auth_cache = "1m"

[[route]]
path_prefix = "/dead"
upstream = "main"
forward_auth = "http://%s/check"
`, admin, auth, auth, dead))
}

func TestForwardAuth(t *testing.T) {
	host := newHost()
	backend, auth := net.JoinHostPort(host, "19001"), net.JoinHostPort(host, "19002")
	headEchoBackend(t, backend)
	calls := authService(t, auth)
	addr, admin := net.JoinHostPort(host, "18080"), net.JoinHostPort(host, "18090")
	startThrong(t, addr, fwdAuthConfig(addr, admin, backend, auth, net.JoinHostPort(host, "19003")))
	bystander := dialWS(t, addr, "/")
	readFrame(t, bystander, 5*time.Second) // its head

	t.Run("admit", func(t *testing.T) {
		c, br, st, head := handshakeFrom(t, host, addr, "/fa/room", "Cookie: sid=good", "X-User: mallory")
		if st != 101 {
			t.Fatalf("status %d:\n%s", st, head)
		}
		f, err := ws.ReadFrame(br)
		if err != nil {
			t.Fatal(err)
		}
		up := string(f.Payload)
		if n := strings.Count(up, "X-User"); n != 1 || headValue(up, "X-User") != "alice" || strings.Contains(up, "X-Secret") {
			t.Fatalf("backend saw X-User %d times (%q), or X-Secret:\n%s", n, headValue(up, "X-User"), up)
		}
		echo(t, &bufConn{Conn: c, r: br}, ws.OpText, []byte("hi"))
	})
	t.Run("early frames wait for the answer", func(t *testing.T) {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(host)}}
		c, err := d.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		early := ws.MaskFrame(ws.NewTextFrame([]byte("early")))
		req := []byte(upgradeRequest("example.test", "/fa", "Cookie: sid=good"))
		var b strings.Builder
		_ = ws.WriteFrame(&b, early)
		if _, err := c.Write(append(req, b.String()...)); err != nil {
			t.Fatal(err)
		}
		br := newReader(c)
		if st := readStatus(t, br); st != 101 {
			t.Fatalf("status %d", st)
		}
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if f, err := ws.ReadFrame(br); err != nil || !strings.HasPrefix(string(f.Payload), "GET /fa") {
			t.Fatalf("head message: %v", err)
		}
		if f, err := ws.ReadFrame(br); err != nil || string(f.Payload) != "early" {
			t.Fatalf("early frame echoed as %q, %v", f.Payload, err)
		}
	})
	t.Run("refusal relayed", func(t *testing.T) {
		c, br, st, head := handshakeFrom(t, host, addr, "/fa", "Cookie: sid=bad")
		if st != 401 || headerValue(head, "WWW-Authenticate") != `Cookie realm="app"` {
			t.Fatalf("status %d:\n%s", st, head)
		}
		body := make([]byte, 7)
		if _, err := br.Read(body); err != nil || string(body) != "go away" {
			t.Fatalf("body %q, %v", body, err)
		}
		expectEOF(t, c, 5*time.Second)
	})
	t.Run("redirect relayed", func(t *testing.T) {
		_, _, st, head := handshakeFrom(t, host, addr, "/fa/x", "Cookie: sid=redirect")
		if st != 302 || headerValue(head, "Location") != "https://login.example/?next=/fa/x" {
			t.Fatalf("status %d:\n%s", st, head)
		}
	})
	t.Run("slow service", func(t *testing.T) {
		start := time.Now()
		_, _, st, head := handshakeFrom(t, host, addr, "/fa", "Cookie: sid=slow")
		if st != 503 || headerValue(head, "Retry-After") == "" {
			t.Fatalf("status %d:\n%s", st, head)
		}
		if took := time.Since(start); took < 400*time.Millisecond || took > 2500*time.Millisecond {
			t.Fatalf("503 after %v, want about forward_auth_timeout (500ms)", took)
		}
	})
	t.Run("service down", func(t *testing.T) {
		if _, _, st, head := handshakeFrom(t, host, addr, "/dead", "Cookie: sid=good"); st != 503 {
			t.Fatalf("status %d:\n%s", st, head)
		}
	})
	t.Run("cached", func(t *testing.T) {
		before := calls.Load()
		for range 3 {
			c, _, st, _ := handshakeFrom(t, host, addr, "/cached", "Cookie: sid=good")
			if st != 101 {
				t.Fatalf("status %d", st)
			}
			c.Close()
		}
		for range 2 {
			if _, _, st, _ := handshakeFrom(t, host, addr, "/cached", "Cookie: sid=bad"); st != 401 {
				t.Fatalf("status %d", st)
			}
		}
		if n := calls.Load() - before; n != 2 {
			t.Fatalf("the service was asked %d times for 2 distinct questions", n)
		}
	})

	echo(t, bystander, ws.OpText, []byte("still here"))
	mfs := scrape(t, admin)
	for reason, want := range map[string]float64{"forward_auth": 4, "forward_auth_error": 2} {
		if got := metricValue(mfs, "throng_policy_refused_total", "reason", reason); got != want {
			t.Errorf("throng_policy_refused_total{reason=%q} = %v, want %v", reason, got, want)
		}
	}
}

// TestForwardAuthPython: Python's websockets, an independent client, is
// admitted with the right cookie and gets the service's 401 without it.
func TestForwardAuthPython(t *testing.T) {
	python := requirePythonWebsockets(t)
	host := newHost()
	backend, auth := net.JoinHostPort(host, "19001"), net.JoinHostPort(host, "19002")
	startBackend(t, backend)
	authService(t, auth)
	addr, admin := net.JoinHostPort(host, "18080"), net.JoinHostPort(host, "18090")
	startThrong(t, addr, fwdAuthConfig(addr, admin, backend, auth, net.JoinHostPort(host, "19003")))
	script, _ := filepath.Abs(filepath.Join("testdata", "python", "cookie_client.py"))
	runPython(t, python, 30*time.Second, script, "ws://"+addr+"/fa", "sid=good", "101")
	runPython(t, python, 30*time.Second, script, "ws://"+addr+"/fa", "sid=bad", "401")
}
