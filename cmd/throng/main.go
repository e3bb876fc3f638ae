// Command throng is a WebSocket edge proxy.
//
//	throng -config throng.toml        run
//	throng -config F -takeover        run beside an older throng on the same
//	                                  addresses (SO_REUSEPORT) and take their
//	                                  new connections, for upgrades
//	throng -config F -share           run beside other throng processes on the
//	                                  same addresses, the kernel spreading new
//	                                  connections over all of them
//	throng -check-config -config F    validate F and exit 0 or 1
//	throng -version                   print the version
//
// SIGHUP reloads the configuration (new sessions use it; an invalid file is
// rejected and the old one stays; server.listen, loops, dial_workers,
// max_sessions and read_buffer need a restart). SIGUSR1 logs counters and the live heap. SIGTERM and SIGINT drain: stop admitting,
// send Close 1001 to every session, wait up to timeouts.drain, exit.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"syscall"
	"time"

	"github.com/throngproxy/throng/admin"
	"github.com/throngproxy/throng/bus"
	"github.com/throngproxy/throng/config"
	"github.com/throngproxy/throng/engine"
	"github.com/throngproxy/throng/jwtauth"
	"github.com/throngproxy/throng/tlsconf"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	os.Exit(run(os.Args[1:]))
}

// defaultGCPercent is the GC target used unless GOGC is set. Session
// set-up (dialling, enrolling) leaves short-lived garbage while open idle
// sessions keep a small live heap; Go's default of 100 lets the heap, and so
// the RSS, reach twice the live size. 50 keeps idle RSS per session about
// 10% lower for a little more GC work during handshake bursts (BENCHMARKS.md).
const defaultGCPercent = 50

func run(args []string) int {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(defaultGCPercent)
	}
	fs := flag.NewFlagSet("throng", flag.ContinueOnError)
	cfgPath := fs.String("config", "throng.toml", "configuration file (TOML)")
	check := fs.Bool("check-config", false, "validate the configuration and exit")
	showVersion := fs.Bool("version", false, "print the version and exit")
	takeover := fs.Bool("takeover", false, "share listen addresses still served by another process and take their new connections (binary upgrade)")
	share := fs.Bool("share", false, "share listen addresses with other throng processes; the kernel spreads new connections over all of them")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *showVersion {
		fmt.Println("throng", version)
		return 0
	}
	cfg, err := config.Load(*cfgPath)
	if *check {
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		if len(cfg.Server.ListenTLS) > 0 || len(cfg.TLS.Certificates) > 0 {
			// The files, not only their names: a key that does not
			// match its certificate fails here, not at start.
			if err := tlsconf.Check(&cfg.TLS); err != nil {
				fmt.Fprintf(os.Stderr, "%s: %v\n", *cfgPath, err)
				return 1
			}
		}
		for _, u := range cfg.Upstreams {
			for i := range u.Backends {
				if b := &u.Backends[i]; b.TLS {
					if _, err := tlsconf.Upstream(b); err != nil {
						fmt.Fprintf(os.Stderr, "%s: upstream %q: %v\n", *cfgPath, u.Name, err)
						return 1
					}
				}
			}
		}
		for i := range cfg.Routes {
			if j := cfg.Routes[i].JWT; j != nil {
				// The key files too: a short secret fails here.
				if _, err := jwtauth.New(j); err != nil {
					fmt.Fprintf(os.Stderr, "%s: route[%d].jwt: %v\n", *cfgPath, i, err)
					return 1
				}
			}
		}
		for _, name := range cfg.KeylessSticky() {
			fmt.Fprintf(os.Stderr, "%s: warning: upstream %q: %s\n", *cfgPath, name, config.StickyWithoutSecret)
		}
		fmt.Printf("%s: ok\n", *cfgPath)
		return 0
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	var level slog.LevelVar // log.level takes effect on reload too
	setLevel(&level, cfg.Log.Level)
	logFormat := newFormatHandler(os.Stderr, &level, cfg.Log.Format)
	log := slog.New(logFormat)
	// The Redis client's own lines join the log, in its format.
	bus.SetLibraryLogger(log)

	e, err := engine.New(engine.Options{Config: cfg, ConfigPath: *cfgPath, Logger: log, Takeover: *takeover, Share: *share, TrimMemory: true})
	if err != nil {
		log.Error("cannot start", "err", err.Error())
		return 1
	}
	adm := admin.New(e, admin.Options{Version: version, ConfigPath: *cfgPath, Takeover: *takeover, Share: *share})
	if data, err := os.ReadFile(*cfgPath); err == nil {
		adm.ConfigLoaded(data)
	}
	if err := adm.Listen(cfg.Admin.Listen); err != nil {
		log.Error("cannot start", "err", err.Error())
		return 1
	}
	if err := adm.SteerError(); err != nil {
		log.Warn("takeover: admin requests are not steered to this process; /readyz may answer for the older one", "err", err.Error())
	}
	defer adm.Close()
	// Signals are caught before the listeners open: a SIGUSR1 that came
	// between the two would be ignored by the runtime, and a SIGTERM would
	// kill the process without a drain.
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGHUP, syscall.SIGTERM, syscall.SIGINT, syscall.SIGUSR1)
	defer signal.Stop(sigs)
	runErr := make(chan error, 1)
	go func() { runErr <- e.Run() }()
	for {
		select {
		case err := <-runErr:
			if err != nil {
				log.Error("engine stopped", "err", err.Error())
				return 1
			}
			return 0
		case sig := <-sigs:
			switch sig {
			case syscall.SIGHUP:
				reload(log, &level, logFormat, e, adm, *cfgPath)
				continue
			case syscall.SIGUSR1:
				logStats(log, e)
				continue
			}
			return drain(log, e, runErr, sigs)
		}
	}
}

func reload(log *slog.Logger, level *slog.LevelVar, format *formatHandler, e *engine.Engine, adm *admin.Server, path string) {
	data, err := os.ReadFile(path)
	var cfg *config.Config
	if err == nil {
		cfg, err = config.Load(path)
	}
	if err == nil {
		err = e.Reload(cfg)
	}
	if err != nil {
		adm.Reloaded(false)
		log.Error("reload rejected, keeping the running configuration", "config", path, "err", err.Error())
		return
	}
	adm.Reloaded(true)
	adm.ConfigLoaded(data)
	// [admin] follows reloads. A new address that cannot be bound leaves
	// the admin listener off until a reload fixes it; the sessions'
	// configuration has moved on regardless.
	if err := adm.Listen(cfg.Admin.Listen); err != nil {
		log.Error("admin listener", "err", err.Error())
	}
	setLevel(level, cfg.Log.Level)
	format.setFormat(cfg.Log.Format)
	log.Info("configuration reloaded", "config", path)
}

// drain stops admitting, closes every session (spread over
// server.drain_spread) and exits when they are gone or after
// timeouts.drain. A second SIGTERM or SIGINT exits at once.
func drain(log *slog.Logger, e *engine.Engine, runErr <-chan error, sigs <-chan os.Signal) int {
	cfg := e.Config()
	ctx, cancel := context.WithTimeout(context.Background(), cfg.Timeouts.Drain.D())
	defer cancel()
	log.Info("draining", "sessions", e.Active(), "spread", cfg.Server.DrainSpread.String())
	drained := make(chan struct{})
	go func() {
		e.Drain(ctx)
		close(drained)
	}()
wait:
	for {
		select {
		case <-drained:
			break wait
		case sig := <-sigs:
			switch sig {
			case syscall.SIGTERM, syscall.SIGINT:
				log.Warn("second signal: exiting without waiting for the drain", "sessions_left", e.Active())
				return 1
			case syscall.SIGUSR1:
				logStats(log, e)
			}
		}
	}
	log.Info("drained", "sessions_left", e.Active())
	stopCtx, stopCancel := context.WithTimeout(context.Background(), cfg.Timeouts.Close.D()+5*time.Second)
	defer stopCancel()
	if err := e.Stop(stopCtx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		log.Error("stop", "err", err.Error())
		return 1
	}
	if err := <-runErr; err != nil {
		log.Error("engine stopped", "err", err.Error())
		return 1
	}
	return 0
}

// logStats writes one line with the engine's counters and the Go heap after
// a full GC (SIGUSR1): heap_live_bytes / sessions is the live heap per
// session that BENCHMARKS.md reports next to RSS.
func logStats(log *slog.Logger, e *engine.Engine) {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	st := e.Stats()
	log.Info("stats",
		"sessions", st.Active, "accepted", st.Accepted, "opened", st.Opened, "closed", st.Closed,
		"rejected", st.Rejected, "over_cap", st.OverCap, "slow_consumer", st.SlowConsumer, "write_timeouts", st.WriteTimeout,
		"pauses", st.Pauses, "resumes", st.Resumes, "detached", st.Detached,
		"protocol_error", st.ProtocolError, "dials", st.Dials, "dial_failed", st.DialFailed, "ejections", st.Ejections,
		"retries", st.Retries, "warm_used", st.WarmUsed, "warm_stale", st.WarmStale, "warm_dials", st.WarmDials, "warm_idle", st.WarmIdle, "health_flips", st.HealthFlips,
		"loops", st.Loops, "handshake_timeout", st.HandshakeTimeout, "idle_timeout", st.IdleTimeout, "bad_transitions", st.BadTransitions,
		"bytes_in", st.BytesIn, "bytes_out", st.BytesOut, "stalled_frames", e.StalledSessions(),
		"tls_handshakes", st.TLSHandshakes, "tls_resumed", st.TLSResumed, "tls_failed", st.TLSFailed,
		"tls_busy", st.TLSBusy, "tls_alerts", st.TLSAlerts, "tls_parked", st.TLSParked, "proxy_refused", st.ProxyRefused,
		"policy_refused", policyRefused(&st), "messages_dropped", st.MessagesDropped, "pings_sent", st.PingsSent, "ping_timeouts", st.PingTimeouts,
		"transitions", st.Transitions, "heap_live_bytes", m.HeapAlloc, "heap_sys_bytes", m.HeapSys, "goroutines", runtime.NumGoroutine())
}

// policyRefused is Stats.PolicyRefused by reason name, for the stats line.
func policyRefused(st *engine.Stats) map[string]uint64 {
	out := make(map[string]uint64, len(st.PolicyRefused))
	for i, name := range engine.PolicyReasons() {
		out[name] = st.PolicyRefused[i]
	}
	return out
}

// setLevel sets v to a validated log.level value (info if it is not one).
func setLevel(v *slog.LevelVar, level string) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		l = slog.LevelInfo
	}
	v.Set(l)
}
