package main

// Per-message limits (docs/policy.md), through the real binary: message
// and byte rates with both actions, and max_message_bytes across
// fragments, each with what the backend saw.

import (
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"

	"github.com/throngproxy/throng/engine/enginetest"
)

func msgLimitsConfig(addr, admin, backend string) string {
	return basicConfig(addr, []string{backend}, fmt.Sprintf(`[admin]
listen = %q

[[route]]
path_prefix = "/close"
upstream = "main"
[route.limits]
messages_per_session = "5/s"

[[route]]
path_prefix = "/drop"
upstream = "main"
[route.limits]
messages_per_session = "5/s"
rate_limit_action = "drop"

[[route]]
path_prefix = "/bytes"
upstream = "main"
[route.limits]
bytes_per_session = "1KiB/s"
rate_limit_action = "drop"

[[route]]
path_prefix = "/size"
upstream = "main"
[route.limits]
max_message_bytes = "1KiB"
`, admin))
}

// sendFrames writes client frames (masked) in one write: a burst the
// proxy reads at once.
func sendFrames(t *testing.T, c net.Conn, frames ...[]byte) {
	t.Helper()
	var b []byte
	for _, f := range frames {
		b = append(b, f...)
	}
	if _, err := c.Write(b); err != nil {
		t.Fatal(err)
	}
}

func text(fin bool, op ws.OpCode, s string) []byte { return wireFrame(fin, 0, op, true, []byte(s)) }

// untilPong reads frames until the Pong answering a Ping with payload
// mark and returns the data payloads read before it.
func untilPong(t *testing.T, c net.Conn, mark string) []string {
	t.Helper()
	var got []string
	for {
		f := readFrame(t, c, 5*time.Second)
		switch f.Header.OpCode {
		case ws.OpPong:
			if string(f.Payload) == mark {
				return got
			}
		case ws.OpText, ws.OpBinary, ws.OpContinuation:
			got = append(got, string(f.Payload))
		case ws.OpClose:
			code, _ := ws.ParseCloseFrameData(f.Payload)
			t.Fatalf("Close %d before the Pong %q (after %q)", code, mark, got)
		}
	}
}

// dataFrames are the payloads of a backend report's data frames.
func dataFrames(r upReport) (out []string, closeCode ws.StatusCode) {
	for _, f := range r.frames {
		switch f.op {
		case ws.OpText, ws.OpBinary, ws.OpContinuation:
			out = append(out, string(f.payload))
		case ws.OpClose:
			closeCode, _ = ws.ParseCloseFrameData(f.payload)
		}
	}
	return out, closeCode
}

func TestMessageLimits(t *testing.T) {
	host := newHost()
	backend := net.JoinHostPort(host, "19001")
	reports := recordingBackend(t, backend, nil)
	addr, admin := net.JoinHostPort(host, "18080"), net.JoinHostPort(host, "18090")
	startThrong(t, addr, msgLimitsConfig(addr, admin, backend))
	bystander := dialWS(t, addr, "/")
	echo(t, bystander, ws.OpText, []byte("before"))
	msgs := func(prefix string, n int) (out [][]byte, want []string) {
		for i := range n {
			s := fmt.Sprintf("%s%d", prefix, i)
			out, want = append(out, text(true, ws.OpText, s)), append(want, s)
		}
		return out, want
	}

	t.Run("close", func(t *testing.T) {
		c := dialWS(t, addr, "/close")
		burst, want := msgs("m", 8)
		sendFrames(t, c, burst...)
		var got []string
		for {
			f := readFrame(t, c, 5*time.Second)
			if f.Header.OpCode == ws.OpClose {
				if code, _ := ws.ParseCloseFrameData(f.Payload); code != ws.StatusPolicyViolation {
					t.Fatalf("Close %d, want 1008", code)
				}
				break
			}
			got = append(got, string(f.Payload))
		}
		// The Close goes out as the sixth message is read: echoes of the
		// first five that come back after it are not sent.
		if !strings.HasPrefix(strings.Join(want[:5], ","), strings.Join(got, ",")) {
			t.Fatalf("echoed %q, want a prefix of the burst's first 5", got)
		}
		closeBack(t, c)
		r := nextReport(t, reports, 5*time.Second)
		if data, code := dataFrames(r); len(data) != 5 || code != ws.StatusGoingAway {
			t.Fatalf("backend saw %q and Close %d, want 5 messages and 1001", data, code)
		}
	})

	t.Run("drop", func(t *testing.T) {
		c := dialWS(t, addr, "/drop")
		burst, want := msgs("d", 8)
		// A fragmented message over the rate, a Ping between its
		// fragments: the message goes, the Ping goes through.
		burst = append(burst, text(false, ws.OpText, "frag-"), wireFrame(true, 0, ws.OpPing, true, []byte("p1")), text(true, ws.OpContinuation, "ment"))
		sendFrames(t, c, burst...)
		if got := untilPong(t, c, "p1"); strings.Join(got, ",") != strings.Join(want[:5], ",") {
			t.Fatalf("echoed %q before the Pong, want the burst's first 5", got)
		}
		// The session goes on: once a token is back, a message passes.
		enginetest.WaitFor(t, "a message after the burst", func() bool {
			sendFrames(t, c, text(true, ws.OpText, "later"), wireFrame(true, 0, ws.OpPing, true, []byte("p2")))
			got := untilPong(t, c, "p2")
			return len(got) == 1 && got[0] == "later"
		})
		closeClient(t, c)
		r := nextReport(t, reports, 5*time.Second)
		data, _ := dataFrames(r)
		if strings.Join(data[:5], ",") != strings.Join(want[:5], ",") || strings.Contains(strings.Join(data, ","), "frag-") || data[len(data)-1] != "later" {
			t.Fatalf("backend saw %q", data)
		}
	})

	t.Run("bytes", func(t *testing.T) {
		c := dialWS(t, addr, "/bytes")
		big := strings.Repeat("b", 600)
		sendFrames(t, c, text(true, ws.OpBinary, big), text(true, ws.OpBinary, big), text(true, ws.OpText, "small"), wireFrame(true, 0, ws.OpPing, true, []byte("p")))
		// 1 KiB of burst: the first 600 pass, the second 600 do not, the
		// 5 bytes after them fit what is left.
		got := untilPong(t, c, "p")
		if len(got) != 2 || got[0] != big || got[1] != "small" {
			t.Fatalf("echoed %d messages (%.10q), want the first 600 bytes and \"small\"", len(got), got)
		}
		closeClient(t, c)
		nextReport(t, reports, 5*time.Second)
	})

	t.Run("size across fragments", func(t *testing.T) {
		c := dialWS(t, addr, "/size")
		part := strings.Repeat("s", 600)
		sendFrames(t, c, text(true, ws.OpText, part), text(false, ws.OpText, part))
		if f := readFrame(t, c, 5*time.Second); string(f.Payload) != part {
			t.Fatalf("first message not echoed: %v", f.Header)
		}
		// The fragment that takes the message past 1 KiB is refused.
		sendFrames(t, c, text(true, ws.OpContinuation, part))
		if code := expectClose(t, c, 5*time.Second); code != ws.StatusMessageTooBig {
			t.Fatalf("Close %d, want 1009", code)
		}
		closeBack(t, c)
		r := nextReport(t, reports, 5*time.Second)
		if data, code := dataFrames(r); len(data) != 2 || code != ws.StatusGoingAway {
			t.Fatalf("backend saw %d frames and Close %d, want the message and one fragment, then 1001", len(data), code)
		}
		// One frame over it: refused before any byte of it goes.
		c = dialWS(t, addr, "/size")
		sendFrames(t, c, text(true, ws.OpBinary, strings.Repeat("x", 1025)))
		if code := expectClose(t, c, 5*time.Second); code != ws.StatusMessageTooBig {
			t.Fatalf("Close %d, want 1009", code)
		}
		closeBack(t, c)
		if data, _ := dataFrames(nextReport(t, reports, 5*time.Second)); len(data) != 0 {
			t.Fatalf("backend saw %d frames of the refused message", len(data))
		}
	})

	echo(t, bystander, ws.OpText, []byte("after"))
	mfs := scrape(t, admin)
	if got := metricValue(mfs, "throng_messages_dropped_total"); got < 5 {
		t.Errorf("throng_messages_dropped_total = %v, want at least the 3 dropped and the fragmented one and a 600-byte one", got)
	}
	for reason, want := range map[string]float64{"rate_limit": 1, "too_big": 2} {
		if got := metricValue(mfs, "throng_sessions_closed_total", "reason", reason); got != want {
			t.Errorf("throng_sessions_closed_total{reason=%q} = %v, want %v", reason, got, want)
		}
	}
}

// closeBack answers the proxy's Close, as a client should, and waits for
// the proxy to close the connection: it reads the client's input until
// that Close, so the connection ends with a FIN, not a reset.
func closeBack(t *testing.T, c net.Conn) {
	t.Helper()
	if err := ws.WriteFrame(c, ws.MaskFrame(ws.NewCloseFrame(ws.NewCloseFrameBody(ws.StatusNormalClosure, "")))); err != nil {
		t.Fatal(err)
	}
	expectEOF(t, c, 5*time.Second)
}

// closeClient ends a session from the client with a Close 1000 and waits
// for the echo.
func closeClient(t *testing.T, c net.Conn) {
	t.Helper()
	if err := ws.WriteFrame(c, ws.MaskFrame(ws.NewCloseFrame(ws.NewCloseFrameBody(ws.StatusNormalClosure, "")))); err != nil {
		t.Fatal(err)
	}
	if code := expectClose(t, c, 5*time.Second); code != ws.StatusNormalClosure {
		t.Fatalf("Close echoed with %d", code)
	}
}

// TestMessageLimitsNode drives the rate limit with Node's ws, an
// independent client: a burst over messages_per_session is closed with
// 1008 after exactly the burst's allowance was echoed.
func TestMessageLimitsNode(t *testing.T) {
	node := requireNode(t)
	host := newHost()
	backend := net.JoinHostPort(host, "19001")
	startBackend(t, backend)
	addr, admin := net.JoinHostPort(host, "18080"), net.JoinHostPort(host, "18090")
	startThrong(t, addr, msgLimitsConfig(addr, admin, backend))
	script, _ := filepath.Abs(filepath.Join(nodeDir, "msglimits.js"))
	runNode(t, node, 30*time.Second, script, addr)
}
