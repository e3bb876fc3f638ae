package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestRunDispatch(t *testing.T) {
	tests := []struct {
		name       string
		args       []string
		wantCode   int
		wantStdout string
		wantStderr string
	}{
		{"no args", nil, 2, "", "usage:"},
		{"help", []string{"-h"}, 0, "usage:", ""},
		{"version", []string{"-version"}, 0, "throng-bench ", ""},
		{"unknown", []string{"load"}, 2, "", `unknown subcommand "load"`},
		{"serve without listen", []string{"serve"}, 2, "", "-listen"},
		{"serve help", []string{"serve", "-h"}, 0, "", "-delay"},
		{"serve bad mode", []string{"serve", "-listen", "127.0.0.1:1", "-mode", "broadcast"}, 2, "", "unknown mode"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			got := run(tt.args, &stdout, &stderr)
			if got != tt.wantCode || !strings.Contains(stdout.String(), tt.wantStdout) || !strings.Contains(stderr.String(), tt.wantStderr) {
				t.Errorf("run(%q) = %d, stdout %q, stderr %q; want %d, stdout with %q, stderr with %q",
					tt.args, got, stdout.String(), stderr.String(), tt.wantCode, tt.wantStdout, tt.wantStderr)
			}
		})
	}
}

func TestRunLoadFlags(t *testing.T) {
	runFlagCases(t, []flagCase{
		{"idle help", []string{"idle", "-h"}, 0, "-hold"},
		{"idle without url", []string{"idle"}, 2, "-url is required"},
		{"idle bad rate", []string{"idle", "-url", "ws://127.0.0.1:1/", "-rate", "fast"}, 2, "connects per second"},
		{"idle bad source", []string{"idle", "-url", "ws://127.0.0.1:1/", "-source", "nowhere"}, 2, "source"},
		{"idle bad pid", []string{"idle", "-url", "ws://127.0.0.1:1/", "-pid", "-3"}, 2, "process id"},
		{"idle bad url", []string{"idle", "-url", "http://x/"}, 2, "ws://host:port"},
		{"echo help", []string{"echo", "-h"}, 0, "-window"},
		{"echo without url", []string{"echo", "-c", "3"}, 2, "-url is required"},
		{"echo bad size", []string{"echo", "-url", "ws://127.0.0.1:1/", "-size", "4"}, 2, "message size"},
		{"idle help shows procs", []string{"idle", "-h"}, 0, "-procs"},
		{"idle help shows ping", []string{"idle", "-h"}, 0, "-ping"},
		{"idle ping too short", []string{"idle", "-url", "ws://127.0.75.1:1/", "-ping", "5ms"}, 2, "ping interval"},
		{"idle no procs", []string{"idle", "-url", "ws://127.0.75.1:1/", "-procs", "0"}, 2, "procs must be at least 1"},
		{"echo procs over sources", []string{"echo", "-url", "ws://127.0.75.1:1/", "-procs", "3", "-source", "127.0.75.10-11"}, 2,
			"fewer source addresses than processes"},
		{"handshake procs over workers", []string{"handshake", "-url", "ws://127.0.75.1:1/", "-procs", "3", "-c", "2"}, 2,
			"fewer sessions than processes"},
		{"worker takes no arguments", []string{"worker", "x"}, 2, "no arguments"},
	})
}

// flagCase is a run of the command whose flags are wrong or ask for help:
// its exit status and what its stderr says.
type flagCase struct {
	name       string
	args       []string
	wantCode   int
	wantStderr string
}

// runFlagCases runs each case as a subtest.
func runFlagCases(t *testing.T, tests []flagCase) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			got := run(tt.args, &stdout, &stderr)
			if got != tt.wantCode || !strings.Contains(stderr.String(), tt.wantStderr) {
				t.Errorf("run(%q) = %d, stderr %q; want %d, stderr with %q", tt.args, got, stderr.String(), tt.wantCode, tt.wantStderr)
			}
		})
	}
}
