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
		{"serve bad mode", []string{"serve", "-listen", "127.0.0.1:1", "-mode", "fanout"}, 2, "", "unknown mode"},
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
