package bus

// NATS core Pub/Sub through nats.go: one *nats.Conn for the process, one
// subscription per subject, every subscription delivering into one Go
// channel that one goroutine drains into the Handler.
//
// How nats.go recovers (nats.go, v1.55.0): with RetryOnFailedConnect a
// failed first connect does not fail Connect; connect puts the Conn in
// RECONNECTING and starts doReconnect, which reports the failure through
// ReconnectErrCB. While RECONNECTING, subscribeLocked registers a
// subscription without writing its SUB, and unsubscribe removes one without
// writing an UNSUB; on every successful (re)connect doReconnect calls
// resendSubscriptions, which writes a SUB for every registered
// subscription, with the same sid, then queues ReconnectedCB (ConnectedCB
// after a retried first connect). A dropped connection goes through
// processOpErr to doReconnect, which queues DisconnectedErrCB first.
// Callbacks run in order on the Conn's one asyncCBDispatcher goroutine.
// Core NATS sends nothing again on reconnect, so nothing arrives twice.
//
// Why ChanSubscribe into one channel: processMsg puts each message of a
// channel subscription into its Go channel without blocking (on a full
// channel it counts the message in the subscription's Dropped and reports
// ErrSlowConsumer), from the Conn's single readLoop, so one channel shared
// by all subscriptions keeps the server's order across all subjects, costs
// no goroutine per subject, and bounds memory at QueueSize messages. The
// pending limits of SetPendingLimits apply only to async and sync
// subscriptions; for channel ones the channel's capacity is the limit.

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
)

type natsBus struct {
	opts  Options
	nc    *nats.Conn
	state stateTracker
	msgs  chan *nats.Msg
	done  chan struct{}
	wg    sync.WaitGroup

	mu      sync.RWMutex
	subs    map[string]*nats.Subscription // by prefixed subject
	closed  bool
	retired uint64 // Dropped of subscriptions since removed
}

func openNATS(opts Options) (*natsBus, error) {
	b := &natsBus{
		opts: opts,
		msgs: make(chan *nats.Msg, opts.QueueSize),
		done: make(chan struct{}),
		subs: make(map[string]*nats.Subscription),
	}
	b.state.onState, b.state.onError = opts.OnState, opts.OnError
	lo, hi := opts.ReconnectMin, opts.ReconnectMax
	nc, err := nats.Connect(opts.URL,
		nats.Name(opts.Name),
		nats.Timeout(opts.DialTimeout),
		nats.RetryOnFailedConnect(true),
		nats.MaxReconnects(-1),
		// Replaces ReconnectWait and ReconnectJitter with the same
		// exponential, jittered backoff as Redis; attempts counts from 1.
		nats.CustomReconnectDelay(func(attempts int) time.Duration {
			return backoff(attempts-1, lo, hi)
		}),
		nats.PingInterval(opts.PingInterval),
		nats.MaxPingsOutstanding(2),
		// A Publish that fills the write buffer writes inline, under the
		// Conn's lock; nats.go's default bound on that is a minute.
		nats.FlusherTimeout(2*opts.PingInterval),
		// No buffering of publishes while disconnected: Publish fails
		// with ErrDown at once, as with Redis, rather than sending
		// minutes-old messages to subscribers that may not be back yet.
		nats.ReconnectBufSize(-1),
		nats.NoCallbacksAfterClientClose(),
		nats.ConnectHandler(b.onUp),
		nats.ReconnectHandler(b.onUp),
		nats.DisconnectErrHandler(b.onDown),
		nats.ReconnectErrHandler(b.onDown),
		nats.ErrorHandler(b.onAsyncError),
	)
	if err != nil {
		// With RetryOnFailedConnect only options or the URL fail here.
		return nil, fmt.Errorf("%w: nats: %v", ErrBadURL, err)
	}
	b.nc = nc
	b.wg.Add(1)
	go b.deliverLoop()
	return b, nil
}

// onUp reports Up once the server has the subscriptions resent: the SUBs
// have been written when the callback is queued but perhaps not read by
// the server, and a PING's PONG comes after it has read them.
func (b *natsBus) onUp(nc *nats.Conn) {
	_ = nc.FlushTimeout(b.opts.DialTimeout)
	// If the flush failed for a new disconnect, its DisconnectedErrCB
	// follows, and Up comes with the next ReconnectedCB.
	if nc.IsConnected() {
		b.state.set(Up, nil)
	}
}

func (b *natsBus) onDown(_ *nats.Conn, err error) {
	if err == nil {
		err = errors.New("connection lost")
	}
	b.state.set(Down, fmt.Errorf("bus: nats: %w", err))
}

func (b *natsBus) onAsyncError(_ *nats.Conn, sub *nats.Subscription, err error) {
	if sub != nil {
		err = fmt.Errorf("bus: nats: subject %q: %w", sub.Subject, err)
	} else {
		err = fmt.Errorf("bus: nats: %w", err)
	}
	b.state.report(err)
}

// deliverLoop is the only goroutine that calls the Handler.
func (b *natsBus) deliverLoop() {
	defer b.wg.Done()
	for {
		select {
		case <-b.done:
			return
		case m := <-b.msgs:
			b.mu.RLock()
			cur := b.subs[m.Subject]
			b.mu.RUnlock()
			// Only the current subscription: a message of one since
			// unsubscribed is dropped, which makes Unsubscribe immediate.
			if cur == nil || cur != m.Sub {
				continue
			}
			// nats.go copies each payload out of its read buffer
			// (processMsg), so m.Data is the handler's to keep.
			b.opts.OnMessage(strings.TrimPrefix(m.Subject, b.opts.Prefix), m.Data)
		}
	}
}

// Subscribe implements Bus.
func (b *natsBus) Subscribe(channel string) error {
	if err := ValidateChannel(channel); err != nil {
		return err
	}
	full := b.opts.Prefix + channel
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return ErrClosed
	}
	if _, ok := b.subs[full]; ok {
		return nil
	}
	// Does not wait for the server; while disconnected it only registers
	// the subscription, which resendSubscriptions sends on reconnect.
	sub, err := b.nc.ChanSubscribe(full, b.msgs)
	if err != nil {
		return fmt.Errorf("bus: nats subscribe %q: %w", channel, err)
	}
	b.subs[full] = sub
	return nil
}

// Unsubscribe implements Bus.
func (b *natsBus) Unsubscribe(channel string) error {
	if err := ValidateChannel(channel); err != nil {
		return err
	}
	full := b.opts.Prefix + channel
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return ErrClosed
	}
	sub, ok := b.subs[full]
	if !ok {
		return nil
	}
	delete(b.subs, full)
	// Dropped is refused once the subscription is closed: count first.
	if n, err := sub.Dropped(); err == nil && n > 0 {
		b.retired += uint64(n)
	}
	if err := sub.Unsubscribe(); err != nil {
		// The delivery loop no longer passes it on, whatever NATS does.
		b.state.report(fmt.Errorf("bus: nats unsubscribe %q: %w", channel, err))
	}
	return nil
}

// Publish implements Bus.
func (b *natsBus) Publish(ctx context.Context, channel string, payload []byte) error {
	if err := ValidateChannel(channel); err != nil {
		return err
	}
	// nats.Conn.Publish only appends to the connection's buffer and does
	// not block, so ctx can only be checked first.
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("bus: nats publish to %q: %w", channel, err)
	}
	b.mu.RLock()
	closed := b.closed
	b.mu.RUnlock()
	if closed {
		return ErrClosed
	}
	err := b.nc.Publish(b.opts.Prefix+channel, payload)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, nats.ErrReconnectBufExceeded) || b.state.get() != Up:
		return fmt.Errorf("%w: nats publish to %q: %w", ErrDown, channel, err)
	default:
		return fmt.Errorf("bus: nats publish to %q: %w", channel, err)
	}
}

// PublishBatch implements Bus: nats.go buffers each Publish and its
// flusher writes them out together.
func (b *natsBus) PublishBatch(ctx context.Context, msgs []Message) (int, error) {
	var first error
	n := 0
	for _, m := range msgs {
		if err := b.Publish(ctx, m.Channel, m.Payload); err != nil {
			if first == nil {
				first = err
			}
			continue
		}
		n++
	}
	return n, first
}

// State implements Bus.
func (b *natsBus) State() State { return b.state.get() }

// Dropped implements Bus: messages nats.go dropped because the delivery
// channel was full, over all subscriptions past and present.
func (b *natsBus) Dropped() uint64 {
	b.mu.RLock()
	defer b.mu.RUnlock()
	n := b.retired
	for _, sub := range b.subs {
		if d, err := sub.Dropped(); err == nil && d > 0 {
			n += uint64(d)
		}
	}
	return n
}

// Close implements Bus.
func (b *natsBus) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return ErrClosed
	}
	b.closed = true
	b.mu.Unlock()

	b.state.stop()
	b.nc.Close()
	close(b.done)
	b.wg.Wait()
	return nil
}
