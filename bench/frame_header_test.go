package bench

import (
	"bytes"
	"testing"

	"github.com/gobwas/ws"
)

func TestParseFrameHeader(t *testing.T) {
	header := func(h ws.Header) []byte {
		var b bytes.Buffer
		if err := ws.WriteHeader(&b, h); err != nil {
			t.Fatal(err)
		}
		return b.Bytes()
	}
	mask := [4]byte{1, 2, 3, 4}
	tests := []struct {
		name   string
		in     []byte
		masked bool
		want   frameViolation
		wantN  int
		wantL  int64
	}{
		{"server text", header(ws.Header{Fin: true, OpCode: ws.OpText, Length: 5}), false, frameOK, 2, 5},
		{"client binary 16-bit", header(ws.Header{Fin: true, OpCode: ws.OpBinary, Length: 300, Masked: true, Mask: mask}), true, frameOK, 8, 300},
		{"client 64-bit", header(ws.Header{Fin: true, OpCode: ws.OpBinary, Length: 65000, Masked: true, Mask: mask}), true, frameOK, 8, 65000},
		{"server 64-bit", []byte{0x82, 127, 0, 0, 0, 0, 0, 0, 0x10, 0}, false, frameOK, 10, 4096},
		{"server frame masked", header(ws.Header{Fin: true, OpCode: ws.OpText, Length: 5, Masked: true, Mask: mask}), false, frameMasking, 0, 0},
		{"client frame unmasked", header(ws.Header{Fin: true, OpCode: ws.OpText, Length: 5}), true, frameMasking, 0, 0},
		{"rsv", header(ws.Header{Fin: true, Rsv: 4, OpCode: ws.OpText}), false, frameReserved, 0, 0},
		{"opcode 3", []byte{0x83, 0}, false, frameOpcode, 0, 0},
		{"opcode 11", []byte{0x8b, 0}, false, frameOpcode, 0, 0},
		{"fragmented ping", []byte{0x09, 0}, false, frameControl, 0, 0},
		{"long close", header(ws.Header{Fin: true, OpCode: ws.OpClose, Length: 126}), false, frameControl, 0, 0},
		{"too long", header(ws.Header{Fin: true, OpCode: ws.OpBinary, Length: 1 << 20}), false, frameTooLong, 0, 0},
		{"top bit", []byte{0x82, 127, 0x80, 0, 0, 0, 0, 0, 0, 0}, false, frameBadLength, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			length, b0, n, v := parseFrameHeader(tt.in, tt.masked, 1<<16)
			if v != tt.want || n != tt.wantN || (v == frameOK && (length != tt.wantL || b0 != tt.in[0])) {
				t.Errorf("parseFrameHeader(%x) = %d, %#x, %d, %v; want %d, %#x, %d, %v",
					tt.in, length, b0, n, v, tt.wantL, tt.in[0], tt.wantN, tt.want)
			}
			if tt.want != frameOK {
				return
			}
			for i := range tt.in { // every strict prefix asks for more
				if _, _, n, v := parseFrameHeader(tt.in[:i], tt.masked, 1<<16); n != 0 || v != frameOK {
					t.Errorf("prefix of %d bytes: got n %d, %v; want 0, ok", i, n, v)
				}
			}
		})
	}
}
