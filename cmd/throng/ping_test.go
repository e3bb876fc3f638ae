package main

// Proxy pings (keepalive.ping_interval, docs/policy.md), through the real
// binary: a silent client is pinged, one that answers stays and its Pongs
// never reach the backend, one that does not is closed, and the backend's
// own Pings and their Pongs still go through.

import (
	"fmt"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/gobwas/ws"
)

func pingConfig(addr, admin, backend string) string {
	return basicConfig(addr, []string{backend}, fmt.Sprintf(`[admin]
listen = %q

[keepalive]
ping_interval = "1s"
pong_timeout = "1s"
`, admin))
}

// nextControl reads frames until a control frame (a Ping, or a Close) and
// returns it; data frames before it are returned too.
func nextControl(t *testing.T, c net.Conn, d time.Duration) (ws.Frame, []string) {
	t.Helper()
	var data []string
	for {
		f := readFrame(t, c, d)
		if f.Header.OpCode.IsControl() {
			return f, data
		}
		data = append(data, string(f.Payload))
	}
}

func TestProxyPings(t *testing.T) {
	host := newHost()
	backend := net.JoinHostPort(host, "19001")
	reports := recordingBackend(t, backend, map[string]backendScript{
		"/backend-pings": {after: wireFrame(true, 0, ws.OpPing, false, []byte("from-backend"))},
	})
	addr, admin := net.JoinHostPort(host, "18080"), net.JoinHostPort(host, "18090")
	startThrong(t, addr, pingConfig(addr, admin, backend))

	t.Run("answered", func(t *testing.T) {
		c := dialWS(t, addr, "/backend-pings")
		// The backend's Ping comes first and is answered: its Pong must
		// reach the backend.
		f, _ := nextControl(t, c, 5*time.Second)
		if f.Header.OpCode != ws.OpPing || string(f.Payload) != "from-backend" {
			t.Fatalf("first control frame %v %q, want the backend's Ping", f.Header.OpCode, f.Payload)
		}
		pong := ws.MaskFrame(ws.NewPongFrame(f.Payload))
		if err := ws.WriteFrame(c, pong); err != nil {
			t.Fatal(err)
		}
		// Then the proxy's, twice, each after a second of silence.
		for i := range 2 {
			f, _ := nextControl(t, c, 5*time.Second)
			if f.Header.OpCode != ws.OpPing || len(f.Payload) != 16 {
				t.Fatalf("ping %d: %v %q, want the proxy's Ping", i, f.Header.OpCode, f.Payload)
			}
			if err := ws.WriteFrame(c, ws.MaskFrame(ws.NewPongFrame(f.Payload))); err != nil {
				t.Fatal(err)
			}
		}
		// Past ping + pong timeout twice over, the session still relays.
		echo(t, c, ws.OpText, []byte("still here"))
		closeClient(t, c)
		r := nextReport(t, reports, 5*time.Second)
		var pongs []string
		for _, f := range r.frames {
			if f.op == ws.OpPong {
				pongs = append(pongs, string(f.payload))
			}
		}
		if len(pongs) != 1 || pongs[0] != "from-backend" {
			t.Fatalf("backend got Pongs %q, want only the one to its own Ping", pongs)
		}
	})

	t.Run("silent client closed", func(t *testing.T) {
		c := dialWS(t, addr, "/")
		start := time.Now()
		f, _ := nextControl(t, c, 5*time.Second)
		if f.Header.OpCode != ws.OpPing {
			t.Fatalf("got %v, want the proxy's Ping", f.Header.OpCode)
		}
		// Not answered: Close 1001 once pong_timeout has passed.
		f, _ = nextControl(t, c, 5*time.Second)
		if code, _ := ws.ParseCloseFrameData(f.Payload); f.Header.OpCode != ws.OpClose || code != ws.StatusGoingAway {
			t.Fatalf("got %v %d, want Close 1001", f.Header.OpCode, code)
		}
		if took := time.Since(start); took < 1500*time.Millisecond {
			t.Fatalf("closed after %v, before ping_interval + pong_timeout", took)
		}
		closeBack(t, c)
		r := nextReport(t, reports, 5*time.Second)
		if _, code := dataFrames(r); code != ws.StatusGoingAway {
			t.Fatalf("backend got Close %d, want 1001", code)
		}
	})

	mfs := scrape(t, admin)
	if got := metricValue(mfs, "throng_pings_sent_total"); got < 3 {
		t.Errorf("throng_pings_sent_total = %v, want at least 3", got)
	}
	if got := metricValue(mfs, "throng_sessions_closed_total", "reason", "ping_timeout"); got != 1 {
		t.Errorf("throng_sessions_closed_total{reason=\"ping_timeout\"} = %v, want 1", got)
	}
}

// TestProxyPingsNode: Node's ws, an independent client, answers the
// proxy's Pings by itself and keeps its session.
func TestProxyPingsNode(t *testing.T) {
	node := requireNode(t)
	host := newHost()
	backend := net.JoinHostPort(host, "19001")
	startBackend(t, backend)
	addr, admin := net.JoinHostPort(host, "18080"), net.JoinHostPort(host, "18090")
	startThrong(t, addr, pingConfig(addr, admin, backend))
	script, _ := filepath.Abs(filepath.Join(nodeDir, "pings.js"))
	runNode(t, node, 30*time.Second, script, addr)
}
