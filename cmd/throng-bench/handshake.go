package main

import (
	"io"

	"github.com/throngproxy/throng/bench"
)

// runHandshake runs `throng-bench handshake`.
func runHandshake(args []string, stdout, stderr io.Writer) int {
	fs, lf := newLoadFlagSet("throng-bench handshake", 0, stderr)
	var cfg bench.HandshakeConfig
	def := cfg.WithDefaults()
	fs.IntVar(&cfg.Sessions, "c", def.Sessions, "workers: connections in flight")
	fs.DurationVar(&cfg.Duration, "d", def.Duration, "measured duration, after the warm-up")
	fs.DurationVar(&cfg.Warmup, "warmup", def.Warmup, "unrecorded warm-up")
	fs.DurationVar(&cfg.CloseTimeout, "close-timeout", def.CloseTimeout, "wait for the server to close TCP after the client's Close;\nthen the client closes first")
	fs.DurationVar(&cfg.HandshakeTimeout, "handshake-timeout", def.HandshakeTimeout, "deadline for each handshake")
	fs.DurationVar(&cfg.ConnectTimeout, "connect-timeout", def.ConnectTimeout, "deadline for each TCP connect")
	lf.unit = "handshakes/s"
	return runLoad(fs, lf, &cfg.LoadConfig, args, stdout, stderr,
		byProcs(lf, &cfg, bench.Handshake, bench.HandshakeProcs),
		func(r *bench.HandshakeReport) bool { return r.Interrupted })
}
