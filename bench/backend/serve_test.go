package backend

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gobwas/httphead"
	"github.com/gobwas/ws"
)

// serveTestTimeout bounds every wait in these tests.
const serveTestTimeout = 10 * time.Second

// startServe runs Serve on addr (its own loopback address per test) until
// the test ends and waits until it is ready. Start has no deadline of its
// own: gnet either listens or fails at once, and go test's -timeout bounds
// the rest.
func startServe(t testing.TB, cfg Config) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	wait, err := Start(ctx, cfg)
	if err != nil {
		cancel()
		t.Fatalf("Start(%s) = %v", cfg.Addr, err)
	}
	t.Cleanup(func() {
		cancel()
		if err := wait(); err != nil {
			t.Errorf("Serve(%s) = %v, want nil", cfg.Addr, err)
		}
	})
}

// serveTestClient is a WebSocket client connection with a deadline.
type serveTestClient struct {
	conn net.Conn
	r    io.Reader
	hs   ws.Handshake
}

// dialServe upgrades a connection to ws://addr/ with d.
func dialServe(t testing.TB, d ws.Dialer, addr string) *serveTestClient {
	t.Helper()
	return dialFanout(t, d, addr, "/")
}

// dialFanout upgrades a connection to ws://addr+path with d: the fan-out
// server reads its topic from the path.
func dialFanout(t testing.TB, d ws.Dialer, addr, path string) *serveTestClient {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), serveTestTimeout)
	defer cancel()
	conn, br, hs, err := d.Dial(ctx, "ws://"+addr+path)
	if err != nil {
		t.Fatalf("Dial(%s%s) = %v", addr, path, err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	if err := conn.SetDeadline(time.Now().Add(serveTestTimeout)); err != nil {
		t.Fatal(err)
	}
	c := &serveTestClient{conn: conn, r: conn, hs: hs}
	if br != nil {
		c.r = br
	}
	return c
}

// write sends one masked frame.
func (c *serveTestClient) write(t testing.TB, fin bool, op ws.OpCode, payload []byte) {
	t.Helper()
	if err := ws.WriteFrame(c.conn, ws.MaskFrame(ws.NewFrame(op, fin, payload))); err != nil {
		t.Fatalf("write %v frame: %v", op, err)
	}
}

// read receives one frame.
func (c *serveTestClient) read(t testing.TB) (ws.Header, []byte) {
	t.Helper()
	h, p, err := serveReadFrame(c.r)
	if err != nil {
		t.Fatalf("read frame: %v", err)
	}
	return h, p
}

// serveReadFrame reads one frame from r.
func serveReadFrame(r io.Reader) (ws.Header, []byte, error) {
	h, err := ws.ReadHeader(r)
	if err != nil {
		return h, nil, err
	}
	p := make([]byte, h.Length)
	if _, err := io.ReadFull(r, p); err != nil {
		return h, nil, err
	}
	if h.Masked {
		ws.Cipher(p, h.Mask, 0)
	}
	return h, p, nil
}

// serveWantFrame checks a frame read from the server.
func serveWantFrame(t testing.TB, h ws.Header, p []byte, fin bool, op ws.OpCode, want []byte) {
	t.Helper()
	if h.Masked || h.Rsv != 0 || h.Fin != fin || h.OpCode != op {
		t.Fatalf("got header %+v, want fin=%v op=%v unmasked no rsv", h, fin, op)
	}
	if !bytes.Equal(p, want) {
		t.Fatalf("got payload of %d bytes, want %d bytes (equal: false)", len(p), len(want))
	}
}

// waitEOF checks that the server closes the connection.
func (c *serveTestClient) waitEOF(t testing.TB) {
	t.Helper()
	var buf [64]byte
	n, err := c.r.Read(buf[:])
	if n != 0 || !errors.Is(err, io.EOF) {
		t.Fatalf("after close got %d bytes, %v; want 0, EOF", n, err)
	}
}

func servePayload(n int) []byte {
	p := make([]byte, n)
	for i := range p {
		p[i] = 'a' + byte(i%26)
	}
	return p
}

func TestServeEcho(t *testing.T) {
	const addr = "127.0.0.77:19001"
	startServe(t, Config{Addr: addr, Loops: 2})
	c := dialServe(t, ws.Dialer{}, addr)
	for _, op := range []ws.OpCode{ws.OpText, ws.OpBinary} {
		for _, n := range []int{0, 1, 125, 126, 65535, 65536, 1 << 20} {
			t.Run(fmt.Sprintf("%v/%d", op, n), func(t *testing.T) {
				want := servePayload(n)
				c.write(t, true, op, want)
				h, got := c.read(t)
				serveWantFrame(t, h, got, true, op, want)
			})
		}
	}
}

func TestServeFragmentedWithPing(t *testing.T) {
	const addr = "127.0.0.77:19002"
	startServe(t, Config{Addr: addr, Loops: 1})
	c := dialServe(t, ws.Dialer{}, addr)
	type frame struct {
		fin bool
		op  ws.OpCode
		p   []byte
	}
	sent := []frame{
		{false, ws.OpText, []byte("hel")},
		{true, ws.OpPing, []byte("are you there")},
		{false, ws.OpContinuation, []byte("lo, ")},
		{true, ws.OpPong, []byte("unsolicited")},
		{false, ws.OpContinuation, servePayload(70000)},
		{true, ws.OpContinuation, []byte("world")},
	}
	want := []frame{
		{false, ws.OpText, []byte("hel")},
		{true, ws.OpPong, []byte("are you there")},
		{false, ws.OpContinuation, []byte("lo, ")},
		{false, ws.OpContinuation, servePayload(70000)},
		{true, ws.OpContinuation, []byte("world")},
	}
	for _, f := range sent {
		c.write(t, f.fin, f.op, f.p)
	}
	for i, w := range want {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			h, p := c.read(t)
			serveWantFrame(t, h, p, w.fin, w.op, w.p)
		})
	}
}

func TestServeClose(t *testing.T) {
	const addr = "127.0.0.77:19003"
	startServe(t, Config{Addr: addr, Loops: 2})
	tests := []struct {
		name    string
		payload []byte
		want    []byte
	}{
		{"normal with reason", ws.NewCloseFrameBody(ws.StatusNormalClosure, "bye"), []byte{0x03, 0xe8}},
		{"application code", ws.NewCloseFrameBody(4001, ""), []byte{0x0f, 0xa1}},
		{"empty", nil, []byte{}},
		{"one byte", []byte{3}, []byte{0x03, 0xea}},
		{"reserved code 1005", ws.NewCloseFrameBody(1005, ""), []byte{0x03, 0xea}},
		{"bad utf-8 reason", append(ws.NewCloseFrameBody(1000, ""), 0xff), []byte{0x03, 0xea}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := dialServe(t, ws.Dialer{}, addr)
			c.write(t, true, ws.OpText, []byte("before"))
			// A frame after the Close, in the same write, is ignored.
			var b bytes.Buffer
			for _, f := range []ws.Frame{ws.NewCloseFrame(tt.payload), ws.NewTextFrame([]byte("after close"))} {
				if err := ws.WriteFrame(&b, ws.MaskFrame(f)); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := c.conn.Write(b.Bytes()); err != nil {
				t.Fatal(err)
			}
			h, p := c.read(t)
			serveWantFrame(t, h, p, true, ws.OpText, []byte("before"))
			h, p = c.read(t)
			serveWantFrame(t, h, p, true, ws.OpClose, tt.want)
			c.waitEOF(t)
		})
	}
}

func TestServeCloseAfterDrain(t *testing.T) {
	const addr = "127.0.0.77:19011"
	startServe(t, Config{Addr: addr, Loops: 1})
	// A small receive buffer keeps the echo in the server's queue.
	d := ws.Dialer{NetDial: func(ctx context.Context, network, addr string) (net.Conn, error) {
		conn, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		if err == nil {
			err = conn.(*net.TCPConn).SetReadBuffer(64 << 10)
		}
		return conn, err
	}}
	c := dialServe(t, d, addr)
	// Send 16 MiB and a Close before reading anything: the echo backs up in
	// the server's output queue, which must drain before it closes.
	want := servePayload(16 << 20)
	c.write(t, true, ws.OpBinary, want)
	c.write(t, true, ws.OpClose, ws.NewCloseFrameBody(ws.StatusGoingAway, ""))
	h, p := c.read(t)
	serveWantFrame(t, h, p, true, ws.OpBinary, want)
	h, p = c.read(t)
	serveWantFrame(t, h, p, true, ws.OpClose, []byte{0x03, 0xe9})
	c.waitEOF(t)
}

func TestServeProtocolError(t *testing.T) {
	const addr = "127.0.0.77:19004"
	startServe(t, Config{Addr: addr, Loops: 2})
	tests := []struct {
		name  string
		frame []byte // raw bytes after one good text frame
	}{
		{"unmasked", []byte{0x81, 0x01, 'x'}},
		{"reserved opcode", []byte{0x83, 0x80, 0, 0, 0, 0}},
		{"rsv1", []byte{0xc1, 0x80, 0, 0, 0, 0}},
		{"continuation first", []byte{0x80, 0x80, 0, 0, 0, 0}},
		{"fragmented ping", []byte{0x09, 0x80, 0, 0, 0, 0}},
		{"long ping", []byte{0x89, 0xfe, 0, 126, 0, 0, 0, 0}},
		{"length msb", []byte{0x82, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := dialServe(t, ws.Dialer{}, addr)
			c.write(t, true, ws.OpText, []byte("ok"))
			if _, err := c.conn.Write(tt.frame); err != nil {
				t.Fatal(err)
			}
			h, p := c.read(t)
			serveWantFrame(t, h, p, true, ws.OpText, []byte("ok"))
			h, p = c.read(t)
			serveWantFrame(t, h, p, true, ws.OpClose, []byte{0x03, 0xea})
			c.waitEOF(t)
		})
	}
}

// serveRawConn dials addr over plain TCP with a deadline.
func serveRawConn(t testing.TB, addr string) net.Conn {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, serveTestTimeout)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	if err := conn.SetDeadline(time.Now().Add(serveTestTimeout)); err != nil {
		t.Fatal(err)
	}
	return conn
}

const serveTestKey = "dGhlIHNhbXBsZSBub25jZQ=="

func serveRequest(extra string) string {
	return "GET /chat HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: " + serveTestKey + "\r\nSec-WebSocket-Version: 13\r\n" + extra + "\r\n"
}

// serveReadResponse reads the server's response to a raw handshake on
// conn; the reader returned holds what follows it.
func serveReadResponse(t *testing.T, conn net.Conn) (*bufio.Reader, *http.Response) {
	t.Helper()
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	return br, resp
}

func TestServeFramesWithHandshake(t *testing.T) {
	const addr = "127.0.0.77:19005"
	startServe(t, Config{Addr: addr, Loops: 2})
	conn := serveRawConn(t, addr)
	var req bytes.Buffer
	req.WriteString(serveRequest("Sec-WebSocket-Protocol: chat, superchat\r\nSec-WebSocket-Extensions: permessage-deflate\r\n"))
	for _, m := range []string{"first", "second"} {
		if err := ws.WriteFrame(&req, ws.MaskFrame(ws.NewTextFrame([]byte(m)))); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := conn.Write(req.Bytes()); err != nil {
		t.Fatal(err)
	}
	br, resp := serveReadResponse(t, conn)
	for _, c := range []struct{ key, want string }{
		{"Upgrade", "websocket"},
		{"Connection", "Upgrade"},
		{"Sec-WebSocket-Accept", "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="}, // RFC 6455 §1.3
		{"Sec-WebSocket-Protocol", "chat"},
		{"Sec-WebSocket-Extensions", ""},
	} {
		if got := resp.Header.Get(c.key); got != c.want {
			t.Errorf("got %s: %q, want %q", c.key, got, c.want)
		}
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("got status %d, want 101", resp.StatusCode)
	}
	for _, m := range []string{"first", "second"} {
		h, p, err := serveReadFrame(br)
		if err != nil {
			t.Fatal(err)
		}
		serveWantFrame(t, h, p, true, ws.OpText, []byte(m))
	}
}

func TestServeHandshakeInPieces(t *testing.T) {
	const addr = "127.0.0.77:19006"
	startServe(t, Config{Addr: addr, Loops: 1})
	conn := serveRawConn(t, addr)
	var req bytes.Buffer
	req.WriteString(serveRequest(""))
	if err := ws.WriteFrame(&req, ws.MaskFrame(ws.NewBinaryFrame(servePayload(300)))); err != nil {
		t.Fatal(err)
	}
	// One byte per write: the head and the frame header arrive split.
	b := req.Bytes()
	for i := range b {
		if _, err := conn.Write(b[i : i+1]); err != nil {
			t.Fatal(err)
		}
	}
	br, resp := serveReadResponse(t, conn)
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("got status %d, want 101", resp.StatusCode)
	}
	h, p, err := serveReadFrame(br)
	if err != nil {
		t.Fatal(err)
	}
	serveWantFrame(t, h, p, true, ws.OpBinary, servePayload(300))
}

func TestServeBadHandshake(t *testing.T) {
	const addr = "127.0.0.77:19007"
	startServe(t, Config{Addr: addr, Loops: 2})
	tests := []struct {
		name string
		req  string
		want int
	}{
		{"no upgrade", "GET / HTTP/1.1\r\nHost: x\r\n\r\n", http.StatusBadRequest},
		{"no key", "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\r\n", http.StatusBadRequest},
		{"garbage", "hello there\r\n\r\n", http.StatusBadRequest},
		{"http/1.0", strings.Replace(serveRequest(""), "HTTP/1.1", "HTTP/1.0", 1), http.StatusBadRequest},
		{"post", strings.Replace(serveRequest(""), "GET", "POST", 1), http.StatusMethodNotAllowed},
		{"version 8", strings.Replace(serveRequest(""), "Version: 13", "Version: 8", 1), http.StatusUpgradeRequired},
		{"head too large", serveRequest("X-Big: " + strings.Repeat("b", serveMaxHeadBytes) + "\r\n"), http.StatusRequestHeaderFieldsTooLarge},
		{"no end too large", "GET / HTTP/1.1\r\nX: " + strings.Repeat("b", serveMaxHeadBytes+10), http.StatusRequestHeaderFieldsTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conn := serveRawConn(t, addr)
			if _, err := conn.Write([]byte(tt.req)); err != nil {
				t.Fatal(err)
			}
			br, resp := serveReadResponse(t, conn)
			if resp.StatusCode != tt.want {
				t.Errorf("got status %d, want %d", resp.StatusCode, tt.want)
			}
			if !resp.Close {
				t.Errorf("got Connection: %q, want close", resp.Header.Get("Connection"))
			}
			if _, err := io.Copy(io.Discard, resp.Body); err != nil {
				t.Errorf("reading the body: %v", err)
			}
			if n, err := io.Copy(io.Discard, br); n != 0 || err != nil {
				t.Errorf("after response got %d bytes, %v; want 0, EOF", n, err)
			}
		})
	}
}

func TestServeSubprotocolNoExtensions(t *testing.T) {
	const addr = "127.0.0.77:19008"
	startServe(t, Config{Addr: addr, Loops: 1})
	tests := []struct {
		name      string
		protocols []string
		want      string
	}{
		{"none", nil, ""},
		{"first of two", []string{"chat", "superchat"}, "chat"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := ws.Dialer{
				Protocols:  tt.protocols,
				Extensions: []httphead.Option{httphead.NewOption("permessage-deflate", nil)},
			}
			c := dialServe(t, d, addr)
			if c.hs.Protocol != tt.want || len(c.hs.Extensions) != 0 {
				t.Errorf("got protocol %q, extensions %v; want %q, none", c.hs.Protocol, c.hs.Extensions, tt.want)
			}
		})
	}
}

func TestServeConcurrentClients(t *testing.T) {
	const addr = "127.0.0.77:19009"
	const clients, messages = 200, 20
	startServe(t, Config{Addr: addr, Loops: 2})
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	for i := range clients {
		wg.Go(func() {
			errs <- serveClientRun(addr, i, messages)
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
}

// serveClientRun dials addr and echoes messages, checking each; it closes
// with 1000 and checks the answer. It is safe off the test goroutine.
func serveClientRun(addr string, id, messages int) error {
	ctx, cancel := context.WithTimeout(context.Background(), serveTestTimeout)
	defer cancel()
	conn, br, _, err := ws.Dial(ctx, "ws://"+addr+"/")
	if err != nil {
		return fmt.Errorf("client %d: dial: %w", id, err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(serveTestTimeout))
	var r io.Reader = conn
	if br != nil {
		r = br
	}
	for m := range messages {
		want := fmt.Appendf(nil, "client %d message %d %s", id, m, servePayload(m*100))
		if err := ws.WriteFrame(conn, ws.MaskFrame(ws.NewBinaryFrame(want))); err != nil {
			return fmt.Errorf("client %d: write: %w", id, err)
		}
		h, got, err := serveReadFrame(r)
		if err != nil {
			return fmt.Errorf("client %d: read: %w", id, err)
		}
		if h.OpCode != ws.OpBinary || !bytes.Equal(got, want) {
			return fmt.Errorf("client %d: message %d: got %v %q, want binary %q", id, m, h.OpCode, got, want)
		}
	}
	if err := ws.WriteFrame(conn, ws.MaskFrame(ws.NewCloseFrame(ws.NewCloseFrameBody(1000, "")))); err != nil {
		return fmt.Errorf("client %d: write close: %w", id, err)
	}
	h, got, err := serveReadFrame(r)
	if err != nil || h.OpCode != ws.OpClose || binary.BigEndian.Uint16(got) != 1000 {
		return fmt.Errorf("client %d: got close %v %x %v, want 1000", id, h.OpCode, got, err)
	}
	return nil
}

func TestServeDelay(t *testing.T) {
	const addr = "127.0.0.78:19001"
	const delay = 200 * time.Millisecond
	startServe(t, Config{Addr: addr, Loops: 2, Delay: delay})
	start := time.Now()
	c := dialServe(t, ws.Dialer{}, addr)
	if got := time.Since(start); got < delay {
		t.Errorf("handshake took %v, want at least %v", got, delay)
	}
	c.write(t, true, ws.OpText, []byte("late"))
	h, p := c.read(t)
	serveWantFrame(t, h, p, true, ws.OpText, []byte("late"))
}

func TestServeRefusesBusyAddr(t *testing.T) {
	const addr = "127.0.0.77:19010"
	startServe(t, Config{Addr: addr, Loops: 1})
	ctx, cancel := context.WithTimeout(context.Background(), serveTestTimeout)
	defer cancel()
	err := Serve(ctx, Config{Addr: addr, Loops: 1}, func() { t.Error("second server became ready") })
	if !errors.Is(err, ErrAddrInUse) {
		t.Errorf("got %v, want %v", err, ErrAddrInUse)
	}
}

func TestServeConfigErrors(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want []error
	}{
		{"no addr", Config{}, []error{ErrNoAddr}},
		{"no port", Config{Addr: "127.0.0.1"}, []error{ErrNoAddr}},
		{"everything", Config{Addr: "x", Loops: -1, Delay: -1, Mode: "broadcast"},
			[]error{ErrNoAddr, ErrBadLoops, ErrBadDelay, ErrUnknownMode}},
		{"too many loops", Config{Addr: "127.0.0.1:1", Loops: 257}, []error{ErrBadLoops}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Serve(context.Background(), tt.cfg, nil)
			for _, w := range tt.want {
				if !errors.Is(err, w) {
					t.Errorf("got %v, want it to include %v", err, w)
				}
			}
		})
	}
}
