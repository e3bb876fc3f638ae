package main

import (
	"flag"
	"io"

	"github.com/throngproxy/throng/bench"
)

// runFanout runs `throng-bench fanout`. Its -rate is each publisher's
// message rate, so the shared connect rate is -connect-rate here.
func runFanout(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("throng-bench fanout", flag.ContinueOnError)
	fs.SetOutput(stderr)
	lf := new(loadFlags)
	lf.register(fs, 0, "connect-rate", true)
	var cfg bench.FanoutConfig
	def := cfg.WithDefaults()
	fs.IntVar(&cfg.Sessions, "subs", def.Sessions, "number of subscriber sessions, over all channels (one more per channel publishes)")
	fs.IntVar(&cfg.Channels, "channels", def.Channels, "channels to spread the subscribers over: the URL's path with 0, 1, … appended;\n1 is the path as it is")
	fs.Float64Var(&cfg.MsgRate, "rate", def.MsgRate, "messages each channel's publisher sends per second")
	fs.IntVar(&cfg.Size, "size", def.Size, "message payload in `bytes` (16 B to 16 MiB)")
	fs.DurationVar(&cfg.Duration, "d", def.Duration, "measured publishing time, after the warm-up")
	fs.DurationVar(&cfg.Warmup, "warmup", def.Warmup, "unrecorded warm-up")
	fs.DurationVar(&cfg.DrainTimeout, "drain-timeout", def.DrainTimeout, "deadline for the last message to reach every subscriber")
	return runLoad(fs, lf, &cfg.LoadConfig, args, stdout, stderr,
		byProcs(lf, &cfg, bench.Fanout, bench.FanoutProcs),
		func(r *bench.FanoutReport) bool { return r.Interrupted })
}
