package bench

import (
	"context"
	"strconv"
	"testing"

	"github.com/gobwas/ws"
)

// newTLSBenchSession returns an open session of a TLS echo run of size-byte
// messages with no connection, in the measure phase, and the echo of its
// message 0 as the server sends it: process can be fed it again and again.
func newTLSBenchSession(tb testing.TB, size int) (*tlsSession, []byte) {
	tb.Helper()
	target, err := parseClientTarget("wss://127.0.0.1:1/")
	if err != nil {
		tb.Fatal(err)
	}
	conf, err := (&TLSOptions{}).clientConfig(target)
	if err != nil {
		tb.Fatal(err)
	}
	r := newTLSRun(context.Background(), clientSpec{target: target, sessions: 1, size: size, window: 1, hist: true, tlsConf: conf})
	tb.Cleanup(r.stopDial)
	s := &tlsSession{cs: r.newSession(0), run: r, shard: r.hists.shard(0)}
	s.cs.loop = &s.lp
	s.lp.hist = s.shard.hist
	s.c.in = make([]byte, 0, tlsReadBuffer)
	s.cs.state.Store(uint32(clientStateOpen))
	r.setPhase(clientPhaseMeasure)
	return s, clientServerFrame(true, ws.OpBinary, clientEchoOf(r.pattern, 1, 0))
}

// feed puts echo in s's input as the next message's echo and processes it.
func (s *tlsSession) feed(echo []byte, now int64) {
	s.cs.nextRecv, s.cs.inflight = 0, 1
	s.c.in = append(s.c.in[:0], echo...)
	s.process(clientPhaseMeasure, now)
}

func BenchmarkTLSSessionProcess(b *testing.B) {
	for _, size := range []int{64, 4096} {
		b.Run(strconv.Itoa(size)+"B", func(b *testing.B) {
			s, echo := newTLSBenchSession(b, size)
			b.ReportAllocs()
			b.SetBytes(int64(len(echo)))
			for b.Loop() {
				s.feed(echo, 1000)
			}
		})
	}
}

// BenchmarkPingPong measures a session's Ping and the handling of its Pong,
// as both client paths run them.
func BenchmarkPingPong(b *testing.B) {
	s, _ := newTLSBenchSession(b, 64)
	pong := clientServerFrame(true, ws.OpPong, make([]byte, clientPingLen))
	b.ReportAllocs()
	for b.Loop() {
		s.lp.out = s.cs.appendPing(s.lp.out[:0])
		_, _ = s.cs.handle(pong, clientPhaseHold, 1000)
	}
}
