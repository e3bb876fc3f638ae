package bench

import (
	"bytes"
	"encoding/binary"
	"errors"
	"slices"
	"testing"

	"github.com/gobwas/ws"

	"github.com/throngproxy/throng/bench/wsframe"
	"github.com/throngproxy/throng/codec"
)

// clientServerFrame returns an unmasked server frame.
func clientServerFrame(fin bool, op ws.OpCode, payload []byte) []byte {
	b := wsframe.AppendHeader(nil, ws.Header{Fin: fin, OpCode: op, Length: int64(len(payload))})
	return append(b, payload...)
}

// clientEchoOf returns the payload the client sends for message seq sent at
// nanos, unmasked, as an echo server sends it back.
func clientEchoOf(pattern []byte, nanos int64, seq uint64) []byte {
	p := binary.LittleEndian.AppendUint64(nil, uint64(nanos))
	p = binary.LittleEndian.AppendUint64(p, seq)
	return append(p, pattern...)
}

// clientEvents runs r over in, fed in pieces cut at cuts (keeping unconsumed
// bytes, as gnet does), and returns the events and the first error.
func clientEvents(r *clientReader, in []byte, cuts []int) (evs []clientEvent, msgs []clientMessage, err error) {
	var held []byte
	prev := 0
	for i := 0; i <= len(cuts); i++ {
		end := len(in)
		if i < len(cuts) {
			end = min(max(cuts[i], prev), len(in))
		}
		held = append(held, in[prev:end]...)
		prev = end
		for {
			n, ev, msg, err := r.next(held)
			held = held[n:]
			if err != nil {
				return evs, msgs, err
			}
			if ev == clientEvMore {
				break
			}
			evs = append(evs, ev)
			if ev == clientEvMessage {
				msgs = append(msgs, msg)
			}
		}
	}
	return evs, msgs, nil
}

func TestClientReader(t *testing.T) {
	pattern := clientPattern(40)
	good0 := clientEchoOf(pattern, 1000, 0)
	good1 := clientEchoOf(pattern, 2000, 1)
	bad := bytes.Clone(good1)
	bad[30] ^= 1
	cat := func(bs ...[]byte) []byte { return bytes.Join(bs, nil) }
	tests := []struct {
		name     string
		in       []byte
		wantEvs  []clientEvent
		wantMsgs []clientMessage
		wantErr  error
	}{
		{"two messages",
			cat(clientServerFrame(true, ws.OpBinary, good0), clientServerFrame(true, ws.OpBinary, good1)),
			[]clientEvent{clientEvMessage, clientEvMessage},
			[]clientMessage{{1000, 0, true}, {2000, 1, true}}, nil},
		{"fragmented with pong and ping between",
			cat(clientServerFrame(false, ws.OpBinary, good0[:10]), clientServerFrame(true, ws.OpPong, []byte("x")),
				clientServerFrame(false, ws.OpContinuation, good0[10:20]), clientServerFrame(true, ws.OpPing, nil),
				clientServerFrame(true, ws.OpContinuation, good0[20:])),
			[]clientEvent{clientEvPong, clientEvPing, clientEvMessage},
			[]clientMessage{{1000, 0, true}}, nil},
		{"corrupt", clientServerFrame(true, ws.OpBinary, bad),
			[]clientEvent{clientEvMessage}, []clientMessage{{2000, 1, false}}, nil},
		{"short", clientServerFrame(true, ws.OpBinary, good0[:30]),
			[]clientEvent{clientEvMessage}, []clientMessage{{1000, 0, false}}, nil},
		{"long", clientServerFrame(true, ws.OpText, append(bytes.Clone(good0), 1)),
			[]clientEvent{clientEvMessage}, []clientMessage{{1000, 0, false}}, nil},
		{"tiny", clientServerFrame(true, ws.OpBinary, []byte{1, 2}),
			[]clientEvent{clientEvMessage}, []clientMessage{{0, 0, false}}, nil},
		{"close", cat(clientServerFrame(true, ws.OpClose, []byte{3, 232}), clientServerFrame(true, ws.OpBinary, good0)),
			[]clientEvent{clientEvClose, clientEvMessage}, []clientMessage{{1000, 0, true}}, nil},
		{"lone continuation", clientServerFrame(true, ws.OpContinuation, good0), nil, nil, wsframe.ErrUnexpectedContinuation},
		{"nested", cat(clientServerFrame(false, ws.OpBinary, good0[:5]), clientServerFrame(true, ws.OpBinary, good0)),
			nil, nil, wsframe.ErrExpectedContinuation},
		{"masked", []byte{0x82, 0x80, 1, 2, 3, 4}, nil, nil, wsframe.ErrMask},
	}
	for _, tt := range tests {
		for _, pieces := range []struct {
			name string
			cuts func(n int) []int
		}{
			{"whole", func(int) []int { return nil }},
			{"bytewise", func(n int) []int {
				c := make([]int, n)
				for i := range c {
					c[i] = i
				}
				return c
			}},
		} {
			t.Run(tt.name+"/"+pieces.name, func(t *testing.T) {
				r := clientReader{pattern: pattern, size: uint64(len(good0))}
				evs, msgs, err := clientEvents(&r, tt.in, pieces.cuts(len(tt.in)))
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				if tt.wantErr != nil {
					return
				}
				if !slices.Equal(evs, tt.wantEvs) || !slices.Equal(msgs, tt.wantMsgs) {
					t.Errorf("got events %v messages %+v, want %v %+v", evs, msgs, tt.wantEvs, tt.wantMsgs)
				}
			})
		}
	}
}

func TestClientFrameStamp(t *testing.T) {
	for _, size := range []int{16, 64, 125, 126, 4096, 70000} {
		t.Run("", func(t *testing.T) {
			pattern := clientPattern(size)
			f := newClientFrame(pattern, [4]byte{1, 2, 3, 4})
			for seq := range uint64(3) {
				b := f.stamp(int64(seq)*7+5, seq)
				h, err := ws.ReadHeader(bytes.NewReader(b))
				if err != nil {
					t.Fatalf("size %d: ReadHeader = %v", size, err)
				}
				if !h.Masked || !h.Fin || h.OpCode != ws.OpBinary || h.Length != int64(size) {
					t.Fatalf("size %d: header %+v, want masked final binary of %d", size, h, size)
				}
				p := bytes.Clone(b[len(b)-size:])
				ws.Cipher(p, h.Mask, 0)
				if want := clientEchoOf(pattern, int64(seq)*7+5, seq); !bytes.Equal(p, want) {
					t.Fatalf("size %d seq %d: payload %x, want %x", size, seq, p[:16], want[:16])
				}
			}
		})
	}
}

func TestClientCheckResponse(t *testing.T) {
	key := newClientKey([16]byte{1, 2, 3})
	accept := string(key.accept[:])
	tests := []struct {
		name string
		head string
		want error
	}{
		{"ok", "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " + accept + "\r\n\r\n", nil},
		{"ok tokens", "HTTP/1.1 101 \r\nupgrade: WebSocket\r\nconnection: keep-alive, upgrade\r\nsec-websocket-accept: " + accept + "\r\n\r\n", nil},
		{"404", "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n", errClientNot101},
		{"bad accept", "HTTP/1.1 101 OK\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: x\r\n\r\n", errClientBadAccept},
		{"no upgrade", "HTTP/1.1 101 OK\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " + accept + "\r\n\r\n", errClientNoUpgrade},
		{"garbage", "SSH-2.0\r\n\r\n", errClientBadHead},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var resp codec.Response
			if got := clientCheckResponse([]byte(tt.head), &key, &resp); !errors.Is(got, tt.want) {
				t.Errorf("clientCheckResponse = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestClientAppendRequest(t *testing.T) {
	key := newClientKey([16]byte{})
	got := string(clientAppendRequest(nil, "h:1", "/p?q", &key))
	want := "GET /p?q HTTP/1.1\r\nHost: h:1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAAAA==\r\nSec-WebSocket-Version: 13\r\n\r\n"
	if got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

// FuzzClientReader checks that server bytes fed in random pieces give the
// same events, messages and error as fed whole.
func FuzzClientReader(f *testing.F) {
	pattern := clientPattern(40)
	good := clientEchoOf(pattern, 1000, 0)
	f.Add(clientServerFrame(true, ws.OpBinary, good), []byte{3, 9, 20})
	f.Add(append(clientServerFrame(false, ws.OpText, good[:7]), clientServerFrame(true, ws.OpContinuation, good[7:])...), []byte{1, 1, 1})
	f.Add(append(clientServerFrame(true, ws.OpPing, []byte("hi")), clientServerFrame(true, ws.OpClose, nil)...), []byte{2})
	f.Add(append(clientServerFrame(true, ws.OpPong, []byte("12345678")), clientServerFrame(true, ws.OpBinary, good)...), []byte{5, 4})
	f.Add([]byte{0x82, 126, 0, 40}, []byte{1, 2})
	f.Add([]byte{0x82, 127, 0, 0, 0, 0, 0, 0, 0, 40}, []byte{9})
	f.Add([]byte{0x02, 0x00, 0x80, 0x00}, []byte{})
	f.Fuzz(func(t *testing.T, in, cutBytes []byte) {
		cuts := make([]int, len(cutBytes))
		at := 0
		for i, c := range cutBytes {
			at += int(c)
			cuts[i] = at
		}
		whole := clientReader{pattern: pattern, size: uint64(len(good))}
		wantEvs, wantMsgs, wantErr := clientEvents(&whole, in, nil)
		pieces := clientReader{pattern: pattern, size: uint64(len(good))}
		gotEvs, gotMsgs, gotErr := clientEvents(&pieces, in, cuts)
		if gotErr != wantErr || !slices.Equal(gotEvs, wantEvs) || !slices.Equal(gotMsgs, wantMsgs) {
			t.Errorf("in pieces %v: %v %+v %v; whole: %v %+v %v", cuts, gotEvs, gotMsgs, gotErr, wantEvs, wantMsgs, wantErr)
		}
	})
}

// TestClientReaderPingPayload: the payload of a Ping is kept, whatever
// pieces it came in, for the Pong that must echo it (RFC 6455 §5.5.3).
func TestClientReaderPingPayload(t *testing.T) {
	payload := []byte("throng\x00\x01 and then some")
	in := bytes.Join([][]byte{clientServerFrame(true, ws.OpPing, []byte("first")), clientServerFrame(true, ws.OpPing, payload)}, nil)
	for cut := 1; cut < len(in); cut++ {
		r := clientReader{pattern: clientPattern(40), size: 40}
		var got []string
		held := []byte(nil)
		for _, piece := range [][]byte{in[:cut], in[cut:]} {
			held = append(held, piece...)
			for {
				n, ev, _, err := r.next(held)
				held = held[n:]
				if err != nil {
					t.Fatal(err)
				}
				if ev == clientEvMore {
					break
				}
				if ev == clientEvPing {
					got = append(got, string(r.pingPayload()))
				}
			}
		}
		if len(got) != 2 || got[0] != "first" || got[1] != string(payload) {
			t.Fatalf("cut %d: ping payloads %q", cut, got)
		}
	}
}
