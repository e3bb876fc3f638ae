package main

// Defects a black-box attack run found (issue 9), each reproduced with the
// attack's bytes through the real binary.

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"

	"github.com/throngproxy/throng/engine/enginetest"
)

// forwardedHead starts a backend that records the request head it gets and
// answers 101, and a throng with extra config in front of it; it sends req
// from the test's own loopback address (the proxy must report the real
// peer) and returns that address, the head the backend saw and the 101 the
// client got.
// headBackend accepts upgrades on addr, sends each request head it gets
// on the channel it returns, answers 101 and reads on until the client
// leaves.
func headBackend(t *testing.T, addr string) <-chan string {
	t.Helper()
	heads := make(chan string, 1)
	fakeBackend(t, addr, func(c net.Conn) {
		h, _ := readHead(c)
		heads <- h
		_, _ = io.WriteString(c, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n")
		_, _ = io.Copy(io.Discard, c)
	})
	return heads
}

func forwardedHead(t *testing.T, extra func(host string) string, req func(addr string) string) (host, up, head string) {
	t.Helper()
	host = newHost()
	backend := net.JoinHostPort(host, "19001")
	heads := headBackend(t, backend)
	addr := net.JoinHostPort(host, "18080")
	startThrong(t, addr, basicConfig(addr, []string{backend}, extra(host)))
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(host)}}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, _ = io.WriteString(c, req(addr))
	if head, err = readHead(c); err != nil || statusOf(head) != 101 {
		t.Fatalf("answer %q (%v)", head, err)
	}
	select {
	case up = <-heads:
		return host, up, head
	case <-time.After(5 * time.Second):
		t.Fatal("backend saw no request")
	}
	return "", "", ""
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
	"X_Real_IP: 1.2.3.4", // HTTP_X_REAL_IP to a CGI, WSGI or Rack backend
}

// TestClientAddressHeaders: a client that is not a trusted proxy cannot
// hand the backend an address of its choice in any of the usual headers;
// a trusted proxy's are kept; forwarded_header adds throng's own RFC 7239
// element.
func TestClientAddressHeaders(t *testing.T) {
	spoof := func(addr string) string { return upgradeRequest("example.test", "/", spoofHeaders...) }
	t.Run("untrusted", func(t *testing.T) {
		host, up, _ := forwardedHead(t, func(string) string { return "" }, spoof)
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
		host, up, _ := forwardedHead(t, func(string) string { return "[server]\nforwarded_header = true\n" }, spoof)
		if strings.Contains(up, "1.2.3.4") {
			t.Errorf("a spoofed address reached the backend:\n%s", up)
		}
		want := "Forwarded: for=" + host + ";host=example.test;proto=http\r\n"
		if !strings.Contains(up, want) || strings.Count(up, "Forwarded: ") != 1 {
			t.Errorf("want exactly one Forwarded line %q:\n%s", want, up)
		}
	})
	t.Run("trusted proxy", func(t *testing.T) {
		host, up, _ := forwardedHead(t, func(h string) string {
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

// refusalBackend answers every upgrade with head, then writes each piece of
// body after the test sends on next; it closes the connection when next
// is closed. It reports on open whether its connection is still open
// whenever asked.
type refusalBackend struct {
	next   chan struct{} // one receive per piece; closed to end
	closed chan struct{} // closed once the proxy closed the connection
}

func startRefusalBackend(t *testing.T, addr, head string, body ...string) *refusalBackend {
	t.Helper()
	b := &refusalBackend{next: make(chan struct{}), closed: make(chan struct{})}
	fakeBackend(t, addr, func(c net.Conn) {
		if _, err := readHead(c); err != nil {
			return
		}
		_, _ = io.WriteString(c, head)
		go func() {
			_, _ = io.Copy(io.Discard, c)
			close(b.closed)
		}()
		for _, p := range body {
			if _, ok := <-b.next; !ok {
				return
			}
			_, _ = io.WriteString(c, p)
		}
		<-b.next // until the test lets go
	})
	return b
}

// readN reads exactly n bytes from br, with a deadline.
func readN(t *testing.T, c net.Conn, br *bufio.Reader, n int) []byte {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	p := make([]byte, n)
	if _, err := io.ReadFull(br, p); err != nil {
		t.Fatalf("read %d bytes: %v", n, err)
	}
	return p
}

// TestRefusalBodies: a backend's refusal reaches the client head first, as
// soon as it is complete, then its body as it arrives; a body cut short
// (past the 64 KiB bound, or by the backend) ends the connection so that
// the client sees it incomplete, never rewritten into a shorter whole one.
func TestRefusalBodies(t *testing.T) {
	const announced = "Content-Length: 99999999"
	// upstream_handshake is 30 s unless a subtest waits for it: a head
	// held until the timeout, the defect this tests, then misses the
	// client's 5 s read deadline.
	run := func(t *testing.T, head string, body ...string) (*refusalBackend, *throng, net.Conn, *bufio.Reader, *http.Response) {
		t.Helper()
		host := newHost()
		backend := net.JoinHostPort(host, "19001")
		b := startRefusalBackend(t, backend, head, body...)
		addr := net.JoinHostPort(host, "18080")
		cfg := basicConfig(addr, []string{backend}, "")
		if !strings.Contains(t.Name(), "timeout") {
			cfg = strings.Replace(cfg, `upstream_handshake = "2s"`, `upstream_handshake = "30s"`, 1)
			cfg = strings.Replace(cfg, `handshake = "3s"`, `handshake = "40s"`, 1)
		}
		th := startThrong(t, addr, cfg)
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		_, _ = io.WriteString(c, upgradeRequest(addr, "/"))
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		br := bufio.NewReader(c)
		r, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("read head: %v", err)
		}
		select {
		case <-b.closed:
			t.Fatal("the head came only after the proxy gave up on the backend")
		default:
		}
		return b, th, c, br, r
	}

	t.Run("length past the bound", func(t *testing.T) {
		b, th, c, br, r := run(t, "HTTP/1.1 403 Forbidden\r\n"+announced+"\r\n\r\n", strings.Repeat("x", 100000))
		defer close(b.next)
		if r.StatusCode != 403 || r.ContentLength != 99999999 {
			t.Fatalf("status %d, length %d; want 403 with the backend's own length", r.StatusCode, r.ContentLength)
		}
		b.next <- struct{}{}
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		got, err := io.ReadAll(br)
		if len(got) != 64<<10 {
			t.Fatalf("client got %d body bytes (%v), want the 65536 of the bound", len(got), err)
		}
		waitOutput(t, th.proc, `"reason":"body over 64 KiB"`)
	})
	t.Run("length cut short by the backend", func(t *testing.T) {
		b, th, c, br, r := run(t, "HTTP/1.1 403 Forbidden\r\n"+announced+"\r\n\r\n", strings.Repeat("y", 1000))
		if r.ContentLength != 99999999 {
			t.Fatalf("length %d, want the backend's own", r.ContentLength)
		}
		b.next <- struct{}{}
		readN(t, c, br, 1000) // relayed while the backend still holds the rest
		close(b.next)         // the backend stops early
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if rest, err := io.ReadAll(br); len(rest) != 0 || err != nil {
			t.Fatalf("after the backend left: %d more bytes, %v; want a clean end of an incomplete body", len(rest), err)
		}
		waitOutput(t, th.proc, `"reason":"backend closed before the end of the body"`)
	})
	t.Run("length stalled until the timeout", func(t *testing.T) { // upstream_handshake 2s
		b, th, c, br, _ := run(t, "HTTP/1.1 403 Forbidden\r\n"+announced+"\r\n\r\n", strings.Repeat("z", 1000))
		defer close(b.next)
		b.next <- struct{}{}
		readN(t, c, br, 1000)
		expectEOF(t, c, 5*time.Second) // upstream_handshake is 2s
		waitOutput(t, th.proc, `"reason":"body not complete within the upstream handshake timeout"`)
	})
	t.Run("chunked passed on as it comes", func(t *testing.T) {
		b, _, c, br, r := run(t, "HTTP/1.1 500 Oops\r\nTransfer-Encoding: chunked\r\n\r\n", "4;ext=1\r\nbad \r\n", "5\r\nthing\r\n0\r\n\r\n")
		defer close(b.next)
		if len(r.TransferEncoding) != 1 || r.TransferEncoding[0] != "chunked" {
			t.Fatalf("Transfer-Encoding %v, want chunked", r.TransferEncoding)
		}
		// Byte for byte as the backend sent it, chunk extension and all.
		b.next <- struct{}{}
		if got := string(readN(t, c, br, len("4;ext=1\r\nbad \r\n"))); got != "4;ext=1\r\nbad \r\n" {
			t.Fatalf("first chunk on the wire %q", got)
		}
		b.next <- struct{}{}
		if got := string(readN(t, c, br, len("5\r\nthing\r\n0\r\n\r\n"))); got != "5\r\nthing\r\n0\r\n\r\n" {
			t.Fatalf("rest on the wire %q", got)
		}
		expectEOF(t, c, 5*time.Second)
	})
	t.Run("chunked past the bound", func(t *testing.T) {
		chunk := "10000\r\n" + strings.Repeat("c", 0x10000) + "\r\n" // 65,544 bytes on the wire
		b, th, c, br, _ := run(t, "HTTP/1.1 403 Forbidden\r\nTransfer-Encoding: chunked\r\n\r\n", chunk)
		defer close(b.next)
		b.next <- struct{}{}
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		got, _ := io.ReadAll(br)
		if len(got) != 64<<10 {
			t.Fatalf("client got %d bytes, want the 65536 of the bound", len(got))
		}
		waitOutput(t, th.proc, `"reason":"body over 64 KiB"`)
	})
	t.Run("malformed chunk", func(t *testing.T) {
		b, th, c, _, r := run(t, "HTTP/1.1 403 Forbidden\r\nTransfer-Encoding: chunked\r\n\r\n", "3\r\nabc\r\nzz\r\n")
		defer close(b.next)
		b.next <- struct{}{}
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if body, err := io.ReadAll(r.Body); err == nil {
			t.Fatalf("net/http read a whole body %q from a malformed one", body)
		}
		waitOutput(t, th.proc, `"reason":"malformed chunked body"`)
	})
	t.Run("close-delimited becomes chunked", func(t *testing.T) {
		b, _, c, _, r := run(t, "HTTP/1.1 401 Unauthorized\r\n\r\n", "who are ", "you")
		b.next <- struct{}{}
		p := make([]byte, 8)
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.ReadFull(r.Body, p); err != nil || string(p) != "who are " {
			t.Fatalf("first piece %q, %v", p, err)
		}
		b.next <- struct{}{}
		close(b.next) // the end of a close-delimited body
		rest, err := io.ReadAll(r.Body)
		if err != nil || string(rest) != "you" {
			t.Fatalf("rest %q, %v; want the whole body", rest, err)
		}
	})
}

// TestEarlyBytesOverflow: a client that sends more than max_early_bytes
// after its head before the 101 is answered 400, and a request refused in
// the same read is never dialled.
func TestEarlyBytesOverflow(t *testing.T) {
	host := newHost()
	backend := net.JoinHostPort(host, "19001")
	var conns atomic.Int32
	fakeBackend(t, backend, func(c net.Conn) {
		conns.Add(1)
		_, _ = io.Copy(io.Discard, c) // never answers
	})
	addr := net.JoinHostPort(host, "18080")
	th := startThrong(t, addr, basicConfig(addr, []string{backend}, "[limits]\nmax_early_bytes = \"1KiB\"\n"))
	early := wireFrame(true, 0, ws.OpBinary, true, make([]byte, 2000))

	st, resp := rawRequest(t, addr, upgradeRequest(addr, "/")+string(early))
	if st != 400 || !strings.Contains(resp, "Connection: close\r\n") {
		t.Fatalf("status %d, want 400 with Connection: close:\n%s", st, resp)
	}
	// dials counts on the loop before the 400 is written: a dial after it
	// cannot be missed.
	if n := statOf(t, stats(t, th), "dials"); n != 0 {
		t.Errorf("%d dials for a request refused with its head", n)
	}

	// The same bytes after the head, while the backend is being asked.
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, _ = io.WriteString(c, upgradeRequest(addr, "/"))
	enginetest.WaitFor(t, "the backend to get the request", func() bool { return conns.Load() == 1 })
	_, _ = c.Write(early)
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	all, _ := io.ReadAll(c)
	if statusOf(string(all)) != 400 {
		t.Fatalf("late overflow answered %q, want 400", all)
	}
	if n := statOf(t, stats(t, th), "protocol_error"); n != 2 {
		t.Errorf("protocol_error %d, want 2", n)
	}
}

// TestLeadingEmptyLine: an empty line before the request line is ignored
// (RFC 9112 §2.2), and the backend gets a clean request.
func TestLeadingEmptyLine(t *testing.T) {
	th := setup(t, "")
	c, err := net.Dial("tcp", th.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, _ = io.WriteString(c, "\r\n"+upgradeRequest(th.addr, "/"))
	br := newReader(c)
	if st := readStatus(t, br); st != 101 {
		t.Fatalf("status %d, want 101", st)
	}
	if err := wsutil.WriteClientMessage(c, ws.OpText, []byte("after an empty line")); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	got, _, err := wsutil.ReadServerData(rw{br, c})
	if err != nil || string(got) != "after an empty line" {
		t.Fatalf("echo %q, %v", got, err)
	}
}

// TestSwitchingHopByHop: the relayed 101 loses the backend's hop-by-hop
// headers other than Upgrade and Connection, as the request does.
func TestSwitchingHopByHop(t *testing.T) {
	host := newHost()
	backend := net.JoinHostPort(host, "19001")
	fakeBackend(t, backend, func(c net.Conn) {
		_, _ = readHead(c)
		_, _ = io.WriteString(c, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade, X-Hop\r\n"+
			"Keep-Alive: timeout=5\r\nX-Hop: secret\r\nTrailer: X-Sum\r\nProxy-Authenticate: Basic\r\nX-Kept: yes\r\n"+
			"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n")
		_, _ = io.Copy(io.Discard, c)
	})
	addr := net.JoinHostPort(host, "18080")
	startThrong(t, addr, basicConfig(addr, []string{backend}, ""))
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, _ = io.WriteString(c, upgradeRequest(addr, "/"))
	head, err := readHead(c)
	if err != nil || statusOf(head) != 101 {
		t.Fatalf("answer %q (%v)", head, err)
	}
	for _, bad := range []string{"Keep-Alive", "X-Hop: secret", "Trailer", "Proxy-Authenticate"} {
		if strings.Contains(head, bad) {
			t.Errorf("the 101 still has %q:\n%s", bad, head)
		}
	}
	for _, want := range []string{"Upgrade: websocket\r\n", "Connection: Upgrade", "X-Kept: yes\r\n", "Sec-WebSocket-Accept: "} {
		if !strings.Contains(head, want) {
			t.Errorf("the 101 lacks %q:\n%s", want, head)
		}
	}
}

// closePayload is a Close frame's payload: code and reason.
func closePayload(code int, reason string) []byte {
	return append([]byte{byte(code >> 8), byte(code)}, reason...)
}

// badCloses are Close payloads RFC 6455 §7.4 keeps off the wire.
var badCloses = []struct {
	name    string
	payload []byte
}{
	{"code 0", closePayload(0, "")},
	{"code 999", closePayload(999, "")},
	{"code 1004", closePayload(1004, "")},
	{"code 1005", closePayload(1005, "")},
	{"code 1006", closePayload(1006, "")},
	{"code 1015", closePayload(1015, "")},
	{"code 1016", closePayload(1016, "")},
	{"code 2999", closePayload(2999, "")},
	{"code 5000", closePayload(5000, "")},
	{"reason not utf-8", closePayload(1000, "bad \xff\xfe")},
}

// writeSplit writes p one byte per write when split is set, else whole.
func writeSplit(t *testing.T, c net.Conn, p []byte, split bool) {
	t.Helper()
	_ = c.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if !split {
		if _, err := c.Write(p); err != nil {
			t.Fatal(err)
		}
		return
	}
	for i := range p {
		if _, err := c.Write(p[i : i+1]); err != nil {
			t.Fatal(err)
		}
	}
}

// TestForbiddenCloseFrames: a Close with a code that may not appear on the
// wire, or a reason that is not UTF-8, is a protocol violation in either
// direction (1002 to the sender, 1001 to the other side), whole or split
// at every byte; valid Closes split at every byte still pass.
func TestForbiddenCloseFrames(t *testing.T) {
	host := newHost()
	backend := net.JoinHostPort(host, "19001")
	scripts := map[string]backendScript{}
	for i, bc := range badCloses {
		scripts["/bad/"+strconv.Itoa(i)] = backendScript{after: wireFrame(true, 0, ws.OpClose, false, bc.payload)}
	}
	reports := recordingBackend(t, backend, scripts)
	addr := net.JoinHostPort(host, "18080")
	startThrong(t, addr, basicConfig(addr, []string{backend}, ""))
	bystander := dialWS(t, addr, "/")
	defer bystander.Close()

	for _, bc := range badCloses {
		for _, split := range []bool{false, true} {
			t.Run("client "+bc.name+" split="+strconv.FormatBool(split), func(t *testing.T) {
				c := dialWS(t, addr, "/")
				defer c.Close()
				echo(t, c, ws.OpText, []byte("before"))
				writeSplit(t, c, wireFrame(true, 0, ws.OpClose, true, bc.payload), split)
				if got := expectClose(t, c, 5*time.Second); got != ws.StatusProtocolError {
					t.Errorf("client got close code %d, want 1002", got)
				}
				rep := nextReport(t, reports, 5*time.Second)
				checkUpstream(t, rep, []upFrame{{op: ws.OpText, fin: true, payload: []byte("before")}}, ws.StatusGoingAway)
			})
		}
	}
	for i, bc := range badCloses {
		t.Run("backend "+bc.name, func(t *testing.T) {
			c := dialWS(t, addr, "/bad/"+strconv.Itoa(i))
			defer c.Close()
			if got := expectClose(t, c, 5*time.Second); got != ws.StatusGoingAway {
				t.Errorf("client got close code %d, want 1001", got)
			}
			rep := nextReport(t, reports, 5*time.Second)
			checkUpstream(t, rep, nil, ws.StatusProtocolError)
		})
	}
	for _, code := range []int{1000, 1001, 1012, 1014, 3000, 4999} {
		t.Run("valid "+strconv.Itoa(code)+" split", func(t *testing.T) {
			c := dialWS(t, addr, "/")
			defer c.Close()
			writeSplit(t, c, wireFrame(true, 0, ws.OpClose, true, closePayload(code, "fin ✓")), true)
			if got := expectClose(t, c, 5*time.Second); got != ws.StatusCode(code) {
				t.Errorf("client got its close echoed with %d, want %d", got, code)
			}
			rep := nextReport(t, reports, 5*time.Second)
			if rep.err != nil || len(rep.frames) != 1 || closeCodeOf(rep.frames[0]) != ws.StatusCode(code) ||
				string(rep.frames[0].payload[2:]) != "fin ✓" {
				t.Errorf("backend got %v (%v), want the client's Close %d", rep.frames, rep.err, code)
			}
		})
	}
	echo(t, bystander, ws.OpText, []byte("bystander unaffected"))
}

// TestStalledFrames: one byte every 0.5 s (the attack's pace) inside a
// 1,000-byte frame keeps a session open past the 1 s idle timeout (every
// byte is activity); the stats line counts it as stalled once its frame
// has been incomplete for longer than limits.stalled_frame, and neither an
// idle session nor a busy one is counted.
func TestStalledFrames(t *testing.T) {
	host := newHost()
	backend := net.JoinHostPort(host, "19001")
	startBackend(t, backend)
	addr := net.JoinHostPort(host, "18080")
	cfg := basicConfig(addr, []string{backend}, "[limits]\nstalled_frame = \"1s\"\n")
	th := startThrong(t, addr, strings.Replace(cfg, "[timeouts]\n", "[timeouts]\nidle = \"1s\"\n", 1))
	healthy := dialWS(t, th.addr, "/")
	defer healthy.Close()
	echo(t, healthy, ws.OpText, []byte("fine"))

	c := dialWS(t, th.addr, "/")
	defer c.Close()
	frame := wireFrame(true, 0, ws.OpBinary, true, make([]byte, 1000))
	writeSplit(t, c, frame[:8], false) // header and 0 of 1000 payload bytes
	if n := statOf(t, stats(t, th), "stalled_frames"); n != 0 {
		t.Fatalf("stalled_frames %d right away, want 0", n)
	}
	// A busy session whose writes end mid-frame, one frame after another,
	// is not stalled: each new frame restarts the clock.
	busy := dialWS(t, th.addr, "/")
	defer busy.Close()
	go func() { _, _ = io.Copy(io.Discard, busy) }()
	stream := bytes.Repeat(wireFrame(true, 0, ws.OpBinary, true, make([]byte, 1000)), 40)
	busyDone := make(chan struct{})
	go func() {
		defer close(busyDone)
		// 1,009-byte writes every 50 ms for 2 s: each ends inside a frame.
		for off := 0; off+1009 <= len(stream); off += 1009 {
			if _, err := busy.Write(stream[off : off+1009]); err != nil {
				return
			}
			<-time.After(50 * time.Millisecond)
		}
	}()
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	sent := 8
	for start := time.Now(); time.Since(start) < 2500*time.Millisecond; sent++ {
		<-tick.C
		writeSplit(t, c, frame[sent:sent+1], false)
	}
	if n := statOf(t, stats(t, th), "stalled_frames"); n != 1 {
		t.Fatalf("stalled_frames %d, want 1 (the trickling session, not the busy one)", n)
	}
	<-busyDone
	// Finishing the frame ends the stall, and the echo proves the session
	// was alive all along.
	writeSplit(t, c, frame[sent:], false)
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	got, op, err := wsutil.ReadServerData(c)
	if err != nil || op != ws.OpBinary || len(got) != 1000 {
		t.Fatalf("echo of the trickled frame: %d bytes op %v, %v", len(got), op, err)
	}
	if n := statOf(t, stats(t, th), "stalled_frames"); n != 0 {
		t.Fatalf("stalled_frames %d after the frame completed, want 0", n)
	}
}
