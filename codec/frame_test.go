package codec

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"unsafe"

	"github.com/gobwas/ws"
)

// First-byte bits of a frame header (RFC 6455 §5.2).
const (
	frFin  = 0x80
	frRsv1 = 0x40
	frRsv2 = 0x20
	frRsv3 = 0x10

	frCont   = byte(ws.OpContinuation)
	frText   = byte(ws.OpText)
	frBinary = byte(ws.OpBinary)
	frClose  = byte(ws.OpClose)
	frPing   = byte(ws.OpPing)
	frPong   = byte(ws.OpPong)
)

var frMask = [4]byte{0xa1, 0xb2, 0xc3, 0xd4}

// frHeader encodes a frame header with first byte b0 and the given payload
// length, masked with frMask or not. lenBits forces the length encoding (7,
// 16 or 64 bits); 0 picks the shortest.
func frHeader(b0 byte, masked bool, length uint64, lenBits int) []byte {
	if lenBits == 0 {
		switch {
		case length < 126:
			lenBits = 7
		case length <= 0xffff:
			lenBits = 16
		default:
			lenBits = 64
		}
	}
	var b1 byte
	if masked {
		b1 = 0x80
	}
	h := []byte{b0, b1}
	switch lenBits {
	case 7:
		h[1] |= byte(length)
	case 16:
		h[1] |= 126
		h = binary.BigEndian.AppendUint16(h, uint16(length))
	default:
		h[1] |= 127
		h = binary.BigEndian.AppendUint64(h, length)
	}
	if masked {
		h = append(h, frMask[:]...)
	}
	return h
}

// frFrame encodes a whole frame with n payload bytes; see frHeader. A
// Close of 2 bytes or more carries code 1000 and a reason of "a"s, masked
// with frMask when masked is set.
func frFrame(b0 byte, masked bool, n int, lenBits int) []byte {
	p := frHeader(b0, masked, uint64(n), lenBits)
	start := len(p)
	for i := range n {
		p = append(p, byte(i*7+1))
	}
	if ws.OpCode(b0&0x0f) == ws.OpClose && n >= 2 {
		pl := p[start:]
		pl[0], pl[1] = 0x03, 0xe8
		for i := 2; i < n; i++ {
			pl[i] = 'a'
		}
		if masked {
			ws.Cipher(pl, frMask, 0)
		}
	}
	return p
}

func frCat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

// frFeed scans pieces in order as the engine would and returns what it would
// forward, stopping at the first error. Like the engine, it passes the bytes
// of a Close not yet whole again, before the next piece.
func frFeed(s *Stream, pieces ...[]byte) (out []byte, err error) {
	var kept []byte
	for _, p := range pieces {
		p = append(kept, p...)
		held, n, err := s.Scan(p)
		out = append(out, held...)
		out = append(out, p[:n]...)
		if err != nil {
			return out, err
		}
		kept = nil
		if s.ClosePending() {
			kept = append([]byte(nil), p[n:]...)
		}
	}
	return out, nil
}

// frFeedMatch is frFeed comparing what would be forwarded with want as it goes,
// without copying: every split point of a long stream stays cheap.
func frFeedMatch(s *Stream, want []byte, pieces ...[]byte) error {
	off := 0
	match := func(b []byte) bool {
		if len(b) > len(want)-off || !bytes.Equal(b, want[off:off+len(b)]) {
			return false
		}
		off += len(b)
		return true
	}
	var kept []byte
	for _, p := range pieces {
		if len(kept) > 0 {
			p = append(kept, p...)
		}
		held, n, err := s.Scan(p)
		if err != nil {
			return err
		}
		if !match(held) || !match(p[:n]) {
			return errors.New("forwarded bytes differ")
		}
		kept = nil
		if s.ClosePending() {
			kept = append([]byte(nil), p[n:]...)
		}
	}
	if off != len(want) {
		return errors.New("forwarded too few bytes")
	}
	return nil
}

func frNewStream(role Role, maxFrame uint64, deflate, other bool) *Stream {
	s := new(Stream)
	s.Init(role, maxFrame, deflate, other)
	return s
}

func TestStreamSize(t *testing.T) {
	if got, want := unsafe.Sizeof(Stream{}), uintptr(48); got > want {
		t.Errorf("unsafe.Sizeof(Stream{}) = %d, want <= %d", got, want)
	}
}

func TestStreamValid(t *testing.T) {
	c, sv := FromClient, FromServer
	tests := []struct {
		name          string
		role          Role
		maxFrame      uint64
		deflate       bool
		other         bool
		in            []byte
		wantFrames    uint64
		wantInMessage bool
		wantClose     bool
	}{
		{name: "empty", role: c, in: nil},
		{name: "text 0 masked", role: c, in: frFrame(frFin|frText, true, 0, 0), wantFrames: 1},
		{name: "text 0 unmasked", role: sv, in: frFrame(frFin|frText, false, 0, 0), wantFrames: 1},
		{name: "binary 125 masked", role: c, in: frFrame(frFin|frBinary, true, 125, 0), wantFrames: 1},
		{name: "binary 125 unmasked", role: sv, in: frFrame(frFin|frBinary, false, 125, 0), wantFrames: 1},
		{name: "binary 126 masked 16-bit", role: c, in: frFrame(frFin|frBinary, true, 126, 0), wantFrames: 1},
		{name: "binary 126 unmasked 16-bit", role: sv, in: frFrame(frFin|frBinary, false, 126, 0), wantFrames: 1},
		{name: "binary 127 masked 16-bit", role: c, in: frFrame(frFin|frBinary, true, 127, 0), wantFrames: 1},
		{name: "binary 127 unmasked 16-bit", role: sv, in: frFrame(frFin|frBinary, false, 127, 0), wantFrames: 1},
		{name: "binary 65535 masked 16-bit", role: c, in: frFrame(frFin|frBinary, true, 65535, 0), wantFrames: 1},
		{name: "binary 65535 unmasked 16-bit", role: sv, in: frFrame(frFin|frBinary, false, 65535, 0), wantFrames: 1},
		{name: "binary 65536 masked 64-bit", role: c, in: frFrame(frFin|frBinary, true, 65536, 0), wantFrames: 1},
		{name: "binary 65536 unmasked 64-bit", role: sv, in: frFrame(frFin|frBinary, false, 65536, 0), wantFrames: 1},
		{name: "non-minimal 0 in 16-bit", role: c, in: frFrame(frFin|frText, true, 0, 16), wantFrames: 1},
		{name: "non-minimal 5 in 64-bit", role: sv, in: frFrame(frFin|frText, false, 5, 64), wantFrames: 1},
		{name: "non-minimal 126 in 64-bit", role: c, in: frFrame(frFin|frBinary, true, 126, 64), wantFrames: 1},
		{name: "non-minimal ping 3 in 7-bit is minimal", role: c, in: frFrame(frFin|frPing, true, 3, 7), wantFrames: 1},
		{
			name: "fragmented text with interleaved ping and pong",
			role: c,
			in: frCat(
				frFrame(frText, true, 10, 0),
				frFrame(frFin|frPing, true, 4, 0),
				frFrame(frCont, true, 300, 0),
				frFrame(frFin|frPong, true, 0, 0),
				frFrame(frFin|frCont, true, 1, 0),
			),
			wantFrames: 5,
		},
		{
			name:          "message still open",
			role:          sv,
			in:            frCat(frFrame(frBinary, false, 3, 0), frFrame(frCont, false, 3, 0)),
			wantFrames:    2,
			wantInMessage: true,
		},
		{name: "close empty", role: sv, in: frFrame(frFin|frClose, false, 0, 0), wantFrames: 1, wantClose: true},
		{name: "close code", role: c, in: frFrame(frFin|frClose, true, 2, 0), wantFrames: 1, wantClose: true},
		{name: "close 125", role: c, in: frFrame(frFin|frClose, true, 125, 0), wantFrames: 1, wantClose: true},
		{name: "ping 125", role: sv, in: frFrame(frFin|frPing, false, 125, 0), wantFrames: 1},
		{
			name:       "deflate frRsv1 on first frames",
			role:       c,
			deflate:    true,
			in:         frCat(frFrame(frFin|frRsv1|frText, true, 5, 0), frFrame(frRsv1|frBinary, true, 5, 0), frFrame(frFin|frCont, true, 5, 0)),
			wantFrames: 3,
		},
		{
			name:       "other extension any rsv anywhere",
			role:       sv,
			other:      true,
			in:         frCat(frFrame(frRsv2|frRsv3|frText, false, 1, 0), frFrame(frFin|frRsv1|frRsv2|frRsv3|frPing, false, 1, 0), frFrame(frFin|frRsv3|frCont, false, 1, 0)),
			wantFrames: 3,
		},
		{name: "max equal", role: c, maxFrame: 126, in: frFrame(frFin|frBinary, true, 126, 0), wantFrames: 1},
		{name: "max ping", role: c, maxFrame: 125, in: frFrame(frFin|frPing, true, 125, 0), wantFrames: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := frNewStream(tt.role, tt.maxFrame, tt.deflate, tt.other)
			held, n, err := s.Scan(tt.in)
			if err != nil || n != len(tt.in) || len(held) != 0 {
				t.Fatalf("Scan = held %d bytes, n %d, err %v; want 0, %d, nil", len(held), n, err, len(tt.in))
			}
			if got := s.Frames(); got != tt.wantFrames {
				t.Errorf("Frames() = %d, want %d", got, tt.wantFrames)
			}
			if got := s.InMessage(); got != tt.wantInMessage {
				t.Errorf("InMessage() = %v, want %v", got, tt.wantInMessage)
			}
			if got := s.CloseSeen(); got != tt.wantClose {
				t.Errorf("CloseSeen() = %v, want %v", got, tt.wantClose)
			}
			if !s.AtBoundary() {
				t.Errorf("AtBoundary() = false, want true")
			}
		})
	}
}

func TestStreamViolations(t *testing.T) {
	c, sv := FromClient, FromServer
	okC := frFrame(frFin|frText, true, 3, 0) // a valid client frame to precede the bad one
	tests := []struct {
		name     string
		role     Role
		maxFrame uint64
		deflate  bool
		other    bool
		valid    []byte // valid frames before the offending header
		bad      []byte // the offending header and what follows
		want     error
	}{
		{name: "client frame unmasked", role: c, valid: okC, bad: frFrame(frFin|frText, false, 3, 0), want: ErrMaskRequired},
		{name: "server frame masked", role: sv, bad: frFrame(frFin|frBinary, true, 3, 0), want: ErrMaskUnexpected},
		{name: "opcode 3", role: c, bad: frFrame(frFin|3, true, 0, 0), want: ErrReservedOpcode},
		{name: "opcode 7", role: sv, bad: frFrame(frFin|7, false, 0, 0), want: ErrReservedOpcode},
		{name: "opcode 0xB", role: c, valid: okC, bad: frFrame(frFin|0xb, true, 0, 0), want: ErrReservedOpcode},
		{name: "opcode 0xF", role: sv, bad: frFrame(frFin|0xf, false, 0, 0), want: ErrReservedOpcode},
		{name: "frRsv1 without extension", role: c, bad: frFrame(frFin|frRsv1|frText, true, 1, 0), want: ErrReservedBits},
		{name: "frRsv2 without extension", role: sv, bad: frFrame(frFin|frRsv2|frText, false, 1, 0), want: ErrReservedBits},
		{name: "frRsv3 without extension", role: sv, bad: frFrame(frFin|frRsv3|frBinary, false, 1, 0), want: ErrReservedBits},
		{name: "frRsv2 with deflate", role: c, deflate: true, bad: frFrame(frFin|frRsv2|frText, true, 1, 0), want: ErrReservedBits},
		{name: "frRsv1 on ping with deflate", role: c, deflate: true, bad: frFrame(frFin|frRsv1|frPing, true, 1, 0), want: ErrReservedBits},
		{name: "frRsv1 on close with deflate", role: sv, deflate: true, bad: frFrame(frFin|frRsv1|frClose, false, 2, 0), want: ErrReservedBits},
		{
			name:    "frRsv1 on continuation with deflate",
			role:    c,
			deflate: true,
			valid:   frFrame(frRsv1|frText, true, 1, 0),
			bad:     frFrame(frFin|frRsv1|frCont, true, 1, 0),
			want:    ErrReservedBits,
		},
		{name: "ping 126", role: c, bad: frFrame(frFin|frPing, true, 126, 0), want: ErrControlTooLong},
		{name: "pong 125 in 16-bit", role: sv, bad: frFrame(frFin|frPong, false, 125, 16), want: ErrControlTooLong},
		{name: "close in 64-bit", role: sv, bad: frFrame(frFin|frClose, false, 2, 64), want: ErrControlTooLong},
		{name: "ping without frFin", role: c, bad: frFrame(frPing, true, 0, 0), want: ErrControlFragmented},
		{name: "close without frFin", role: sv, bad: frFrame(frClose, false, 2, 0), want: ErrControlFragmented},
		{name: "continuation first", role: c, bad: frFrame(frFin|frCont, true, 1, 0), want: ErrUnexpectedContinuation},
		{
			name:  "continuation after final",
			role:  sv,
			valid: frCat(frFrame(frText, false, 1, 0), frFrame(frFin|frCont, false, 1, 0)),
			bad:   frFrame(frFin|frCont, false, 1, 0),
			want:  ErrUnexpectedContinuation,
		},
		{
			name:  "text inside message",
			role:  c,
			valid: frCat(frFrame(frText, true, 1, 0), frFrame(frFin|frPing, true, 0, 0)),
			bad:   frFrame(frFin|frText, true, 1, 0),
			want:  ErrExpectedContinuation,
		},
		{name: "close of 1 byte", role: c, bad: frFrame(frFin|frClose, true, 1, 0), want: ErrBadClosePayload},
		{name: "too large 7-bit", role: c, maxFrame: 100, valid: okC, bad: frFrame(frFin|frBinary, true, 101, 0), want: ErrFrameTooLarge},
		{name: "too large 16-bit", role: sv, maxFrame: 1000, bad: frHeader(frFin|frBinary, false, 1001, 0), want: ErrFrameTooLarge},
		{name: "too large 64-bit", role: c, maxFrame: 1 << 20, bad: frHeader(frFin|frBinary, true, 1<<20+1, 0), want: ErrFrameTooLarge},
		{name: "too large ping", role: c, maxFrame: 10, bad: frFrame(frFin|frPing, true, 11, 0), want: ErrFrameTooLarge},
		{name: "length msb", role: sv, bad: frHeader(frFin|frBinary, false, 1<<63, 0), want: ErrBadLength},
		{name: "length all ones", role: c, bad: frHeader(frFin|frBinary, true, ^uint64(0), 0), want: ErrBadLength},
		{name: "bad header with only 2 bytes", role: c, valid: okC, bad: []byte{frFin | 3, 0x80}, want: ErrReservedOpcode},
		{name: "too large before mask", role: c, maxFrame: 10, bad: frHeader(frFin|frBinary, true, 11, 16)[:4], want: ErrFrameTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := frNewStream(tt.role, tt.maxFrame, tt.deflate, tt.other)
			in := frCat(tt.valid, tt.bad)
			held, n, err := s.Scan(in)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Scan err = %v, want %v", err, tt.want)
			}
			if len(held) != 0 || n != len(tt.valid) {
				t.Errorf("Scan = held %d bytes, n %d; want 0, %d", len(held), n, len(tt.valid))
			}
			var ce *CloseError
			if !errors.As(err, &ce) {
				t.Fatalf("errors.As(%v, *CloseError) = false", err)
			}
			wantCode := ws.StatusProtocolError
			if tt.want == ErrFrameTooLarge {
				wantCode = ws.StatusMessageTooBig
			}
			if ce.Code != wantCode {
				t.Errorf("Code = %d, want %d", ce.Code, wantCode)
			}
			if !s.AtBoundary() {
				t.Errorf("AtBoundary() = false after error, want true")
			}
			// Dead: the same error again, nothing forwarded.
			held, n, err = s.Scan(okC)
			if err != tt.want || n != 0 || len(held) != 0 {
				t.Errorf("Scan after error = %d, %d, %v; want 0, 0, %v", len(held), n, err, tt.want)
			}
			// Byte by byte the result is the same.
			s.Init(tt.role, tt.maxFrame, tt.deflate, tt.other)
			pieces := make([][]byte, len(in))
			for i := range in {
				pieces[i] = in[i : i+1]
			}
			out, err := frFeed(s, pieces...)
			if err != tt.want || !bytes.Equal(out, tt.valid) {
				t.Errorf("byte by byte: forwarded %d bytes, err %v; want %d, %v", len(out), err, len(tt.valid), tt.want)
			}
		})
	}
}

func TestStreamPartial(t *testing.T) {
	big := frFrame(frFin|frBinary, true, 70000, 0)
	small := frFrame(frFin|frText, true, 2, 0)
	tests := []struct {
		name         string
		in           []byte // scanned first
		rest         []byte // scanned next, completing the stream
		wantN        int
		wantBoundary bool
	}{
		// A held-back partial header was not forwarded: what the receiver
		// has got still ends at a frame boundary.
		{name: "one header byte", in: big[:1], rest: big[1:], wantN: 0, wantBoundary: true},
		{name: "header without mask", in: big[:10], rest: big[10:], wantN: 0, wantBoundary: true},
		{name: "header but one byte", in: big[:13], rest: big[13:], wantN: 0, wantBoundary: true},
		{name: "header whole", in: big[:14], rest: big[14:], wantN: 14},
		{name: "payload partial", in: big[:20000], rest: big[20000:], wantN: 20000},
		{name: "frame then partial header", in: frCat(small, big[:5]), rest: big[5:], wantN: len(small), wantBoundary: true},
		{name: "frame whole", in: big, wantN: len(big), wantBoundary: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := frNewStream(FromClient, 0, false, false)
			held, n, err := s.Scan(tt.in)
			if err != nil || len(held) != 0 || n != tt.wantN {
				t.Fatalf("Scan = %d, %d, %v; want 0, %d, nil", len(held), n, err, tt.wantN)
			}
			if got := s.AtBoundary(); got != tt.wantBoundary {
				t.Errorf("AtBoundary() = %v, want %v", got, tt.wantBoundary)
			}
			out, err := frFeed(s, tt.rest)
			got, want := frCat(tt.in[:n], out), frCat(tt.in, tt.rest)
			if err != nil || !bytes.Equal(got, want) {
				t.Errorf("after rest: forwarded %d bytes, err %v; want %d, nil", len(got), err, len(want))
			}
			if !s.AtBoundary() {
				t.Errorf("AtBoundary() = false after rest, want true")
			}
		})
	}
}

// TestStreamHeldAndNewPartial covers a read that completes a held-back header
// and ends in a new partial one: held must survive the new hold.
func TestStreamHeldAndNewPartial(t *testing.T) {
	a := frFrame(frFin|frBinary, true, 70000, 64)
	b := frFrame(frFin|frText, true, 1, 64)
	in := frCat(a, b)
	s := frNewStream(FromClient, 0, false, false)
	held, n, err := s.Scan(in[:13])
	if err != nil || n != 0 || len(held) != 0 {
		t.Fatalf("first Scan = %d, %d, %v; want 0, 0, nil", len(held), n, err)
	}
	second := in[13 : len(a)+13]
	held, n, err = s.Scan(second)
	if err != nil || n != 1+70000 {
		t.Fatalf("second Scan = %d, %d, %v; want n %d, nil", len(held), n, err, 1+70000)
	}
	if !bytes.Equal(held, a[:13]) {
		t.Errorf("held = %x, want %x", held, a[:13])
	}
	held2, n, err := s.Scan(in[len(a)+13:])
	if err != nil || !bytes.Equal(frCat(held2, in[len(a)+13:][:n]), b) {
		t.Errorf("third Scan = %x, %d, %v; want %x", held2, n, err, b)
	}
	if s.Frames() != 2 || !s.AtBoundary() {
		t.Errorf("Frames() = %d, AtBoundary() = %v; want 2, true", s.Frames(), s.AtBoundary())
	}
}

// frSplitStream is a valid stream of 9 varied frames, one of them with big
// bytes of payload.
func frSplitStream(masked bool, big int) []byte {
	return frCat(
		frFrame(frFin|frText, masked, 0, 0),
		frFrame(frText, masked, 17, 0),
		frFrame(frFin|frPing, masked, 125, 0),
		frFrame(frCont, masked, 126, 0),
		frFrame(frFin|frPong, masked, 0, 0),
		frFrame(frFin|frCont, masked, 300, 64),
		frFrame(frFin|frBinary, masked, big, 0),
		frFrame(frFin|frBinary, masked, 3, 16),
		frFrame(frFin|frClose, masked, 2, 0),
	)
}

func TestStreamSplits(t *testing.T) {
	for _, role := range []Role{FromClient, FromServer} {
		t.Run(role.String(), func(t *testing.T) {
			in := frSplitStream(role == FromClient, 65536)
			const wantFrames = 9
			check := func(t *testing.T, s *Stream, out []byte, err error) {
				t.Helper()
				if err != nil || !bytes.Equal(out, in) {
					t.Fatalf("forwarded %d bytes, err %v; want %d bytes, nil", len(out), err, len(in))
				}
				if s.Frames() != wantFrames || !s.CloseSeen() || !s.AtBoundary() || s.InMessage() {
					t.Fatalf("Frames %d CloseSeen %v AtBoundary %v InMessage %v; want %d true true false",
						s.Frames(), s.CloseSeen(), s.AtBoundary(), s.InMessage(), wantFrames)
				}
			}
			s := frNewStream(role, 0, false, false)
			out, err := frFeed(s, in)
			check(t, s, out, err)
			// in ends with a Close: what follows it, in the same read or
			// a later one, must not be forwarded.
			tail := frFrame(frFin|frText, role == FromClient, 5, 0)
			for k := 0; k <= len(in); k++ {
				s.Init(role, 0, false, false)
				if err := frFeedMatch(s, in, frCat(in[:k]), frCat(in[k:], tail), tail); err != nil {
					t.Fatalf("split at %d: %v", k, err)
				}
				if s.Frames() != wantFrames || !s.CloseSeen() || !s.AtBoundary() {
					t.Fatalf("split at %d: Frames %d CloseSeen %v AtBoundary %v; want %d true true",
						k, s.Frames(), s.CloseSeen(), s.AtBoundary(), wantFrames)
				}
			}
			pieces := make([][]byte, len(in))
			for i := range in {
				pieces[i] = in[i : i+1]
			}
			s.Init(role, 0, false, false)
			out, err = frFeed(s, pieces...)
			check(t, s, out, err)
			rng := rand.New(rand.NewPCG(1, 2))
			for range 200 {
				var pieces [][]byte
				for rest := in; len(rest) > 0; {
					k := min(len(rest), rng.IntN(40))
					if rng.IntN(10) == 0 {
						k = min(len(rest), rng.IntN(100000))
					}
					pieces = append(pieces, rest[:k])
					rest = rest[k:]
				}
				s.Init(role, 0, false, false)
				out, err := frFeed(s, pieces...)
				check(t, s, out, err)
			}
		})
	}
}

func TestStreamCloseSeenNeedsPayload(t *testing.T) {
	cl := frFrame(frFin|frClose, false, 20, 0)
	s := frNewStream(FromServer, 0, false, false)
	if _, n, err := s.Scan(cl[:10]); err != nil || n != 0 {
		t.Fatalf("Scan = %d, %v; want 0, nil", n, err)
	}
	if s.CloseSeen() || !s.ClosePending() || !s.MidFrame() || !s.AtBoundary() {
		t.Errorf("CloseSeen %v ClosePending %v MidFrame %v AtBoundary %v with payload pending, want false true true true",
			s.CloseSeen(), s.ClosePending(), s.MidFrame(), s.AtBoundary())
	}
	if _, n, err := s.Scan(cl); err != nil || n != len(cl) {
		t.Fatalf("Scan = %d, %v; want %d, nil", n, err, len(cl))
	}
	if !s.CloseSeen() || s.ClosePending() || s.MidFrame() {
		t.Errorf("CloseSeen %v ClosePending %v MidFrame %v after whole Close, want true false false",
			s.CloseSeen(), s.ClosePending(), s.MidFrame())
	}
}

// closeFrame is a Close frame carrying payload as is, masked with frMask
// when masked is set.
func closeFrame(masked bool, payload []byte) []byte {
	f := frHeader(frFin|frClose, masked, uint64(len(payload)), 0)
	p := append([]byte(nil), payload...)
	if masked {
		ws.Cipher(p, frMask, 0)
	}
	return append(f, p...)
}

func TestStreamCloseCodes(t *testing.T) {
	code := func(c int, reason string) []byte { return append([]byte{byte(c >> 8), byte(c)}, reason...) }
	tests := []struct {
		name    string
		payload []byte
		want    error
	}{
		{"empty", nil, nil},
		{"1000", code(1000, "bye"), nil},
		{"1003", code(1003, ""), nil},
		{"1007", code(1007, ""), nil},
		{"1011", code(1011, ""), nil},
		{"1012 registered", code(1012, ""), nil},
		{"1013 registered", code(1013, ""), nil},
		{"1014 registered", code(1014, ""), nil},
		{"3000", code(3000, ""), nil},
		{"4999", code(4999, ""), nil},
		{"utf-8 reason", code(1000, "tschüss ✓"), nil},
		{"123-byte reason", code(1000, strings.Repeat("é", 61)+"x"), nil},
		{"0", code(0, ""), ErrBadCloseCode},
		{"999", code(999, ""), ErrBadCloseCode},
		{"1004 reserved", code(1004, ""), ErrBadCloseCode},
		{"1005 never on the wire", code(1005, ""), ErrBadCloseCode},
		{"1006 never on the wire", code(1006, ""), ErrBadCloseCode},
		{"1015 never on the wire", code(1015, ""), ErrBadCloseCode},
		{"1016", code(1016, ""), ErrBadCloseCode},
		{"2999", code(2999, ""), ErrBadCloseCode},
		{"5000", code(5000, ""), ErrBadCloseCode},
		{"65535", code(65535, ""), ErrBadCloseCode},
		{"invalid utf-8", code(1000, "\xff\xfe"), ErrBadCloseReason},
		{"truncated rune", code(1000, "ab\xc3"), ErrBadCloseReason},
		{"surrogate", code(1000, "\xed\xa0\x80"), ErrBadCloseReason},
	}
	for _, tt := range tests {
		for _, role := range []Role{FromClient, FromServer} {
			t.Run(tt.name+"/"+role.String(), func(t *testing.T) {
				in := frCat(frFrame(frFin|frText, role == FromClient, 3, 0), closeFrame(role == FromClient, tt.payload))
				pieces := make([][]byte, len(in))
				for i := range in {
					pieces[i] = in[i : i+1]
				}
				for _, split := range [][][]byte{{in}, pieces} {
					s := frNewStream(role, 0, false, false)
					out, err := frFeed(s, split...)
					if err != tt.want {
						t.Fatalf("in %d pieces: err %v, want %v", len(split), err, tt.want)
					}
					wantOut := in
					if tt.want != nil {
						wantOut = in[:len(in)-len(closeFrame(false, tt.payload))-len(frMask)*boolInt(role == FromClient)]
					}
					if !bytes.Equal(out, wantOut) {
						t.Fatalf("in %d pieces: forwarded %d bytes, want %d", len(split), len(out), len(wantOut))
					}
					if tt.want == nil != s.CloseSeen() {
						t.Fatalf("CloseSeen %v", s.CloseSeen())
					}
				}
			})
		}
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func TestRoleString(t *testing.T) {
	tests := []struct {
		role Role
		want string
	}{
		{FromClient, "client"},
		{FromServer, "server"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			if got := tt.role.String(); got != tt.want {
				t.Errorf("String() = %q, want %q", got, tt.want)
			}
		})
	}
}

// TestStreamMessages counts data messages, not frames: a fragmented message
// counts once, at its final frame; control frames never.
func TestStreamMessages(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
		want uint32
	}{
		{"none", nil, 0},
		{"one text", frFrame(frFin|frText, true, 5, 0), 1},
		{"ping and pong", frCat(frFrame(frFin|frPing, true, 1, 0), frFrame(frFin|frPong, true, 0, 0)), 0},
		{"fragmented with a ping inside", frCat(
			frFrame(frBinary, true, 10, 0),
			frFrame(frFin|frPing, true, 4, 0),
			frFrame(frCont, true, 3, 0),
			frFrame(frFin|frCont, true, 1, 0),
		), 1},
		{"two, then a close", frCat(
			frFrame(frFin|frText, true, 1, 0),
			frFrame(frFin|frBinary, true, 70000, 0),
			frFrame(frFin|frClose, true, 0, 0),
		), 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := frNewStream(FromClient, 0, false, false)
			if _, err := frFeed(s, tt.in); err != nil {
				t.Fatal(err)
			}
			if got := s.Messages(); got != tt.want {
				t.Errorf("Messages() = %d, want %d", got, tt.want)
			}
		})
	}
}

// TestStreamMaxFrameOver4GiB: a limit of 4 GiB or more is no limit, since
// the Stream keeps its limit in 32 bits.
func TestStreamMaxFrameOver4GiB(t *testing.T) {
	for _, max := range []uint64{0, 1 << 32, 1 << 40} {
		s := frNewStream(FromServer, max, false, false)
		// A 64-bit length just under 2⁶³: only "no limit" accepts it.
		h := []byte{0x82, 127, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
		if _, _, err := s.Scan(h); err != nil {
			t.Errorf("max %d: %v, want no limit", max, err)
		}
	}
	s := frNewStream(FromServer, 1<<32-2, false, false)
	if _, _, err := s.Scan([]byte{0x82, 127, 0, 0, 0, 1, 0, 0, 0, 0}); err == nil {
		t.Error("a 4 GiB frame passed a limit just under 4 GiB")
	}
}

// frFeedGated scans pieces with ScanGated as the engine's gated relay
// does: at each data frame header it asks drop about the message (at its
// first frame) and forwards the header and payload, or neither. It
// returns what it forwarded and the gates it stopped at.
func frFeedGated(s *Stream, drop func(msg int) bool, pieces ...[]byte) (out []byte, gates []Gate, err error) {
	return frFeedGatedPongs(s, drop, false, pieces...)
}

// frFeedGatedPongs is frFeedGated stopping at Pongs and Pings too
// (forwarded, and not counted in gates) when pongs is set.
func frFeedGatedPongs(s *Stream, drop func(msg int) bool, pongs bool, pieces ...[]byte) (out []byte, gates []Gate, err error) {
	var kept []byte
	g := Gate{Data: true, Pongs: pongs, Pings: pongs}
	var skip uint64
	dropping := false
	msg := -1
	for _, p := range pieces {
		p = append(kept, p...)
		kept = nil
		for {
			held, n, err := s.ScanGated(p, &g)
			preHeld, pre, hdrHeld, hdr := g.Cut(held, p[:n])
			if k := min(skip, uint64(len(pre))); k > 0 {
				pre, skip = pre[k:], skip-k
			}
			out = append(append(out, preHeld...), pre...)
			if err != nil {
				return out, gates, err
			}
			if s.ClosePending() {
				kept = append([]byte(nil), p[n:]...)
			}
			if !g.Stopped {
				break
			}
			if g.Pong || g.Ping {
				out = append(out, hdr...)
				p = p[n:]
				continue
			}
			gates = append(gates, g)
			if g.First {
				msg++
				dropping = drop(msg)
			}
			if dropping {
				skip = g.Length
			} else {
				out = append(append(out, hdrHeld...), hdr...)
			}
			p = p[n:]
		}
	}
	return out, gates, nil
}

func TestScanGated(t *testing.T) {
	ping := frFrame(frFin|frPing, true, 3, 0)
	in := frCat(
		frFrame(frFin|frText, true, 5, 0),      // message 0
		frFrame(frBinary, true, 300, 16),       // message 1, fragmented
		ping,                                   // a control frame inside it
		frFrame(frCont, true, 0, 0),            // an empty fragment
		frFrame(frFin|frCont, true, 70000, 64), // its last, with a 64-bit length
		frFrame(frFin|frText, true, 0, 0),      // message 2, empty
	)
	wantGates := []Gate{
		{Length: 5, Stopped: true, Size: 6, First: true, Fin: true},
		{Length: 300, Stopped: true, Size: 8, First: true},
		{Length: 0, Stopped: true, Size: 6},
		{Length: 70000, Stopped: true, Size: 14, Fin: true},
		{Length: 0, Stopped: true, Size: 6, First: true, Fin: true},
	}
	dropOne := func(m int) bool { return m == 1 }
	wantDropped := frCat(frFrame(frFin|frText, true, 5, 0), ping, frFrame(frFin|frText, true, 0, 0))
	for _, cut := range []int{len(in), 1, 2, 3, 7, 13, 100, 4096} {
		var pieces [][]byte
		for rest := in; len(rest) > 0; {
			k := min(cut, len(rest))
			pieces, rest = append(pieces, rest[:k]), rest[k:]
		}
		s := frNewStream(FromClient, 0, false, false)
		out, gates, err := frFeedGated(s, func(int) bool { return false }, pieces...)
		if err != nil || !bytes.Equal(out, in) {
			t.Fatalf("cut %d, admitting all: err %v, forwarded %d of %d bytes (equal %v)", cut, err, len(out), len(in), bytes.Equal(out, in))
		}
		for i := range gates {
			gates[i].Split, gates[i].Data = 0, false // where the header fell depends on the cut
		}
		if fmt.Sprint(gates) != fmt.Sprint(wantGates) {
			t.Fatalf("cut %d: gates %+v, want %+v", cut, gates, wantGates)
		}
		if s.Messages() != 3 || !s.AtBoundary() {
			t.Fatalf("cut %d: %d messages, at boundary %v", cut, s.Messages(), s.AtBoundary())
		}
		s = frNewStream(FromClient, 0, false, false)
		out, _, err = frFeedGated(s, dropOne, pieces...)
		if err != nil || !bytes.Equal(out, wantDropped) {
			t.Fatalf("cut %d, dropping message 1: err %v, forwarded %d bytes, want %d", cut, err, len(out), len(wantDropped))
		}
	}
}

func TestScanGatedAllocs(t *testing.T) {
	in := frCat(frFrame(frFin|frText, true, 64, 0), frFrame(frFin|frPing, true, 3, 0), frFrame(frBinary, true, 10, 0), frFrame(frFin|frCont, true, 10, 0))
	var s Stream
	g := Gate{Data: true, Pongs: true}
	allocs := testing.AllocsPerRun(100, func() {
		s.Init(FromClient, 0, false, false)
		for p := in; len(p) > 0; {
			_, n, err := s.ScanGated(p, &g)
			if err != nil {
				t.Fatal(err)
			}
			p = p[n:]
		}
	})
	if allocs != 0 {
		t.Fatalf("ScanGated allocates %v times", allocs)
	}
}

// TestScanGatedPongs: with Pongs set, each Pong stops the scan once whole
// (and is never held back, even in pieces), and everything else passes as
// with Scan.
func TestScanGatedPongs(t *testing.T) {
	pong := frFrame(frFin|frPong, true, 12, 0)
	in := frCat(frFrame(frFin|frText, true, 5, 0), pong, frFrame(frBinary, true, 3, 0), frFrame(frFin|frPong, true, 0, 0), frFrame(frFin|frCont, true, 2, 0))
	for _, cut := range []int{len(in), 1, 2, 5, 11} {
		s := frNewStream(FromClient, 0, false, false)
		var out []byte
		var pongs []string
		var kept []byte
		g := Gate{Pongs: true}
		for rest := in; len(rest) > 0; {
			k := min(cut, len(rest))
			p := append(kept, rest[:k]...)
			rest, kept = rest[k:], nil
			for {
				held, n, err := s.ScanGated(p, &g)
				if err != nil {
					t.Fatal(err)
				}
				out = append(append(out, held...), p[:n]...)
				if g.Stopped {
					if !g.Pong || g.Data || g.Split != 0 {
						t.Fatalf("cut %d: stop %+v with %d held", cut, g, len(held))
					}
					pongs = append(pongs, string(p[n-int(g.Size)-int(g.Length):n]))
					p = p[n:]
					continue
				}
				if s.ClosePending() {
					kept = append([]byte(nil), p[n:]...)
				}
				break
			}
		}
		if !bytes.Equal(out, in) || len(pongs) != 2 || pongs[0] != string(pong) {
			t.Fatalf("cut %d: forwarded %d of %d bytes, pongs %q", cut, len(out), len(in), pongs)
		}
	}
}
