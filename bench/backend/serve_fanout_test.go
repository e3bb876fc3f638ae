package backend

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"net"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/gobwas/ws"

	"github.com/throngproxy/throng/bench/wsframe"
)

func TestServeFanout(t *testing.T) {
	const addr = "127.0.74.10:19401"
	startServe(t, Config{Addr: addr, Mode: ModeFanout})
	a1 := dialFanout(t, ws.Dialer{}, addr, "/a")
	a2 := dialFanout(t, ws.Dialer{}, addr, "/a?x=1") // the query is ignored
	a3 := dialFanout(t, ws.Dialer{}, addr, "/a")
	b1 := dialFanout(t, ws.Dialer{}, addr, "/b")
	b2 := dialFanout(t, ws.Dialer{}, addr, "/b")

	hello := []byte("hello")
	a1.write(t, true, ws.OpText, hello)
	for _, c := range []*serveTestClient{a2, a3} {
		h, p := c.read(t)
		serveWantFrame(t, h, p, true, ws.OpText, hello)
	}
	// The sender and the other path got nothing: their next frame is the
	// next message sent to them.
	big := servePayload(70000)
	a2.write(t, true, ws.OpBinary, big)
	for _, c := range []*serveTestClient{a1, a3} {
		h, p := c.read(t)
		serveWantFrame(t, h, p, true, ws.OpBinary, big)
	}
	b2.write(t, true, ws.OpText, []byte("b"))
	h, p := b1.read(t)
	serveWantFrame(t, h, p, true, ws.OpText, []byte("b"))

	// A fragmented message with a Ping inside is relayed whole; the Ping
	// is answered to its sender only.
	a3.write(t, false, ws.OpText, []byte("frag"))
	a3.write(t, true, ws.OpPing, []byte("pi"))
	a3.write(t, false, ws.OpContinuation, []byte("men"))
	a3.write(t, true, ws.OpContinuation, []byte("ted"))
	h, p = a3.read(t)
	serveWantFrame(t, h, p, true, ws.OpPong, []byte("pi"))
	for _, c := range []*serveTestClient{a1, a2} {
		h, p := c.read(t)
		serveWantFrame(t, h, p, true, ws.OpText, []byte("fragmented"))
	}

	// A Close is answered with its code and ends that connection only.
	a1.write(t, true, ws.OpClose, ws.NewCloseFrameBody(ws.StatusGoingAway, "bye"))
	h, p = a1.read(t)
	serveWantFrame(t, h, p, true, ws.OpClose, []byte{0x03, 0xe9})
	a1.waitEOF(t)
	a2.write(t, true, ws.OpText, []byte("after"))
	h, p = a3.read(t)
	serveWantFrame(t, h, p, true, ws.OpText, []byte("after"))

	// A protocol error (unmasked frame) is answered with 1002.
	// One write: ws.WriteFrame writes header and payload apart, and a
	// payload that reaches the server after it has closed is answered
	// with a reset instead of the EOF this test waits for.
	var unmasked bytes.Buffer
	if err := ws.WriteFrame(&unmasked, ws.NewTextFrame([]byte("x"))); err != nil {
		t.Fatal(err)
	}
	if _, err := b1.conn.Write(unmasked.Bytes()); err != nil {
		t.Fatal(err)
	}
	h, p = b1.read(t)
	serveWantFrame(t, h, p, true, ws.OpClose, []byte{0x03, 0xea})
	b1.waitEOF(t)
}

func TestServeFanoutSlowSubscriber(t *testing.T) {
	const addr = "127.0.74.11:19401"
	startServe(t, Config{Addr: addr, Mode: ModeFanout, FanoutBufferLimit: 256 << 10})
	pub := dialFanout(t, ws.Dialer{}, addr, "/s")
	fast := dialFanout(t, ws.Dialer{}, addr, "/s")
	// A small receive buffer keeps the kernel from absorbing much.
	slow := dialFanout(t, ws.Dialer{NetDial: func(ctx context.Context, network, a string) (net.Conn, error) {
		d := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
			var serr error
			err := rc.Control(func(fd uintptr) {
				serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096)
			})
			return errors.Join(err, serr)
		}}
		return d.DialContext(ctx, network, a)
	}}, addr, "/s")

	// The publisher sends in step with the fast subscriber, which so never
	// lags; the slow one reads nothing until the end.
	const n, size = 300, 64 << 10
	msg := servePayload(size)
	for i := range n {
		binary.BigEndian.PutUint32(msg, uint32(i))
		pub.write(t, true, ws.OpBinary, msg)
		h, p := fast.read(t)
		if h.OpCode != ws.OpBinary || len(p) != size || binary.BigEndian.Uint32(p) != uint32(i) {
			t.Fatalf("fast subscriber: message %d: got op %v, %d bytes; want binary, %d bytes in order", i, h.OpCode, len(p), size)
		}
	}
	got := 0
	for {
		h, p, err := serveReadFrame(slow.r)
		if err != nil {
			t.Fatalf("slow subscriber after %d messages: %v; want Close 1013", got, err)
		}
		if h.OpCode == ws.OpClose {
			if !bytes.Equal(p, []byte{0x03, 0xf5}) {
				t.Fatalf("got Close %x, want 1013", p)
			}
			break
		}
		got++
	}
	if got >= n {
		t.Errorf("slow subscriber got %d messages, want fewer than %d (dropped)", got, n)
	}
	slow.waitEOF(t)
	// The rest of the topic goes on.
	fast.write(t, true, ws.OpText, []byte("still"))
	h, p := pub.read(t)
	serveWantFrame(t, h, p, true, ws.OpText, []byte("still"))
}

func TestServeFanoutConfig(t *testing.T) {
	for _, tt := range []struct {
		name string
		cfg  Config
		want error
	}{
		{"two loops", Config{Addr: "127.0.74.12:1", Mode: ModeFanout, Loops: 2}, ErrFanoutLoops},
		{"two loops is bad loops", Config{Addr: "127.0.74.12:1", Mode: ModeFanout, Loops: 2}, ErrBadLoops},
		{"negative limit", Config{Addr: "127.0.74.12:1", Mode: ModeFanout, FanoutBufferLimit: -1}, ErrBadFanoutLimit},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if err := Serve(context.Background(), tt.cfg, nil); !errors.Is(err, tt.want) {
				t.Errorf("got %v, want %v", err, tt.want)
			}
		})
	}
}

func TestServeRequestPath(t *testing.T) {
	for _, tt := range []struct{ head, want string }{
		{"GET /room HTTP/1.1\r\nHost: x\r\n\r\n", "/room"},
		{"GET /room?a=b HTTP/1.1\r\n\r\n", "/room"},
		{"GET / HTTP/1.1\r\n\r\n", "/"},
		{"GET http://h/p HTTP/1.1\r\n\r\n", "http://h/p"},
		{"garbage", ""},
	} {
		if got := string(serveRequestPath([]byte(tt.head))); got != tt.want {
			t.Errorf("serveRequestPath(%q) = %q, want %q", tt.head, got, tt.want)
		}
	}
}

// fanEvent is one serveFanin event, its output copied.
type fanEvent struct {
	ev  serveFanEvent
	out string
}

// faninEvents feeds in to a fresh serveFanin cut at cuts, the way gnet
// delivers it (unconsumed bytes are kept and fed again with the next
// piece), and returns the events and the error that stopped it.
func faninEvents(in []byte, cuts []int) ([]fanEvent, error) {
	var f serveFanin
	var evs []fanEvent
	var buf []byte
	from := 0
	for i := 0; i <= len(cuts); i++ {
		to := len(in)
		if i < len(cuts) {
			to = min(max(cuts[i], from), len(in))
		}
		buf = append(buf, in[from:to]...)
		from = to
		r := 0
		for {
			n, ev, out, err := f.next(buf[r:])
			r += n
			if err != nil {
				return evs, err
			}
			if ev == serveFanNeedMore {
				break
			}
			if ev != serveFanSkip {
				evs = append(evs, fanEvent{ev, string(out)})
			}
		}
		buf = append(buf[:0], buf[r:]...)
	}
	return evs, nil
}

// faninFrames returns masked client frames.
func faninFrames(frames ...ws.Frame) []byte {
	var b bytes.Buffer
	for _, f := range frames {
		_ = ws.WriteFrame(&b, ws.MaskFrame(f))
	}
	return b.Bytes()
}

// serverFrame returns an unmasked frame as the server relays it.
func serverFrame(op ws.OpCode, p []byte) string {
	var b bytes.Buffer
	_ = ws.WriteFrame(&b, ws.NewFrame(op, true, p))
	return b.String()
}

func TestServeFanin(t *testing.T) {
	big := servePayload(70000)
	tests := []struct {
		name    string
		in      []byte
		want    []fanEvent
		wantErr error
	}{
		{"one text", faninFrames(ws.NewTextFrame([]byte("hi"))),
			[]fanEvent{{serveFanMessage, serverFrame(ws.OpText, []byte("hi"))}}, nil},
		{"big binary", faninFrames(ws.NewBinaryFrame(big)),
			[]fanEvent{{serveFanMessage, serverFrame(ws.OpBinary, big)}}, nil},
		{"fragments with ping and pong", faninFrames(
			ws.NewFrame(ws.OpBinary, false, []byte("ab")),
			ws.NewPingFrame([]byte("p")),
			ws.NewPongFrame(nil),
			ws.NewFrame(ws.OpContinuation, true, []byte("cd"))),
			[]fanEvent{{serveFanPing, "p"}, {serveFanMessage, serverFrame(ws.OpBinary, []byte("abcd"))}}, nil},
		{"close", faninFrames(ws.NewCloseFrame(ws.NewCloseFrameBody(1000, "x"))),
			[]fanEvent{{serveFanClose, "\x03\xe8x"}}, nil},
		{"unmasked", []byte{0x81, 0x01, 'x'}, nil, wsframe.ErrMask},
		{"rsv", []byte{0xc1, 0x80, 0, 0, 0, 0}, nil, wsframe.ErrReservedBits},
		{"opcode 3", []byte{0x83, 0x80, 0, 0, 0, 0}, nil, wsframe.ErrReservedOpcode},
		{"long ping", faninFrames(ws.NewPingFrame(make([]byte, 126))), nil, wsframe.ErrControl},
		{"lone continuation", faninFrames(ws.NewFrame(ws.OpContinuation, true, nil)), nil, wsframe.ErrUnexpectedContinuation},
		{"nested", faninFrames(ws.NewFrame(ws.OpText, false, nil), ws.NewTextFrame(nil)), nil, wsframe.ErrExpectedContinuation},
		{"too big", []byte{0x82, 0xff, 0, 0, 0, 0, 1, 0, 0, 1, 0, 0, 0, 0}, nil, wsframe.ErrTooLong},
		{"length top bit", []byte{0x82, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, nil, wsframe.ErrBadLength},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, cuts := range [][]int{nil, {1}, {3, 7}, {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}} {
				got, err := faninEvents(bytes.Clone(tt.in), cuts)
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("cuts %v: got error %v, want %v", cuts, err, tt.wantErr)
				}
				if !slices.Equal(got, tt.want) {
					t.Fatalf("cuts %v: got %d events %.80v, want %d %.80v", cuts, len(got), got, len(tt.want), tt.want)
				}
			}
		})
	}
}

func FuzzServeFanin(f *testing.F) {
	f.Add(faninFrames(ws.NewTextFrame([]byte("hi")), ws.NewPingFrame(nil)), uint16(3), uint16(9))
	f.Add(faninFrames(ws.NewFrame(ws.OpBinary, false, []byte("ab")), ws.NewFrame(ws.OpContinuation, true, servePayload(300))), uint16(1), uint16(200))
	f.Add(faninFrames(ws.NewCloseFrame(nil)), uint16(0), uint16(0))
	f.Add([]byte{0x82, 0xfe, 0x01, 0x00}, uint16(2), uint16(3))
	f.Fuzz(func(t *testing.T, in []byte, c1, c2 uint16) {
		whole, werr := faninEvents(bytes.Clone(in), nil)
		pieces, perr := faninEvents(bytes.Clone(in), []int{int(c1) % (len(in) + 1), int(c2) % (len(in) + 1)})
		if !errors.Is(werr, perr) && !errors.Is(perr, werr) {
			t.Fatalf("whole error %v, pieces error %v", werr, perr)
		}
		if !slices.Equal(whole, pieces) {
			t.Fatalf("whole gave %d events, pieces %d", len(whole), len(pieces))
		}
		for _, e := range whole {
			if e.ev == serveFanMessage {
				h, err := ws.ReadHeader(strings.NewReader(e.out))
				if err != nil || h.Masked || !h.Fin || int(h.Length) > len(e.out) {
					t.Fatalf("relayed frame %.40q: header %+v, %v", e.out, h, err)
				}
			}
		}
	})
}

func BenchmarkServeFanin64(b *testing.B) {
	frame := faninFrames(ws.NewBinaryFrame(servePayload(64)))
	buf := make([]byte, len(frame))
	var f serveFanin
	b.ReportAllocs()
	b.SetBytes(int64(len(frame)))
	for b.Loop() {
		copy(buf, frame)
		if _, ev, _, _ := f.next(buf); ev != serveFanMessage {
			b.Fatal(ev)
		}
	}
}
