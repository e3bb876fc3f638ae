package main

// Protocol violations (RFC 6455 §5): each one ends only the offending
// session, with the right close code toward the offender and 1001 toward the
// other side. A recording backend shows exactly what the proxy sent upstream.

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"

	"github.com/throngproxy/throng/codec"
)

// wireFrame encodes one frame byte for byte as given: masked with a fresh
// key when masked is set (as a client must), unmasked otherwise.
func wireFrame(fin bool, rsv byte, op ws.OpCode, masked bool, payload []byte) []byte {
	h := ws.Header{Fin: fin, Rsv: rsv, OpCode: op, Masked: masked, Length: int64(len(payload))}
	if masked {
		h.Mask = ws.NewMask()
	}
	var b bytes.Buffer
	_ = ws.WriteHeader(&b, h)
	p := append([]byte(nil), payload...)
	if masked {
		ws.Cipher(p, h.Mask, 0)
	}
	b.Write(p)
	return b.Bytes()
}

// wsAcceptKey computes Sec-WebSocket-Accept for key (RFC 6455 §4.2.2).
func wsAcceptKey(key string) string { return string(codec.AppendAcceptKey(nil, []byte(key))) }

// headValue returns the value of the first header line called name in head.
func headValue(head, name string) string {
	for _, l := range strings.Split(head, "\r\n")[1:] {
		k, v, ok := strings.Cut(l, ":")
		if ok && strings.EqualFold(strings.TrimSpace(k), name) {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// upFrame is one frame a recording backend received, payload unmasked.
type upFrame struct {
	op      ws.OpCode
	fin     bool
	masked  bool
	payload []byte
}

func (f upFrame) String() string {
	if f.op == ws.OpClose {
		code, _ := ws.ParseCloseFrameData(f.payload)
		return fmt.Sprintf("close(%d, masked=%v)", code, f.masked)
	}
	p := string(f.payload)
	if len(p) > 20 {
		p = fmt.Sprintf("%d bytes", len(p))
	}
	return fmt.Sprintf("op%d(fin=%v, masked=%v, %q)", f.op, f.fin, f.masked, p)
}

// upReport is what a recording backend saw on one connection, sent when the
// connection ends.
type upReport struct {
	path   string
	frames []upFrame // every frame, a final Close included
	err    error     // why reading stopped; nil after a Close
}

// backendScript says how a recording backend treats requests for one path.
type backendScript struct {
	prelude []byte // written in the same write as the 101
	after   []byte // written in a write of its own after the 101
	// holdCheck waits briefly after the request head: the proxy must not
	// forward the client's early frames before the backend answered 101.
	holdCheck bool
}

// recordingBackend is a raw WebSocket echo server on addr: it answers each
// upgrade with a correct 101, runs the script of the request path, echoes
// data frames unmasked, answers pings, answers a Close with the same Close
// and then reports everything it received on the returned channel.
func recordingBackend(t *testing.T, addr string, scripts map[string]backendScript) <-chan upReport {
	t.Helper()
	reports := make(chan upReport, 64)
	fakeBackend(t, addr, func(c net.Conn) {
		reports <- recordSession(c, scripts)
	})
	return reports
}

func recordSession(c net.Conn, scripts map[string]backendScript) upReport {
	var rep upReport
	_ = c.SetDeadline(time.Now().Add(20 * time.Second))
	br := bufio.NewReader(c)
	var head strings.Builder
	for {
		l, err := br.ReadString('\n')
		head.WriteString(l)
		if err != nil {
			rep.err = fmt.Errorf("read head: %w", err)
			return rep
		}
		if l == "\r\n" {
			break
		}
	}
	h := head.String()
	if f := strings.Fields(h); len(f) > 1 {
		rep.path = f[1]
	}
	sc := scripts[rep.path]
	if sc.holdCheck {
		_ = c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
		if _, err := br.Peek(1); err == nil {
			rep.err = errors.New("client frames forwarded before the backend's 101")
			return rep
		}
		_ = c.SetDeadline(time.Now().Add(20 * time.Second))
	}
	resp := "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Accept: " + wsAcceptKey(headValue(h, "Sec-WebSocket-Key")) + "\r\n\r\n"
	if _, err := c.Write(append([]byte(resp), sc.prelude...)); err != nil {
		rep.err = err
		return rep
	}
	if len(sc.after) > 0 {
		if _, err := c.Write(sc.after); err != nil {
			rep.err = err
			return rep
		}
	}
	for {
		f, err := ws.ReadFrame(br)
		if err != nil {
			rep.err = fmt.Errorf("read frame: %w", err)
			return rep
		}
		if f.Header.Masked {
			ws.Cipher(f.Payload, f.Header.Mask, 0)
		}
		rep.frames = append(rep.frames, upFrame{op: f.Header.OpCode, fin: f.Header.Fin, masked: f.Header.Masked, payload: f.Payload})
		var out []byte
		switch f.Header.OpCode {
		case ws.OpText, ws.OpBinary, ws.OpContinuation:
			out = wireFrame(f.Header.Fin, 0, f.Header.OpCode, false, f.Payload)
		case ws.OpPing:
			out = wireFrame(true, 0, ws.OpPong, false, f.Payload)
		case ws.OpClose:
			_, _ = c.Write(wireFrame(true, 0, ws.OpClose, false, f.Payload))
			return rep
		}
		if len(out) > 0 {
			_, _ = c.Write(out)
		}
	}
}

// nextReport waits for the next connection report of a recording backend.
func nextReport(t *testing.T, reports <-chan upReport, d time.Duration) upReport {
	t.Helper()
	select {
	case r := <-reports:
		return r
	case <-time.After(d):
		t.Fatalf("backend reported no finished connection within %v", d)
		return upReport{}
	}
}

// closeCodeOf returns the code of a Close frame, 0 for any other frame.
func closeCodeOf(f upFrame) ws.StatusCode {
	if f.op != ws.OpClose {
		return 0
	}
	code, _ := ws.ParseCloseFrameData(f.payload)
	return code
}

// checkUpstream compares what the backend received with want (data frames
// as op, fin and payload) followed by a masked Close carrying code.
func checkUpstream(t *testing.T, rep upReport, want []upFrame, code ws.StatusCode) {
	t.Helper()
	if rep.err != nil {
		t.Errorf("backend: %v; it got %v", rep.err, rep.frames)
		return
	}
	if got := len(rep.frames); got != len(want)+1 {
		t.Errorf("backend got %d frames %v, want %d: %v then close(%d)", got, rep.frames, len(want)+1, want, code)
		return
	}
	for i, w := range want {
		g := rep.frames[i]
		if g.op != w.op || g.fin != w.fin || !bytes.Equal(g.payload, w.payload) || !g.masked {
			t.Errorf("backend frame %d: got %v, want %v masked", i, g, w)
		}
	}
	last := rep.frames[len(rep.frames)-1]
	if got := closeCodeOf(last); got != code || !last.masked {
		t.Errorf("backend's last frame: got %v, want masked close(%d)", last, code)
	}
}

// TestClientViolations: each violation gets the client a Close with the
// right code and the backend a Close 1001, after exactly the frames that
// preceded the violation; a bystander session on the same proxy and backend
// keeps echoing.
func TestClientViolations(t *testing.T) {
	host := newHost()
	backend := net.JoinHostPort(host, "19001")
	reports := recordingBackend(t, backend, nil)
	addr := net.JoinHostPort(host, "18080")
	startThrong(t, addr, basicConfig(addr, []string{backend}, "[limits]\nmax_frame_bytes = \"64KiB\"\n"))

	bystander := dialWS(t, addr, "/")
	defer bystander.Close()
	echo(t, bystander, ws.OpText, []byte("bystander before"))

	const maxFrame = 64 << 10
	big := bytes.Repeat([]byte{'b'}, maxFrame+1)
	tests := []struct {
		name string
		send []byte        // one write, after a clean echo of "before"
		code ws.StatusCode // toward the client
		up   []upFrame     // what the backend gets after "before", before its Close 1001
	}{
		{"unmasked frame", wireFrame(true, 0, ws.OpText, false, []byte("bare")), ws.StatusProtocolError, nil},
		{"reserved opcode 3", wireFrame(true, 0, 3, true, []byte("x")), ws.StatusProtocolError, nil},
		{"reserved opcode 0xB", wireFrame(true, 0, 0xB, true, []byte("x")), ws.StatusProtocolError, nil},
		{"rsv1 without extension", wireFrame(true, ws.Rsv(true, false, false), ws.OpText, true, []byte("x")), ws.StatusProtocolError, nil},
		{"rsv2 without extension", wireFrame(true, ws.Rsv(false, true, false), ws.OpBinary, true, []byte("x")), ws.StatusProtocolError, nil},
		{"rsv3 without extension", wireFrame(true, ws.Rsv(false, false, true), ws.OpBinary, true, []byte("x")), ws.StatusProtocolError, nil},
		{"ping of 126 bytes", wireFrame(true, 0, ws.OpPing, true, make([]byte, 126)), ws.StatusProtocolError, nil},
		{"fragmented ping", wireFrame(false, 0, ws.OpPing, true, []byte("p")), ws.StatusProtocolError, nil},
		{"continuation without message", wireFrame(true, 0, ws.OpContinuation, true, []byte("orphan")), ws.StatusProtocolError, nil},
		{
			"text inside fragmented message",
			append(wireFrame(false, 0, ws.OpText, true, []byte("part-1")), wireFrame(true, 0, ws.OpText, true, []byte("oops"))...),
			ws.StatusProtocolError,
			[]upFrame{{op: ws.OpText, fin: false, payload: []byte("part-1")}},
		},
		{"close with 1-byte payload", wireFrame(true, 0, ws.OpClose, true, []byte{0x03}), ws.StatusProtocolError, nil},
		{"frame over max_frame_bytes", wireFrame(true, 0, ws.OpBinary, true, big), ws.StatusMessageTooBig, nil},
		{
			"valid frames then violation in one write",
			append(wireFrame(true, 0, ws.OpBinary, true, []byte("ok-1")), wireFrame(true, 0, 0xB, true, nil)...),
			ws.StatusProtocolError,
			[]upFrame{{op: ws.OpBinary, fin: true, payload: []byte("ok-1")}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := dialWS(t, addr, "/")
			defer c.Close()
			echo(t, c, ws.OpText, []byte("before"))
			_ = c.SetWriteDeadline(time.Now().Add(5 * time.Second))
			if _, err := c.Write(tt.send); err != nil {
				t.Fatalf("write violation: %v", err)
			}
			if got := expectClose(t, c, 5*time.Second); got != tt.code {
				t.Errorf("client got close code %d, want %d", got, tt.code)
			}
			expectEOF(t, c, 5*time.Second)

			rep := nextReport(t, reports, 5*time.Second)
			want := append([]upFrame{{op: ws.OpText, fin: true, payload: []byte("before")}}, tt.up...)
			checkUpstream(t, rep, want, ws.StatusGoingAway)

			echo(t, bystander, ws.OpText, []byte("bystander after "+tt.name))
		})
	}
	// The limit is inclusive: a frame of exactly max_frame_bytes passes.
	echo(t, bystander, ws.OpBinary, big[:maxFrame])
}

// TestBackendViolations: a backend that breaks RFC 6455 gets a masked Close
// 1002, its client a Close 1001, and the bystander notices nothing. Frames
// a backend sends in the same write as its 101 reach the client in order.
func TestBackendViolations(t *testing.T) {
	host := newHost()
	backend := net.JoinHostPort(host, "19001")
	var prelude []byte
	for _, m := range []string{"p1", "p2", strings.Repeat("p3", 100)} {
		prelude = append(prelude, wireFrame(true, 0, ws.OpText, false, []byte(m))...)
	}
	reports := recordingBackend(t, backend, map[string]backendScript{
		"/masked":         {after: wireFrame(true, 0, ws.OpText, true, []byte("masked by a server"))},
		"/masked-prelude": {prelude: wireFrame(true, 0, ws.OpBinary, true, []byte("masked"))},
		"/opcode":         {after: wireFrame(true, 0, 0xB, false, nil)},
		"/long-ping":      {after: wireFrame(true, 0, ws.OpPing, false, make([]byte, 126))},
		"/rsv1":           {after: wireFrame(true, ws.Rsv(true, false, false), ws.OpText, false, []byte("x"))},
		"/prelude":        {prelude: prelude},
	})
	addr := net.JoinHostPort(host, "18080")
	startThrong(t, addr, basicConfig(addr, []string{backend}, ""))

	bystander := dialWS(t, addr, "/")
	defer bystander.Close()
	echo(t, bystander, ws.OpText, []byte("bystander before"))

	for _, path := range []string{"/masked", "/masked-prelude", "/opcode", "/long-ping", "/rsv1"} {
		t.Run(path, func(t *testing.T) {
			c := dialWS(t, addr, path)
			defer c.Close()
			if got := expectClose(t, c, 5*time.Second); got != ws.StatusGoingAway {
				t.Errorf("client got close code %d, want %d", got, ws.StatusGoingAway)
			}
			// A well-behaved client answers; the proxy then closes at once,
			// well before its 1 s close timeout.
			start := time.Now()
			_ = ws.WriteFrame(c, ws.MaskFrame(ws.NewCloseFrame(ws.NewCloseFrameBody(ws.StatusGoingAway, ""))))
			expectEOF(t, c, 5*time.Second)
			if d := time.Since(start); d > 700*time.Millisecond {
				t.Errorf("client closed %v after its Close reply, want promptly", d)
			}
			rep := nextReport(t, reports, 5*time.Second)
			if rep.path != path {
				t.Fatalf("report for %q, want %q", rep.path, path)
			}
			checkUpstream(t, rep, nil, ws.StatusProtocolError)
			echo(t, bystander, ws.OpText, []byte("bystander after "+path))
		})
	}

	t.Run("frames in the 101 write", func(t *testing.T) {
		c := dialWS(t, addr, "/prelude")
		defer c.Close()
		for i, want := range []string{"p1", "p2", strings.Repeat("p3", 100)} {
			f := readFrame(t, c, 5*time.Second)
			if f.Header.OpCode != ws.OpText || string(f.Payload) != want {
				t.Fatalf("frame %d: got op %v %q, want text %q", i, f.Header.OpCode, f.Payload, want)
			}
		}
		echo(t, c, ws.OpBinary, []byte("and then an echo"))
	})
}

// TestEarlyFrames: frames a client sends in the same write as its upgrade
// request are held until the backend's 101, then relayed in order; a
// violation among them is judged like any other.
func TestEarlyFrames(t *testing.T) {
	host := newHost()
	echoAddr := net.JoinHostPort(host, "19001")
	startBackend(t, echoAddr)
	recAddr := net.JoinHostPort(host, "19002")
	reports := recordingBackend(t, recAddr, map[string]backendScript{"/rec/hold": {holdCheck: true}})
	addr := net.JoinHostPort(host, "18080")
	cfg := basicConfig(addr, []string{echoAddr}, "[[route]]\nhost = \"*\"\npath_prefix = \"/rec\"\nupstream = \"rec\"\n\n"+
		"[[upstream]]\nname = \"rec\"\nbackends = [{ addr = \""+recAddr+"\" }]\n")
	startThrong(t, addr, cfg)

	valid := [][]byte{
		wireFrame(true, 0, ws.OpText, true, []byte("early-1")),
		wireFrame(true, 0, ws.OpBinary, true, bytes.Repeat([]byte{7}, 1000)),
		wireFrame(true, 0, ws.OpPing, true, []byte("are you there")),
		wireFrame(false, 0, ws.OpText, true, []byte("frag-a ")),
		wireFrame(true, 0, ws.OpContinuation, true, []byte("frag-b")),
	}
	// What comes back, in order: echoes, and a pong for the ping.
	wantBack := []struct {
		op      ws.OpCode
		payload string
	}{
		{ws.OpText, "early-1"}, {ws.OpBinary, string(bytes.Repeat([]byte{7}, 1000))}, {ws.OpPong, "are you there"},
		{ws.OpText, "frag-a "}, {ws.OpContinuation, "frag-b"},
	}
	tests := []struct {
		name string
		path string
	}{
		{"echo backend", "/"},
		{"backend answering late", "/rec/hold"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, br := rawUpgrade(t, addr, tt.path, bytes.Join(valid, nil))
			defer c.Close()
			for i, w := range wantBack {
				f, err := ws.ReadFrame(rw{br, c})
				if err != nil {
					t.Fatalf("frame %d: %v", i, err)
				}
				if f.Header.OpCode != w.op || string(f.Payload) != w.payload {
					t.Fatalf("frame %d: got op %v %d bytes, want op %v %d bytes", i, f.Header.OpCode, len(f.Payload), w.op, len(w.payload))
				}
			}
			// And the session goes on normally.
			if err := wsutil.WriteClientMessage(c, ws.OpText, []byte("later")); err != nil {
				t.Fatal(err)
			}
			got, _, err := wsutil.ReadServerData(rw{br, c})
			if err != nil || string(got) != "later" {
				t.Fatalf("echo after the early frames: got %q, %v", got, err)
			}
			if tt.path != "/rec/hold" {
				return
			}
			body := ws.NewCloseFrameBody(ws.StatusNormalClosure, "")
			if err := ws.WriteFrame(c, ws.MaskFrame(ws.NewCloseFrame(body))); err != nil {
				t.Fatal(err)
			}
			rep := nextReport(t, reports, 5*time.Second)
			if rep.err != nil {
				t.Fatalf("backend: %v", rep.err)
			}
			if got, want := len(rep.frames), len(valid)+2; got != want {
				t.Fatalf("backend got %d frames %v, want %d", got, rep.frames, want)
			}
		})
	}

	t.Run("violation among early frames", func(t *testing.T) {
		early := append(wireFrame(true, 0, ws.OpText, true, []byte("fine")), wireFrame(true, 0, ws.OpText, false, []byte("bare"))...)
		c, br := rawUpgrade(t, addr, "/", early)
		defer c.Close()
		code := ws.StatusCode(0)
		for code == 0 {
			f, err := ws.ReadFrame(rw{br, c})
			if err != nil {
				t.Fatalf("waiting for close: %v", err)
			}
			if f.Header.OpCode == ws.OpClose {
				code, _ = ws.ParseCloseFrameData(f.Payload)
			}
		}
		if code != ws.StatusProtocolError {
			t.Fatalf("close code %d, want %d", code, ws.StatusProtocolError)
		}
		cc := dialWS(t, addr, "/")
		echo(t, cc, ws.OpText, []byte("others unaffected"))
		cc.Close()
	})
}

// rawUpgrade sends an upgrade request for path with early behind it in one
// write and reads the 101. The connection has a 10 s deadline.
func rawUpgrade(t *testing.T, addr, path string, early []byte) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write(append([]byte(upgradeRequest(addr, path)), early...)); err != nil {
		c.Close()
		t.Fatal(err)
	}
	br := newReader(c)
	if st := readStatus(t, br); st != 101 {
		c.Close()
		t.Fatalf("status %d, want 101", st)
	}
	return c, br
}
