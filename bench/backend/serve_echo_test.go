package backend

import (
	"bytes"
	"io"
	"math/rand/v2"
	"testing"

	"github.com/gobwas/ws"
)

// serveFrames compiles frames, masked if mask is set.
func serveFrames(tb testing.TB, mask bool, frames ...ws.Frame) []byte {
	tb.Helper()
	var b bytes.Buffer
	for _, f := range frames {
		if mask {
			f = ws.MaskFrameWith(f, [4]byte{0x11, 0x22, 0x33, 0x44})
		}
		if err := ws.WriteFrame(&b, f); err != nil {
			tb.Fatal(err)
		}
	}
	return b.Bytes()
}

// serveFeedPieces feeds in to a new serveEcho cut at cuts (increasing
// offsets) and returns all output and whether it reported closing.
func serveFeedPieces(in []byte, cuts []int) (out []byte, closing bool) {
	var e serveEcho
	in = bytes.Clone(in) // feed rewrites its input
	prev := 0
	for _, cut := range append(cuts, len(in)) {
		o, c := e.feed(in[prev:cut])
		out = append(out, o.lead...)
		out = append(out, o.body...)
		out = append(out, o.tail...)
		if c {
			if closing {
				panic("closing reported twice")
			}
			closing = true
		}
		prev = cut
	}
	return out, closing
}

func TestServeEchoFeed(t *testing.T) {
	big := servePayload(70000)
	tests := []struct {
		name    string
		in      []ws.Frame // sent masked
		want    []ws.Frame // expected unmasked
		raw     []byte     // appended to in, unmasked as is
		wantRaw []byte     // appended to want
		closing bool
	}{
		{name: "empty text", in: []ws.Frame{ws.NewTextFrame(nil)}, want: []ws.Frame{ws.NewTextFrame(nil)}},
		{
			name: "sizes",
			in:   []ws.Frame{ws.NewTextFrame(big[:1]), ws.NewBinaryFrame(big[:125]), ws.NewBinaryFrame(big[:126]), ws.NewTextFrame(big[:65535]), ws.NewBinaryFrame(big)},
			want: []ws.Frame{ws.NewTextFrame(big[:1]), ws.NewBinaryFrame(big[:125]), ws.NewBinaryFrame(big[:126]), ws.NewTextFrame(big[:65535]), ws.NewBinaryFrame(big)},
		},
		{
			name: "fragments, ping, pong",
			in: []ws.Frame{ws.NewFrame(ws.OpText, false, []byte("ab")), ws.NewPingFrame([]byte("p")),
				ws.NewPongFrame([]byte("q")), ws.NewFrame(ws.OpContinuation, false, nil), ws.NewPingFrame(nil),
				ws.NewFrame(ws.OpContinuation, true, []byte("cd"))},
			want: []ws.Frame{ws.NewFrame(ws.OpText, false, []byte("ab")), ws.NewPongFrame([]byte("p")),
				ws.NewFrame(ws.OpContinuation, false, nil), ws.NewPongFrame(nil),
				ws.NewFrame(ws.OpContinuation, true, []byte("cd"))},
		},
		{
			name:    "close echoes code and ignores the rest",
			in:      []ws.Frame{ws.NewTextFrame([]byte("x")), ws.NewCloseFrame(ws.NewCloseFrameBody(4000, "why")), ws.NewTextFrame([]byte("y"))},
			want:    []ws.Frame{ws.NewTextFrame([]byte("x")), ws.NewCloseFrame(ws.NewCloseFrameBody(4000, ""))},
			closing: true,
		},
		{
			name:    "empty close",
			in:      []ws.Frame{ws.NewCloseFrame(nil)},
			want:    []ws.Frame{ws.NewCloseFrame(nil)},
			closing: true,
		},
		{
			name:    "close code 1006 is a protocol error",
			in:      []ws.Frame{ws.NewCloseFrame(ws.NewCloseFrameBody(1006, ""))},
			want:    []ws.Frame{ws.NewCloseFrame(ws.NewCloseFrameBody(ws.StatusProtocolError, ""))},
			closing: true,
		},
		{
			name:    "unmasked frame",
			in:      []ws.Frame{ws.NewTextFrame([]byte("x"))},
			raw:     []byte{0x81, 0x00},
			want:    []ws.Frame{ws.NewTextFrame([]byte("x"))},
			wantRaw: serveClose1002,
			closing: true,
		},
		{
			name:    "text inside a fragmented message",
			in:      []ws.Frame{ws.NewFrame(ws.OpText, false, []byte("x")), ws.NewTextFrame(nil)},
			want:    []ws.Frame{ws.NewFrame(ws.OpText, false, []byte("x"))},
			wantRaw: serveClose1002,
			closing: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := append(serveFrames(t, true, tt.in...), tt.raw...)
			want := append(serveFrames(t, false, tt.want...), tt.wantRaw...)
			check := func(name string, cuts []int) {
				t.Helper()
				got, closing := serveFeedPieces(in, cuts)
				if !bytes.Equal(got, want) || closing != tt.closing {
					t.Fatalf("%s: got %d bytes (equal %v), closing %v; want %d bytes, closing %v",
						name, len(got), bytes.Equal(got, want), closing, len(want), tt.closing)
				}
			}
			check("whole", nil)
			var bytewise []int
			for i := 1; i < len(in) && i < 300; i++ {
				check("cut", []int{i})
				bytewise = append(bytewise, i)
			}
			check("bytewise", bytewise)
		})
	}
}

func FuzzServeEchoFeed(f *testing.F) {
	f.Add(serveFrames(f, true, ws.NewTextFrame([]byte("hello")), ws.NewPingFrame([]byte("p"))), uint64(1))
	f.Add(serveFrames(f, true, ws.NewFrame(ws.OpBinary, false, servePayload(300)),
		ws.NewFrame(ws.OpContinuation, true, servePayload(70))), uint64(2))
	f.Add(serveFrames(f, true, ws.NewCloseFrame(ws.NewCloseFrameBody(1000, "bye"))), uint64(3))
	// A 64-bit length, cut short: long inputs make the fuzzer slow.
	f.Add(serveFrames(f, true, ws.NewBinaryFrame(servePayload(70000)))[:300], uint64(4))
	f.Add([]byte{0x81, 0xfe, 0x00, 0x05, 1, 2, 3, 4, 'a', 'b', 'c', 'd', 'e'}, uint64(5)) // non-minimal length
	f.Add([]byte{0x81, 0x05, 'h', 'e', 'l', 'l', 'o'}, uint64(6))
	f.Fuzz(func(t *testing.T, in []byte, seed uint64) {
		whole, wholeClosing := serveFeedPieces(in, nil)
		rng := rand.New(rand.NewPCG(seed, seed>>1))
		var cuts []int
		for at := 0; len(in) > 0; {
			at += 1 + rng.IntN(min(len(in), 40))
			if at >= len(in) {
				break
			}
			cuts = append(cuts, at)
		}
		pieces, piecesClosing := serveFeedPieces(in, cuts)
		if !bytes.Equal(whole, pieces) || wholeClosing != piecesClosing {
			t.Fatalf("whole: %x closing %v; in pieces %v: %x closing %v", whole, wholeClosing, cuts, pieces, piecesClosing)
		}
		// The output is whole unmasked frames with no RSV bits.
		r := bytes.NewReader(whole)
		for r.Len() > 0 {
			h, err := ws.ReadHeader(r)
			if err != nil {
				t.Fatalf("output header: %v", err)
			}
			if h.Masked || h.Rsv != 0 || (h.OpCode.IsControl() && (h.Length > 125 || !h.Fin)) {
				t.Fatalf("bad output header %+v", h)
			}
			if n, err := io.CopyN(io.Discard, r, h.Length); err != nil && !(n == h.Length) {
				// A data frame's payload may still be in flight at the end.
				if h.OpCode.IsControl() || r.Len() != 0 {
					t.Fatalf("output payload: %v", err)
				}
			}
		}
	})
}

// serveBenchEcho returns a feed benchmark input of frames of n bytes.
func serveBenchEcho(b *testing.B, n, frames int) []byte {
	b.Helper()
	fs := make([]ws.Frame, frames)
	for i := range fs {
		fs[i] = ws.NewBinaryFrame(servePayload(n))
	}
	return serveFrames(b, true, fs...)
}

func BenchmarkServeEchoFeed(b *testing.B) {
	for _, bc := range []struct {
		name      string
		n, frames int
	}{
		{"64B", 64, 1},
		{"64Bx100", 64, 100},
		{"16KiB", 16 << 10, 1},
	} {
		b.Run(bc.name, func(b *testing.B) {
			in := serveBenchEcho(b, bc.n, bc.frames)
			buf := make([]byte, len(in))
			var e serveEcho
			b.ReportAllocs()
			b.SetBytes(int64(len(in)))
			for b.Loop() {
				copy(buf, in)
				e.feed(buf)
			}
		})
	}
}
