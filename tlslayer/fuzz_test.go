package tlslayer

import (
	"bytes"
	"testing"
)

// fuzzLayers are receiving Layers from fixed keys, one per suite and role,
// with the senders that make their seeds.
type fuzzLayer struct {
	recv, send *Layer
}

func makeFuzzLayers(f *testing.F) []fuzzLayer {
	var ls []fuzzLayer
	for _, fs := range fixedSuites {
		c, s := fixedPair(f, fs.version, fs.suite)
		c2, s2 := fixedPair(f, fs.version, fs.suite)
		ls = append(ls, fuzzLayer{recv: s, send: c}, fuzzLayer{recv: c2, send: s2})
	}
	return ls
}

// FuzzOpen feeds arbitrary bytes to Open, whole and cut in two at a point
// the input chooses. It must never panic, must keep consumed <= len and
// plain <= consumed, and both ways must give the same plaintext, reply,
// error and final state.
func FuzzOpen(f *testing.F) {
	layers := makeFuzzLayers(f)
	for i, fl := range layers {
		// Copies: seeds must not advance the templates' sequence numbers.
		send := *fl.send
		var seed []byte
		seed = send.Seal(seed, []byte("hello"))
		seed = send.Seal(seed, nil)
		seed = send.KeyUpdate(seed, true)
		seed = send.Seal(seed, bytes.Repeat([]byte{'x'}, 300))
		if send.role == Server && send.p.kind == kind13 {
			seed = send.sealRecord(seed, typeHandshake, []byte{msgNewSessionTicket, 0, 0, 14, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 1, 7, 0, 0})
		}
		seed = send.AppendAlert(seed, LevelWarning, uint8(AlertUserCanceled))
		seed = send.Seal(seed, []byte("world"))
		seed = send.AppendAlert(seed, LevelWarning, uint8(AlertCloseNotify))
		if check := *fl.recv; true {
			buf := bytes.Clone(seed)
			plain, _, reply, err := check.Open(buf, nil)
			if err != ErrCloseNotify || string(buf[:5]) != "hello" || plain != 5+300+5 || len(reply) == 0 && send.p.kind == kind13 {
				f.Fatalf("seed %d does not open: %d plaintext bytes, %v", i, plain, err)
			}
		}
		f.Add(uint8(i), uint16(7), seed)
		f.Add(uint8(i), uint16(len(seed)/2), seed[:len(seed)-3])
		one := *fl.send
		f.Add(uint8(i), uint16(1), one.sealRecord(nil, typeHandshake, []byte{msgKeyUpdate, 0}))
	}
	f.Add(uint8(0), uint16(3), []byte{23, 3, 3, 0x40, 0x01})
	f.Add(uint8(1), uint16(0), []byte{20, 3, 3, 0, 1, 1})

	f.Fuzz(func(t *testing.T, which uint8, cut uint16, data []byte) {
		fl := layers[int(which)%len(layers)]
		whole, split := *fl.recv, *fl.recv

		buf := bytes.Clone(data)
		plain, consumed, reply, err := whole.Open(buf, nil)
		if consumed < 0 || consumed > len(data) || plain < 0 || plain > consumed {
			t.Fatalf("whole: plain %d, consumed %d, len %d", plain, consumed, len(data))
		}
		wantPlain := buf[:plain]

		k := int(cut) % (len(data) + 1)
		first := bytes.Clone(data[:k])
		p1, c1, r1, err1 := split.Open(first, nil)
		if c1 < 0 || c1 > k || p1 < 0 || p1 > c1 {
			t.Fatalf("first part: plain %d, consumed %d, len %d", p1, c1, k)
		}
		gotPlain := bytes.Clone(first[:p1])
		gotReply := r1
		gotErr := err1
		if err1 == nil {
			second := append(bytes.Clone(first[c1:]), data[k:]...)
			p2, c2, r2, err2 := split.Open(second, nil)
			if c2 < 0 || c2 > len(second) || p2 < 0 || p2 > c2 {
				t.Fatalf("second part: plain %d, consumed %d, len %d", p2, c2, len(second))
			}
			gotPlain = append(gotPlain, second[:p2]...)
			gotReply = append(gotReply, r2...)
			gotErr = err2
			c1 += c2
		}
		if gotErr != err || !bytes.Equal(gotPlain, wantPlain) || !bytes.Equal(gotReply, reply) || c1 != consumed {
			t.Fatalf("cut at %d: got %q, %d reply bytes, consumed %d, %v; whole gave %q, %d, %d, %v", k, gotPlain, len(gotReply), c1, gotErr, wantPlain, len(reply), consumed, err)
		}
		if whole.in.seq != split.in.seq || whole.out.seq != split.out.seq || whole.in.secret != split.in.secret {
			t.Fatalf("cut at %d: states differ", k)
		}
	})
}
