// Command throng-bench is throng's bundled bench tool. So far it has one
// subcommand: serve, a WebSocket echo backend built on gnet.
//
//	throng-bench serve -listen 127.0.0.1:9001 [-loops N] [-mode echo] [-delay D]
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"syscall"

	"github.com/throngproxy/throng/bench"
)

// version is set at build time: -ldflags "-X main.version=v1.2.3".
var version string

const usage = `usage: throng-bench <subcommand> [flags]

subcommands:
  serve    run a WebSocket echo backend on gnet
           throng-bench serve -listen 127.0.0.1:9001 [-loops N] [-mode echo] [-delay D]

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
	default:
		fmt.Fprintf(stderr, "throng-bench: unknown subcommand %q\n\n%s", args[0], usage)
		return 2
	}
}

// runServe runs `throng-bench serve` until SIGINT or SIGTERM.
func runServe(args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("throng-bench serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg bench.ServeConfig
	fs.StringVar(&cfg.Addr, "listen", "", "`host:port` to listen on (required)")
	fs.IntVar(&cfg.Loops, "loops", runtime.NumCPU(), "number of event loops")
	fs.StringVar(&cfg.Mode, "mode", bench.ServeModeEcho, "what to do with messages: echo")
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
	if err := bench.Serve(ctx, cfg, nil); err != nil {
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
	for _, target := range []error{bench.ErrServeNoAddr, bench.ErrServeBadLoops, bench.ErrServeBadDelay, bench.ErrServeUnknownMode} {
		if errors.Is(err, target) {
			return true
		}
	}
	return false
}
