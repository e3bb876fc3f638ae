package main

import "testing"

func TestRunTLSFlags(t *testing.T) {
	runFlagCases(t, []flagCase{
		{"idle help", []string{"idle", "-h"}, 0, "-insecure"},
		{"echo help", []string{"echo", "-h"}, 0, "-ca file"},
		{"handshake help", []string{"handshake", "-h"}, 0, "-sni name"},
		{"fanout help", []string{"fanout", "-h"}, 0, "-insecure"},
		{"echo missing ca", []string{"echo", "-url", "wss://127.0.75.1:1/", "-ca", "/nonexistent/ca.pem"}, 2, "CA file"},
		{"fanout missing ca", []string{"fanout", "-url", "wss://127.0.75.1:1/", "-ca", "/nonexistent/ca.pem"}, 2, "CA file"},
		{"handshake missing ca", []string{"handshake", "-url", "wss://127.0.75.1:1/", "-ca", "/nonexistent/ca.pem"}, 2, "CA file"},
		{"idle procs missing ca", []string{"idle", "-url", "wss://127.0.75.1:1/", "-procs", "2", "-ca", "/nonexistent/ca.pem"}, 2,
			"CA file"},
		{"ws warns", []string{"idle", "-url", "ws://127.0.75.1:1/", "-insecure", "-n", "0"}, 2, "apply to wss:// URLs only"},
		{"wss bad sessions", []string{"idle", "-url", "wss://127.0.75.1:1/", "-insecure", "-n", "0"}, 2, "number of sessions"},
	})
}
