package engine

import (
	"testing"

	"github.com/gobwas/ws"
	"github.com/panjf2000/gnet/v2"

	"github.com/throngproxy/throng/codec"
)

// fanLoop is a loop's channel with n open subscribers on sink conns.
func fanLoop(tb testing.TB, n int) *loopChan {
	tb.Helper()
	s0, _ := newBenchSession(tb, 64)
	hub := newFanHub(s0.sh.e)
	s0.sh.e.fan = hub
	f := &fanRoute{op: ws.OpText, queueLimit: 1 << 20}
	lc := &loopChan{sh: s0.sh, hub: hub, ch: &fanChan{}}
	for i := range n {
		s := s0
		if i > 0 {
			s = &session{sh: s0.sh, snap: s0.snap, client: s0.client, state: stateOpen}
		}
		s.pol = &policyState{fan: &fanSub{lc: lc, idx: i, route: f}}
		lc.subs = append(lc.subs, s)
	}
	lc.live = n
	return lc
}

// BenchmarkFanoutDeliver writes one 64-byte message to 1,000 subscribers
// of a loop: the frame is made once, and each delivery is a send(2) of the
// same bytes (to /dev/null here), with no copy or allocation.
func BenchmarkFanoutDeliver(b *testing.B) {
	lc := fanLoop(b, 1000)
	frame := codec.AppendServerFrame(nil, ws.OpText, make([]byte, 64))
	b.ReportAllocs()
	for b.Loop() {
		lc.queue = append(lc.queue[:0], frame)
		lc.posted = true
		_ = lc.Run(nil)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(lc.subs)), "ns/delivery")
}

// TestFanoutDeliverAllocs: a delivery to every subscriber of a loop costs
// no allocation, and each gets the frame.
func TestFanoutDeliverAllocs(t *testing.T) {
	lc := fanLoop(t, 100)
	frame := codec.AppendServerFrame(nil, ws.OpText, []byte("hello"))
	before := lc.sh.stats.fanDeliveries.Load()
	if got := testing.AllocsPerRun(100, func() {
		lc.queue = append(lc.queue[:0], frame)
		lc.posted = true
		_ = lc.Run(nil)
	}); got != 0 {
		t.Errorf("%v allocs per message to 100 subscribers, want 0", got)
	}
	if n := lc.sh.stats.fanDeliveries.Load() - before; n != 101*100 {
		t.Errorf("%d deliveries, want %d", n, 101*100)
	}
}

// BenchmarkFanoutDeliverBacklog is BenchmarkFanoutDeliver for a loop that
// fell behind by 16 messages: each subscriber gets all 16 in one
// sendmsg(2), so a delivery costs a sixteenth of a system call.
func BenchmarkFanoutDeliverBacklog(b *testing.B) {
	lc := fanLoop(b, 1000)
	loop := &fakeLoop{ran: make(chan gnet.Runnable, 1)}
	lc.sh.loop = loop
	frame := codec.AppendServerFrame(nil, ws.OpText, make([]byte, 64))
	b.ReportAllocs()
	for b.Loop() {
		lc.queue = lc.queue[:0]
		for range maxIov {
			lc.queue = append(lc.queue, frame)
		}
		lc.posted = true
		// More than a turn's budget: the loop's next turns do the rest.
		for _ = lc.Run(nil); lc.posted; {
			_ = (<-loop.ran).Run(nil)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(lc.subs)*maxIov), "ns/delivery")
}
