package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"path/filepath"

	"github.com/throngproxy/throng/bench/chart"
)

// runChart draws compare.sh's reports (NAME-PROXY.json in -in) as SVG
// charts in -out.
func runChart(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("throng-bench chart", flag.ContinueOnError)
	fs.SetOutput(stderr)
	in := fs.String("in", "bench/results/raw", "directory of compare.sh's NAME-PROXY.json reports")
	out := fs.String("out", "bench/results/charts", "directory to write the SVG charts to")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	r, err := chart.Load(*in)
	if err == nil {
		err = chart.Draw(r, *out)
	}
	if err != nil {
		fmt.Fprintln(stderr, "throng-bench chart:", err)
		return 1
	}
	for _, f := range chart.Files {
		fmt.Fprintln(stdout, filepath.Join(*out, f))
	}
	return 0
}
