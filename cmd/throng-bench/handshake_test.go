package main

import "testing"

func TestRunHandshakeFlags(t *testing.T) {
	runFlagCases(t, []flagCase{
		{"help", []string{"handshake", "-h"}, 0, "-close-timeout"},
		{"without url", []string{"handshake", "-c", "3"}, 2, "-url is required"},
		{"bad url", []string{"handshake", "-url", "http://x/"}, 2, "ws://host:port"},
		{"bad workers", []string{"handshake", "-url", "ws://127.0.0.1:1/", "-c", "-1"}, 2, "number of sessions"},
		{"bad close timeout", []string{"handshake", "-url", "ws://127.0.0.1:1/", "-close-timeout", "-1s"}, 2, "timeouts"},
	})
}
