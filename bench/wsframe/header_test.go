package wsframe

import (
	"bytes"
	"errors"
	"testing"

	"github.com/gobwas/ws"
)

// wsHeader returns h as gobwas/ws writes it.
func wsHeader(t testing.TB, h ws.Header) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := ws.WriteHeader(&b, h); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestParseHeader(t *testing.T) {
	mask := [4]byte{1, 2, 3, 4}
	tests := []struct {
		name    string
		in      []byte
		masked  bool
		wantErr error
		wantN   int
		wantLen int64
		wantOp  ws.OpCode
	}{
		{"empty", nil, false, nil, 0, 0, 0},
		{"one byte", []byte{0x82}, false, nil, 0, 0, 0},
		{"server text", wsHeader(t, ws.Header{Fin: true, OpCode: ws.OpText, Length: 5}), false, nil, 2, 5, ws.OpText},
		{"len16 partial", []byte{0x82, 126, 0}, false, nil, 0, 0, 0},
		{"len16", []byte{0x82, 126, 1, 0}, false, nil, 4, 256, ws.OpBinary},
		{"len64 partial", []byte{0x82, 127, 0, 0, 0, 0, 0, 1}, false, nil, 0, 0, 0},
		{"len64", []byte{0x82, 127, 0, 0, 0, 0, 0, 1, 0, 0}, false, nil, 10, 65536, ws.OpBinary},
		{"server 64-bit", []byte{0x82, 127, 0, 0, 0, 0, 0, 0, 0x10, 0}, false, nil, 10, 4096, ws.OpBinary},
		{"close", []byte{0x88, 2}, false, nil, 2, 2, ws.OpClose},
		{"client binary 16-bit", wsHeader(t, ws.Header{Fin: true, OpCode: ws.OpBinary, Length: 300, Masked: true, Mask: mask}), true, nil, 8, 300, ws.OpBinary},
		{"client 64-bit", wsHeader(t, ws.Header{Fin: true, OpCode: ws.OpBinary, Length: 65000, Masked: true, Mask: mask}), true, nil, 8, 65000, ws.OpBinary},
		{"server frame masked", wsHeader(t, ws.Header{Fin: true, OpCode: ws.OpText, Length: 5, Masked: true, Mask: mask}), false, ErrMask, 0, 0, 0},
		{"masked, first bytes", []byte{0x82, 0x85}, false, ErrMask, 0, 0, 0},
		{"client frame unmasked", wsHeader(t, ws.Header{Fin: true, OpCode: ws.OpText, Length: 5}), true, ErrMask, 0, 0, 0},
		{"rsv", wsHeader(t, ws.Header{Fin: true, Rsv: 4, OpCode: ws.OpText}), false, ErrReservedBits, 0, 0, 0},
		{"rsv1", []byte{0xc2, 5}, false, ErrReservedBits, 0, 0, 0},
		{"opcode 3", []byte{0x83, 0}, false, ErrReservedOpcode, 0, 0, 0},
		{"opcode 11", []byte{0x8b, 0}, false, ErrReservedOpcode, 0, 0, 0},
		{"fragmented ping", []byte{0x09, 0}, false, ErrControl, 0, 0, 0},
		{"long ping", []byte{0x89, 126, 0, 126}, false, ErrControl, 0, 0, 0},
		{"long close", wsHeader(t, ws.Header{Fin: true, OpCode: ws.OpClose, Length: 126}), false, ErrControl, 0, 0, 0},
		{"too long", wsHeader(t, ws.Header{Fin: true, OpCode: ws.OpBinary, Length: 1 << 20}), false, ErrTooLong, 0, 0, 0},
		{"too long 64-bit", []byte{0x82, 127, 0, 0, 0, 0, 0, 0x10, 0, 1}, false, ErrTooLong, 0, 0, 0},
		{"top bit", []byte{0x82, 127, 0x80, 0, 0, 0, 0, 0, 0, 0}, false, ErrBadLength, 0, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, n, err := ParseHeader(tt.in, tt.masked, 1<<16)
			if !errors.Is(err, tt.wantErr) || n != tt.wantN || (n > 0 && (h.Length != tt.wantLen || h.OpCode != tt.wantOp)) {
				t.Errorf("ParseHeader(%x) = %+v, %d, %v; want length %d op %v, %d, %v",
					tt.in, h, n, err, tt.wantLen, tt.wantOp, tt.wantN, tt.wantErr)
			}
			if n == 0 {
				return
			}
			if tt.masked {
				if got := Mask(tt.in, n); got != mask {
					t.Errorf("got mask %x, want %x", got, mask)
				}
			}
			for i := range tt.in[:n] { // every strict prefix asks for more
				if _, k, err := ParseHeader(tt.in[:i], tt.masked, 1<<16); k != 0 || err != nil {
					t.Errorf("prefix of %d bytes: got n %d, %v; want 0, nil", i, k, err)
				}
			}
		})
	}
}

func TestErrorCodes(t *testing.T) {
	for _, e := range []*Error{ErrReservedBits, ErrMask, ErrReservedOpcode, ErrControl, ErrBadLength,
		ErrUnexpectedContinuation, ErrExpectedContinuation} {
		if e.Code != ws.StatusProtocolError {
			t.Errorf("%v: got code %d, want 1002", e, e.Code)
		}
	}
	if ErrTooLong.Code != ws.StatusMessageTooBig {
		t.Errorf("%v: got code %d, want 1009", ErrTooLong, ErrTooLong.Code)
	}
}

func TestPutHeader(t *testing.T) {
	for _, n := range []int64{0, 125, 126, 0xffff, 0x10000} {
		for _, op := range []ws.OpCode{ws.OpText, ws.OpContinuation} {
			want := wsHeader(t, ws.Header{Fin: op == ws.OpText, OpCode: op, Length: n})
			buf := make([]byte, 0, ws.MaxHeaderSize)
			k := PutHeader(buf, op == ws.OpText, op, n)
			if got := buf[:k]; !bytes.Equal(got, want) || k != HeaderSize(n) {
				t.Errorf("PutHeader(%v, %d) = %x (HeaderSize %d), want %x", op, n, got, HeaderSize(n), want)
			}
			if got := AppendHeader(nil, ws.Header{Fin: op == ws.OpText, OpCode: op, Length: n}); !bytes.Equal(got, want) {
				t.Errorf("AppendHeader(%v, %d) = %x, want %x", op, n, got, want)
			}
		}
	}
	h := ws.Header{Fin: true, OpCode: ws.OpBinary, Length: 300, Masked: true, Mask: [4]byte{9, 8, 7, 6}}
	if got, want := AppendHeader(nil, h), wsHeader(t, h); !bytes.Equal(got, want) {
		t.Errorf("AppendHeader(%+v) = %x, want %x", h, got, want)
	}
}

// FuzzParseHeader checks that a header fed in pieces parses as it does
// whole: no strict prefix of a valid header is taken for one, a prefix of an
// invalid one either asks for more or fails the same way, and what parses
// is what gobwas/ws reads.
func FuzzParseHeader(f *testing.F) {
	f.Add([]byte{0x82, 126, 1, 0}, false)
	f.Add([]byte{0x82, 0xfe, 1, 0, 1, 2, 3, 4}, true)
	f.Add([]byte{0x82, 127, 0x80, 0, 0, 0, 0, 0, 0, 0}, false)
	f.Add([]byte{0x09, 0}, false)
	f.Fuzz(func(t *testing.T, in []byte, masked bool) {
		h, n, err := ParseHeader(in, masked, 1<<20)
		for i := range len(in) {
			ph, pn, perr := ParseHeader(in[:i], masked, 1<<20)
			switch {
			case perr != nil && !errors.Is(err, perr):
				t.Fatalf("prefix %d: error %v, whole: %v", i, perr, err)
			case pn != 0 && (pn != n || ph != h):
				t.Fatalf("prefix %d: %+v, %d; whole: %+v, %d", i, ph, pn, h, n)
			}
		}
		if err != nil || n == 0 {
			return
		}
		wh, werr := ws.ReadHeader(bytes.NewReader(in[:n]))
		if werr != nil || wh.Length != h.Length || wh.OpCode != h.OpCode || wh.Fin != h.Fin || wh.Rsv != 0 ||
			wh.Masked != masked || masked && wh.Mask != Mask(in, n) {
			t.Fatalf("ParseHeader = %+v, %d; ws.ReadHeader = %+v, %v", h, n, wh, werr)
		}
	})
}
