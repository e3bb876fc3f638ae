package bench

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestParseCurves(t *testing.T) {
	tests := []struct {
		name, in string
		want     []tls.CurveID
		wantErr  error
	}{
		{"empty is the default", "", nil, nil},
		{"blank is the default", "  ", nil, nil},
		{"one", "p256", []tls.CurveID{tls.CurveP256}, nil},
		{"like for like", "x25519,p256", []tls.CurveID{tls.X25519, tls.CurveP256}, nil},
		{"all, spaces and case", " X25519MLKEM768, x25519 ,P384,p256", []tls.CurveID{tls.X25519MLKEM768, tls.X25519, tls.CurveP384, tls.CurveP256}, nil},
		{"order kept", "p384,x25519", []tls.CurveID{tls.CurveP384, tls.X25519}, nil},
		{"unknown", "x25519,p521", nil, ErrBadCurves},
		{"empty item", "x25519,,p256", nil, ErrBadCurves},
		{"trailing comma", "x25519,", nil, ErrBadCurves},
		{"twice", "p256,P256", nil, ErrBadCurves},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseCurves(tt.in)
			if !errors.Is(err, tt.wantErr) || !slices.Equal(got, tt.want) {
				t.Errorf("ParseCurves(%q) = %v, %v; want %v, %v", tt.in, got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestCurveName(t *testing.T) {
	tests := []struct {
		id   tls.CurveID
		want string
	}{
		{0, "none"},
		{tls.X25519, "x25519"},
		{tls.CurveP256, "p256"},
		{tls.CurveP384, "p384"},
		{tls.CurveP521, "p521"},
		{tls.X25519MLKEM768, "x25519mlkem768"},
		{tls.SecP256r1MLKEM768, tls.SecP256r1MLKEM768.String()},
	}
	for _, tt := range tests {
		if got := CurveName(tt.id); got != tt.want {
			t.Errorf("CurveName(%d) = %q, want %q", tt.id, got, tt.want)
		}
		if tt.id == 0 {
			continue
		}
		// A name ParseCurves takes reads back as the same curve.
		if ids, err := ParseCurves(tt.want); err == nil && (len(ids) != 1 || ids[0] != tt.id) {
			t.Errorf("ParseCurves(CurveName(%d)) = %v, want [%d]", tt.id, ids, tt.id)
		}
	}
}

// TestTLSClientConfigOptions checks what the options put in the client
// config: the curves offered, and a session cache only with Resume.
func TestTLSClientConfigOptions(t *testing.T) {
	target, err := parseClientTarget("wss://127.0.0.1:1/")
	if err != nil {
		t.Fatal(err)
	}
	curves := []tls.CurveID{tls.X25519, tls.CurveP256}
	tests := []struct {
		name       string
		opts       TLSOptions
		wantCurves []tls.CurveID
		wantCache  bool
	}{
		{"default", TLSOptions{}, nil, false},
		{"curves", TLSOptions{Curves: curves}, curves, false},
		{"resume", TLSOptions{Resume: true}, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := tt.opts.clientConfig(target)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(cfg.CurvePreferences, tt.wantCurves) || (cfg.ClientSessionCache != nil) != tt.wantCache {
				t.Errorf("got curves %v, cache %v; want %v, %v", cfg.CurvePreferences, cfg.ClientSessionCache != nil,
					tt.wantCurves, tt.wantCache)
			}
			if tt.opts.IsZero() != (tt.name == "default") {
				t.Errorf("IsZero() = %v for %+v", tt.opts.IsZero(), tt.opts)
			}
		})
	}
	// The config keeps its own copy of the curves.
	cfg, _ := (&TLSOptions{Curves: curves}).clientConfig(target)
	cfg.CurvePreferences[0] = tls.CurveP384
	if curves[0] != tls.X25519 {
		t.Errorf("the config shares the options' curves: %v", curves)
	}
	// Each config of a resuming run has its own cache: runs do not share
	// sessions.
	a, _ := (&TLSOptions{Resume: true}).clientConfig(target)
	b, _ := (&TLSOptions{Resume: true}).clientConfig(target)
	if a.ClientSessionCache == b.ClientSessionCache {
		t.Error("two configs share one session cache")
	}
}

// TestTLSResume runs handshakes and idle sessions over real loopback
// sockets against the Go TLS test server (session tickets on, as
// crypto/tls has them by default), with and without -resume: with it,
// every handshake but each worker's first resumes; without it, none does.
// It also checks that -curves is what the server negotiates.
func TestTLSResume(t *testing.T) {
	const addr = "127.0.76.206:19661"
	srv := startTLSTestServer(t, addr, false)
	srcs := mustSources(t, "127.0.76.214-215")
	const workers = 3
	handshake := func(t *testing.T, opts TLSOptions) *HandshakeReport {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), loadTestTimeout)
		defer cancel()
		opts.Insecure = true
		rep, err := Handshake(ctx, HandshakeConfig{
			LoadConfig: LoadConfig{URL: srv.url("/"), Sessions: workers, Sources: srcs, TLS: opts},
			Duration:   300 * time.Millisecond, Warmup: 50 * time.Millisecond,
		})
		if err != nil || len(rep.Failed) != 0 || rep.Total == 0 {
			t.Fatalf("Handshake = %+v, %v; want handshakes and no failures", rep, err)
		}
		if rep.TLS.Handshakes != rep.Total {
			t.Errorf("got %d TLS handshakes, want one per upgrade: %d", rep.TLS.Handshakes, rep.Total)
		}
		return rep
	}

	t.Run("handshake resume", func(t *testing.T) {
		rep := handshake(t, TLSOptions{Resume: true})
		tr := rep.TLS
		if !tr.Resume || tr.Resumed == 0 || tr.Handshakes-tr.Resumed > workers {
			t.Errorf("got %+v; want resumption on and at most %d full handshakes (each worker's first)", tr, workers)
		}
		checkTLSJSON(t, rep, func(tr TLSReport) bool { return tr.Resume && tr.Resumed == rep.TLS.Resumed })
		wantReportText(t, rep, "resumption on")
		wantReportText(t, rep, "resumed")
	})
	t.Run("handshake full", func(t *testing.T) {
		rep := handshake(t, TLSOptions{})
		if tr := rep.TLS; tr.Resume || tr.Resumed != 0 || tr.Curves != nil {
			t.Errorf("got %+v; want resumption off, nothing resumed, Go's default curves", tr)
		}
		wantReportText(t, rep, "curves default, resumption off")
	})
	t.Run("handshake curves", func(t *testing.T) {
		rep := handshake(t, TLSOptions{Curves: []tls.CurveID{tls.CurveP256}})
		tr := rep.TLS
		if !slices.Equal(tr.Curves, []string{"p256"}) || tr.KeyExchanges["p256"] != tr.Handshakes || len(tr.KeyExchanges) != 1 {
			t.Errorf("got %+v; want p256 offered and negotiated by every handshake", tr)
		}
		wantReportText(t, rep, "curves p256")
	})
	t.Run("idle resume", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), loadTestTimeout)
		defer cancel()
		rep, err := Idle(ctx, IdleConfig{
			LoadConfig: LoadConfig{URL: srv.url("/"), Sessions: 20, Rate: 200, Sources: srcs,
				TLS: TLSOptions{Insecure: true, Resume: true, Curves: []tls.CurveID{tls.X25519, tls.CurveP256}}},
			Hold: 10 * time.Millisecond,
		})
		if err != nil || rep.Connected != 20 || len(rep.Failed) != 0 {
			t.Fatalf("Idle = %+v, %v; want 20 connected", rep, err)
		}
		tr := rep.TLS
		if tr.Handshakes != 20 || tr.Resumed == 0 || tr.KeyExchanges["x25519"] != 20 {
			t.Errorf("got %+v; want 20 handshakes, some resumed, all x25519 (Go prefers it to p256)", tr)
		}
	})
}

// TestTLSReportJSON checks that a wss:// report has its tls part in JSON
// and a ws:// one has none.
func TestTLSReportJSON(t *testing.T) {
	for _, url := range []string{"ws://127.0.0.1:1/", "wss://127.0.0.1:1/"} {
		rep := newEchoReport(EchoConfig{LoadConfig: LoadConfig{URL: url, TLS: TLSOptions{Resume: true}}})
		var b strings.Builder
		if err := WriteJSON(&b, rep); err != nil {
			t.Fatal(err)
		}
		if got, want := strings.Contains(b.String(), `"tls":`), strings.HasPrefix(url, "wss"); got != want {
			t.Errorf("%s: JSON has a tls part: %v, want %v:\n%s", url, got, want, b.String())
		}
	}
}

// checkTLSJSON checks that rep's JSON has a tls part for which ok holds.
func checkTLSJSON(t *testing.T, rep any, ok func(TLSReport) bool) {
	t.Helper()
	var b strings.Builder
	if err := WriteJSON(&b, rep); err != nil {
		t.Fatal(err)
	}
	var got struct {
		TLS TLSReport `json:"tls"`
	}
	if err := json.Unmarshal([]byte(b.String()), &got); err != nil || !ok(got.TLS) {
		t.Errorf("JSON tls = %+v, %v:\n%s", got.TLS, err, b.String())
	}
}
