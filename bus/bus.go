// Package bus is one throng process's connection to a message bus, Redis
// Pub/Sub or NATS, for fan-out routes: the process subscribes once per
// channel that has local subscribers and hands every message to one
// Handler, which fans it out to the WebSockets. The package knows nothing of
// WebSockets or of the engine.
//
// Delivery is at most once, as both buses are: a message published while
// this process is disconnected from the bus is lost for it. What the package
// guarantees is that a message that does arrive is handed to the Handler
// exactly once, and that messages of one channel are handed over in the
// order the bus delivered them (for a single publisher, publish order).
//
// Channel names given to and passed back by this package are the caller's
// names; Options.Prefix is added on the way to the bus and stripped on the
// way back, so that several deployments can share one bus server and so that
// a client can never name a channel outside the prefix.
package bus

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Sentinel errors, for errors.Is. Errors returned by this package wrap one
// of them where the condition is one a caller can act on.
var (
	// ErrBadURL is returned by Open for a URL it cannot use: unparsable,
	// an unknown scheme or no host.
	ErrBadURL = errors.New("bus: bad URL")
	// ErrBadChannel is returned for a channel name that ValidateChannel
	// refuses; the engine refuses the upgrade on it.
	ErrBadChannel = errors.New("bus: bad channel name")
	// ErrClosed is returned by every method called after Close.
	ErrClosed = errors.New("bus: closed")
	// ErrDown is wrapped by Publish errors while the bus is not Up, so
	// that a caller can tell "bus away" from a bad request.
	ErrDown = errors.New("bus: not connected")
)

// Handler receives the messages of the channels subscribed to. It is called
// from a single goroutine per Bus, never concurrently with itself, in bus
// order per channel. channel is the caller's name (without Options.Prefix).
// The handler owns payload: it is a fresh slice for each call, so it may be
// kept or queued to many clients without a copy.
//
// The handler must not block: it holds up every channel of the Bus. With
// Redis a slow handler backs up into the server's output buffer until Redis
// drops the connection (client-output-buffer-limit pubsub), which is seen as
// Down then Up; with NATS, messages beyond Options.QueueSize are dropped and
// counted by Bus.Dropped. It must not call Close.
type Handler func(channel string, payload []byte)

// Options configure Open. URL and OnMessage are required; zero values of the
// others mean the defaults given.
type Options struct {
	// URL picks the bus by scheme:
	//   redis://[user:pass@]host[:port][/db]  (rediss:// for TLS)
	//   nats://[user:pass@]host[:port]
	// Query parameters of a redis URL are go-redis's (redis.ParseURL);
	// timeouts given there win over the fields below.
	URL string
	// Prefix is prepended to every channel name on the bus (a route's
	// channel_prefix), e.g. "throng." for NATS-style hierarchies. Empty
	// means none. It must be a valid channel name, optionally ending in ".".
	Prefix string
	// OnMessage receives every message; see Handler.
	OnMessage Handler
	// OnState, if set, is told of every change of State, once per change
	// (never twice in a row with the same State), with the error that
	// caused a Down. It is called from the bus's own goroutine, in order;
	// like the Handler it must not block for long nor call Close. It is not
	// called for the initial Connecting nor after Close.
	OnState func(State, error)
	// OnError, if set, is told of asynchronous errors that do not change the
	// State: an error reply from Redis on the subscriber connection, a NATS
	// permission violation or slow-consumer notice. It must not block.
	OnError func(error)
	// Name identifies this process to the server (Redis CLIENT SETNAME,
	// NATS connection name). Default "throng".
	Name string
	// DialTimeout bounds one connection attempt. Default 2s.
	DialTimeout time.Duration
	// PingInterval is how often the connection is probed; a dead one (no
	// answer, no error, e.g. a vanished host) is noticed within about two
	// intervals. Default 5s.
	PingInterval time.Duration
	// ReconnectMin and ReconnectMax bound the exponential, jittered delay
	// between reconnect attempts. Defaults 100ms and 5s.
	ReconnectMin time.Duration
	ReconnectMax time.Duration
	// QueueSize (NATS only) is how many received messages may wait for the
	// Handler before further ones are dropped and counted by Dropped: the
	// NATS reader never waits for the handler, so that pings and other
	// channels are not held up by a slow one. Default 8192.
	QueueSize int
}

// Defaults applied by Open to zero Options fields.
const (
	DefaultName         = "throng"
	DefaultDialTimeout  = 2 * time.Second
	DefaultPingInterval = 5 * time.Second
	DefaultReconnectMin = 100 * time.Millisecond
	DefaultReconnectMax = 5 * time.Second
	DefaultQueueSize    = 8192
)

// Message is one message for PublishBatch.
type Message struct {
	Channel string // the caller's name, without Options.Prefix
	Payload []byte
}

// Bus is one process's connection to the bus. All methods are safe for
// concurrent use.
type Bus interface {
	// Subscribe starts delivery of channel to the Handler. It is
	// idempotent per channel (the caller refcounts its subscribers and
	// calls it for the first) and does not wait for the server: while the
	// bus is Up the subscription is in force within a round trip; while it
	// is down, from the reconnection on (State Up is reported once it is).
	// It fails only with ErrBadChannel or ErrClosed.
	Subscribe(channel string) error
	// Unsubscribe stops delivery of channel: once it returns, the Handler
	// is not called for channel again until it is subscribed again (a call
	// already running finishes), even for messages the bus had already
	// sent. Unsubscribing a channel not subscribed to is a no-op.
	Unsubscribe(channel string) error
	// Publish sends payload to every subscriber of channel, in every
	// process, this one included if it is subscribed. It does not retry,
	// as a retried publish could reach subscribers twice; while the bus is
	// down it fails at once with an error wrapping ErrDown. With NATS a nil
	// error means the message was handed to the connection, not that the
	// server has it.
	Publish(ctx context.Context, channel string, payload []byte) error
	// PublishBatch publishes msgs in their order, with Publish's
	// semantics for each, in as few round trips as the bus allows (Redis:
	// one pipeline; NATS: one buffered write). It returns how many the
	// bus took and the first failure, if any; a failed message is not
	// retried and does not stop the others. A Redis connection lost
	// mid-pipeline, or a timeout, fails the whole batch as counted,
	// though the server may have published some of it.
	PublishBatch(ctx context.Context, msgs []Message) (int, error)
	// State is the current connection state.
	State() State
	// Dropped counts messages received but discarded because the Handler
	// fell behind (NATS slow consumer). Always 0 for Redis, which applies
	// back-pressure instead (see Handler).
	Dropped() uint64
	// Close disconnects and stops the Bus's goroutines, waiting for them;
	// the Handler and OnState are not called once it has returned.
	// Further calls return ErrClosed.
	Close() error
}

// Open connects to the bus named by opts.URL. A bad URL or bad Options fail
// at once; an unreachable server does not: the Bus starts Connecting and
// keeps retrying with backoff, so that throng starts, and its subscribers
// stay connected, while the bus is away. Open does not wait for Redis; for
// NATS it makes its first attempt before returning (up to DialTimeout).
func Open(opts Options) (Bus, error) {
	if opts.OnMessage == nil {
		return nil, errors.New("bus: Options.OnMessage is nil")
	}
	if err := validatePrefix(opts.Prefix); err != nil {
		return nil, err
	}
	opts = opts.withDefaults()
	if opts.ReconnectMin > opts.ReconnectMax {
		return nil, fmt.Errorf("bus: ReconnectMin %v is above ReconnectMax %v", opts.ReconnectMin, opts.ReconnectMax)
	}
	k, ropt, err := parseURL(opts.URL)
	if err != nil {
		return nil, err
	}
	switch k {
	case kindRedis:
		return openRedis(opts, ropt)
	default:
		return openNATS(opts)
	}
}

func (o Options) withDefaults() Options {
	if o.Name == "" {
		o.Name = DefaultName
	}
	if o.DialTimeout <= 0 {
		o.DialTimeout = DefaultDialTimeout
	}
	if o.PingInterval <= 0 {
		o.PingInterval = DefaultPingInterval
	}
	if o.ReconnectMin <= 0 {
		o.ReconnectMin = DefaultReconnectMin
	}
	if o.ReconnectMax <= 0 {
		o.ReconnectMax = max(DefaultReconnectMax, o.ReconnectMin)
	}
	if o.QueueSize <= 0 {
		o.QueueSize = DefaultQueueSize
	}
	return o
}

type kind uint8

const (
	kindRedis kind = iota + 1
	kindNATS
)

// parseURL tells which bus raw names and, for Redis, go-redis's options for
// it. It is stricter than the libraries, which fill in a missing host with
// localhost: a bus URL without a host is a configuration mistake.
func parseURL(raw string) (kind, *redis.Options, error) {
	u, err := url.Parse(raw)
	if err != nil {
		// url.Error repeats the URL, which may hold a password.
		return 0, nil, fmt.Errorf("%w: cannot parse", ErrBadURL)
	}
	if u.Host == "" || u.Hostname() == "" {
		return 0, nil, fmt.Errorf("%w: %s: no host", ErrBadURL, redact(u))
	}
	switch strings.ToLower(u.Scheme) {
	case "redis", "rediss":
		o, err := redis.ParseURL(raw)
		if err != nil {
			return 0, nil, fmt.Errorf("%w: %s: %v", ErrBadURL, redact(u), err)
		}
		return kindRedis, o, nil
	case "nats":
		if (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
			return 0, nil, fmt.Errorf("%w: %s: a nats URL has no path or query", ErrBadURL, redact(u))
		}
		return kindNATS, nil, nil
	case "":
		return 0, nil, fmt.Errorf("%w: no scheme (redis://, rediss:// or nats://)", ErrBadURL)
	default:
		return 0, nil, fmt.Errorf("%w: scheme %q (want redis, rediss or nats)", ErrBadURL, u.Scheme)
	}
}

// redact is u for error messages and logs: without its password.
func redact(u *url.URL) string { return u.Redacted() }
