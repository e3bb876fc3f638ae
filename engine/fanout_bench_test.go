package engine

import (
	"testing"

	"golang.org/x/sys/unix"

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

// drainedSockets points every subscriber of lc at one Unix socket whose
// peer a goroutine reads and discards, so that each delivery is a send(2)
// the kernel takes (on /dev/null it would fail: not a socket). It fails
// the benchmark if a send was ever refused for room, which would make it
// measure the queueing path instead.
func drainedSockets(b *testing.B, lc *loopChan) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM, 0)
	if err != nil {
		b.Fatal(err)
	}
	_ = unix.SetNonblock(fds[0], true)
	_ = unix.SetsockoptInt(fds[0], unix.SOL_SOCKET, unix.SO_SNDBUF, 4<<20)
	done := make(chan struct{})
	buf := make([]byte, 1<<20) // here, not in the goroutine: not counted in B/op
	go func() {
		defer close(done)
		for {
			if n, err := unix.Read(fds[1], buf); n <= 0 || err != nil {
				return
			}
		}
	}()
	b.Cleanup(func() {
		unix.Close(fds[0])
		unix.Shutdown(fds[1], unix.SHUT_RDWR)
		<-done
		unix.Close(fds[1])
		if n := len(lc.sh.flows); n > 0 {
			b.Errorf("%d subscribers had sends refused and queued: the drain fell behind", n)
		}
	})
	c := &sinkConn{fd: fds[0]}
	for _, s := range lc.subs {
		s.client = c
	}
}

// BenchmarkFanoutDeliver writes one 64-byte message to 1,000 subscribers
// of a loop: the frame is made once, and each delivery is a send(2) of the
// same bytes (to a Unix socket here), with no copy or allocation.
func BenchmarkFanoutDeliver(b *testing.B) {
	lc := fanLoop(b, 1000)
	drainedSockets(b, lc)
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
	drainedSockets(b, lc)
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
