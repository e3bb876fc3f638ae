package main

// The access log and trace context through the real binary: the fields of
// a session's line, a client's traceparent kept (new span id) or one made,
// access_sample, refusal lines rate-limited, and [log] format = "text",
// switched by a reload.

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"

	"github.com/throngproxy/throng/codec"
	"github.com/throngproxy/throng/engine/enginetest"
)

// traceBackend upgrades with subprotocol "chat", reports the traceparent
// and X-Request-Id it got, and answers a Close with the same code.
func traceBackend(t *testing.T, addr string) <-chan http.Header {
	t.Helper()
	heads := make(chan http.Header, 4)
	fakeBackend(t, addr, func(c net.Conn) {
		got := http.Header{}
		u := ws.Upgrader{
			Protocol: func(p []byte) bool { return string(p) == "chat" },
			OnHeader: func(k, v []byte) error {
				got.Add(string(k), string(v))
				return nil
			},
		}
		if _, err := u.Upgrade(c); err != nil {
			return
		}
		heads <- got
		for {
			_, op, err := wsutil.ReadClientData(c)
			if err != nil || op == ws.OpClose {
				return
			}
		}
	})
	return heads
}

// TestAccessLineAndTraceContext: one session's access line carries every
// field the operations issue lists, and the backend gets the client's
// trace with a span id of the proxy's hop.
func TestAccessLineAndTraceContext(t *testing.T) {
	host := newHost()
	backend, addr := net.JoinHostPort(host, "19001"), net.JoinHostPort(host, "18080")
	heads := traceBackend(t, backend)
	th := startThrong(t, addr, basicConfig(addr, []string{backend}, ""))

	const clientTrace = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	d := ws.Dialer{
		Protocols: []string{"chat"},
		Header:    ws.HandshakeHeaderHTTP(http.Header{"Traceparent": {clientTrace}, "X-Request-Id": {"req-42"}}),
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, _, hs, err := d.Dial(ctx, "ws://"+addr+"/room/7?token=secret")
	if err != nil {
		t.Fatal(err)
	}
	if hs.Protocol != "chat" {
		t.Fatalf("subprotocol %q", hs.Protocol)
	}
	got := <-heads
	tp, ok := codec.ParseTraceParent([]byte(got.Get("Traceparent")))
	want, _ := codec.ParseTraceParent([]byte(clientTrace))
	if !ok || tp.TraceID != want.TraceID || tp.SpanID == want.SpanID || tp.Flags != want.Flags || len(got.Values("Traceparent")) != 1 {
		t.Errorf("backend got traceparent %q, want the client's trace with a new span id", got.Values("Traceparent"))
	}
	if got.Get("X-Request-Id") != "req-42" {
		t.Errorf("backend got X-Request-Id %q", got.Get("X-Request-Id"))
	}
	for range 3 {
		if err := wsutil.WriteClientMessage(c, ws.OpText, []byte("hello")); err != nil {
			t.Fatal(err)
		}
	}
	if err := ws.WriteFrame(c, ws.MaskFrame(ws.NewCloseFrame(ws.NewCloseFrameBody(ws.StatusNormalClosure, "")))); err != nil {
		t.Fatal(err)
	}
	client := c.LocalAddr().String()
	r := accessLine(t, th.proc, client)
	c.Close()
	wantFields := map[string]string{
		"host":                  addr,
		"path":                  "/room/7",
		"route":                 "*/",
		"upstream":              "main",
		"backend":               backend,
		"subprotocol":           "chat",
		"status":                "101",
		"messages_in":           "3",
		"messages_out":          "0",
		"close_code_to_backend": "1000",
		"closed_first":          "client",
		"close_reason":          "client_close",
		"request_id":            "req-42",
		"trace_id":              "4bf92f3577b34da6a3ce929d0e0e4736",
	}
	for k, v := range wantFields {
		if r.str(k) != v {
			t.Errorf("access line %s = %q, want %q", k, r.str(k), v)
		}
	}
	for _, k := range []string{"handshake", "duration", "bytes_in", "bytes_out", "close_code_to_client", "extensions", "peer"} {
		if _, ok := r[k]; !ok {
			t.Errorf("access line lacks %s: %v", k, r)
		}
	}
	if strings.Contains(fmt.Sprint(r), "secret") {
		t.Errorf("the query string reached the log: %v", r)
	}
}

// TestTraceContextStarted: a client without traceparent gets a trace of
// the proxy's making, forwarded and logged.
func TestTraceContextStarted(t *testing.T) {
	host := newHost()
	backend, addr := net.JoinHostPort(host, "19001"), net.JoinHostPort(host, "18080")
	heads := traceBackend(t, backend)
	th := startThrong(t, addr, basicConfig(addr, []string{backend}, ""))
	c := dialWS(t, addr, "/")
	got := <-heads
	tp, ok := codec.ParseTraceParent([]byte(got.Get("Traceparent")))
	if !ok {
		t.Fatalf("backend got traceparent %q, want a valid one", got.Get("Traceparent"))
	}
	client := c.LocalAddr().String()
	c.Close()
	r := accessLine(t, th.proc, client)
	if r.str("trace_id") != fmt.Sprintf("%x", tp.TraceID) {
		t.Errorf("logged trace %s, forwarded %x", r.str("trace_id"), tp.TraceID)
	}
}

// TestAccessSampleAndRefusalRate: with access_sample = 0 no session line
// is written, every refusal is, and a flood of refusals is rate-limited,
// saying how many lines it left out.
func TestAccessSampleAndRefusalRate(t *testing.T) {
	th := setup(t, "[log]\naccess_sample = 0.0\n")
	addr := th.addr
	for range 5 {
		c := dialWS(t, addr, "/")
		echo(t, c, ws.OpText, []byte("unlogged"))
		c.Close()
	}
	bad := strings.Replace(upgradeRequest("x", "/"), "GET", "POST", 1)
	const flood, workers = 2000, 8
	floodStart := time.Now()
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for range flood / workers {
				rawRequest(t, addr, bad)
			}
		})
	}
	wg.Wait()
	// A line says how many it left out only when a later refusal is
	// logged: a flood that ends within the limiter's window leaves that
	// to the next one. Refuse one more until a line says it.
	enginetest.WaitFor(t, "a refusal line counting the ones left out", func() bool {
		rawRequest(t, addr, bad)
		for _, r := range logRecords(th.proc) {
			if r.str("status") == "405" && r.str("suppressed_before") != "" && r.str("suppressed_before") != "0" {
				return true
			}
		}
		return false
	})
	stats(t, th) // every session has finished once the stats line counts them
	enginetest.WaitFor(t, "all sessions finished", func() bool {
		return statOf(t, stats(t, th), "sessions") == 0
	})
	var sessions, refusals, suppressed int
	for _, r := range logRecords(th.proc) {
		if r.str("msg") != "session closed" {
			continue
		}
		switch r.str("status") {
		case "101":
			sessions++
		case "405":
			refusals++
			var n int
			fmt.Sscan(r.str("suppressed_before"), &n)
			suppressed += n
		}
	}
	t.Logf("%d refusals in %v: %d lines, %d said to be suppressed before a later line", flood, time.Since(floodStart).Round(time.Millisecond), refusals, suppressed)
	if sessions != 0 {
		t.Errorf("%d session lines with access_sample = 0", sessions)
	}
	if refusals < 100 {
		t.Errorf("%d refusal lines, want at least the burst of 100", refusals)
	}
	if refusals >= flood {
		t.Errorf("%d of %d refusals logged: no rate limit", refusals, flood)
	}
	if suppressed == 0 {
		t.Error("no refusal line said how many were left out before it")
	}
}

// TestLogFormatText: [log] format = "text" writes key=value lines, and a
// reload switches to JSON.
func TestLogFormatText(t *testing.T) {
	th := setup(t, "[log]\nformat = \"text\"\n")
	addr := th.addr
	raw, err := os.ReadFile(th.cfg)
	if err != nil {
		t.Fatal(err)
	}
	cfg := string(raw)
	waitOutput(t, th.proc, `msg="throng starting"`)
	if strings.Contains(th.Output(), `"msg":"throng starting"`) {
		t.Error("JSON lines with format = text")
	}
	if err := os.WriteFile(th.cfg, []byte(strings.Replace(cfg, `format = "text"`, `format = "json"`, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	_ = th.cmd.Process.Signal(syscall.SIGHUP)
	waitOutput(t, th.proc, `"msg":"configuration reloaded"`)
	c := dialWS(t, addr, "/")
	client := c.LocalAddr().String()
	c.Close()
	accessLine(t, th.proc, client) // parsed as JSON
	sc := bufio.NewScanner(strings.NewReader(th.Output()))
	text := 0
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "time=") {
			text++
		}
	}
	if text == 0 {
		t.Error("no text line before the reload")
	}
}
