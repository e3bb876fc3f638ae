package backend

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"runtime"
	"sync"
	"time"

	"github.com/gobwas/ws"
	"github.com/panjf2000/gnet/v2"
)

// ModeEcho is the Mode that sends every message back to its sender.
const ModeEcho = "echo"

// serveMaxLoops is gnet's limit on event loops.
const serveMaxLoops = 256

// Serve errors.
var (
	ErrNoAddr      = errors.New("backend: listen address is required (host:port)")
	ErrBadLoops    = errors.New("backend: loops must be between 0 and 256")
	ErrBadDelay    = errors.New("backend: delay must not be negative")
	ErrUnknownMode = errors.New("backend: unknown mode")
	ErrAddrInUse   = errors.New("backend: address is already accepting connections")
	ErrStopped     = errors.New("backend: engine stopped unexpectedly")

	ErrBadFanoutLimit = errors.New("backend: fanout buffer limit must not be negative")
)

// Config configures Serve.
type Config struct {
	// Addr is the TCP host:port to listen on. Required. Not port 0: every
	// event loop binds it with SO_REUSEPORT.
	Addr string
	// Loops is the number of event loops. Default (0): runtime.NumCPU();
	// fanout mode runs on one loop (0 or 1).
	Loops int
	// Mode is what the server does with messages: "echo" (ModeEcho)
	// or "fanout" (ModeFanout). Default (""): "echo".
	Mode string
	// Delay holds every upgrade response back this long, to mimic a slow
	// backend. Default: 0.
	Delay time.Duration
	// FanoutBufferLimit is, in fanout mode, the most bytes a subscriber may
	// have waiting in gnet's outbound buffer; past it the subscriber is sent
	// Close 1013 and closed. Default (0): 4 MiB.
	FanoutBufferLimit int
	// Logger receives the start line and gnet's own messages (gnet's Debug
	// and Info at Debug). Default: nil, discard.
	Logger *slog.Logger
}

// validate reports every problem with c at once.
func (c *Config) validate() error {
	var errs []error
	if _, port, err := net.SplitHostPort(c.Addr); err != nil || port == "" {
		errs = append(errs, ErrNoAddr)
	}
	if c.Loops < 0 || c.Loops > serveMaxLoops {
		errs = append(errs, ErrBadLoops)
	}
	if c.Delay < 0 {
		errs = append(errs, ErrBadDelay)
	}
	mode, ok := parseServeMode(c.Mode)
	if !ok {
		errs = append(errs, fmt.Errorf("%w %q", ErrUnknownMode, c.Mode))
	}
	if mode == serveModeFanout && c.Loops > 1 {
		errs = append(errs, ErrFanoutLoops)
	}
	if c.FanoutBufferLimit < 0 {
		errs = append(errs, ErrBadFanoutLimit)
	}
	return errors.Join(errs...)
}

// serveMode is what a server does with an open WebSocket.
type serveMode uint8

const (
	serveModeEcho   serveMode = iota // send every frame back (serve_echo.go)
	serveModeFanout                  // relay every message to the path's other connections (serve_fanout.go)
)

// parseServeMode maps Config.Mode to a serveMode.
func parseServeMode(s string) (serveMode, bool) {
	switch s {
	case "", ModeEcho:
		return serveModeEcho, true
	case ModeFanout:
		return serveModeFanout, true
	}
	return 0, false
}

// Serve runs a WebSocket server on cfg.Addr until ctx is cancelled, then
// stops it, closing every connection, and returns nil. It is built on gnet:
// cfg.Loops event loops, each with its own SO_REUSEPORT listener, no
// goroutine per connection. It refuses to start if something already
// accepts connections on cfg.Addr (SO_REUSEPORT would silently share the
// port). ready, if not nil, is called once, from Serve's goroutine, when
// every loop listens.
func Serve(ctx context.Context, cfg Config, ready func()) error {
	if err := cfg.validate(); err != nil {
		return err
	}
	if cfg.Loops == 0 {
		cfg.Loops = runtime.NumCPU()
		if cfg.Mode == ModeFanout {
			cfg.Loops = 1
		}
	}
	if cfg.FanoutBufferLimit == 0 {
		cfg.FanoutBufferLimit = defaultFanoutBufferLimit
	}
	if cfg.Mode == "" {
		cfg.Mode = ModeEcho
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if serveAccepting(ctx, cfg.Addr) {
		return fmt.Errorf("%w: %s", ErrAddrInUse, cfg.Addr)
	}
	srv := newServeServer(cfg)
	done := make(chan error, 1)
	go func() {
		done <- gnet.Run(srv, "tcp://"+cfg.Addr,
			gnet.WithMulticore(true),
			gnet.WithNumEventLoop(cfg.Loops),
			gnet.WithReusePort(true),
			gnet.WithReuseAddr(true),
			gnet.WithTCPNoDelay(gnet.TCPNoDelay),
			gnet.WithTicker(true),
			gnet.WithLogger(serveGnetLogger{cfg.Logger}),
		)
	}()
	select {
	case err := <-done:
		return serveRunErr(cfg.Addr, err)
	case <-ctx.Done():
		// Wait for start-up to finish before stopping.
		select {
		case err := <-done:
			return serveRunErr(cfg.Addr, err)
		case <-srv.started:
		}
	case <-srv.started:
		cfg.Logger.LogAttrs(ctx, slog.LevelInfo, "serving",
			slog.String("listen", cfg.Addr),
			slog.Int("loops", cfg.Loops),
			slog.String("mode", cfg.Mode),
			slog.String("delay", cfg.Delay.String()))
		if ready != nil {
			ready()
		}
		select {
		case err := <-done:
			return serveRunErr(cfg.Addr, err)
		case <-ctx.Done():
		}
	}
	stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), serveStopTimeout)
	defer cancel()
	if err := srv.engine().Stop(stopCtx); err != nil {
		return fmt.Errorf("backend: serve %s: stop: %w", cfg.Addr, err)
	}
	if err := <-done; err != nil {
		return fmt.Errorf("backend: serve %s: %w", cfg.Addr, err)
	}
	return nil
}

// serveStopTimeout bounds Engine.Stop.
const serveStopTimeout = 10 * time.Second

// serveRunErr wraps what gnet.Run returned before Serve asked it to stop.
func serveRunErr(addr string, err error) error {
	if err == nil {
		err = ErrStopped
	}
	return fmt.Errorf("backend: serve %s: %w", addr, err)
}

// serveAccepting reports whether something accepts TCP connections on addr.
func serveAccepting(ctx context.Context, addr string) bool {
	d := net.Dialer{Timeout: time.Second}
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return false
	}
	_ = c.Close()
	return true
}

// serveTick is how often lingering connections are looked at.
const serveTick = 10 * time.Millisecond

// serveLingerTimeout bounds how long a connection that is closing (Close
// sent, or HTTP refusal sent) waits for its output to drain and its peer.
const serveLingerTimeout = 5 * time.Second

// serveMaxDelayedBytes bounds what a client may send while its upgrade
// response is held back by Config.Delay.
const serveMaxDelayedBytes = 16 << 20

// serveServer is the gnet event handler behind Serve.
type serveServer struct {
	gnet.BuiltinEventEngine

	mode     serveMode
	delay    time.Duration
	upgrader ws.Upgrader
	log      *slog.Logger

	fan serveFanout // fanout mode's topics; on the one loop only

	eng     gnet.Engine   // set by OnBoot, before started is closed
	started chan struct{} // closed by the first OnTick: every loop listens
	ticked  bool          // touched by OnTick only

	mu        sync.Mutex               // guards lingering
	lingering map[*serveConn]gnet.Conn // conns waiting to drain; OnTick wakes them
}

func newServeServer(cfg Config) *serveServer {
	mode, _ := parseServeMode(cfg.Mode)
	return &serveServer{
		mode:      mode,
		delay:     cfg.Delay,
		upgrader:  newServeUpgrader(),
		log:       cfg.Logger,
		fan:       serveFanout{limit: cfg.FanoutBufferLimit, topics: make(map[string]*serveTopic), log: cfg.Logger},
		started:   make(chan struct{}),
		lingering: make(map[*serveConn]gnet.Conn),
	}
}

// engine returns the running engine. Call it only after started is closed.
func (srv *serveServer) engine() gnet.Engine { return srv.eng }

// OnBoot keeps the engine for Stop.
func (srv *serveServer) OnBoot(eng gnet.Engine) gnet.Action {
	srv.eng = eng
	return gnet.None
}

// OnTick runs on gnet's ticker goroutine: the first tick marks the server
// started; every tick wakes the lingering connections.
func (srv *serveServer) OnTick() (time.Duration, gnet.Action) {
	if !srv.ticked {
		srv.ticked = true
		close(srv.started)
	}
	srv.mu.Lock()
	for _, c := range srv.lingering {
		_ = c.Wake(nil) // guarded: safe on a closed conn
	}
	srv.mu.Unlock()
	return serveTick, gnet.None
}

// OnOpen gives the connection its state.
func (srv *serveServer) OnOpen(c gnet.Conn) ([]byte, gnet.Action) {
	c.SetContext(&serveConn{})
	return nil, gnet.None
}

// OnClose releases the connection's timer and lingering entry.
func (srv *serveServer) OnClose(c gnet.Conn, _ error) gnet.Action {
	s, ok := c.Context().(*serveConn)
	if !ok {
		return gnet.None
	}
	if s.timer != nil {
		s.timer.Stop()
	}
	srv.fan.leave(s)
	if s.queued {
		srv.mu.Lock()
		delete(srv.lingering, s)
		srv.mu.Unlock()
		s.queued = false
	}
	c.SetContext(nil)
	return gnet.None
}

// OnTraffic runs the connection's state: upgrade, echo or linger.
func (srv *serveServer) OnTraffic(c gnet.Conn) gnet.Action {
	s, ok := c.Context().(*serveConn)
	if !ok {
		return gnet.Close
	}
	switch s.state {
	case serveStateHead:
		return srv.readHead(c, s)
	case serveStateOpen:
		return srv.open(c, s)
	default:
		return srv.linger(c, s)
	}
}

// open serves an upgraded connection according to the mode.
func (srv *serveServer) open(c gnet.Conn, s *serveConn) gnet.Action {
	switch srv.mode {
	case serveModeEcho:
		return srv.echo(c, s)
	case serveModeFanout:
		return srv.fanout(c, s)
	default:
		return gnet.Close
	}
}

// readHead gathers the upgrade request head, holds it for the delay, and
// answers it. Bytes after the head stay in gnet's inbound buffer and are
// served as frames right after the 101.
func (srv *serveServer) readHead(c gnet.Conn, s *serveConn) gnet.Action {
	p, err := c.Peek(-1)
	if err != nil {
		return gnet.None
	}
	// p keeps the head (nothing is discarded before the answer), so the
	// scanner resumes at s.scanned; once done it stays done.
	n, done := s.scan.Scan(p[s.scanned:])
	s.scanned += n
	switch {
	case s.scanned > serveMaxHeadBytes:
		return srv.refuse(c, s, serveResp431)
	case !done:
		return gnet.None
	}
	end := s.scanned
	if srv.delay > 0 && !s.released.Load() {
		if s.timer == nil {
			s.timer = time.AfterFunc(srv.delay, func() {
				s.released.Store(true)
				_ = c.Wake(nil) // guarded: safe on a closed conn
			})
		}
		if c.InboundBuffered() > serveMaxDelayedBytes {
			return gnet.Close
		}
		return gnet.None
	}
	resp, ok := serveUpgrade(&srv.upgrader, p[:end])
	if ok && srv.mode == serveModeFanout {
		srv.fan.join(c, s, p[:end])
	}
	_, _ = c.Discard(end)
	if !ok {
		return srv.refuse(c, s, resp)
	}
	if _, err := c.Write(resp); err != nil {
		return gnet.None // gnet closed c
	}
	s.state = serveStateOpen
	if c.InboundBuffered() == 0 {
		return gnet.None
	}
	return srv.open(c, s)
}

// refuse sends a prebuilt HTTP refusal and lingers until it is delivered.
func (srv *serveServer) refuse(c gnet.Conn, s *serveConn, resp []byte) gnet.Action {
	if _, err := c.Write(resp); err != nil {
		return gnet.None // gnet closed c
	}
	s.state = serveStateRefused
	return srv.linger(c, s)
}

// echo sends every frame read back to the client (serveEcho.feed).
func (srv *serveServer) echo(c gnet.Conn, s *serveConn) gnet.Action {
	p, err := c.Next(-1)
	if err != nil || len(p) == 0 {
		return gnet.None
	}
	out, closing := s.echo.feed(p)
	if out.len() > 0 {
		if err := s.send(c, &out); err != nil {
			return gnet.None // gnet closed c
		}
	}
	if closing {
		s.state = serveStateClosing
		return srv.linger(c, s)
	}
	return gnet.None
}

// linger drops input and closes the connection once its output has been
// handed to the kernel: at once after a Close frame (RFC 6455 §7.1.1: the
// server closes TCP first); after a refusal, writes are shut down and the
// client's FIN (or the deadline) ends it, so the refusal is not lost to a
// reset. gnet drops queued output on close, hence the wait.
func (srv *serveServer) linger(c gnet.Conn, s *serveConn) gnet.Action {
	_, _ = c.Discard(-1)
	if c.OutboundBuffered() == 0 {
		if s.state == serveStateClosing {
			return gnet.Close
		}
		if !s.shut {
			s.shut = true
			if serveShutdownWrite(c) != nil {
				return gnet.Close
			}
		}
	}
	if !s.queued {
		s.deadline = time.Now().Add(serveLingerTimeout)
		s.queued = true
		srv.mu.Lock()
		srv.lingering[s] = c
		srv.mu.Unlock()
		return gnet.None
	}
	if time.Now().After(s.deadline) {
		return gnet.Close
	}
	return gnet.None
}

// serveGnetLogger sends gnet's messages to slog; Fatalf only logs.
type serveGnetLogger struct{ log *slog.Logger }

func (l serveGnetLogger) Debugf(format string, args ...any) {
	l.logf(slog.LevelDebug, format, args)
}

func (l serveGnetLogger) Infof(format string, args ...any) {
	l.logf(slog.LevelDebug, format, args)
}

func (l serveGnetLogger) Warnf(format string, args ...any) {
	l.logf(slog.LevelWarn, format, args)
}

func (l serveGnetLogger) Errorf(format string, args ...any) {
	l.logf(slog.LevelError, format, args)
}

func (l serveGnetLogger) Fatalf(format string, args ...any) {
	l.logf(slog.LevelError, format, args)
}

func (l serveGnetLogger) logf(level slog.Level, format string, args []any) {
	ctx := context.Background()
	if l.log.Enabled(ctx, level) {
		l.log.LogAttrs(ctx, level, "gnet", slog.String("msg_gnet", fmt.Sprintf(format, args...)))
	}
}
