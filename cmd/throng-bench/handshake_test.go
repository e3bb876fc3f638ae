package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestRunHandshakeFlags(t *testing.T) {
	tests := []struct {
		name       string
		args       []string
		wantCode   int
		wantStderr string
	}{
		{"help", []string{"handshake", "-h"}, 0, "-close-timeout"},
		{"without url", []string{"handshake", "-c", "3"}, 2, "-url is required"},
		{"bad url", []string{"handshake", "-url", "http://x/"}, 2, "ws://host:port"},
		{"bad workers", []string{"handshake", "-url", "ws://127.0.0.1:1/", "-c", "-1"}, 2, "number of sessions"},
		{"bad close timeout", []string{"handshake", "-url", "ws://127.0.0.1:1/", "-close-timeout", "-1s"}, 2, "timeouts"},
	}
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
