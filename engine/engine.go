// Package engine is throng's gnet event handler: listeners, per-loop shards,
// the session state machine, the relay, timers and drain.
//
// A session lives on one event loop: its client socket is accepted there and
// its backend socket is dialled by a worker and enrolled on the same loop, so
// the relay writes from one socket's OnTraffic straight into the other with
// no lock, channel or goroutine on the data path.
package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/panjf2000/gnet/v2"
	"golang.org/x/sys/unix"

	"github.com/throngproxy/throng/config"
	"github.com/throngproxy/throng/fwdauth"
	"github.com/throngproxy/throng/reuseport"
	"github.com/throngproxy/throng/tlsconf"
	"github.com/throngproxy/throng/upstream"
)

// ErrAddressInUse means a listen address already accepts connections from
// another process. With SO_REUSEPORT a second bind would succeed and
// silently share the port, so throng checks by connecting first.
var ErrAddressInUse = errors.New("engine: listen address already in use by another process")

// ErrStoppedByItself means Run returned although Stop was never called:
// gnet shut the engine down on its own (accept failing with EMFILE or
// ENFILE stops every loop, docs/gnet.md §9) and reports no error for it,
// so that a supervisor (systemd's Restart=on-failure) would otherwise
// take the exit for a clean one.
var ErrStoppedByItself = errors.New("engine: stopped by gnet without Stop")

// Options configure an Engine. Config is required.
type Options struct {
	// Config is the validated configuration to start with.
	Config *config.Config
	// ConfigPath is logged at start.
	ConfigPath string
	// Logger receives JSON logs; nil means slog.Default().
	Logger *slog.Logger
	// Takeover allows listening on addresses another process (an older
	// throng during an upgrade) is still serving, sharing them through
	// SO_REUSEPORT, and steers their new connections to this process once
	// its loops listen (takeover.go).
	Takeover bool
	// Share allows listening on addresses other throng processes serve,
	// sharing them through SO_REUSEPORT without steering: the kernel
	// spreads new connections over every process (several processes on
	// one port, past one process's descriptor limit). Takeover implies it.
	Share bool
	// TrimMemory returns the garbage of a burst of session set-ups to the
	// OS once the burst is over (debug.FreeOSMemory). It affects the whole
	// process, so only the program that owns it should turn it on.
	TrimMemory bool
}

// Engine is a running proxy: one gnet engine with one shard per event loop.
type Engine struct {
	log      *slog.Logger
	cfgPath  string
	takeover bool
	trim     bool

	snap      atomic.Pointer[snapshot]
	stickyKey []byte // keys sticky cookies without sticky_secret, for every table
	responses *responses
	dialer    *dialer
	// auth asks routes' forward_auth services; made at the first
	// question (authPool), so that a process without any asks nothing.
	authOnce sync.Once
	auth     *fwdauth.Pool
	// fan is the fan-out of fan-out routes: buses and channels.
	fan      *fanHub
	routeReg *routeRegistry // every route's counters, across reloads
	connects histogram      // backend connect durations, from the dial workers

	// active counts admitted sessions; lingering counts connections being
	// refused. Both hold descriptors, so both are bounded. fds counts the
	// descriptors admitted sessions may hold: two from accept (the client
	// and the backend it may dial), one once a fan-out subscriber is
	// answered (it never has a backend); fdBudget bounds it, maxSessions
	// bounds active (server.max_sessions, else fdBudget).
	active      atomic.Int64
	lingering   atomic.Int64
	fds         atomic.Int64
	maxSessions int64
	fdBudget    int64
	loops       int
	listen      []string
	listenTLS   []string
	listeners   listeners // which are TLS
	// tlsServer holds the listeners' certificates and ticket keys; nil
	// without listen_tls. tlsBusy counts handshakes in progress, at
	// most tlsMax (tls.max_handshakes).
	tlsServer *tlsconf.Server
	tlsBusy   atomic.Int64
	tlsMax    int64
	// tlsStart runs a handshake job; nil runs handshakeTLS on a goroutine
	// of its own. Tests of the state machine take the job instead.
	tlsStart func(*tlsJob)

	draining atomic.Bool
	stopping atomic.Bool // Stop was called: Run's return is expected

	// healthMu orders starting and stopping the active health checks of
	// the current table (Run) against reloads replacing it. healthOn is
	// true while Run runs; flipsRetired sums the flips of replaced tables.
	healthMu     sync.Mutex
	healthOn     bool
	flipsRetired atomic.Uint64
	flipsSeen    atomic.Uint64 // the highest healthFlips returned

	shardMu  sync.Mutex // guards shardMap writes and shards replacement
	shardMap sync.Map   // gnet.EventLoop → *shard
	shards   atomic.Pointer[[]*shard]

	gnet    gnet.Engine
	booted  chan struct{}
	stopped chan struct{}
	// keepAliveChanged is set, before the new snapshot is stored, by the
	// first reload that changes server.tcp_keepalive: from then on every
	// accepted socket gets its keepalive set itself, as the listeners'
	// values speak for the old configuration (sockopt.go).
	keepAliveChanged atomic.Bool
	// loopsUp is closed once gnet runs every loop (loops.go).
	loopsUp chan struct{}
	// listening is closed once every loop has bound its listeners and,
	// with -takeover, they have been steered to (takeover.go).
	listening   chan struct{}
	loopsUpOnce sync.Once

	clock atomic.Int64 // ticks since start; advanced by ticker
	// born is the engine's creation; nanos counts from it on the
	// monotonic clock, for token buckets finer than a tick.
	born     time.Time
	tickStop chan struct{}
	tickDone chan struct{}
	// flowWake wakes the flow poller (flow_pause.go); flowDone is closed when
	// it returns. attachCtx ends when gnet shuts down: it is the context of
	// flow control's enrolments.
	flowWake     chan struct{}
	flowDone     chan struct{}
	attachCtx    context.Context
	attachCancel context.CancelFunc
}

// maxLingering bounds connections that are being refused gracefully
// (answer, shut down, drain). Past it refusals close at once.
const maxLingering = 32

// fdReserve is kept free for listeners, epoll, logs, the admin listener and
// the lingering refusals.
const fdReserve = 64

// New checks the listen addresses, derives the session cap from
// RLIMIT_NOFILE and prepares an engine. Run starts it.
func New(o Options) (*Engine, error) {
	if o.Config == nil {
		return nil, errors.New("engine: no config")
	}
	log := o.Logger
	if log == nil {
		log = slog.Default()
	}
	stickyKey := upstream.NewStickyKey()
	srv := &o.Config.Server
	loops := srv.Loops
	if loops <= 0 {
		loops = runtime.GOMAXPROCS(0)
	}
	routeReg := newRouteRegistry(loops)
	snap, err := newSnapshot(o.Config, stickyKey, routeReg)
	if err != nil {
		return nil, err
	}
	warnStickyWithoutSecret(log, o.Config)
	warmFDs := int64(loops) * warmPerLoop(o.Config)
	budget, nofile, err := descriptorBudget(srv.DialWorkers, warmFDs)
	if err != nil {
		return nil, err
	}
	maxSessions := budget
	if srv.MaxSessions > 0 && int64(srv.MaxSessions) < budget {
		maxSessions = int64(srv.MaxSessions)
	}
	e := &Engine{
		log:         log,
		cfgPath:     o.ConfigPath,
		takeover:    o.Takeover,
		trim:        o.TrimMemory,
		stickyKey:   stickyKey,
		routeReg:    routeReg,
		born:        time.Now(),
		responses:   newResponses(),
		maxSessions: maxSessions,
		fdBudget:    budget,
		loops:       loops,
		listen:      append([]string(nil), srv.Listen...),
		listenTLS:   append([]string(nil), srv.ListenTLS...),
		tlsMax:      int64(o.Config.TLS.MaxHandshakes),
		booted:      make(chan struct{}),
		stopped:     make(chan struct{}),
		loopsUp:     make(chan struct{}),
		listening:   make(chan struct{}),
		tickStop:    make(chan struct{}),
		tickDone:    make(chan struct{}),
		flowWake:    make(chan struct{}, 1),
		flowDone:    make(chan struct{}),
	}
	e.attachCtx, e.attachCancel = context.WithCancel(context.Background())
	e.fan = newFanHub(e)
	e.snap.Store(snap)
	empty := []*shard{}
	e.shards.Store(&empty)
	if e.listeners, err = parseListeners(e.listen, e.listenTLS); err != nil {
		return nil, fmt.Errorf("engine: listen: %w", err)
	}
	if len(e.listenTLS) > 0 {
		if e.tlsServer, err = tlsconf.NewServer(&o.Config.TLS); err != nil {
			return nil, fmt.Errorf("engine: %w", err)
		}
		if e.tlsMax <= 0 {
			e.tlsMax = defaultMaxHandshakes
		}
	}
	if !o.Takeover && !o.Share {
		for _, a := range e.addresses() {
			if err := checkFree(a); err != nil {
				return nil, err
			}
		}
	}
	log.LogAttrs(context.Background(), slog.LevelInfo, "session cap",
		slog.Int64("max_sessions", e.SessionCap()), slog.Int64("max_subscribers", e.SubscriberCap()),
		slog.Uint64("nofile", nofile),
		slog.Int("dial_workers", srv.DialWorkers), slog.Int64("warm_sockets", warmFDs))
	return e, nil
}

// warnStickyWithoutSecret logs, once per upstream, a sticky cookie keyed
// by this process's random key: another process behind the same address
// does not honour it, nor does this one after a restart.
func warnStickyWithoutSecret(log *slog.Logger, c *config.Config) {
	for _, name := range c.KeylessSticky() {
		log.LogAttrs(context.Background(), slog.LevelWarn, config.StickyWithoutSecret, attrUpstream(name))
	}
}

// warmPerLoop is how many warm sockets one loop may hold under c: warm
// per backend of every upstream. A reload that raises it does not shrink
// the session cap, so leave headroom in LimitNOFILE (docs/tuning.md).
func warmPerLoop(c *config.Config) int64 {
	var n int64
	for _, u := range c.Upstreams {
		n += int64(u.Warm) * int64(len(u.Backends))
	}
	return n
}

// descriptorBudget derives how many descriptors sessions may hold from the
// descriptor limit: gnet stops the whole engine when accept fails with
// EMFILE (docs/gnet.md §9), so the proxy must refuse well before that. A
// proxied session holds two descriptors, a fan-out subscriber one; each
// dial in flight briefly holds two more (Enroll dups); warm pools hold
// warmFDs.
func descriptorBudget(workers int, warmFDs int64) (int64, uint64, error) {
	var rl unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &rl); err != nil {
		return 0, 0, fmt.Errorf("engine: getrlimit: %w", err)
	}
	n := int64(rl.Cur) - 2*int64(workers) - fdReserve - warmFDs
	if n < 2 {
		return 0, rl.Cur, fmt.Errorf("engine: RLIMIT_NOFILE %d leaves no room for sessions", rl.Cur)
	}
	return n, rl.Cur, nil
}

// checkFree fails when something already accepts connections on addr.
func checkFree(addr string) error {
	used, err := reuseport.InUse(addr)
	if err != nil {
		return fmt.Errorf("engine: listen: %w", err)
	}
	if used {
		return fmt.Errorf("listen %s: %w (start with -takeover to share it during an upgrade, or -share to run beside it)", addr, ErrAddressInUse)
	}
	return nil
}

// Run serves until Stop is called or the engine fails. It blocks.
func (e *Engine) Run() error {
	snap := e.snap.Load()
	srv := &snap.cfg.Server
	e.dialer = newDialer(srv.DialWorkers, &e.connects)
	// Before the loops: no loop waits for a bus's first connect.
	e.fan.openBuses(e.snap.Load().cfg)
	defer e.dialer.stop()
	defer e.stopAuth()
	defer e.fan.close()
	e.startHealth()
	defer e.stopHealth()
	go e.ticker()
	go e.flowPoller()
	defer func() {
		close(e.tickStop)
		<-e.tickDone
		<-e.flowDone
	}()

	var addrs []string
	for _, a := range e.addresses() {
		addrs = append(addrs, "tcp://"+a)
	}
	if e.tlsServer != nil {
		watchCtx, stopWatch := context.WithCancel(context.Background())
		defer stopWatch()
		go e.tlsServer.Watch(watchCtx, certWatchInterval, e.onCertReload)
	}
	go e.meetLoops()
	e.log.LogAttrs(context.Background(), slog.LevelInfo, "throng starting",
		slog.Any("listen", e.listen), slog.Any("listen_tls", e.listenTLS), slog.Int("loops", e.loops),
		slog.String("config", e.cfgPath), slog.Int64("max_sessions", e.SessionCap()))
	err := gnet.Rotate(&handler{e: e}, addrs,
		gnet.WithMulticore(true),
		gnet.WithNumEventLoop(e.loops),
		gnet.WithReusePort(true),
		gnet.WithReuseAddr(true),
		gnet.WithReadBufferCap(int(srv.ReadBuffer.Bytes())),
		gnet.WithTicker(true), // its first OnTick says the loops run (loops.go)
		gnet.WithTCPNoDelay(gnet.TCPNoDelay),
		gnet.WithLogger(gnetLogger{e.log}),
	)
	select {
	case <-e.booted:
	default:
		// Failed before booting: nobody else will report it.
		close(e.booted)
	}
	close(e.stopped)
	if err != nil {
		return fmt.Errorf("engine: %w", err)
	}
	if !e.stopping.Load() {
		return ErrStoppedByItself
	}
	return nil
}

// Ready is closed once the listeners accept connections (or start failed).
func (e *Engine) Ready() <-chan struct{} { return e.booted }

// Stop closes every connection and the listeners and waits for Run to
// return. It must not be called from an event loop.
func (e *Engine) Stop(ctx context.Context) error {
	e.stopping.Store(true)
	<-e.booted
	select {
	case <-e.stopped:
		return nil
	default:
	}
	if err := e.gnet.Stop(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return fmt.Errorf("engine: stop: %w", err)
	}
	select {
	case <-e.stopped:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Drain stops admitting sessions, sends Close 1001 to every open session and
// waits until they have all finished or ctx ends.
func (e *Engine) Drain(ctx context.Context) {
	e.draining.Store(true)
	for _, sh := range *e.shards.Load() {
		_ = sh.loop.Execute(ctx, drainRunnable{sh})
	}
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for e.active.Load() > 0 {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Active returns the number of live sessions.
func (e *Engine) Active() int64 { return e.active.Load() }

// Reload swaps in a new configuration for new sessions; established ones
// keep the snapshot they started with. Listen addresses and loops cannot
// change without a restart.
func (e *Engine) Reload(c *config.Config) error {
	snap, err := newSnapshot(c, e.stickyKey, e.routeReg)
	if err != nil {
		return err
	}
	warnStickyWithoutSecret(e.log, c)
	if old := e.snap.Load().cfg; old.TLS.MaxHandshakes != c.TLS.MaxHandshakes {
		e.log.LogAttrs(context.Background(), slog.LevelWarn, "these changes need a restart",
			slog.Any("keys", []string{"tls.max_handshakes"}))
	}
	if e.tlsServer != nil {
		// A certificate that does not load keeps the one in use; the
		// rest of the reload goes on.
		if _, err := e.tlsServer.Reload(&c.TLS); err != nil {
			e.log.LogAttrs(context.Background(), slog.LevelError, "TLS files not reloaded, keeping the previous ones", attrErr(err))
		}
	}
	old := e.snap.Load().cfg
	restart := needsRestart(&old.Server, &c.Server)
	if old.Bus != c.Bus {
		// An open bus keeps its connection: the hub does not reconnect
		// elsewhere under live subscribers.
		restart = append(restart, "bus")
	}
	if len(restart) > 0 {
		e.log.LogAttrs(context.Background(), slog.LevelWarn, "these changes need a restart",
			slog.Any("keys", restart))
	}
	e.healthMu.Lock()
	defer e.healthMu.Unlock()
	prev := e.snap.Load()
	if e.healthOn {
		// The new table's checks start from the old one's verdicts, so a
		// reload neither resurrects a dead backend nor forgets a live one.
		snap.table.StartHealthChecks(e.log, prev.table)
	}
	if snap.keepAlive != prev.keepAlive {
		e.keepAliveChanged.Store(true)
	}
	e.snap.Store(snap)
	// A bus only the new configuration uses is opened here, off the loops.
	e.fan.openBuses(c)
	for _, sh := range *e.shards.Load() {
		// A loop without pools gets no ticks: tell it of the new table.
		_ = sh.loop.Execute(context.Background(), syncWarmRunnable{sh})
	}
	if e.healthOn {
		prev.table.StopHealthChecks()
		e.flipsRetired.Add(prev.table.HealthFlips())
	}
	return nil
}

// needsRestart names the [server] keys that differ between old and new
// but are read only at start.
func needsRestart(old, new *config.Server) []string {
	var keys []string
	if strings.Join(old.Listen, ",") != strings.Join(new.Listen, ",") {
		keys = append(keys, "server.listen")
	}
	if old.Loops != new.Loops {
		keys = append(keys, "server.loops")
	}
	if old.DialWorkers != new.DialWorkers {
		keys = append(keys, "server.dial_workers")
	}
	if old.MaxSessions != new.MaxSessions {
		keys = append(keys, "server.max_sessions")
	}
	if strings.Join(old.ListenTLS, ",") != strings.Join(new.ListenTLS, ",") {
		keys = append(keys, "server.listen_tls")
	}
	if old.ReadBuffer != new.ReadBuffer {
		keys = append(keys, "server.read_buffer")
	}
	return keys
}

// startHealth starts the active health checks of the current table.
func (e *Engine) startHealth() {
	e.healthMu.Lock()
	defer e.healthMu.Unlock()
	e.snap.Load().table.StartHealthChecks(e.log, nil)
	e.healthOn = true
}

// stopHealth stops them when Run returns.
func (e *Engine) stopHealth() {
	e.healthMu.Lock()
	defer e.healthMu.Unlock()
	e.healthOn = false
	e.snap.Load().table.StopHealthChecks()
}

// healthFlips counts backends that went down or came up by active checks.
// A reload stores the new table before it retires the old one's count, so
// for a moment the sum misses the old flips: the highest sum seen is
// returned, so that the counter never goes back.
func (e *Engine) healthFlips() uint64 {
	v := e.flipsRetired.Load() + e.snap.Load().table.HealthFlips()
	for {
		seen := e.flipsSeen.Load()
		if v <= seen {
			return seen
		}
		if e.flipsSeen.CompareAndSwap(seen, v) {
			return v
		}
	}
}

type drainRunnable struct{ sh *shard }

func (d drainRunnable) Run(context.Context) error {
	spread := ticks(d.sh.e.snap.Load().cfg.Server.DrainSpread.D())
	for s := d.sh.sessions; s != nil; {
		next := s.next
		s.onDrain(spread)
		s = next
	}
	return nil
}

// admit reserves a session slot and the two descriptors a session may
// hold; false past either cap. The route is not known yet: a fan-out
// subscriber gives one back just before its 101 (openFanout).
func (e *Engine) admit() bool {
	if e.active.Add(1) > e.maxSessions {
		e.active.Add(-1)
		return false
	}
	if e.fds.Add(2) > e.fdBudget {
		e.fds.Add(-2)
		e.active.Add(-1)
		return false
	}
	return true
}

// release gives back an admitted session's slot and the descriptors it
// still reserves.
func (e *Engine) release(fds int64) {
	e.fds.Add(-fds)
	e.active.Add(-1)
}

// shardFor returns the shard of loop, making it on first use: gnet cannot
// list its loops, so each is learned from a connection on it (the probe
// of loops.go at start, or a client).
func (e *Engine) shardFor(loop gnet.EventLoop) *shard {
	if v, ok := e.shardMap.Load(loop); ok {
		return v.(*shard)
	}
	e.shardMu.Lock()
	defer e.shardMu.Unlock()
	if v, ok := e.shardMap.Load(loop); ok {
		return v.(*shard)
	}
	old := *e.shards.Load()
	sh := newShard(e, loop, uint64(time.Now().UnixNano())+uint64(len(old))*0x9E3779B97F4A7C15)
	sh.index = uint64(len(old))
	e.shardMap.Store(loop, sh)
	next := append(append([]*shard(nil), old...), sh)
	e.shards.Store(&next)
	return sh
}

// ticker advances the clock every tickInterval and posts a tick to each
// shard whose wheel holds a session or that keeps warm pools. It is the only timer goroutine; the
// wheels run on their loops.
func (e *Engine) ticker() {
	defer close(e.tickDone)
	t := time.NewTicker(tickInterval)
	defer t.Stop()
	ctx := context.Background()
	var trimmer memoryTrimmer
	for {
		select {
		case <-e.tickStop:
			return
		case <-t.C:
			now := e.clock.Add(1)
			if now%ipSweepTicks == 0 {
				e.sweepIPTables()
			}
			if e.trim && now%trimEvery == 0 {
				trimmer.check(e.Stats().Accepted)
			}
			for _, sh := range *e.shards.Load() {
				if sh.wheel.armed.Load() > 0 || sh.hasWarm.Load() || sh.tlsLive.Load() > 0 {
					_ = sh.loop.Execute(ctx, &sh.tick)
				}
			}
		}
	}
}

// Config returns the configuration new sessions use.
func (e *Engine) Config() *config.Config { return e.snap.Load().cfg }

// addresses returns every listening address, plain and TLS.
func (e *Engine) addresses() []string {
	return append(append([]string(nil), e.listen...), e.listenTLS...)
}
