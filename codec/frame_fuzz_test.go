package codec

import (
	"bytes"
	"io"
	"testing"
	"unicode/utf8"

	"github.com/gobwas/ws"
)

// FuzzStream checks that a stream fed in random pieces is forwarded exactly as
// when it is fed whole, with the same error and state, and that what is
// forwarded is a run of headers ws.CheckHeader accepts.
//
// cuts gives the piece lengths, one byte each: below 0xf0 the byte itself
// (0 is an empty read), from 0xf0 a multiple of 4 KiB. cfg bit 0 picks
// FromServer, bit 1 deflate, bit 2 another extension. maxFrame 0 is no limit.
func FuzzStream(f *testing.F) {
	masked := frSplitStream(true, 200)
	unmasked := frSplitStream(false, 200)
	f.Add(masked, []byte{1, 2, 3, 13, 0, 200}, uint8(0), uint32(0))
	f.Add(unmasked, []byte{5, 9, 0xf3, 1}, uint8(1), uint32(0))
	f.Add(masked, []byte{0xff}, uint8(0), uint32(300))
	f.Add(frCat(frFrame(frRsv1|frText, true, 3, 0), frFrame(frFin|frCont, true, 3, 0)), []byte{7}, uint8(2), uint32(0))
	f.Add(frCat(frFrame(frRsv1|frText, true, 3, 0), frFrame(frFin|frRsv1|frCont, true, 3, 0)), []byte{7}, uint8(2), uint32(0))
	f.Add(frFrame(frFin|frRsv2|frPing, false, 3, 0), []byte{1, 1, 1}, uint8(5), uint32(0))
	f.Add(frFrame(frFin|frBinary, true, 3, 64), []byte{3, 4, 5}, uint8(0), uint32(0))
	f.Add(frHeader(frFin|frBinary, false, 1<<63, 0), []byte{2, 2}, uint8(1), uint32(0))
	f.Add(frHeader(frFin|frBinary, true, 70000, 0), []byte{6}, uint8(0), uint32(65536))
	f.Add(frCat(frFrame(frFin|frText, true, 2, 0), frFrame(frFin|frText, false, 2, 0)), []byte{3}, uint8(0), uint32(0))
	f.Add(frCat(frFrame(frText, true, 2, 0), frFrame(frFin|frText, true, 2, 0)), []byte{9}, uint8(0), uint32(0))
	f.Add(frFrame(frFin|frCont, false, 2, 0), []byte{1}, uint8(1), uint32(0))
	f.Add(frFrame(frClose, false, 2, 0), []byte{1}, uint8(1), uint32(0))
	f.Add(frFrame(frFin|frClose, true, 1, 0), []byte{1}, uint8(0), uint32(0))
	f.Add(frFrame(frFin|frPing, true, 126, 0), []byte{1}, uint8(0), uint32(0))
	f.Add(frFrame(frFin|0xb, true, 0, 0), []byte{1}, uint8(0), uint32(0))
	f.Add([]byte{frFin | frText}, []byte{}, uint8(0), uint32(0))
	f.Add(closeFrame(true, []byte{0x03, 0xed, 'x'}), []byte{1, 1, 1, 1, 1, 1}, uint8(0), uint32(0))
	f.Add(closeFrame(false, []byte{0x03, 0xe8, 0xff}), []byte{2, 1}, uint8(1), uint32(0))
	f.Add(frCat(frFrame(frFin|frText, true, 3, 0), closeFrame(true, []byte{0x03, 0xe8, 'o', 'k'})), []byte{9, 3}, uint8(0), uint32(0))
	f.Fuzz(func(t *testing.T, data, cuts []byte, cfg uint8, maxFrame uint32) {
		role := FromClient
		if cfg&1 != 0 {
			role = FromServer
		}
		deflate, other := cfg&2 != 0, cfg&4 != 0

		var whole Stream
		whole.Init(role, uint64(maxFrame), deflate, other)
		held, n, wantErr := whole.Scan(data)
		if len(held) != 0 {
			t.Fatalf("first Scan returned %d held bytes", len(held))
		}
		want := data[:n]
		if wantErr == nil && !whole.CloseSeen() && !whole.ClosePending() && len(data)-n >= ws.MaxHeaderSize {
			t.Fatalf("no error but %d bytes held back", len(data)-n)
		}

		var pieces [][]byte
		rest := data
		for _, c := range cuts {
			k := int(c)
			if c >= 0xf0 {
				k = int(c-0xef) << 12
			}
			k = min(k, len(rest))
			pieces = append(pieces, rest[:k])
			rest = rest[k:]
		}
		pieces = append(pieces, rest)
		var split Stream
		split.Init(role, uint64(maxFrame), deflate, other)
		got, gotErr := frFeed(&split, pieces...)
		if gotErr != wantErr || !bytes.Equal(got, want) {
			t.Fatalf("in %d pieces: forwarded %d bytes, err %v; whole: %d bytes, err %v",
				len(pieces), len(got), gotErr, len(want), wantErr)
		}
		if whole.ClosePending() && len(data)-n > 2+4+125 {
			t.Fatalf("%d bytes kept for a pending Close, more than a Close frame", len(data)-n)
		}
		if split.Frames() != whole.Frames() || split.CloseSeen() != whole.CloseSeen() ||
			split.InMessage() != whole.InMessage() || split.AtBoundary() != whole.AtBoundary() ||
			split.MidFrame() != whole.MidFrame() || split.ClosePending() != whole.ClosePending() {
			t.Fatalf("state in pieces %d %v %v %v, whole %d %v %v %v",
				split.Frames(), split.CloseSeen(), split.InMessage(), split.AtBoundary(),
				whole.Frames(), whole.CloseSeen(), whole.InMessage(), whole.AtBoundary())
		}

		// Oracle: what is forwarded parses with gobwas/ws as valid headers.
		state := ws.StateServerSide // receiving a client's frames
		if role == FromServer {
			state = ws.StateClientSide
		}
		if deflate || other {
			state = state.Set(ws.StateExtended)
		}
		r := bytes.NewReader(want)
		var frames uint64
		var lastOp ws.OpCode
		for r.Len() > 0 {
			if lastOp == ws.OpClose && frames > 0 {
				t.Fatalf("forwarded %d bytes after a Close", r.Len())
			}
			h, err := ws.ReadHeader(r)
			if err != nil {
				t.Fatalf("forwarded header %d: ws.ReadHeader: %v", frames, err)
			}
			frames++
			lastOp = h.OpCode
			if err := ws.CheckHeader(h, state); err != nil {
				t.Fatalf("forwarded header %d %+v: ws.CheckHeader: %v", frames, h, err)
			}
			if maxFrame != 0 && h.Length > int64(maxFrame) {
				t.Fatalf("forwarded header %d: length %d > max %d", frames, h.Length, maxFrame)
			}
			if h.OpCode == ws.OpClose && h.Length == 1 {
				t.Fatalf("forwarded close of 1 byte")
			}
			if h.OpCode == ws.OpClose && h.Length >= 2 {
				p := make([]byte, h.Length)
				if _, err := io.ReadFull(r, p); err != nil {
					t.Fatalf("forwarded a Close cut short: %v", err)
				}
				if h.Masked {
					ws.Cipher(p, h.Mask, 0)
				}
				if c := ws.StatusCode(uint16(p[0])<<8 | uint16(p[1])); !ValidCloseCode(c) || !utf8.Valid(p[2:]) {
					t.Fatalf("forwarded a Close with code %d, reason %q", c, p[2:])
				}
				continue
			}
			if h.Rsv != 0 && !other && (h.Rsv != 4 || !deflate || h.OpCode.IsControl() || h.OpCode == ws.OpContinuation) {
				t.Fatalf("forwarded header %d: rsv %b", frames, h.Rsv)
			}
			if !h.OpCode.IsControl() {
				if h.Fin {
					state = state.Clear(ws.StateFragmented)
				} else {
					state = state.Set(ws.StateFragmented)
				}
			}
			if _, err := io.CopyN(io.Discard, r, h.Length); err != nil && err != io.EOF {
				t.Fatal(err)
			}
		}
		if frames != whole.Frames() {
			t.Fatalf("forwarded %d headers, Frames() = %d", frames, whole.Frames())
		}
	})
}

// FuzzScanGated checks ScanGated against Scan (stopping at Pongs or not):
// admitting every message it
// forwards what Scan forwards, with the same error; dropping the messages
// that dropMask picks (bit k for message k mod 8) it forwards exactly
// Scan's bytes without those messages' frames, control frames between
// their fragments kept.
func FuzzScanGated(f *testing.F) {
	f.Add(frSplitStream(true, 200), []byte{1, 2, 3, 13, 0, 200}, uint8(0b101))
	f.Add(frCat(frFrame(frText, true, 3, 0), frFrame(frFin|frPing, true, 2, 0), frFrame(frFin|frCont, true, 3, 0)), []byte{5}, uint8(1))
	f.Add(frCat(frFrame(frFin|frBinary, true, 300, 0), closeFrame(true, []byte{0x03, 0xe8})), []byte{3, 1}, uint8(0xff))
	f.Fuzz(func(t *testing.T, data, cuts []byte, dropMask uint8) {
		var whole Stream
		whole.Init(FromClient, 0, false, false)
		_, n, wantErr := whole.Scan(data)
		want := data[:n]
		var pieces [][]byte
		rest := data
		for _, c := range cuts {
			k := min(int(c), len(rest))
			pieces, rest = append(pieces, rest[:k]), rest[k:]
		}
		pieces = append(pieces, rest)

		var all Stream
		all.Init(FromClient, 0, false, false)
		// Bit 7 of cuts' first byte (when any) also stops at Pongs and
		// Pings: that must change nothing of what goes through.
		pongs := len(cuts) > 0 && cuts[0]&0x80 != 0
		got, _, gotErr := frFeedGatedPongs(&all, func(int) bool { return false }, pongs, pieces...)
		if pongs && all.ClosePending() && len(got) < len(want) {
			// A Ping or Pong cut short at the end is kept back whole, as
			// a Close is; Scan forwarded what it had of it.
			if op := ws.OpCode(want[len(got)] & 0x0f); op != ws.OpPong && op != ws.OpPing {
				t.Fatalf("kept back a frame of opcode %d", op)
			}
			want = want[:len(got)]
		}
		if gotErr != wantErr || !bytes.Equal(got, want) {
			t.Fatalf("admitting all: %d bytes, err %v; Scan: %d bytes, err %v", len(got), gotErr, len(want), wantErr)
		}

		// The oracle: Scan's output without the dropped messages' frames.
		var oracle []byte
		msg, dropping := -1, false
		for r := bytes.NewReader(want); r.Len() > 0; {
			start := len(want) - r.Len()
			h, err := ws.ReadHeader(r)
			if err != nil {
				t.Fatalf("Scan forwarded a bad header: %v", err)
			}
			pay := min(int64(r.Len()), h.Length)
			_, _ = r.Seek(pay, io.SeekCurrent)
			frame := want[start : len(want)-r.Len()]
			if h.OpCode.IsControl() {
				oracle = append(oracle, frame...)
				continue
			}
			if h.OpCode != ws.OpContinuation {
				msg++
				dropping = dropMask&(1<<(msg%8)) != 0
			}
			if !dropping {
				oracle = append(oracle, frame...)
			}
		}
		var some Stream
		some.Init(FromClient, 0, false, false)
		got, _, gotErr = frFeedGatedPongs(&some, func(m int) bool { return dropMask&(1<<(m%8)) != 0 }, pongs, pieces...)
		if gotErr != wantErr || !bytes.Equal(got, oracle) {
			t.Fatalf("dropping %08b: %d bytes, err %v; want %d bytes, err %v", dropMask, len(got), gotErr, len(oracle), wantErr)
		}
	})
}
