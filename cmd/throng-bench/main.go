// Command throng-bench is throng's bundled bench tool: a WebSocket echo
// backend (serve) and load generators (idle, echo, fanout, handshake), all
// built on gnet.
//
//	throng-bench serve -listen 127.0.0.1:9001 [-loops N] [-mode echo] [-delay D]
//	throng-bench idle -url ws://127.0.0.1:8080/ -n 9000 -hold 30s [-ping 20s] [-rate 2000/s] [-source 127.0.0.2-127.0.0.20] [-procs P] [-pid PID]... [-json]
//	throng-bench echo -url ws://127.0.0.1:8080/ -c 100 -size 64 -window 1 -d 10s [-procs P] [-pid PID]... [-json]
//	throng-bench fanout -url ws://127.0.0.1:8080/room -subs 100 -rate 100 -d 10s [-channels C] [-procs P] [-pid PID]... [-json]
//	throng-bench handshake -url ws://127.0.0.1:8080/ -c 32 -d 10s [-procs P] [-pid PID]... [-json]
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"os/signal"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"

	"github.com/throngproxy/throng/bench"
	"github.com/throngproxy/throng/bench/backend"
	"github.com/throngproxy/throng/bench/procs"
)

// version is set at build time: -ldflags "-X main.version=v1.2.3".
var version string

const usage = `usage: throng-bench <subcommand> [flags]

subcommands:
  serve    run a WebSocket echo (or fanout) backend on gnet
           throng-bench serve -listen 127.0.0.1:9001 [-loops N] [-mode echo|fanout] [-delay D]
  idle     open N sessions, hold them silent (or pinging), check they are alive
           throng-bench idle -url ws://127.0.0.1:8080/ -n 9000 -hold 30s [-ping 20s] [-rate 2000/s]
                             [-source 127.0.0.2-127.0.0.20] [-procs P] [-pid PID]... [-json]
  echo     measure echo throughput and latency
           throng-bench echo -url ws://127.0.0.1:8080/ -c 100 -size 64 -window 1 -d 10s
                             [-procs P] [-pid PID]... [-json]
  fanout   measure delivery of publishers' messages to N subscribers, on one channel or many
           throng-bench fanout -url ws://127.0.0.1:8080/room -subs 100 -rate 100 -d 10s [-size 64]
                               [-channels C] [-procs P] [-pid PID]... [-json]
  handshake  measure connect + upgrade + close handshakes per second
           throng-bench handshake -url ws://127.0.0.1:8080/ -c 32 -d 10s [-procs P] [-pid PID]... [-json]
  chart    draw bench/scripts/compare.sh's reports as SVG bar charts
           throng-bench chart -in bench/results/raw -out charts

  Every load subcommand takes a wss:// URL too (-insecure, -ca FILE, -sni NAME, -curves LIST,
  -resume): it then runs on crypto/tls, one goroutine per connection (gnet has no TLS);
  reports say which, what the client offered and how many handshakes resumed.
  -procs P splits a run over P processes of throng-bench (sessions, connect rate and
  -source addresses divided) and merges their results. On a terminal a progress line
  is shown on stderr, unless -json.

flags:
  -h, -help    show this help
  -version     print the version

Run 'throng-bench <subcommand> -h' for a subcommand's flags.
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run dispatches to a subcommand and returns the exit status.
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		fmt.Fprint(stdout, usage)
		return 0
	case "-version", "--version", "version":
		fmt.Fprintln(stdout, "throng-bench", buildVersion())
		return 0
	case "serve":
		return runServe(args[1:], stderr)
	case "idle":
		return runIdle(args[1:], stdout, stderr)
	case "echo":
		return runEcho(args[1:], stdout, stderr)
	case "fanout":
		return runFanout(args[1:], stdout, stderr)
	case "handshake":
		return runHandshake(args[1:], stdout, stderr)
	case "chart":
		return runChart(args[1:], stdout, stderr)
	case workerCommand: // hidden: one worker process of a -procs run
		return runWorker(args[1:], stdout, stderr)
	default:
		fmt.Fprintf(stderr, "throng-bench: unknown subcommand %q\n\n%s", args[0], usage)
		return 2
	}
}

// runServe runs `throng-bench serve` until SIGINT or SIGTERM.
func runServe(args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("throng-bench serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg backend.Config
	fs.StringVar(&cfg.Addr, "listen", "", "`host:port` to listen on (required)")
	fs.IntVar(&cfg.Loops, "loops", 0, "number of event loops (0: one per CPU; fanout runs one)")
	fs.StringVar(&cfg.Mode, "mode", backend.ModeEcho, "what to do with messages: echo, or fanout (to the path's other connections)")
	fs.DurationVar(&cfg.Delay, "delay", 0, "hold every upgrade response back this long")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 || cfg.Addr == "" {
		fmt.Fprintln(stderr, "throng-bench serve: -listen host:port is required and no arguments are taken")
		fs.Usage()
		return 2
	}
	cfg.Logger = slog.New(slog.NewJSONHandler(stderr, nil))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := backend.Serve(ctx, cfg, nil); err != nil {
		cfg.Logger.LogAttrs(ctx, slog.LevelError, "serve failed", slog.String("err", err.Error()))
		if serveUsageErr(err) {
			return 2
		}
		return 1
	}
	cfg.Logger.LogAttrs(ctx, slog.LevelInfo, "stopped")
	return 0
}

// buildVersion returns the version set at build time, else the module's.
func buildVersion() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return bi.Main.Version
	}
	return "(devel)"
}

// serveUsageErr reports whether err is a flag mistake rather than a failure.
func serveUsageErr(err error) bool {
	for _, target := range []error{backend.ErrNoAddr, backend.ErrBadLoops, backend.ErrBadDelay, backend.ErrUnknownMode} {
		if errors.Is(err, target) {
			return true
		}
	}
	return false
}

// exitInterrupted is the exit status after Ctrl-C or SIGTERM (128 + SIGINT).
const exitInterrupted = 130

// rateFlag is a connect rate: "2000/s" or "2000"; 0 is unbounded.
type rateFlag float64

func (r *rateFlag) String() string {
	if r == nil || *r == 0 {
		return "0"
	}
	return strconv.FormatFloat(float64(*r), 'f', -1, 64) + "/s"
}

func (r *rateFlag) Set(s string) error {
	v, err := strconv.ParseFloat(strings.TrimSuffix(s, "/s"), 64)
	if err != nil || v < 0 {
		return errors.New("want connects per second, e.g. 2000/s")
	}
	*r = rateFlag(v)
	return nil
}

// pidsFlag collects repeated -pid flags.
type pidsFlag []int

func (p *pidsFlag) String() string { return fmt.Sprint([]int(*p)) }

func (p *pidsFlag) Set(s string) error {
	v, err := strconv.Atoi(s)
	if err != nil || v <= 0 {
		return errors.New("want a process id")
	}
	*p = append(*p, v)
	return nil
}

// loadFlags are the flags idle, echo and handshake share.
type loadFlags struct {
	url     string
	rate    rateFlag
	source  string
	pids    pidsFlag
	loops   int
	procs   int
	jsonOut bool
	unit    string           // what the progress line's rate counts; default "msgs/s"
	tls     bench.TLSOptions // -insecure, -ca, -sni, -curves, -resume: wss:// only (tls.go)
}

// register adds the shared load flags to fs: the connect rate (default
// rate) under rateName, and -procs when procs is set.
func (f *loadFlags) register(fs *flag.FlagSet, rate float64, rateName string, procs bool) {
	f.rate = rateFlag(rate)
	fs.StringVar(&f.url, "url", "", "ws:// or wss:// `URL` to connect to (required)")
	fs.Var(&f.rate, rateName, "connects per second, e.g. 2000/s; 0 is unbounded")
	fs.StringVar(&f.source, "source", "", "source `addresses`: a range 127.0.0.2-127.0.0.20, or \"kernel\";\ndefault 127.0.0.2-127.0.0.9 for a loopback target")
	fs.Var(&f.pids, "pid", "`PID` of a process to sample (RSS, CPU); repeatable")
	fs.IntVar(&f.loops, "loops", 0, "client event loops (0: one per CPU)")
	f.procs = 1
	if procs {
		fs.IntVar(&f.procs, "procs", 1, "worker `processes` to split the sessions and the -source range over;\nresults merged (one process holds at most RLIMIT_NOFILE sockets)")
	}
	fs.BoolVar(&f.jsonOut, "json", false, "print one JSON object instead of a table")
	registerTLSFlags(fs, &f.tls)
}

// sources resolves -source.
func (f *loadFlags) sources() ([]netip.Addr, error) {
	switch f.source {
	case "":
		return bench.DefaultSources(f.url), nil
	case "kernel":
		return nil, nil
	}
	return bench.ParseSources(f.source)
}

// parseLoad parses a load subcommand's flags; ok is false with the exit
// status to return.
func parseLoad(fs *flag.FlagSet, args []string, f *loadFlags, stderr io.Writer) (srcs []netip.Addr, code int, ok bool) {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, 0, false
		}
		return nil, 2, false
	}
	if fs.NArg() > 0 || f.url == "" {
		fmt.Fprintf(stderr, "%s: -url is required and no arguments are taken\n", fs.Name())
		fs.Usage()
		return nil, 2, false
	}
	srcs, err := f.sources()
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", fs.Name(), err)
		return nil, 2, false
	}
	return srcs, 0, true
}

// report prints rep and returns the exit status for err.
func report(name string, rep interface{ WriteText(io.Writer) error }, interrupted, jsonOut bool, err error, stdout, stderr io.Writer) int {
	if rep != nil {
		var werr error
		if jsonOut {
			werr = bench.WriteJSON(stdout, rep)
		} else {
			werr = rep.WriteText(stdout)
		}
		if werr != nil {
			fmt.Fprintf(stderr, "%s: %v\n", name, werr)
			return 1
		}
	}
	switch {
	case err != nil && rep == nil && errors.Is(err, procs.ErrWorker):
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
		return 1
	case err != nil && rep == nil:
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
		return 2 // a configuration error
	case err != nil:
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
		return 1
	case interrupted:
		return exitInterrupted
	}
	return 0
}

// newLoadFlagSet returns a load subcommand's flag set with the shared flags
// registered in lf; rate is the default -rate.
func newLoadFlagSet(name string, rate float64, stderr io.Writer) (*flag.FlagSet, *loadFlags) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	lf := new(loadFlags)
	lf.register(fs, rate, "rate", true)
	return fs, lf
}

// runLoad parses a load subcommand's flags, completes cfg with the shared
// ones, runs start until it returns or SIGINT or SIGTERM cancels it, and
// prints its report; it returns the exit status. interrupted reads a report's
// Interrupted field. While start runs, a progress line is shown on stderr if
// it is a terminal and no -json was asked for.
func runLoad[R any, P interface {
	*R
	WriteText(io.Writer) error
}](fs *flag.FlagSet, lf *loadFlags, cfg *bench.LoadConfig, args []string, stdout, stderr io.Writer,
	start func(context.Context) (P, error), interrupted func(P) bool) int {
	srcs, code, ok := parseLoad(fs, args, lf, stderr)
	if !ok {
		return code
	}
	cfg.URL, cfg.Rate, cfg.Sources, cfg.PIDs, cfg.Loops = lf.url, float64(lf.rate), srcs, lf.pids, lf.loops
	cfg.TLS = lf.tls
	warnTLSFlags(fs.Name(), lf, stderr)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	stopProgress := func() {}
	if !lf.jsonOut && isTerminal(stderr) {
		cfg.Live = new(bench.Live)
		stopProgress = showProgress(stderr, cfg.Live, lf.unit)
	}
	rep, err := start(ctx)
	stopProgress() // before the report and any error on stderr
	if rep == nil {
		return report(fs.Name(), nil, false, lf.jsonOut, err, stdout, stderr)
	}
	return report(fs.Name(), rep, interrupted(rep), lf.jsonOut, err, stdout, stderr)
}

// runIdle runs `throng-bench idle`.
func runIdle(args []string, stdout, stderr io.Writer) int {
	fs, lf := newLoadFlagSet("throng-bench idle", bench.DefaultIdleRate, stderr)
	var cfg bench.IdleConfig
	def := cfg.WithDefaults()
	fs.IntVar(&cfg.Sessions, "n", bench.DefaultIdleSessions, "number of sessions")
	fs.DurationVar(&cfg.Hold, "hold", def.Hold, "how long to hold the sessions open and silent")
	fs.DurationVar(&cfg.Ping, "ping", 0, "from each upgrade to the end of the hold, send a WebSocket Ping on every session\nthis often (at least 10ms; spread over the interval) and count the Pongs; 0: silent")
	fs.DurationVar(&cfg.Settle, "settle", def.Settle, "wait after the last connect before sampling -pid")
	fs.DurationVar(&cfg.VerifyTimeout, "verify-timeout", def.VerifyTimeout, "deadline for the liveness check after the hold")
	fs.DurationVar(&cfg.HandshakeTimeout, "handshake-timeout", def.HandshakeTimeout, "deadline for handshakes after the last connect")
	return runLoad(fs, lf, &cfg.LoadConfig, args, stdout, stderr,
		byProcs(lf, &cfg, bench.Idle, bench.IdleProcs),
		func(r *bench.IdleReport) bool { return r.Interrupted })
}

// runEcho runs `throng-bench echo`.
func runEcho(args []string, stdout, stderr io.Writer) int {
	fs, lf := newLoadFlagSet("throng-bench echo", 0, stderr)
	var cfg bench.EchoConfig
	def := cfg.WithDefaults()
	fs.IntVar(&cfg.Sessions, "c", def.Sessions, "number of sessions")
	fs.IntVar(&cfg.Size, "size", def.Size, "message payload in `bytes` (16 B to 16 MiB)")
	fs.IntVar(&cfg.Window, "window", def.Window, "messages in flight per session")
	fs.DurationVar(&cfg.Duration, "d", def.Duration, "measured duration, after the warm-up")
	fs.DurationVar(&cfg.Warmup, "warmup", def.Warmup, "unrecorded warm-up")
	return runLoad(fs, lf, &cfg.LoadConfig, args, stdout, stderr,
		byProcs(lf, &cfg, bench.Echo, bench.EchoProcs),
		func(r *bench.EchoReport) bool { return r.Interrupted })
}
