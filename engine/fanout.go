package engine

// Fan-out routes (docs/fanout.md): throng answers the upgrade itself and
// the client subscribes to a channel. The process subscribes once per
// channel on the bus (Redis or NATS, package bus); each message is framed
// once, reaches each loop with subscribers once (a batch through Execute),
// and the loop writes the same bytes to each of its subscribers.

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gobwas/ws"

	"github.com/throngproxy/throng/bus"
	"github.com/throngproxy/throng/codec"
	"github.com/throngproxy/throng/config"
	"github.com/throngproxy/throng/upstream"
)

// fanRoute is a fan-out route's settings, compiled for the loops.
type fanRoute struct {
	// source is config.SourceRedis or config.SourceNATS, or for an
	// upstream source "upstream:" and the upstream's name (the hub keys
	// channels by it: two upstreams' channels of one name are two).
	source      string
	up          *upstream.Upstream // source = "upstream": where the channels' WebSockets go
	pathPrefix  string
	maxMsg      int64  // limits.max_frame_bytes: a message from the upstream may be no larger
	chanKind    string // config.ChannelPath, ChannelQueryPrefix or ChannelHeaderPrefix
	chanName    string // the query parameter or header
	prefix      string // channel_prefix
	op          ws.OpCode
	publish     bool // client_messages = "publish"
	skip        bool // slow_subscriber = "skip"
	queueLimit  int  // fanout_queue_limit
	subprotocol string
}

// newFanRoute compiles r, a fan-out route; up is its upstream (nil for a
// bus source), maxMsg the largest message taken from it.
func newFanRoute(r *config.Route, up *upstream.Upstream, maxMsg int64) *fanRoute {
	f := &fanRoute{
		source: r.Source, prefix: r.ChannelPrefix, op: ws.OpText, pathPrefix: r.PathPrefix, maxMsg: maxMsg,
		// Gathered whole, for the bus or for the channel's upstream.
		publish:    r.ClientMessages == config.ClientMessagesPublish || r.ClientMessages == config.ClientMessagesUpstream,
		skip:       r.SlowSubscriber == config.SlowSubscriberSkip,
		queueLimit: int(r.FanoutQueueLimit.Bytes()), subprotocol: r.Subprotocol,
	}
	f.chanKind, f.chanName, _ = config.ParseChannelKey(r.Channel)
	if r.MessageType == config.MessageBinary {
		f.op = ws.OpBinary
	}
	if r.Source == config.SourceUpstream {
		f.source, f.up = "upstream:"+r.Upstream, up
	}
	return f
}

// channel finds the request's channel, as named on the bus (with the
// prefix); ok is false when the request names none.
func (f *fanRoute) channel(req *codec.Request, pathPrefix string) (string, bool) {
	var name []byte
	switch f.chanKind {
	case config.ChannelPath:
		p := pathOf(req.Target)
		if len(p) >= len(pathPrefix) {
			name = p[len(pathPrefix):]
		}
	case config.ChannelQueryPrefix:
		v, _, found := codec.CutQueryParam(nil, req.Target, f.chanName)
		if !found {
			return "", false
		}
		name = v
	case config.ChannelHeaderPrefix:
		for _, h := range req.Headers {
			if codec.EqualFold(h.Name, f.chanName) {
				name = codec.TrimOWS(h.Value)
				break
			}
		}
	}
	if len(name) == 0 {
		return "", false
	}
	return f.prefix + string(name), true
}

// fanKey names one stream of frames: a bus channel, framed with one
// opcode (two routes may read one channel as text and as binary).
type fanKey struct {
	source, name string
	op           ws.OpCode
}

// fanHub is the process's fan-out: its buses, and every channel that has
// subscribers. Loops join and leave under mu; bus goroutines deliver
// under it.
type fanHub struct {
	e     *Engine
	mu    sync.Mutex
	buses map[string]*fanBus // by source, opened at the first subscriber
	chans map[fanKey]*fanChan
	// subs counts each bus channel's fanChans, so that the bus is
	// subscribed once per name whatever the opcodes.
	subs map[fanKey]int // op is 0 in these keys
	// feeds are the upstream WebSockets of source = "upstream" channels
	// (fanout_upstream.go), by the same keys as subs.
	feeds map[fanKey]*feed
	// closed is set once the engine stops: no bus is opened after it,
	// and deliveries find no channel.
	closed bool

	stats fanStats
}

// fanStats are the fan-out counters, for /metrics.
type fanStats struct {
	messagesIn   atomic.Uint64 // messages that came from a bus
	slowClosed   atomic.Uint64 // subscribers closed for falling behind (slow_subscriber = "close")
	clientDrops  atomic.Uint64 // subscribers' own messages dropped (client_messages = "drop", or the publish queue full)
	published    atomic.Uint64 // subscribers' messages published to the bus
	publishFails atomic.Uint64 // publishes the bus refused or that found it down
	loopDrops    atomic.Uint64 // messages a loop's queue had no room for
	notText      atomic.Uint64 // bus messages not UTF-8, kept from text routes
	notTextIn    atomic.Uint64 // subscribers' messages a text route could not publish (binary, or not UTF-8)
}

// fanBus is one open bus, the goroutine that subscribes and unsubscribes
// it in the order the hub decided (ops), and the one that publishes to it.
// Neither runs on a loop or under the hub's lock: a NATS subscribe can
// wait on the connection's lock.
type fanBus struct {
	source string
	b      bus.Bus
	state  atomic.Uint32 // bus.State
	pub    chan bus.Message
	// pubBytes counts the payload bytes in pub, bounded by
	// publishQueueBytes.
	pubBytes atomic.Int64
	ops      chan busOp
	opsDone  chan struct{}
}

// busOp is a subscription change for a bus's ops goroutine.
type busOp struct {
	name      string
	subscribe bool
}

// busOps is the room for subscription changes waiting for the bus.
const busOps = 65536

// publishQueue and publishQueueBytes bound the messages waiting to be
// published, per bus; past either a subscriber's message is dropped
// (counted). The count is room for a loop that starves the publishing
// goroutine of CPU for a while (1,000 rooms at 20 messages a second on
// one core overflowed 4,096); the bytes bound what that room can cost.
const (
	publishQueue      = 16384
	publishQueueBytes = 64 << 20
)

// publishBatch bounds the messages one round trip to the bus publishes.
const publishBatch = 512

// fanChan is one channel's subscribers, by loop.
type fanChan struct {
	key   fanKey
	subs  int         // subscribers on every loop (under hub.mu)
	loops []*loopChan // by shard index; nil where none
}

// loopChan is a channel's subscribers on one loop and the frames on their
// way to them. subs and the cursor belong to the loop; queue and posted
// are shared with the bus goroutine under mu.
type loopChan struct {
	sh  *shard
	ch  *fanChan
	hub *fanHub

	subs  []*session // nil where one left while a delivery was under way
	live  int
	holes bool

	mu     sync.Mutex
	queue  [][]byte // frames from head on are still to deliver
	head   int
	bytes  int // of the frames still to deliver
	posted bool

	cur  [][]byte // the frames being delivered, to subs[nxt] on
	size int      // cur's bytes
	nxt  int
}

// maxLoopQueue bounds the frames waiting for one loop's subscribers of a
// channel; past it the loop misses messages (counted) rather than memory
// growing without bound behind a loop that cannot keep up.
const maxLoopQueue = 65536

// maxLoopQueueBytes bounds the same queue in bytes.
const maxLoopQueueBytes = 64 << 20

// fanBudget bounds the deliveries one loop makes per turn, so that a
// channel of 100,000 subscribers does not stall the loop's other sessions:
// the rest goes on at the loop's next turn.
const fanBudget = 4096

// fanBatchBytes bounds the frames a subscriber is handed in one send
// when its loop fell behind (at most maxIov of them).
const fanBatchBytes = 64 << 10

// fanSub is a subscriber's place, held in its policyState.
type fanSub struct {
	lc    *loopChan
	idx   int
	route *fanRoute
	name  string // the channel, as on the bus
	// skipping says the last deliveries were skipped (slow_subscriber =
	// "skip"): it resumes once its queue is empty.
	skipping bool
	// msg gathers a message the subscriber publishes (client_messages =
	// "publish"), unmasked; remain and mask are the current frame's.
	msg    []byte
	remain uint64
	mask   [4]byte
	moff   int
	fin    bool // the current frame ends its message
	// binary and dropping are the current message's: its opcode, and
	// whether per-message limits dropped it.
	binary, dropping bool
}

// limit is the subscriber's queue bound; a session that left its channel
// (nil) is bounded by the default.
func (sub *fanSub) limit() int {
	if sub == nil {
		return int(config.MiB)
	}
	return sub.route.queueLimit
}

func newFanHub(e *Engine) *fanHub {
	return &fanHub{e: e, buses: make(map[string]*fanBus), chans: make(map[fanKey]*fanChan), subs: make(map[fanKey]int), feeds: make(map[fanKey]*feed)}
}

// busFor returns the open bus of source, opening it first; under h.mu.
func (h *fanHub) busFor(source string) (*fanBus, error) {
	if fb := h.buses[source]; fb != nil {
		return fb, nil
	}
	cfg := h.e.snap.Load().cfg
	url := cfg.Bus.Redis
	if source == config.SourceNATS {
		url = cfg.Bus.NATS
	}
	if h.closed {
		return nil, errHubClosed
	}
	fb := &fanBus{source: source, pub: make(chan bus.Message, publishQueue), ops: make(chan busOp, busOps), opsDone: make(chan struct{})}
	b, err := bus.Open(bus.Options{
		URL:       url,
		Name:      "throng",
		OnMessage: func(channel string, payload []byte) { h.deliver(source, channel, payload) },
		OnState: func(st bus.State, err error) {
			fb.state.Store(uint32(st))
			attrs := []slog.Attr{slog.String("bus", source), slog.String("state", st.String())}
			if err != nil {
				attrs = append(attrs, attrErr(err))
			}
			h.e.log.LogAttrs(bgCtx, slog.LevelInfo, "fan-out bus", attrs...)
		},
		OnError: func(err error) {
			h.e.log.LogAttrs(bgCtx, levelDebug, "fan-out bus error", slog.String("bus", source), attrErr(err))
		},
	})
	if err != nil {
		return nil, err
	}
	fb.b = b
	h.buses[source] = fb
	go fb.publishLoop(&h.stats)
	go fb.opsLoop(h.e.log)
	return fb, nil
}

// opsLoop applies subscription changes in order.
func (fb *fanBus) opsLoop(log *slog.Logger) {
	defer close(fb.opsDone)
	for op := range fb.ops {
		var err error
		if op.subscribe {
			err = fb.b.Subscribe(op.name)
		} else {
			err = fb.b.Unsubscribe(op.name)
		}
		if err != nil {
			log.LogAttrs(bgCtx, slog.LevelWarn, "fan-out subscription", slog.String("bus", fb.source), slog.String("channel", op.name), attrErr(err))
		}
	}
}

// errHubClosed is a subscription asked for while the engine stops.
var errHubClosed = errors.New("engine: fan-out stopped")

// openBuses opens every bus a fan-out route of c uses, so that no loop
// waits for a first connect; called before the loops start.
func (h *fanHub) openBuses(c *config.Config) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for i := range c.Routes {
		if r := &c.Routes[i]; r.Mode == config.ModeFanout && r.Source != config.SourceUpstream {
			if _, err := h.busFor(r.Source); err != nil {
				h.e.log.LogAttrs(bgCtx, slog.LevelError, "fan-out bus", slog.String("bus", r.Source), attrErr(err))
			}
		}
	}
}

// publishLoop publishes subscribers' messages in order, off the loops. It
// sends what has queued up meanwhile in one batch, so that the publishing
// rate is not one round trip per message: a chat route of 1,000 rooms
// publishes tens of thousands of messages a second.
func (fb *fanBus) publishLoop(st *fanStats) {
	batch := make([]bus.Message, 0, publishBatch)
	for m := range fb.pub {
		batch = append(batch[:0], m)
	more:
		for len(batch) < publishBatch {
			select {
			case m, ok := <-fb.pub:
				if !ok {
					break more
				}
				batch = append(batch, m)
			default:
				break more
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		n, _ := fb.b.PublishBatch(ctx, batch)
		cancel()
		st.published.Add(uint64(n))
		st.publishFails.Add(uint64(len(batch) - n))
		size := 0
		for _, m := range batch {
			size += len(m.Payload)
		}
		fb.pubBytes.Add(-int64(size))
		clear(batch) // the payloads are not kept until the next batch
	}
}

// busDown reports whether source's bus was opened and is not connected
// now.
func (h *fanHub) busDown(source string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	fb := h.buses[source]
	return fb != nil && bus.State(fb.state.Load()) != bus.Up
}

// close closes every bus; the engine is stopping.
func (h *fanHub) close() {
	// A bus's Close waits for its delivery goroutine, which may be waiting
	// for mu in deliver: close them with mu released.
	h.mu.Lock()
	buses, feeds := h.buses, h.feeds
	h.buses, h.feeds = map[string]*fanBus{}, map[fanKey]*feed{}
	h.closed = true
	h.mu.Unlock()
	for _, fd := range feeds {
		fd.cancel()
		<-fd.done
	}
	for _, fb := range buses {
		close(fb.ops)
		<-fb.opsDone
		_ = fb.b.Close()
		close(fb.pub)
	}
}

// join subscribes s, on its loop, to channel name of route f. The bus is
// subscribed when the channel gets its first subscriber in the process.
func (h *fanHub) join(s *session, f *fanRoute, name string) (*fanSub, error) {
	k := fanKey{source: f.source, name: name, op: f.op}
	h.mu.Lock()
	defer h.mu.Unlock()
	ch := h.chans[k]
	if ch == nil {
		bk := fanKey{source: f.source, name: name}
		if f.up != nil {
			if h.closed {
				return nil, errHubClosed
			}
			h.startFeed(bk, f, name)
		} else {
			fb, err := h.busFor(f.source)
			if err != nil {
				return nil, err
			}
			if h.subs[bk] == 0 {
				fb.ops <- busOp{name: name, subscribe: true}
			}
		}
		h.subs[bk]++
		ch = &fanChan{key: k}
		h.chans[k] = ch
	}
	i := int(s.sh.index)
	for len(ch.loops) <= i {
		ch.loops = append(ch.loops, nil)
	}
	lc := ch.loops[i]
	if lc == nil {
		lc = &loopChan{sh: s.sh, ch: ch, hub: h}
		ch.loops[i] = lc
	}
	ch.subs++
	sub := &fanSub{lc: lc, idx: len(lc.subs), route: f, name: name}
	lc.subs = append(lc.subs, s)
	lc.live++
	return sub, nil
}

// leave takes sub's session out of its channel, on its loop; the bus is
// unsubscribed when the process's last subscriber of the channel leaves.
func (h *fanHub) leave(sub *fanSub) {
	lc := sub.lc
	if sub.idx < 0 || sub.idx >= len(lc.subs) {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	// Leave a hole while a frame is half-delivered (its cursor counts
	// places); otherwise the last subscriber takes the place.
	if len(lc.cur) > 0 {
		lc.subs[sub.idx] = nil
		lc.holes = true
	} else {
		last := len(lc.subs) - 1
		if moved := lc.subs[last]; sub.idx != last && moved != nil {
			lc.subs[sub.idx] = moved
			moved.pol.fan.idx = sub.idx
		}
		lc.subs[last] = nil
		lc.subs = lc.subs[:last]
	}
	sub.idx = -1
	lc.live--
	ch := lc.ch
	ch.subs--
	if ch.subs > 0 {
		return
	}
	delete(h.chans, ch.key)
	bk := fanKey{source: ch.key.source, name: ch.key.name}
	if h.subs[bk]--; h.subs[bk] == 0 {
		delete(h.subs, bk)
		if fd := h.feeds[bk]; fd != nil {
			h.lingerFeed(bk, fd)
		} else if fb := h.buses[ch.key.source]; fb != nil {
			fb.ops <- busOp{name: ch.key.name}
		}
	}
}

// FanoutStats are the fan-out counters (docs/fanout.md).
type FanoutStats struct {
	Channels      int               // channels with subscribers in this process
	Feeds         int               // upstream WebSockets of source = "upstream" channels (lingering ones included)
	MessagesIn    uint64            // messages that came from a bus
	Deliveries    uint64            // frames written or queued to subscribers
	Skipped       uint64            // deliveries skipped for slow subscribers
	SlowClosed    uint64            // subscribers closed for falling behind
	LoopDrops     uint64            // messages a loop's full queue missed
	ClientDropped uint64            // subscribers' own messages dropped
	Published     uint64            // subscribers' messages published to the bus
	PublishFailed uint64            // publishes the bus refused, or that found it down
	NotTextBus    uint64            // bus messages kept from text routes: not UTF-8
	NotTextClient uint64            // subscribers' messages a text route did not publish: binary, or not UTF-8
	BusUp         map[string]bool   // by source: the bus is connected
	BusDropped    map[string]uint64 // by source: messages the bus client dropped (NATS slow consumer)
}

// FanoutStats reads the fan-out counters; safe from any goroutine.
func (e *Engine) FanoutStats() FanoutStats {
	h := e.fan
	st := &h.stats
	out := FanoutStats{
		MessagesIn: st.messagesIn.Load(),
		SlowClosed: st.slowClosed.Load(), LoopDrops: st.loopDrops.Load(), ClientDropped: st.clientDrops.Load(),
		Published: st.published.Load(), PublishFailed: st.publishFails.Load(),
		NotTextBus: st.notText.Load(), NotTextClient: st.notTextIn.Load(),
		BusUp: map[string]bool{}, BusDropped: map[string]uint64{},
	}
	for _, sh := range *e.shards.Load() {
		out.Deliveries += sh.stats.fanDeliveries.Load()
		out.Skipped += sh.stats.fanSkipped.Load()
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	out.Channels, out.Feeds = len(h.chans), len(h.feeds)
	for src, fb := range h.buses {
		out.BusUp[src] = bus.State(fb.state.Load()) == bus.Up
		out.BusDropped[src] = fb.b.Dropped()
	}
	return out
}
