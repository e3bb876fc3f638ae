package engine

import (
	"os"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/panjf2000/gnet/v2"

	"github.com/throngproxy/throng/codec"
	"github.com/throngproxy/throng/config"
	"github.com/throngproxy/throng/policy"
)

// sinkConn is a gnet.Conn that swallows writes, to measure the relay's own
// cost. Only the methods the relay calls are implemented. Raw writes go to
// fd, /dev/null when set.
type sinkConn struct {
	gnet.Conn
	n  int
	fd int
}

func (c *sinkConn) Fd() int { return c.fd }

func (c *sinkConn) Write(p []byte) (int, error) { c.n += len(p); return len(p), nil }
func (c *sinkConn) Writev(bs [][]byte) (int, error) {
	t := 0
	for _, b := range bs {
		t += len(b)
	}
	c.n += t
	return t, nil
}
func (c *sinkConn) OutboundBuffered() int { return 0 }
func (c *sinkConn) Close() error          { return nil }
func (c *sinkConn) InboundBuffered() int  { return 0 }

// newBenchSession returns an open session between two sink conns and a
// span of masked client frames of frameBytes payload each, about 64 KiB in
// all (one gnet read).
func newBenchSession(tb testing.TB, frameBytes int) (*session, []byte) {
	tb.Helper()
	cfg := config.Default()
	cfg.Routes = []config.Route{{Host: "*", PathPrefix: "/", Upstream: "u"}}
	cfg.Upstreams = []config.Upstream{{Name: "u", Balance: "round_robin", Backends: []config.Backend{{Addr: "127.0.0.1:1", Weight: 1}}}}
	snap, err := newSnapshot(cfg, nil, newRouteRegistry(1))
	if err != nil {
		tb.Fatal(err)
	}
	sh := newShard(&Engine{born: time.Now()}, nil, 1)
	null, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { null.Close() })
	fd := int(null.Fd())
	s := &session{sh: sh, snap: snap, client: &sinkConn{fd: fd}, upstream: &sinkConn{fd: fd}, state: stateOpen}
	s.c2u.Init(codec.FromClient, uint64(snap.defaults.maxFrameBytes), false, false)
	s.u2c.Init(codec.FromServer, uint64(snap.defaults.maxFrameBytes), false, false)

	payload := make([]byte, frameBytes)
	var span []byte
	for len(span)+frameBytes+14 <= 64<<10 || len(span) == 0 {
		h := ws.Header{Fin: true, OpCode: ws.OpBinary, Length: int64(frameBytes), Masked: true, Mask: [4]byte{1, 2, 3, 4}}
		var hb [ws.MaxHeaderSize]byte
		n := putHeader(hb[:], h)
		span = append(span, hb[:n]...)
		span = append(span, payload...)
	}
	return s, span
}

// putHeader encodes h into b (RFC 6455 §5.2) and returns its length.
func putHeader(b []byte, h ws.Header) int {
	b[0] = byte(h.OpCode)
	if h.Fin {
		b[0] |= 0x80
	}
	n := 2
	switch {
	case h.Length < 126:
		b[1] = byte(h.Length)
	case h.Length <= 0xffff:
		b[1] = 126
		b[2], b[3] = byte(h.Length>>8), byte(h.Length)
		n = 4
	default:
		b[1] = 127
		for i := range 8 {
			b[2+i] = byte(h.Length >> (8 * (7 - i)))
		}
		n = 10
	}
	if h.Masked {
		b[1] |= 0x80
		copy(b[n:], h.Mask[:])
		n += 4
	}
	return n
}

func benchmarkRelay(b *testing.B, frameBytes int) {
	s, span := newBenchSession(b, frameBytes)
	b.ReportAllocs()
	b.SetBytes(int64(len(span)))
	for b.Loop() {
		s.relayFromClient(span)
	}
}

func BenchmarkRelay64(b *testing.B) { benchmarkRelay(b, 64) }

// gate gives s per-message limits: rates of perSecond messages and
// perSecond KiB, the action drop or close, and max_message_bytes.
func gate(s *session, perSecond int64, drop bool, maxMessage uint64) {
	msgs := policy.NewBucketSpec(perSecond, time.Second, 0)
	bytes := policy.NewBucketSpec(perSecond<<10, time.Second, 0)
	s.pol = &policyState{msg: &msgState{lim: &msgLimits{msgs: &msgs, bytes: &bytes, drop: drop, maxMessage: maxMessage}}}
}

// BenchmarkRelayGated64 is BenchmarkRelay64 with per-message limits that
// admit every message: the cost of judging each one.
func BenchmarkRelayGated64(b *testing.B) {
	s, span := newBenchSession(b, 64)
	gate(s, 1<<40, false, 1<<20)
	b.ReportAllocs()
	b.SetBytes(int64(len(span)))
	for b.Loop() {
		s.relayFromClient(span)
	}
}
func BenchmarkRelay4K(b *testing.B)  { benchmarkRelay(b, 4<<10) }
func BenchmarkRelay16K(b *testing.B) { benchmarkRelay(b, 16<<10) }
