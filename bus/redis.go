package bus

// Redis Pub/Sub through go-redis. One *redis.PubSub carries every channel
// of the process; a normal *redis.Client (its pool) publishes.
//
// How go-redis's PubSub recovers (pubsub.go, v9.23.0): it remembers every
// channel given to Subscribe in PubSub.channels, even when the SUBSCRIBE
// could not be written, and forgets it on Unsubscribe before writing the
// UNSUBSCRIBE. When a read or write fails with a connection error,
// releaseConn -> reconnect closes the connection (closeTheCn) and dials a
// new one (conn), and conn -> resubscribe sends one SUBSCRIBE with all the
// remembered channels. If that dial fails the PubSub is left without a
// connection, and the next Receive, Ping or Subscribe dials again, without
// delay, so the backoff is this file's. A timeout is such an error unless
// Receive was given a timeout of its own (ReceiveTimeout, allowTimeout in
// releaseConn), so Receive with a context deadline makes a silent, dead
// connection be replaced too. Redis sends nothing again on a new
// connection, and the old one is closed before the new one is dialled, so a
// message cannot arrive twice; one channel subscribed twice on a connection
// is one subscription to Redis.
//
// go-redis's own PubSub.Channel is not used: it hides connection errors and
// reconnections (so no Down or Up could be reported), drops messages after
// a minute of a full Go channel, and pings only to force a reconnect when
// the ping cannot be written.
//
// Goroutines: reader (Receive, deliver, report State) and writer (apply
// Subscribe/Unsubscribe, ping). Subscribe and Unsubscribe only record the
// wish and wake the writer, because a PubSub call made while Redis is away
// dials under the PubSub's lock, for up to DialTimeout, and a WebSocket
// upgrade must not wait for that.

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

type redisBus struct {
	opts   Options
	client *redis.Client
	ps     *redis.PubSub
	state  stateTracker

	// ctx is cancelled by Close, which aborts dials and backoff waits.
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	kick   chan struct{} // wakes the writer; buffered 1

	mu     sync.RWMutex
	want   map[string]struct{} // prefixed names subscribed to
	closed bool
}

func openRedis(opts Options, ropt *redis.Options) (*redisBus, error) {
	if ropt.ClientName == "" {
		ropt.ClientName = opts.Name
	}
	if ropt.DialTimeout == 0 {
		ropt.DialTimeout = opts.DialTimeout
	}
	// A PUBLISH retried after a lost reply may have been done already and
	// would reach every subscriber twice.
	ropt.MaxRetries = -1
	// One dial per Publish while Redis is away, not five with backoff:
	// Publish is to fail fast then (ErrDown).
	ropt.DialerRetries = 1
	// Publish's ctx bounds the command, not only the wait for a pool slot.
	ropt.ContextTimeoutEnabled = true

	b := &redisBus{
		opts:   opts,
		client: redis.NewClient(ropt),
		kick:   make(chan struct{}, 1),
		want:   make(map[string]struct{}),
	}
	b.state.onState, b.state.onError = opts.OnState, opts.OnError
	b.ctx, b.cancel = context.WithCancel(context.Background())
	// No channels yet: this makes the PubSub without connecting.
	b.ps = b.client.Subscribe(b.ctx)
	b.wg.Add(2)
	go b.readLoop()
	go b.writeLoop()
	return b, nil
}

// Subscribe implements Bus.
func (b *redisBus) Subscribe(channel string) error {
	return b.change(channel, true)
}

// Unsubscribe implements Bus.
func (b *redisBus) Unsubscribe(channel string) error {
	return b.change(channel, false)
}

func (b *redisBus) change(channel string, on bool) error {
	if err := ValidateChannel(channel); err != nil {
		return err
	}
	full := b.opts.Prefix + channel
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return ErrClosed
	}
	if _, ok := b.want[full]; ok == on {
		return nil
	}
	if on {
		b.want[full] = struct{}{}
	} else {
		// From here on deliver drops channel's messages, including any
		// already read: that is what makes Unsubscribe immediate.
		delete(b.want, full)
	}
	select {
	case b.kick <- struct{}{}:
	default:
	}
	return nil
}

// Publish implements Bus.
func (b *redisBus) Publish(ctx context.Context, channel string, payload []byte) error {
	if err := ValidateChannel(channel); err != nil {
		return err
	}
	if b.isClosed() {
		return ErrClosed
	}
	return b.publishErr(channel, b.client.Publish(ctx, b.opts.Prefix+channel, payload).Err())
}

// PublishBatch implements Bus: one pipeline, so one write and one read
// for the whole batch. Order holds across calls too: the next pipeline is
// sent once this one's replies are in.
func (b *redisBus) PublishBatch(ctx context.Context, msgs []Message) (int, error) {
	if b.isClosed() {
		return 0, ErrClosed
	}
	var first error
	cmds, _ := b.client.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, m := range msgs {
			if err := ValidateChannel(m.Channel); err != nil {
				if first == nil {
					first = err
				}
				continue
			}
			p.Publish(ctx, b.opts.Prefix+m.Channel, m.Payload)
		}
		return nil
	})
	n, i := 0, 0
	for _, c := range cmds {
		// cmds[k] is the k-th message with a valid channel.
		for ValidateChannel(msgs[i].Channel) != nil {
			i++
		}
		if err := c.Err(); err != nil && first == nil {
			first = b.publishErr(msgs[i].Channel, err)
		} else if err == nil {
			n++
		}
		i++
	}
	return n, first
}

// publishErr maps a PUBLISH's error to the package's.
func (b *redisBus) publishErr(channel string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, redis.ErrClosed) && b.isClosed():
		return ErrClosed
	case b.state.get() != Up:
		return fmt.Errorf("%w: redis publish to %q: %w", ErrDown, channel, err)
	default:
		return fmt.Errorf("bus: redis publish to %q: %w", channel, err)
	}
}

// State implements Bus.
func (b *redisBus) State() State { return b.state.get() }

// Dropped implements Bus: Redis never drops here (see Handler).
func (b *redisBus) Dropped() uint64 { return 0 }

// Close implements Bus.
func (b *redisBus) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return ErrClosed
	}
	b.closed = true
	b.mu.Unlock()

	b.state.stop()
	b.cancel()
	// Closing the PubSub closes its connection, which ends the reader's
	// blocking read with redis.ErrClosed.
	_ = b.ps.Close()
	b.wg.Wait()
	if err := b.client.Close(); err != nil && !errors.Is(err, redis.ErrClosed) {
		return fmt.Errorf("bus: closing redis client: %w", err)
	}
	return nil
}

func (b *redisBus) isClosed() bool {
	b.mu.RLock()
	defer b.mu.RUnlock()
	return b.closed
}

// stopping reports whether the loops should end: Close has been called.
func (b *redisBus) stopping() bool { return b.ctx.Err() != nil }

// readLoop is the only goroutine that reads the PubSub, calls the Handler
// and reports State. It reports Down on the first failed attempt or broken
// connection, and Up on the first reply read after that: Redis runs a
// whole SUBSCRIBE before it answers for its first channel, so by then
// every channel go-redis resubscribed to is in force.
func (b *redisBus) readLoop() {
	defer b.wg.Done()
	// Every Receive is bounded by a deadline that the writer's pings
	// (every PingInterval while Up) make sure a live connection meets.
	readWait := 2*b.opts.PingInterval + b.opts.DialTimeout
	failures := 0
	needPing := true
	for !b.stopping() {
		if needPing {
			// Dials (and resubscribes) if there is no connection, and
			// makes Redis answer something even with no channel, so that
			// Up can be reported.
			ctx, cancel := context.WithTimeout(b.ctx, b.opts.DialTimeout)
			err := b.ps.Ping(ctx)
			cancel()
			if err != nil {
				if b.stopping() {
					return
				}
				b.state.set(Down, fmt.Errorf("bus: redis: %w", err))
				if !b.sleep(backoff(failures, b.opts.ReconnectMin, b.opts.ReconnectMax)) {
					return
				}
				failures++
				continue
			}
			needPing = false
		}

		ctx, cancel := context.WithTimeout(b.ctx, readWait)
		msg, err := b.ps.Receive(ctx)
		cancel()
		if err != nil {
			if b.stopping() {
				return
			}
			var rerr redis.Error
			if errors.As(err, &rerr) {
				// An error reply: the connection itself is fine.
				b.state.report(fmt.Errorf("bus: redis: %w", err))
				continue
			}
			// go-redis has closed the connection and tried one redial.
			b.state.set(Down, fmt.Errorf("bus: redis: %w", err))
			needPing = true
			if !b.sleep(backoff(failures, b.opts.ReconnectMin, b.opts.ReconnectMax)) {
				return
			}
			failures++
			continue
		}
		failures = 0
		b.state.set(Up, nil)
		if m, ok := msg.(*redis.Message); ok {
			b.deliver(m)
		}
		// *redis.Subscription and *redis.Pong only prove the connection.
	}
}

// deliver hands m to the Handler if its channel is still wanted.
func (b *redisBus) deliver(m *redis.Message) {
	name, ok := strings.CutPrefix(m.Channel, b.opts.Prefix)
	if !ok {
		return
	}
	b.mu.RLock()
	_, want := b.want[m.Channel]
	b.mu.RUnlock()
	if !want {
		return
	}
	// []byte(string) copies: the handler owns the payload.
	b.opts.OnMessage(name, []byte(m.Payload))
}

// writeLoop makes the PubSub's channels follow b.want and pings while Up.
// applied is what go-redis has been told; as go-redis keeps its channel
// set whether or not the command reached Redis, each change is made once.
func (b *redisBus) writeLoop() {
	defer b.wg.Done()
	applied := make(map[string]struct{})
	tick := time.NewTicker(b.opts.PingInterval)
	defer tick.Stop()
	for {
		select {
		case <-b.ctx.Done():
			return
		case <-b.kick:
			b.apply(applied)
		case <-tick.C:
			// Only while Up: while down the reader is already dialling
			// with backoff, and a ping here would dial without it.
			if b.state.get() == Up {
				ctx, cancel := context.WithTimeout(b.ctx, b.opts.DialTimeout)
				// A failure makes go-redis reconnect; the reader's read
				// then fails and it reports Down.
				_ = b.ps.Ping(ctx)
				cancel()
			}
		}
	}
}

func (b *redisBus) apply(applied map[string]struct{}) {
	var add, remove []string
	b.mu.RLock()
	for ch := range b.want {
		if _, ok := applied[ch]; !ok {
			add = append(add, ch)
		}
	}
	for ch := range applied {
		if _, ok := b.want[ch]; !ok {
			remove = append(remove, ch)
		}
	}
	b.mu.RUnlock()

	// Errors are left to the reader: go-redis has updated its channel set
	// anyway and resubscribes on the reconnection that follows.
	if len(remove) > 0 {
		ctx, cancel := context.WithTimeout(b.ctx, b.opts.DialTimeout)
		_ = b.ps.Unsubscribe(ctx, remove...) // never with no channel: that is "all"
		cancel()
		for _, ch := range remove {
			delete(applied, ch)
		}
	}
	if len(add) > 0 {
		ctx, cancel := context.WithTimeout(b.ctx, b.opts.DialTimeout)
		_ = b.ps.Subscribe(ctx, add...)
		cancel()
		for _, ch := range add {
			applied[ch] = struct{}{}
		}
	}
}

// sleep waits d, or until Close; false if Close came first.
func (b *redisBus) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-b.ctx.Done():
		return false
	}
}
