package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/throngproxy/throng/bench"
	"github.com/throngproxy/throng/bench/procs"
)

// workerCommand is the hidden subcommand a -procs run starts its workers
// with: `throng-bench worker`, its job on stdin, its result on stdout.
const workerCommand = "worker"

// procsConfig returns the split of a run over n workers, each this
// binary running workerCommand. Without a path to this binary the command
// is empty and the run fails with procs.ErrCommand.
func procsConfig(n int) procs.Config {
	pc := procs.Config{Procs: n}
	if exe, err := os.Executable(); err == nil {
		pc.Command = []string{exe, workerCommand}
	}
	return pc
}

// byProcs returns a load subcommand's start function: alone, in this
// process, for -procs 1; else split over lf.procs workers. It reads *cfg
// when the run starts, once runLoad has completed it from the flags.
func byProcs[C, R any](lf *loadFlags, cfg *C, alone func(context.Context, C) (*R, error),
	split func(context.Context, C, procs.Config) (*R, error)) func(context.Context) (*R, error) {
	return func(ctx context.Context) (*R, error) {
		if lf.procs != 1 {
			return split(ctx, *cfg, procsConfig(lf.procs))
		}
		return alone(ctx, *cfg)
	}
}

// runWorker runs `throng-bench worker`: one worker process of a -procs
// run, until its job is done, its input ends, or SIGINT or SIGTERM.
func runWorker(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		fmt.Fprintf(stderr, "throng-bench %s: no arguments are taken (it is started by -procs)\n", workerCommand)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := bench.Worker(ctx, os.Stdin, stdout); err != nil {
		fmt.Fprintf(stderr, "throng-bench %s: %v\n", workerCommand, err)
		return 1
	}
	return 0
}

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

// showProgress starts a progress line for live on w (a terminal); the
// function it returns stops it and erases the line.
func showProgress(w io.Writer, live *bench.Live, unit string) func() {
	if unit == "" {
		unit = "msgs/s"
	}
	p := bench.NewProgress(w, live, unit)
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		p.Run(stop, bench.ProgressEvery)
	}()
	return func() {
		close(stop)
		<-done
	}
}
