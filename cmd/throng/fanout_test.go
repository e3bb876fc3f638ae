package main

// Fan-out routes (docs/fanout.md) through the real binary, with a real
// redis-server and nats-server on loopback: two throng instances sharing
// one bus, every message delivered once and in order to every subscriber
// of its channel on both, no leak between channels, channels from the
// path, the query and a header, client messages published, the bus killed
// and restarted under live subscribers, and slow subscribers under both
// policies.

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"

	"github.com/throngproxy/throng/bus"
	"github.com/throngproxy/throng/engine/enginetest"
)

func fanoutConfig(addr, admin, source, busURL string) string {
	key := "redis"
	if source == "nats" {
		key = "nats"
	}
	return basicConfig(addr, []string{"127.0.0.1:9"}, fmt.Sprintf(`[admin]
listen = %q

[bus]
%s = %q

[[route]]
path_prefix = "/live/"
mode = "fanout"
source = %q
channel_prefix = "t."

[[route]]
path_prefix = "/q"
mode = "fanout"
source = %q
channel = "query:room"
channel_prefix = "t."

[[route]]
path_prefix = "/h"
mode = "fanout"
source = %q
channel = "header:X-Room"
channel_prefix = "t."

[[route]]
path_prefix = "/chat/"
mode = "fanout"
source = %q
client_messages = "publish"
channel_prefix = "chat."

[[route]]
path_prefix = "/slow/"
mode = "fanout"
source = %q
channel_prefix = "t."
fanout_queue_limit = "64KiB"

[[route]]
path_prefix = "/skip/"
mode = "fanout"
source = %q
channel_prefix = "t."
fanout_queue_limit = "64KiB"
slow_subscriber = "skip"
`, admin, key, busURL, source, source, source, source, source, source))
}

// subscriber is a WebSocket on a fan-out route, read by a goroutine that
// keeps every text message.
type subscriber struct {
	c    net.Conn
	mu   sync.Mutex
	msgs []string
	err  error
	done chan struct{}
}

func subscribe(t *testing.T, addr, target string, extra ...string) *subscriber {
	t.Helper()
	c, br, st, head := handshakeFrom(t, strings.Split(addr, ":")[0], addr, target, extra...)
	if st != 101 {
		t.Fatalf("%s: status %d:\n%s", target, st, head)
	}
	_ = c.SetDeadline(time.Time{})
	s := &subscriber{c: c, done: make(chan struct{})}
	go func() {
		defer close(s.done)
		for {
			f, err := ws.ReadFrame(br)
			if err != nil {
				s.mu.Lock()
				s.err = err
				s.mu.Unlock()
				return
			}
			if f.Header.OpCode == ws.OpText {
				s.mu.Lock()
				s.msgs = append(s.msgs, string(f.Payload))
				s.mu.Unlock()
			}
		}
	}()
	return s
}

// data are the messages received but probes.
func (s *subscriber) data() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, m := range s.msgs {
		if !strings.HasPrefix(m, "probe") {
			out = append(out, m)
		}
	}
	return out
}

func (s *subscriber) got(prefix string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, m := range s.msgs {
		if strings.HasPrefix(m, prefix) {
			return true
		}
	}
	return false
}

// untilSubscribed publishes probes to channel until every subscriber has
// one: the processes' bus subscriptions are then in place.
func untilSubscribed(t *testing.T, pub bus.Bus, channel string, subs ...*subscriber) {
	t.Helper()
	n := 0
	enginetest.WaitFor(t, "every subscriber of "+channel+" subscribed", func() bool {
		n++
		_ = pub.Publish(context.Background(), channel, []byte("probe"+strconv.Itoa(n)))
		for _, s := range subs {
			if !s.got("probe") {
				return false
			}
		}
		return true
	})
}

func openPublisher(t *testing.T, url string) bus.Bus {
	t.Helper()
	b, err := bus.Open(bus.Options{URL: url, OnMessage: func(string, []byte) {}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	enginetest.WaitFor(t, "the publisher connected", func() bool { return b.State() == bus.Up })
	return b
}

func TestFanout(t *testing.T) {
	for _, kind := range []enginetest.BusKind{enginetest.Redis, enginetest.NATS} {
		t.Run(kind.Name, func(t *testing.T) { testFanout(t, kind) })
	}
}

func testFanout(t *testing.T, kind enginetest.BusKind) {
	srv := enginetest.StartBusServer(t, kind)
	hostA, hostB := newHost(), newHost()
	addrA, adminA := net.JoinHostPort(hostA, "18080"), net.JoinHostPort(hostA, "18090")
	addrB, adminB := net.JoinHostPort(hostB, "18080"), net.JoinHostPort(hostB, "18090")
	thA := startThrong(t, addrA, fanoutConfig(addrA, adminA, kind.Name, srv.URL()))
	startThrong(t, addrB, fanoutConfig(addrB, adminB, kind.Name, srv.URL()))
	pub := openPublisher(t, srv.URL())

	var room1, room2 []*subscriber
	for _, addr := range []string{addrA, addrB} {
		room1 = append(room1, subscribe(t, addr, "/live/room1"), subscribe(t, addr, "/live/room1"),
			subscribe(t, addr, "/q?x=1&room=room1"), subscribe(t, addr, "/h", "X-Room: room1"))
		room2 = append(room2, subscribe(t, addr, "/live/room2"))
	}
	untilSubscribed(t, pub, "t.room1", room1...)
	untilSubscribed(t, pub, "t.room2", room2...)

	const n = 300
	publish := func(from, to int) {
		for i := from; i < to; i++ {
			if err := pub.Publish(context.Background(), "t.room1", []byte(fmt.Sprintf("m%03d", i))); err != nil {
				t.Fatal(err)
			}
		}
	}
	want := func(from, to int) string {
		var b []string
		for i := from; i < to; i++ {
			b = append(b, fmt.Sprintf("m%03d", i))
		}
		return strings.Join(b, ",")
	}
	publish(0, n)
	if err := pub.Publish(context.Background(), "t.room2", []byte("only room2")); err != nil {
		t.Fatal(err)
	}
	for i, s := range room1 {
		enginetest.WaitFor(t, fmt.Sprintf("room1 subscriber %d has %d messages", i, n), func() bool { return len(s.data()) >= n })
		if got := strings.Join(s.data(), ","); got != want(0, n) {
			t.Fatalf("room1 subscriber %d: %d messages, not each once in order", i, len(s.data()))
		}
	}
	for i, s := range room2 {
		enginetest.WaitFor(t, "room2's own message", func() bool { return len(s.data()) >= 1 })
		if got := s.data(); len(got) != 1 || got[0] != "only room2" {
			t.Fatalf("room2 subscriber %d got %d messages (%.3q), want only its own", i, len(got), got)
		}
	}

	t.Run("publish", func(t *testing.T) {
		listener := subscribe(t, addrB, "/chat/lobby")
		talker := dialWS(t, addrA, "/chat/lobby")
		untilSubscribed(t, pub, "chat.lobby", listener)
		if err := ws.WriteFrame(talker, ws.MaskFrame(ws.NewTextFrame([]byte("hello from A")))); err != nil {
			t.Fatal(err)
		}
		// Fragmented, with a Ping between: the proxy answers the Ping.
		for _, f := range []ws.Frame{
			{Header: ws.Header{OpCode: ws.OpText, Length: 3}, Payload: []byte("par")},
			ws.NewPingFrame([]byte("p")),
			{Header: ws.Header{Fin: true, OpCode: ws.OpContinuation, Length: 2}, Payload: []byte("ts")},
		} {
			if err := ws.WriteFrame(talker, ws.MaskFrame(f)); err != nil {
				t.Fatal(err)
			}
		}
		enginetest.WaitFor(t, "the talker's messages across instances", func() bool {
			d := listener.data()
			return len(d) == 2 && d[0] == "hello from A" && d[1] == "parts"
		})
		for {
			f := readFrame(t, talker, 5*time.Second)
			if f.Header.OpCode == ws.OpPong && string(f.Payload) == "p" {
				break
			}
		}
	})

	// A burst of a client's messages, read by throng in a few reads,
	// goes to the bus in batches (one Redis pipeline per batch): all of
	// them arrive, once each, in the order sent, on both instances.
	t.Run("publish burst", func(t *testing.T) {
		far, near := subscribe(t, addrB, "/chat/burst"), subscribe(t, addrA, "/chat/burst")
		talker := dialWS(t, addrA, "/chat/burst")
		untilSubscribed(t, pub, "chat.burst", far, near)
		const burst = 3000
		var frames, want []byte
		for i := range burst {
			m := fmt.Sprintf("b%04d", i)
			f, err := ws.CompileFrame(ws.MaskFrame(ws.NewTextFrame([]byte(m))))
			if err != nil {
				t.Fatal(err)
			}
			frames = append(frames, f...)
			want = append(want, m...)
			want = append(want, ',')
		}
		if _, err := talker.Write(frames); err != nil {
			t.Fatal(err)
		}
		for name, s := range map[string]*subscriber{"other instance": far, "same instance": near} {
			enginetest.WaitFor(t, name+" has the burst", func() bool { return len(s.data()) >= burst })
			if got := strings.Join(s.data(), ",") + ","; got != string(want) {
				t.Errorf("%s: %d messages, not the %d sent, each once, in order", name, len(s.data()), burst)
			}
		}
		if d := metricValue(scrape(t, adminA), "throng_fanout_client_messages_total", "result", "dropped"); d != 0 {
			t.Errorf("%v of the burst dropped", d)
		}
	})

	t.Run("bus restart", func(t *testing.T) {
		srv.Kill()
		enginetest.WaitFor(t, "throng sees the bus down", func() bool {
			return metricValue(scrape(t, adminA), "throng_fanout_bus_up", "bus", kind.Name) == 0
		})
		srv.Start()
		pub := openPublisher(t, srv.URL())
		for _, s := range room1 {
			s.mu.Lock()
			s.msgs = nil
			s.mu.Unlock()
		}
		untilSubscribed(t, pub, "t.room1", room1...)
		for i, s := range room1 {
			s.mu.Lock()
			s.msgs = nil
			s.mu.Unlock()
			select {
			case <-s.done:
				t.Fatalf("room1 subscriber %d lost its connection: %v", i, s.err)
			default:
			}
		}
		for i := 0; i < 50; i++ {
			if err := pub.Publish(context.Background(), "t.room1", []byte(fmt.Sprintf("m%03d", i))); err != nil {
				t.Fatal(err)
			}
		}
		for i, s := range room1 {
			enginetest.WaitFor(t, "messages after the restart", func() bool { return len(s.data()) >= 50 })
			if got := strings.Join(s.data(), ","); got != want(0, 50) {
				t.Fatalf("room1 subscriber %d after the restart: %d messages, not each once in order", i, len(s.data()))
			}
		}
	})

	t.Run("slow subscribers", func(t *testing.T) {
		pub := openPublisher(t, srv.URL())
		// A client that stops reading once upgraded, on each policy.
		stuck := func(target string) net.Conn {
			c, _, st, _ := handshakeFrom(t, hostA, addrA, target)
			if st != 101 {
				t.Fatalf("%s: %d", target, st)
			}
			return c
		}
		closed, skipping := stuck("/slow/big"), stuck("/skip/big")
		// The reader is on a route with the default 1 MiB queue, and the
		// publisher keeps pace with it: only the stuck ones fall behind.
		reader := subscribe(t, addrA, "/live/big")
		untilSubscribed(t, pub, "t.big", reader)
		payload := strings.Repeat("x", 4096)
		// 16 MiB toward each subscriber: more than the kernel's socket
		// buffers can take for the two that do not read.
		const count = 4000
		rssBefore := vmRSS(t, thA.cmd.Process.Pid)
		for i := range count {
			if err := pub.Publish(context.Background(), "t.big", []byte(fmt.Sprintf("%04d%s", i, payload))); err != nil {
				t.Fatal(err)
			}
			if i%100 == 99 {
				enginetest.WaitFor(t, "the reader keeping up", func() bool { return len(reader.data()) > i-100 })
			}
		}
		enginetest.WaitFor(t, "the reader has every message", func() bool { return len(reader.data()) >= count })
		mfs := scrape(t, adminA)
		if got := metricValue(mfs, "throng_fanout_slow_closed_total"); got != 1 {
			t.Errorf("throng_fanout_slow_closed_total = %v, want 1", got)
		}
		if got := metricValue(mfs, "throng_fanout_skipped_total"); got < count/4 {
			t.Errorf("throng_fanout_skipped_total = %v, want a good share of the %d", got, count)
		}
		// Each stuck subscriber holds at most fanout_queue_limit (64 KiB)
		// in the proxy, whatever was sent.
		if grew := vmRSS(t, thA.cmd.Process.Pid) - rssBefore; grew > 8<<20 {
			t.Errorf("RSS grew %d MiB with two stuck subscribers", grew>>20)
		}
		// The closed one's connection ends; the skipping one's does not.
		expectEOFAfterDrain(t, closed)
		if _, err := skipping.Write(wireFrame(true, 0, ws.OpPing, true, []byte("alive"))); err != nil {
			t.Fatalf("the skipping subscriber's connection: %v", err)
		}
	})
}

// expectEOFAfterDrain reads (and drops) what c was sent until the proxy
// ends the connection.
func expectEOFAfterDrain(t *testing.T, c net.Conn) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 64<<10)
	for {
		if _, err := c.Read(buf); err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				t.Fatal("the slow subscriber was not closed")
			}
			return
		}
	}
}

// TestFanoutNode: Node's ws, an independent client, in a chat room that is
// a fan-out route publishing its clients' messages over Redis.
func TestFanoutNode(t *testing.T) {
	node := requireNode(t)
	srv := enginetest.StartBusServer(t, enginetest.Redis)
	host := newHost()
	addr, admin := net.JoinHostPort(host, "18080"), net.JoinHostPort(host, "18090")
	startThrong(t, addr, fanoutConfig(addr, admin, "redis", srv.URL()))
	script, _ := filepath.Abs(filepath.Join(nodeDir, "fanout.js"))
	runNode(t, node, 30*time.Second, script, addr)
}

// feedBackend is the upstream of source = "upstream" routes: it counts
// the WebSockets open per path, and answers a connection's "burst:N" with
// N numbered messages on it and "drop" by closing it.
type feedBackend struct {
	mu     sync.Mutex
	open   map[string]int // live connections by path
	opened map[string]int // every connection by path
}

func startFeedBackend(t *testing.T, addr string) *feedBackend {
	t.Helper()
	fb := &feedBackend{open: map[string]int{}, opened: map[string]int{}}
	fakeBackend(t, addr, func(c net.Conn) {
		var path string
		u := ws.Upgrader{OnRequest: func(uri []byte) error { path = string(uri); return nil }}
		if _, err := u.Upgrade(c); err != nil {
			return
		}
		fb.mu.Lock()
		fb.open[path]++
		fb.opened[path]++
		fb.mu.Unlock()
		defer func() {
			fb.mu.Lock()
			fb.open[path]--
			fb.mu.Unlock()
		}()
		for {
			msg, op, err := wsutil.ReadClientData(c)
			if err != nil {
				return
			}
			if op != ws.OpText {
				continue
			}
			switch s := string(msg); {
			case s == "drop":
				return
			case s == "frag":
				// One message in two fragments, a Ping between them.
				for _, f := range []ws.Frame{
					{Header: ws.Header{OpCode: ws.OpText, Length: 5}, Payload: []byte("frag-")},
					ws.NewPingFrame([]byte("hi")),
					{Header: ws.Header{Fin: true, OpCode: ws.OpContinuation, Length: 5}, Payload: []byte("ments")},
				} {
					if err := ws.WriteFrame(c, f); err != nil {
						return
					}
				}
			case strings.HasPrefix(s, "burst:"):
				n, _ := strconv.Atoi(s[len("burst:"):])
				for i := range n {
					if err := wsutil.WriteServerText(c, []byte(fmt.Sprintf("%s#%03d", path, i))); err != nil {
						return
					}
				}
			}
		}
	})
	return fb
}

func (fb *feedBackend) count(path string) (open, opened int) {
	fb.mu.Lock()
	defer fb.mu.Unlock()
	return fb.open[path], fb.opened[path]
}

// TestFanoutUpstream: source = "upstream" keeps one WebSocket per channel
// to the upstream whatever the subscribers (several loops), sends it the
// subscribers' messages, gives its messages to every subscriber of the
// channel, comes back when it drops, and closes it after the last
// subscriber has gone.
func TestFanoutUpstream(t *testing.T) {
	host := newHost()
	backend := net.JoinHostPort(host, "19001")
	fb := startFeedBackend(t, backend)
	addr, admin := net.JoinHostPort(host, "18080"), net.JoinHostPort(host, "18090")
	startThrong(t, addr, basicConfig(addr, []string{backend}, fmt.Sprintf(`[admin]
listen = %q

[[route]]
path_prefix = "/up/"
mode = "fanout"
source = "upstream"
upstream = "main"
client_messages = "upstream"
`, admin)))
	var room1 []*subscriber
	for range 20 { // over both loops
		room1 = append(room1, subscribe(t, addr, "/up/room1"))
	}
	room2 := subscribe(t, addr, "/up/room2")
	enginetest.WaitFor(t, "one upstream WebSocket per channel", func() bool {
		o1, _ := fb.count("/up/room1")
		o2, _ := fb.count("/up/room2")
		return o1 == 1 && o2 == 1
	})
	if _, opened := fb.count("/up/room1"); opened != 1 {
		t.Fatalf("%d upstream WebSockets opened for room1, want 1", opened)
	}
	if got := metricValue(scrape(t, admin), "throng_fanout_upstream_feeds"); got != 2 {
		t.Errorf("throng_fanout_upstream_feeds = %v, want 2", got)
	}
	talker := dialWS(t, addr, "/up/room1")
	say := func(s string) {
		t.Helper()
		if err := ws.WriteFrame(talker, ws.MaskFrame(ws.NewTextFrame([]byte(s)))); err != nil {
			t.Fatal(err)
		}
	}
	want := func(n int) string {
		var b []string
		for i := range n {
			b = append(b, fmt.Sprintf("/up/room1#%03d", i))
		}
		return strings.Join(b, ",")
	}
	say("burst:100")
	for i, s := range room1 {
		enginetest.WaitFor(t, "the burst", func() bool { return len(s.data()) >= 100 })
		if got := strings.Join(s.data(), ","); got != want(100) {
			t.Fatalf("room1 subscriber %d: %d messages, not the burst once in order", i, len(s.data()))
		}
	}
	if len(room2.data()) != 0 {
		t.Fatalf("room2 got %d of room1's messages", len(room2.data()))
	}
	for _, s := range room1 {
		s.mu.Lock()
		s.msgs = nil
		s.mu.Unlock()
	}
	say("frag")
	for i, s := range room1 {
		enginetest.WaitFor(t, "the fragmented message", func() bool { return len(s.data()) >= 1 })
		if got := s.data(); len(got) != 1 || got[0] != "frag-ments" {
			t.Fatalf("room1 subscriber %d: %q, want the message whole", i, got)
		}
	}

	// The upstream drops the channel's WebSocket: throng opens another,
	// the subscribers stay.
	say("drop")
	enginetest.WaitFor(t, "a new upstream WebSocket", func() bool {
		o, opened := fb.count("/up/room1")
		return o == 1 && opened == 2
	})
	for _, s := range room1 {
		s.mu.Lock()
		s.msgs = nil
		s.mu.Unlock()
	}
	say("burst:10")
	for i, s := range room1 {
		enginetest.WaitFor(t, "a burst after the reconnect", func() bool { return len(s.data()) >= 10 })
		if got := strings.Join(s.data(), ","); got != want(10) {
			t.Fatalf("room1 subscriber %d after the reconnect: %q", i, got)
		}
	}

	// The last subscriber gone, the channel's WebSocket closes after the
	// linger.
	for _, s := range append(room1, room2) {
		s.c.Close()
	}
	talker.Close()
	enginetest.WaitForWithin(t, 15*time.Second, "the upstream WebSockets closed", func() bool {
		o1, _ := fb.count("/up/room1")
		o2, _ := fb.count("/up/room2")
		return o1 == 0 && o2 == 0
	})
}

// TestFanoutTLS: subscribers over wss each get every message, sealed for
// them, and a subscriber's publish over TLS reaches the others.
func TestFanoutTLS(t *testing.T) {
	srv := enginetest.StartBusServer(t, enginetest.NATS)
	site := startTLSSite(t, fmt.Sprintf(`[bus]
nats = %q

[[route]]
path_prefix = "/chat/"
mode = "fanout"
source = "nats"
client_messages = "publish"
`, srv.URL()))
	addr := net.JoinHostPort(site.host, "18443")
	var subs []net.Conn
	for range 4 {
		subs = append(subs, dialWSS(t, addr, "/chat/secure", site.clientConfig()))
	}
	talker := subs[0]
	// Each subscribes on the bus asynchronously: probe until all hear one.
	heard := make([]bool, len(subs))
	enginetest.WaitFor(t, "every wss subscriber subscribed", func() bool {
		if err := wsutil.WriteClientText(talker, []byte("probe")); err != nil {
			t.Fatal(err)
		}
		all := true
		for i, c := range subs {
			_ = c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
			for !heard[i] {
				msg, err := wsutil.ReadServerText(c)
				if err != nil {
					break
				}
				heard[i] = string(msg) == "probe"
			}
			all = all && heard[i]
		}
		return all
	})
	// A burst, in one write: it comes back from the bus faster than the
	// loop sends, so the subscribers get it in batches, sealed together.
	const n = 2000
	var burst []byte
	for i := range n {
		f, err := ws.CompileFrame(ws.MaskFrame(ws.NewTextFrame([]byte(fmt.Sprintf("s%04d", i)))))
		if err != nil {
			t.Fatal(err)
		}
		burst = append(burst, f...)
	}
	if _, err := talker.Write(burst); err != nil {
		t.Fatal(err)
	}
	for i, c := range subs {
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
		next := 0
		for next < n {
			msg, err := wsutil.ReadServerText(c)
			if err != nil {
				t.Fatalf("wss subscriber %d after %d messages: %v", i, next, err)
			}
			if string(msg) == "probe" {
				continue
			}
			if want := fmt.Sprintf("s%04d", next); string(msg) != want {
				t.Fatalf("wss subscriber %d: %q, want %q", i, msg, want)
			}
			next++
		}
	}
}
