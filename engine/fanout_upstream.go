package engine

// source = "upstream" (docs/fanout.md): one WebSocket per channel per
// process to the route's upstream, balanced and health-checked like any
// session's backend, re-established with backoff while subscribers stay,
// closed after a short linger once the last subscriber left. Every message
// it sends goes to every subscriber of the channel through the hub, as a
// bus message would. It runs on a goroutine of its own per channel, not on
// a loop: one per channel, never per subscriber.

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"hash/maphash"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/url"
	"sync"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"

	"github.com/throngproxy/throng/config"
	"github.com/throngproxy/throng/upstream"
)

// feedLinger is how long a channel's upstream WebSocket outlives its last
// subscriber: a client that reconnects at once finds it still there.
const feedLinger = 5 * time.Second

// feedQueue bounds the subscribers' messages waiting for the upstream
// (client_messages = "upstream"); past it they are dropped, counted.
const feedQueue = 1024

// feed is one channel's upstream WebSocket.
type feed struct {
	hub    *fanHub
	key    fanKey // op 0: the channel as the hub counts it
	u      *upstream.Upstream
	target string // the request target: the channel's path
	header string // the channel's header, for channel = "header:NAME"
	value  string
	hkey   uint64 // the channel's hash key, so that a channel keeps its backend
	maxMsg int64
	op     ws.OpCode // of the subscribers' messages sent upstream: the route's message_type

	out    chan []byte // subscribers' messages toward the upstream
	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}
	linger *time.Timer // set while the feed waits out feedLinger
}

// feedSeed keys the channels' hash keys; it only has to spread channels.
var feedSeed = maphash.MakeSeed()

// newFeed prepares the upstream WebSocket of channel name on route r.
func (h *fanHub) newFeed(k fanKey, f *fanRoute, name string) *feed {
	ctx, cancel := context.WithCancel(context.Background())
	fd := &feed{
		hub: h, key: k, u: f.up, hkey: maphash.String(feedSeed, name), maxMsg: f.maxMsg, op: f.op,
		out: make(chan []byte, feedQueue), ctx: ctx, cancel: cancel, done: make(chan struct{}),
	}
	raw := name[len(f.prefix):] // the channel as the client named it
	switch f.chanKind {
	case config.ChannelPath:
		fd.target = f.pathPrefix + raw
	case config.ChannelQueryPrefix:
		fd.target = f.pathPrefix + "?" + url.QueryEscape(f.chanName) + "=" + url.QueryEscape(raw)
	case config.ChannelHeaderPrefix:
		fd.target, fd.header, fd.value = f.pathPrefix, f.chanName, raw
	}
	return fd
}

// run keeps the feed's WebSocket up until the feed is stopped.
func (fd *feed) run() {
	defer close(fd.done)
	log := fd.hub.e.log
	for attempt := 0; fd.ctx.Err() == nil; attempt++ {
		b, conn, err := fd.connect()
		if err == nil {
			attempt = 0
			log.LogAttrs(bgCtx, slog.LevelInfo, "fan-out upstream", slog.String("channel", fd.key.name), attrBackend(b.Addr), slog.String("state", "up"))
			err = fd.serve(conn)
			b.Release()
			log.LogAttrs(bgCtx, slog.LevelInfo, "fan-out upstream", slog.String("channel", fd.key.name), attrBackend(b.Addr), slog.String("state", "down"), attrErr(err))
		}
		if fd.ctx.Err() != nil {
			return
		}
		select {
		case <-fd.ctx.Done():
			return
		case <-time.After(feedBackoff(attempt)):
		}
	}
}

// feedBackoff is the wait before reconnect attempt n: 100 ms doubling to
// 5 s, with full jitter.
func feedBackoff(n int) time.Duration {
	ceil := 100 * time.Millisecond
	for i := 0; i < n && ceil < 5*time.Second; i++ {
		ceil *= 2
	}
	return rand.N(min(ceil, 5*time.Second))
}

// connect dials the backends the balancer picks, in turn, until one
// answers 101; each outcome counts toward its passive health.
func (fd *feed) connect() (*upstream.Backend, net.Conn, error) {
	cfg := fd.hub.e.snap.Load().cfg
	var tried uint64
	err := errors.New("no backend available")
	for range len(fd.u.Backends) {
		b := fd.u.Balancer.Pick(tried, fd.hkey)
		if b == nil {
			break
		}
		if b.Index < 64 {
			tried |= 1 << uint(b.Index)
		}
		b.Acquire()
		conn, derr := fd.dial(b, cfg)
		if derr == nil {
			b.ReportSuccess(time.Now().UnixNano())
			return b, conn, nil
		}
		b.Release()
		b.ReportFailure(time.Now().UnixNano())
		err = derr
	}
	return nil, nil, err
}

// dial opens the channel's WebSocket to b.
func (fd *feed) dial(b *upstream.Backend, cfg *config.Config) (net.Conn, error) {
	scheme := "ws://"
	if b.TLS != nil {
		scheme = "wss://"
	}
	d := ws.Dialer{Timeout: cfg.Timeouts.Connect.D() + cfg.Timeouts.UpstreamHandshake.D(), TLSConfig: b.TLS}
	if b.TLS != nil {
		d.TLSClient = func(c net.Conn, host string) net.Conn {
			conf := b.TLS.Clone()
			if conf.ServerName == "" {
				conf.ServerName = host
			}
			return tls.Client(c, conf)
		}
	}
	if fd.header != "" {
		d.Header = ws.HandshakeHeaderHTTP{fd.header: []string{fd.value}}
	}
	ctx, cancel := context.WithTimeout(fd.ctx, d.Timeout)
	defer cancel()
	conn, br, _, err := d.Dial(ctx, scheme+b.Addr+fd.target)
	if err != nil {
		return nil, err
	}
	if br != nil {
		// Frames that came with the 101: read them first.
		return &bufferedConn{Conn: conn, r: br}, nil
	}
	return conn, nil
}

// bufferedConn reads what the handshake's reader buffered, then the conn.
type bufferedConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *bufferedConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// lockedWriter serialises the reader's control answers with the writer's
// messages on one conn.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// serve relays the upstream's messages to the channel and the
// subscribers' messages to the upstream until either side fails or the
// feed stops.
func (fd *feed) serve(conn net.Conn) error {
	defer conn.Close()
	w := &lockedWriter{w: conn}
	stop := context.AfterFunc(fd.ctx, func() {
		_ = wsutil.WriteClientMessage(w, ws.OpClose, ws.NewCloseFrameBody(ws.StatusGoingAway, ""))
		_ = conn.Close()
	})
	defer stop()
	werr := make(chan error, 1)
	writeStop := make(chan struct{})
	defer close(writeStop)
	go func() {
		for {
			select {
			case <-writeStop:
				return
			case p := <-fd.out:
				if err := wsutil.WriteClientMessage(w, fd.op, p); err != nil {
					werr <- err
					_ = conn.Close()
					return
				}
			}
		}
	}()
	control := wsutil.ControlFrameHandler(w, ws.StateClientSide)
	// Control frames between a message's fragments are answered too.
	rd := &wsutil.Reader{Source: conn, State: ws.StateClientSide, MaxFrameSize: fd.maxMsg, OnIntermediate: control}
	for {
		hdr, err := rd.NextFrame()
		if err != nil {
			return errors.Join(err, drainErr(werr))
		}
		if hdr.OpCode.IsControl() {
			if err := control(hdr, rd); err != nil {
				return err // a Close from the upstream, answered
			}
			continue
		}
		payload, err := io.ReadAll(io.LimitReader(rd, fd.maxMsg+1))
		if err != nil {
			return err
		}
		if int64(len(payload)) > fd.maxMsg {
			return errors.New("upstream message over limits.max_frame_bytes")
		}
		fd.hub.deliver(fd.key.source, fd.key.name, payload)
	}
}

func drainErr(c chan error) error {
	select {
	case err := <-c:
		return err
	default:
		return nil
	}
}

// send queues a subscriber's message for the upstream; it reports false
// when the queue is full.
func (fd *feed) send(p []byte) bool {
	select {
	case fd.out <- p:
		return true
	default:
		return false
	}
}

// startFeed starts (or keeps, if it lingers) channel bk's upstream
// WebSocket; under h.mu.
func (h *fanHub) startFeed(bk fanKey, f *fanRoute, name string) {
	if fd := h.feeds[bk]; fd != nil {
		if fd.linger != nil {
			fd.linger.Stop()
			fd.linger = nil
		}
		return
	}
	fd := h.newFeed(bk, f, name)
	h.feeds[bk] = fd
	go fd.run()
}

// lingerFeed closes fd after feedLinger unless a subscriber comes back;
// under h.mu.
func (h *fanHub) lingerFeed(bk fanKey, fd *feed) {
	fd.linger = time.AfterFunc(feedLinger, func() {
		h.mu.Lock()
		defer h.mu.Unlock()
		if h.feeds[bk] == fd && h.subs[bk] == 0 {
			delete(h.feeds, bk)
			fd.cancel()
		}
	})
}

// toFeed sends a subscriber's message to its channel's upstream; it
// reports false when there is no room.
func (h *fanHub) toFeed(source, name string, p []byte) bool {
	h.mu.Lock()
	fd := h.feeds[fanKey{source: source, name: name}]
	h.mu.Unlock()
	return fd != nil && fd.send(p)
}
