package engine

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/panjf2000/gnet/v2"
	"golang.org/x/sys/unix"

	"github.com/throngproxy/throng/bus"
	"github.com/throngproxy/throng/codec"
	"github.com/throngproxy/throng/config"
	"github.com/throngproxy/throng/engine/enginetest"
)

// maskedFrame is one client frame of op carrying payload.
func maskedFrame(op ws.OpCode, payload []byte) []byte {
	mask := [4]byte{9, 8, 7, 6}
	h := ws.Header{Fin: true, OpCode: op, Length: int64(len(payload)), Masked: true, Mask: mask}
	var hb [ws.MaxHeaderSize]byte
	n := putHeader(hb[:], h)
	p := append([]byte(nil), payload...)
	ws.Cipher(p, mask, 0)
	return append(hb[:n:n], p...)
}

// fanSession is an open subscriber of a text route that publishes its
// clients' messages to a bus that is only a queue.
func fanSession(t *testing.T) (*session, *fanBus) {
	t.Helper()
	s, _ := newBenchSession(t, 16)
	hub := newFanHub(s.sh.e)
	s.sh.e.fan = hub
	fb := &fanBus{source: config.SourceRedis, pub: make(chan bus.Message, 16)}
	hub.buses[config.SourceRedis] = fb
	f := &fanRoute{source: config.SourceRedis, op: ws.OpText, publish: true, queueLimit: 1 << 20}
	lc := &loopChan{sh: s.sh, hub: hub, ch: &fanChan{}}
	s.pol = &policyState{fan: &fanSub{lc: lc, route: f, name: "room"}}
	lc.subs, lc.live = []*session{s}, 1
	return s, fb
}

// TestFanoutPublishText: a text route publishes only UTF-8 text. A binary
// or non-UTF-8 message would reach every subscriber as a Text frame they
// must fail on (RFC 6455 §8.1).
func TestFanoutPublishText(t *testing.T) {
	s, fb := fanSession(t)
	for _, f := range [][]byte{maskedFrame(ws.OpBinary, []byte("bin")), maskedFrame(ws.OpText, []byte{0xff, 0xfe, 0xfd})} {
		s.relayFanout(f)
	}
	s.relayFanout(maskedFrame(ws.OpText, []byte("héllo")))
	if m := <-fb.pub; string(m.Payload) != "héllo" || len(fb.pub) != 0 {
		t.Fatalf("published %q (%d more), want only the text message", m.Payload, len(fb.pub))
	}
	if n := s.sh.e.fan.stats.notTextIn.Load(); n != 2 {
		t.Fatalf("%d messages counted as not text, want 2", n)
	}
	// From the bus likewise: a payload that is not UTF-8 reaches no text
	// subscriber.
	lc := s.pol.fan.lc
	k := fanKey{source: config.SourceRedis, name: "room", op: ws.OpText}
	lc.ch.key, lc.ch.loops = k, []*loopChan{lc}
	s.sh.e.fan.chans[k] = lc.ch
	s.sh.e.fan.deliver(config.SourceRedis, "room", []byte{0xc3, 0x28})
	if len(lc.queue) != 0 || s.sh.e.fan.stats.notText.Load() != 1 {
		t.Fatalf("a non-UTF-8 bus message was queued for a text route")
	}
}

// TestFanoutPublishQueueBytes: the bytes waiting to be published are
// bounded as well as their count; what does not fit is dropped, counted.
func TestFanoutPublishQueueBytes(t *testing.T) {
	s, fb := fanSession(t)
	s.relayFanout(maskedFrame(ws.OpText, []byte("fits")))
	if got := fb.pubBytes.Load(); got != 4 || len(fb.pub) != 1 {
		t.Fatalf("after one message: %d bytes, %d messages queued; want 4 and 1", got, len(fb.pub))
	}
	fb.pubBytes.Store(publishQueueBytes - 2)
	s.relayFanout(maskedFrame(ws.OpText, []byte("too big")))
	if len(fb.pub) != 1 || fb.pubBytes.Load() != publishQueueBytes-2 || s.sh.e.fan.stats.clientDrops.Load() != 1 {
		t.Fatalf("past publishQueueBytes: %d queued, %d bytes, %d dropped; want 1, unchanged, 1",
			len(fb.pub), fb.pubBytes.Load(), s.sh.e.fan.stats.clientDrops.Load())
	}
}

// TestFanoutPingFloodBounded: a subscriber that sends Pings and reads
// nothing is closed as slow once its Pongs fill fanout_queue_limit.
func TestFanoutPingFloodBounded(t *testing.T) {
	s, _ := fanSession(t)
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fds[0]); unix.Close(fds[1]) })
	_ = unix.SetsockoptInt(fds[0], unix.SOL_SOCKET, unix.SO_SNDBUF, 4096)
	s.client = &sinkConn{fd: fds[0]} // its peer, fds[1], never reads
	ping := maskedFrame(ws.OpPing, make([]byte, 125))
	var read []byte
	for range 512 {
		read = append(read, ping...)
	}
	for range 200 { // 13 MB of Pongs asked for
		if s.flags&flagClientFailed != 0 {
			break
		}
		s.relayFanout(read)
	}
	if limit := s.pol.fan.limit(); s.queued(toClient) > limit+4<<10 {
		t.Fatalf("%d bytes of Pongs queued, fanout_queue_limit %d", s.queued(toClient), limit)
	}
	if s.state == stateOpen {
		t.Fatal("the Ping flooder is still open")
	}
}

// TestFanoutBatchedDelivery: a loop behind on a channel hands each
// subscriber its frames several at a time; a subscriber whose socket takes
// only part of them has the rest queued, so every subscriber's stream is
// every frame, whole and in order.
func TestFanoutBatchedDelivery(t *testing.T) {
	lc := fanLoop(t, 3)
	loop := &fakeLoop{ran: make(chan gnet.Runnable, 1)}
	lc.sh.loop = loop
	peers := make([]int, len(lc.subs))
	for i, s := range lc.subs {
		fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK, 0)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { unix.Close(fds[0]); unix.Close(fds[1]) })
		if i == 1 { // takes a few frames, then the rest waits in its queue
			_ = unix.SetsockoptInt(fds[0], unix.SOL_SOCKET, unix.SO_SNDBUF, 4096)
		}
		s.client, peers[i] = &sinkConn{fd: fds[0]}, fds[1]
	}
	var want []byte
	for i := range 40 {
		f := codec.AppendServerFrame(nil, ws.OpBinary, bytes.Repeat([]byte{byte(i)}, 1+i*97))
		lc.queue = append(lc.queue, f)
		lc.bytes += len(f)
		want = append(want, f...)
	}
	lc.posted = true
	for _ = lc.Run(context.Background()); lc.posted; {
		(<-loop.ran).Run(context.Background())
	}
	if n := lc.sh.stats.fanDeliveries.Load(); n != 40*3 {
		t.Errorf("%d deliveries, want 120", n)
	}
	for i, s := range lc.subs {
		got := make([]byte, len(want)+1)
		n, _ := unix.Read(peers[i], got)
		got = got[:max(n, 0)]
		if s.flow != nil {
			q := &s.flow.q[toClient]
			for j, c := range q.chunks {
				if j == 0 {
					c = c[q.off:]
				}
				got = append(got, c...)
			}
		}
		if !bytes.Equal(got, want) {
			t.Errorf("subscriber %d: sent and queued %d bytes, not the %d of the 40 frames in order", i, len(got), len(want))
		}
		if i == 1 && s.flow == nil {
			t.Errorf("subscriber %d: a 4 KiB socket took all %d bytes", i, len(want))
		}
	}
}

// countingConn counts the calls to Fd: one per system call the
// delivery path makes on the socket.
type countingConn struct {
	*sinkConn
	calls int
}

func (c *countingConn) Fd() int { c.calls++; return c.sinkConn.Fd() }

// binaryFrames makes n server frames of size payload bytes each.
func binaryFrames(n, size int) ([][]byte, int) {
	var fs [][]byte
	total := 0
	for i := range n {
		f := codec.AppendServerFrame(nil, ws.OpBinary, bytes.Repeat([]byte{byte(i)}, size))
		fs, total = append(fs, f), total+len(f)
	}
	return fs, total
}

// queueFrames puts frames on lc's queue as the hub's deliver would.
func queueFrames(lc *loopChan, fs [][]byte) {
	for _, f := range fs {
		lc.queue = append(lc.queue, f)
		lc.bytes += len(f)
	}
	lc.posted = true
}

// TestFanoutBatchEdges: the edges of handing a subscriber several frames
// at once.
func TestFanoutBatchEdges(t *testing.T) {
	socket := func(t *testing.T, sndbuf int) (int, int) {
		fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK, 0)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { unix.Close(fds[0]); unix.Close(fds[1]) })
		if sndbuf > 0 {
			_ = unix.SetsockoptInt(fds[0], unix.SOL_SOCKET, unix.SO_SNDBUF, sndbuf)
		}
		return fds[0], fds[1]
	}
	t.Run("one system call", func(t *testing.T) {
		lc := fanLoop(t, 1)
		fd, _ := socket(t, 0)
		c := &countingConn{sinkConn: &sinkConn{fd: fd}}
		lc.subs[0].client = c
		fs, _ := binaryFrames(maxIov, 100)
		queueFrames(lc, fs)
		_ = lc.Run(context.Background())
		if c.calls != 1 {
			t.Errorf("%d frames took %d system calls, want 1", len(fs), c.calls)
		}
	})
	t.Run("hard error", func(t *testing.T) {
		// /dev/null is not a socket: sendmsg fails, gnet's Write (the sink)
		// takes what it is given, and it must be given every frame.
		lc := fanLoop(t, 1)
		sink := lc.subs[0].client.(*sinkConn)
		fs, total := binaryFrames(4, 10)
		queueFrames(lc, fs)
		_ = lc.Run(context.Background())
		if sink.n != total {
			t.Errorf("after a refused send gnet got %d of the %d bytes", sink.n, total)
		}
	})
	t.Run("skip what does not fit", func(t *testing.T) {
		lc := fanLoop(t, 1)
		s := lc.subs[0]
		fd, _ := socket(t, 0)
		s.client = &sinkConn{fd: fd}
		s.pol.fan.route.skip, s.pol.fan.route.queueLimit = true, 4096
		s.enqueue(toClient, nil, make([]byte, 1000))
		fs, _ := binaryFrames(4, 900) // three fit behind the 1,000 bytes, the fourth does not
		queueFrames(lc, fs)
		_ = lc.Run(context.Background())
		if d, k := lc.sh.stats.fanDeliveries.Load(), lc.sh.stats.fanSkipped.Load(); d != 3 || k != 1 {
			t.Errorf("%d delivered, %d skipped; want 3 and 1", d, k)
		}
	})
	t.Run("queue bound", func(t *testing.T) {
		lc := fanLoop(t, 1)
		lc.sh.loop = &fakeLoop{ran: make(chan gnet.Runnable, 1)}
		s := lc.subs[0]
		fd, _ := socket(t, 4096)
		for {
			if _, err := unix.Write(fd, make([]byte, 1024)); err != nil {
				break // the socket is full
			}
		}
		s.client = &sinkConn{fd: fd}
		s.pol.fan.route.skip, s.pol.fan.route.queueLimit = true, 4096
		fs, _ := binaryFrames(maxIov, 3000)
		queueFrames(lc, fs)
		_ = lc.Run(context.Background())
		if q := s.queued(toClient); q > 4096 {
			t.Errorf("%d bytes queued past fanout_queue_limit 4096", q)
		}
	})
}

// TestFanoutLoopQueueCompacts: a loop always a frame behind keeps a queue
// as long as what waits, not as all that ever came.
func TestFanoutLoopQueueCompacts(t *testing.T) {
	lc := fanLoop(t, fanBudget) // one frame uses a turn's whole budget
	for _, s := range lc.subs[1:] {
		s.state = stateClosed // cheap deliveries, counted against the budget all the same
	}
	loop := &fakeLoop{ran: make(chan gnet.Runnable, 1)}
	lc.sh.loop = loop
	hub := lc.hub
	k := fanKey{source: config.SourceRedis, name: "room", op: ws.OpText}
	lc.ch.key, lc.ch.loops = k, []*loopChan{lc}
	hub.chans[k] = lc.ch
	for range 20000 {
		hub.deliver(config.SourceRedis, "room", []byte("m"))
		select {
		case r := <-loop.ran:
			_ = r.Run(context.Background())
		default:
			_ = lc.Run(context.Background())
		}
	}
	if pending := len(lc.queue) - lc.head; len(lc.queue) > 2*(pending+1) {
		t.Fatalf("the queue holds %d slots for %d pending frames", len(lc.queue), pending)
	}
}

// TestFanHubCloseUnderTraffic: stopping while a bus delivers does not
// deadlock (a bus's Close waits for its delivery goroutine, which may be
// waiting for the hub).
func TestFanHubCloseUnderTraffic(t *testing.T) {
	for _, bk := range []enginetest.BusKind{enginetest.Redis, enginetest.NATS} {
		t.Run(bk.Name, func(t *testing.T) {
			srv := enginetest.StartBusServer(t, bk)
			cfg := config.Default()
			cfg.Bus = config.Bus{Redis: srv.URL(), NATS: srv.URL()}
			s, _ := newBenchSession(t, 16)
			e := s.sh.e
			e.log = slog.New(slog.NewTextHandler(io.Discard, nil))
			e.snap.Store(&snapshot{cfg: cfg})
			h := newFanHub(e)
			h.mu.Lock()
			fb, err := h.busFor(bk.Name)
			if err == nil {
				fb.ops <- busOp{name: "room", subscribe: true}
				h.subs[fanKey{source: bk.Name, name: "room"}] = 1
			}
			h.mu.Unlock()
			if err != nil {
				t.Fatal(err)
			}
			pub, err := bus.Open(bus.Options{URL: srv.URL(), OnMessage: func(string, []byte) {}})
			if err != nil {
				t.Fatal(err)
			}
			defer pub.Close()
			stop := make(chan struct{})
			defer close(stop)
			go func() {
				for {
					select {
					case <-stop:
						return
					default:
						_ = pub.Publish(context.Background(), "room", []byte("x"))
					}
				}
			}()
			enginetest.WaitFor(t, "messages flowing", func() bool { return h.stats.messagesIn.Load() > 100 })
			done := make(chan struct{})
			go func() { h.close(); close(done) }()
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				t.Fatal("fanHub.close did not return under traffic")
			}
		})
	}
}
