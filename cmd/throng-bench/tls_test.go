package main

import (
	"crypto/tls"
	"io"
	"slices"
	"testing"

	"github.com/throngproxy/throng/bench"
)

func TestRunTLSFlags(t *testing.T) {
	runFlagCases(t, []flagCase{
		{"idle help", []string{"idle", "-h"}, 0, "-insecure"},
		{"echo help", []string{"echo", "-h"}, 0, "-ca file"},
		{"handshake help", []string{"handshake", "-h"}, 0, "-sni name"},
		{"fanout help", []string{"fanout", "-h"}, 0, "-insecure"},
		{"handshake help curves", []string{"handshake", "-h"}, 0, "-curves list"},
		{"idle help resume", []string{"idle", "-h"}, 0, "-resume"},
		{"echo missing ca", []string{"echo", "-url", "wss://127.0.75.1:1/", "-ca", "/nonexistent/ca.pem"}, 2, "CA file"},
		{"fanout missing ca", []string{"fanout", "-url", "wss://127.0.75.1:1/", "-ca", "/nonexistent/ca.pem"}, 2, "CA file"},
		{"handshake missing ca", []string{"handshake", "-url", "wss://127.0.75.1:1/", "-ca", "/nonexistent/ca.pem"}, 2, "CA file"},
		{"idle procs missing ca", []string{"idle", "-url", "wss://127.0.75.1:1/", "-procs", "2", "-ca", "/nonexistent/ca.pem"}, 2,
			"CA file"},
		{"ws warns", []string{"idle", "-url", "ws://127.0.75.1:1/", "-insecure", "-n", "0"}, 2, "apply to wss:// URLs only"},
		{"ws warns resume", []string{"idle", "-url", "ws://127.0.75.1:1/", "-resume", "-n", "0"}, 2, "apply to wss:// URLs only"},
		{"ws warns curves", []string{"idle", "-url", "ws://127.0.75.1:1/", "-curves", "p256", "-n", "0"}, 2, "apply to wss:// URLs only"},
		{"wss bad sessions", []string{"idle", "-url", "wss://127.0.75.1:1/", "-insecure", "-n", "0"}, 2, "number of sessions"},
		{"bad curve", []string{"handshake", "-url", "wss://127.0.75.1:1/", "-curves", "x448"}, 2, "comma list of x25519"},
		{"curve twice", []string{"echo", "-url", "wss://127.0.75.1:1/", "-curves", "p256,p256"}, 2, "given twice"},
	})
}

// TestParseTLSFlags checks what -curves and -resume (and the other TLS
// flags) put in the run's TLS options.
func TestParseTLSFlags(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want bench.TLSOptions
	}{
		{"none", nil, bench.TLSOptions{}},
		{"like for like", []string{"-curves", "x25519,p256"}, bench.TLSOptions{Curves: []tls.CurveID{tls.X25519, tls.CurveP256}}},
		{"resume", []string{"-resume"}, bench.TLSOptions{Resume: true}},
		{"all", []string{"-insecure", "-sni", "x.test", "-curves", "X25519MLKEM768,p384", "-resume"},
			bench.TLSOptions{Insecure: true, ServerName: "x.test", Curves: []tls.CurveID{tls.X25519MLKEM768, tls.CurveP384}, Resume: true}},
		{"last curves wins", []string{"-curves", "p384", "-curves", "p256"}, bench.TLSOptions{Curves: []tls.CurveID{tls.CurveP256}}},
		{"empty curves is the default", []string{"-curves", "p256", "-curves", ""}, bench.TLSOptions{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs, lf := newLoadFlagSet("throng-bench test", 0, io.Discard)
			if _, code, ok := parseLoad(fs, append([]string{"-url", "wss://127.0.75.1:1/"}, tt.args...), lf, io.Discard); !ok {
				t.Fatalf("parse %q: exit %d", tt.args, code)
			}
			got := lf.tls
			if got.Insecure != tt.want.Insecure || got.CAFile != tt.want.CAFile || got.ServerName != tt.want.ServerName ||
				!slices.Equal(got.Curves, tt.want.Curves) || got.Resume != tt.want.Resume {
				t.Errorf("parse %q: got %+v, want %+v", tt.args, got, tt.want)
			}
			if s := fs.Lookup("curves").Value.String(); s != (*curvesFlag)(&tt.want.Curves).String() {
				t.Errorf("-curves reads back as %q", s)
			}
		})
	}
}
