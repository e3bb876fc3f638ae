package bench

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"math/big"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gobwas/ws"

	"github.com/throngproxy/throng/bench/sysstat"
	"github.com/throngproxy/throng/engine/enginetest"
)

// Tests of the TLS client path use 127.0.76.200 and up: servers on .200 to
// .209, client sources from .210.

const (
	tlsTestEcho   = "127.0.76.200:19661"
	tlsTestFanout = "127.0.76.201:19661"
	tlsTestName   = "bench.test" // the test certificate's DNS name
)

// tlsTestServer is a WebSocket server over TLS for the TLS client path's
// tests, with a self-signed certificate made for the test: a goroutine per
// connection upgrades it (gobwas/ws), then echoes every data frame or, in
// fanout mode, sends it to the other connections of its path. It answers a
// Close with a Close and closes TCP first.
type tlsTestServer struct {
	ln      net.Listener
	fanout  bool
	certPEM []byte
	wg      sync.WaitGroup

	mu    sync.Mutex // guards rooms, conns
	rooms map[string]map[*tlsTestConn]struct{}
	conns map[net.Conn]struct{}
}

// tlsTestConn is one upgraded connection of a tlsTestServer.
type tlsTestConn struct {
	nc net.Conn
	mu sync.Mutex // guards writes
}

// write sends one compiled frame, bounded by loadTestTimeout.
func (c *tlsTestConn) write(frame []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	_ = c.nc.SetWriteDeadline(time.Now().Add(loadTestTimeout))
	_, err := c.nc.Write(frame)
	return err
}

// newTestCert returns a self-signed ECDSA certificate for addr's IP and
// tlsTestName, and its PEM.
func newTestCert(t testing.TB, addr string) (tls.Certificate, []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ap := netip.MustParseAddrPort(addr)
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: tlsTestName},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		DNSNames:              []string{tlsTestName},
		IPAddresses:           []net.IP{ap.Addr().AsSlice()},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := tls.X509KeyPair(certPEM, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}))
	if err != nil {
		t.Fatal(err)
	}
	return cert, certPEM
}

// startTLSTestServer starts a tlsTestServer on addr; it stops when t ends.
func startTLSTestServer(t testing.TB, addr string, fanout bool) *tlsTestServer {
	t.Helper()
	cert, certPEM := newTestCert(t, addr)
	ln, err := tls.Listen("tcp", addr, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
	if err != nil {
		t.Fatal(err)
	}
	s := &tlsTestServer{
		ln: ln, fanout: fanout, certPEM: certPEM,
		rooms: make(map[string]map[*tlsTestConn]struct{}), conns: make(map[net.Conn]struct{}),
	}
	s.wg.Go(s.accept)
	t.Cleanup(func() {
		_ = ln.Close()
		s.mu.Lock()
		for nc := range s.conns {
			_ = nc.Close()
		}
		s.mu.Unlock()
		s.wg.Wait()
	})
	return s
}

// caFile writes the server's certificate to a PEM file and returns its path.
func (s *tlsTestServer) caFile(t testing.TB) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(p, s.certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// url returns the server's wss:// URL with path.
func (s *tlsTestServer) url(path string) string { return "wss://" + s.ln.Addr().String() + path }

func (s *tlsTestServer) accept() {
	for {
		nc, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		s.conns[nc] = struct{}{}
		s.mu.Unlock()
		s.wg.Go(func() {
			s.serve(nc)
			s.mu.Lock()
			delete(s.conns, nc)
			s.mu.Unlock()
		})
	}
}

// serve upgrades nc and serves it until the client's Close, an error or
// loadTestTimeout.
func (s *tlsTestServer) serve(nc net.Conn) {
	defer nc.Close()
	_ = nc.SetDeadline(time.Now().Add(loadTestTimeout))
	var path string
	c := &tlsTestConn{nc: nc}
	// A fanout connection joins its room before the 101 is written: the
	// client may publish as soon as every subscriber has its 101.
	u := ws.Upgrader{OnRequest: func(uri []byte) error {
		path = string(uri)
		if s.fanout {
			s.join(path, c, true)
		}
		return nil
	}}
	if s.fanout {
		defer func() {
			if path != "" {
				s.join(path, c, false)
			}
		}()
	}
	if _, err := u.Upgrade(nc); err != nil {
		return
	}
	br := bufio.NewReader(nc)
	for {
		h, err := ws.ReadHeader(br)
		if err != nil {
			return
		}
		payload := make([]byte, h.Length)
		if _, err := io.ReadFull(br, payload); err != nil {
			return
		}
		if h.Masked {
			ws.Cipher(payload, h.Mask, 0)
		}
		switch h.OpCode {
		case ws.OpClose:
			_ = c.write(ws.MustCompileFrame(ws.NewCloseFrame(ws.NewCloseFrameBody(ws.StatusNormalClosure, ""))))
			return // the server closes TCP first
		case ws.OpPing:
			_ = c.write(ws.MustCompileFrame(ws.NewPongFrame(payload)))
		case ws.OpPong:
		default:
			frame := ws.MustCompileFrame(ws.NewFrame(h.OpCode, h.Fin, payload))
			if !s.fanout {
				if c.write(frame) != nil {
					return
				}
				continue
			}
			s.mu.Lock()
			others := make([]*tlsTestConn, 0, len(s.rooms[path]))
			for o := range s.rooms[path] {
				if o != c {
					others = append(others, o)
				}
			}
			s.mu.Unlock()
			for _, o := range others {
				_ = o.write(frame)
			}
		}
	}
}

// join adds c to (or removes it from) the connections of path.
func (s *tlsTestServer) join(path string, c *tlsTestConn, in bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !in {
		delete(s.rooms[path], c)
		return
	}
	if s.rooms[path] == nil {
		s.rooms[path] = make(map[*tlsTestConn]struct{})
	}
	s.rooms[path][c] = struct{}{}
}

func TestParseClientTargetWSS(t *testing.T) {
	tests := []struct {
		url                    string
		addr, host, path, name string
		tls                    bool
	}{
		{"ws://127.0.0.1/x", "127.0.0.1:80", "127.0.0.1", "/x", "127.0.0.1", false},
		{"wss://127.0.0.1/x?y=1", "127.0.0.1:443", "127.0.0.1", "/x?y=1", "127.0.0.1", true},
		{"wss://example.test:8443", "example.test:8443", "example.test:8443", "/", "example.test", true},
		{"WSS://example.test/", "example.test:443", "example.test", "/", "example.test", true},
		{"wss://[::1]/", "[::1]:443", "[::1]", "/", "::1", true},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			got, err := parseClientTarget(tt.url)
			if err != nil || got.addr != tt.addr || got.host != tt.host || got.path != tt.path || got.tls != tt.tls ||
				got.serverName() != tt.name {
				t.Errorf("parseClientTarget(%q) = %+v (name %q), %v; want addr %q, host %q, path %q, tls %v, name %q",
					tt.url, got, got.serverName(), err, tt.addr, tt.host, tt.path, tt.tls, tt.name)
			}
		})
	}
	for _, bad := range []string{"https://x/", "wss://", "wss://u:p@x/", "wss://x/#f", "tls://x/", "WSS://]0", "ws://:80/"} {
		if _, err := parseClientTarget(bad); !errors.Is(err, ErrBadURL) {
			t.Errorf("parseClientTarget(%q) = %v, want %v", bad, err, ErrBadURL)
		}
	}
}

func TestClientPath(t *testing.T) {
	tests := []struct {
		url, want string
	}{
		{"ws://127.0.0.1:1/", ClientPathGnet},
		{"wss://127.0.0.1:1/", ClientPathTLS},
		{"wss://x/", ClientPathTLS},
		{"http://x/", ClientPathGnet},
	}
	for _, tt := range tests {
		if got := ClientPath(tt.url); got != tt.want {
			t.Errorf("ClientPath(%q) = %q, want %q", tt.url, got, tt.want)
		}
	}
	// Every report of a ws:// run says gnet.
	url := "ws://127.0.0.1:1/"
	for name, got := range map[string]string{
		"idle":      newIdleReport(IdleConfig{LoadConfig: LoadConfig{URL: url}}).ClientPath,
		"echo":      newEchoReport(EchoConfig{LoadConfig: LoadConfig{URL: url}}).ClientPath,
		"handshake": newHandshakeReport(HandshakeConfig{LoadConfig: LoadConfig{URL: url}}, sysstat.Machine{}).ClientPath,
	} {
		if got != ClientPathGnet {
			t.Errorf("%s report: ClientPath = %q, want %q", name, got, ClientPathGnet)
		}
	}
}

func TestTLSConfigErrors(t *testing.T) {
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "not.pem")
	if err := os.WriteFile(notPEM, []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing.pem")
	ctx := context.Background()
	load := func(url, ca string) LoadConfig {
		return LoadConfig{URL: url, Sessions: 1, TLS: TLSOptions{CAFile: ca}}
	}
	tests := []struct {
		name string
		run  func() error
		want error
	}{
		{"idle ca not pem", func() error {
			_, err := Idle(ctx, IdleConfig{LoadConfig: load("wss://127.0.0.1:1/", notPEM)})
			return err
		}, ErrBadCA},
		{"echo ca missing", func() error {
			_, err := Echo(ctx, EchoConfig{LoadConfig: load("wss://127.0.0.1:1/", missing)})
			return err
		}, ErrBadCA},
		{"handshake ca missing", func() error {
			_, err := Handshake(ctx, HandshakeConfig{LoadConfig: load("wss://127.0.0.1:1/", missing)})
			return err
		}, ErrBadCA},
		{"fanout ca not pem", func() error {
			_, err := Fanout(ctx, FanoutConfig{LoadConfig: load("wss://127.0.0.1:1/", notPEM)})
			return err
		}, ErrBadCA},
		{"procs ca missing", func() error {
			_, err := EchoProcs(ctx, EchoConfig{LoadConfig: load("wss://127.0.0.1:1/", missing)}, testProcs(1, "run"))
			return err
		}, ErrBadCA},
		{"wss bad sessions", func() error {
			_, err := Idle(ctx, IdleConfig{LoadConfig: LoadConfig{URL: "wss://127.0.0.1:1/"}})
			return err
		}, ErrBadSessions},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.run(); !errors.Is(err, tt.want) {
				t.Errorf("got %v, want %v", err, tt.want)
			}
		})
	}
	// A ws:// URL ignores the TLS options.
	cfg := IdleConfig{LoadConfig: load("ws://127.0.0.1:1/", missing)}.WithDefaults()
	if err := cfg.validate(); err != nil {
		t.Errorf("validate(ws:// with a missing CA) = %v, want nil", err)
	}
}

// TestTLSAgainstServer runs every scenario over wss against the test server
// with -insecure: no failures, messages, and the TLS client path reported.
func TestTLSAgainstServer(t *testing.T) {
	echoSrv := startTLSTestServer(t, tlsTestEcho, false)
	fanSrv := startTLSTestServer(t, tlsTestFanout, true)
	srcs := mustSources(t, "127.0.76.210-213")
	ctx, cancel := context.WithTimeout(context.Background(), loadTestTimeout)
	defer cancel()
	insecure := TLSOptions{Insecure: true}

	t.Run("idle", func(t *testing.T) {
		rep, err := Idle(ctx, IdleConfig{
			LoadConfig: LoadConfig{URL: echoSrv.url("/"), Sessions: 50, Rate: 2000, Sources: srcs, TLS: insecure, Live: new(Live)},
			Hold:       200 * time.Millisecond,
		})
		if err != nil {
			t.Fatalf("Idle = %v", err)
		}
		if rep.Attempted != 50 || rep.Connected != 50 || rep.Alive != 50 || len(rep.Failed) != 0 || rep.Mismatches != 0 ||
			rep.Interrupted || rep.ClientPath != ClientPathTLS {
			t.Errorf("got %+v; want 50 attempted, connected and alive, no failures, client path %s", *rep, ClientPathTLS)
		}
		checkTLSReport(t, rep)
	})
	t.Run("echo", func(t *testing.T) {
		rep, err := Echo(ctx, EchoConfig{
			LoadConfig: LoadConfig{URL: echoSrv.url("/echo"), Sessions: 20, Sources: srcs, TLS: insecure, PIDs: []int{os.Getpid()}},
			Size:       1000, Window: 4, Duration: time.Second, Warmup: 100 * time.Millisecond,
		})
		if err != nil {
			t.Fatalf("Echo = %v", err)
		}
		if rep.Connected != 20 || len(rep.Failed) != 0 || rep.Errors != 0 || rep.Messages == 0 || rep.Sent != rep.Received ||
			rep.Latency.P50 <= 0 || rep.Latency.Max < rep.Latency.P99 || rep.ClientPath != ClientPathTLS {
			t.Errorf("got %+v; want 20 connected, no failures or errors, messages, all echoed, latencies, client path %s",
				*rep, ClientPathTLS)
		}
		if len(rep.Targets) != 1 || rep.Targets[0].CPUSeconds <= 0 {
			t.Errorf("got targets %+v, want this process's CPU", rep.Targets)
		}
		checkTLSReport(t, rep)
	})
	t.Run("handshake", func(t *testing.T) {
		rep, err := Handshake(ctx, HandshakeConfig{
			LoadConfig: LoadConfig{URL: echoSrv.url("/"), Sessions: 4, Sources: srcs, TLS: insecure},
			Duration:   time.Second, Warmup: 100 * time.Millisecond,
		})
		if err != nil {
			t.Fatalf("Handshake = %v", err)
		}
		if rep.Handshakes == 0 || rep.HandshakesPerSec <= 0 || len(rep.Failed) != 0 || rep.Latency.P50 <= 0 ||
			rep.Closes.ServerFirst != rep.Total || rep.Closes.CloseEchoed != rep.Total || rep.ClientPath != ClientPathTLS {
			t.Errorf("got %+v; want handshakes, no failures, every close echoed and server-first, client path %s",
				*rep, ClientPathTLS)
		}
		checkTLSReport(t, rep)
	})
	t.Run("fanout", func(t *testing.T) {
		rep, err := Fanout(ctx, FanoutConfig{
			LoadConfig: LoadConfig{URL: fanSrv.url("/room"), Sessions: 20, Sources: srcs, TLS: insecure},
			MsgRate:    200, Duration: time.Second, Warmup: 100 * time.Millisecond,
		})
		if err != nil {
			t.Fatalf("Fanout = %v", err)
		}
		if rep.Connected != 20 || len(rep.Failed) != 0 || rep.Errors != 0 || rep.Published != 200 ||
			rep.Delivered != rep.Expected || rep.Delivered == 0 || rep.Latency.P50 <= 0 || rep.ClientPath != ClientPathTLS {
			t.Errorf("got %+v; want 20 subscribers, no failures or errors, 200 published, all delivered, client path %s",
				*rep, ClientPathTLS)
		}
		checkTLSReport(t, rep)
	})
	t.Run("procs", func(t *testing.T) {
		cfg := EchoConfig{
			LoadConfig: LoadConfig{URL: echoSrv.url("/"), Sessions: 6, Sources: srcs, TLS: insecure},
			Duration:   500 * time.Millisecond, Warmup: 100 * time.Millisecond,
		}
		rep, err := EchoProcs(ctx, cfg, testProcs(2, "run"))
		if err != nil {
			t.Fatalf("EchoProcs = %v", err)
		}
		if rep.Procs != 2 || rep.Connected != 6 || rep.Messages == 0 || len(rep.Failed) != 0 || rep.Errors != 0 ||
			rep.ClientPath != ClientPathTLS {
			t.Errorf("got %+v; want 2 procs, 6 connected, messages, no failures, client path %s", *rep, ClientPathTLS)
		}
	})
}

// checkTLSReport checks that rep says, in JSON and as text, that the TLS
// client path ran.
func checkTLSReport(t *testing.T, rep interface{ WriteText(io.Writer) error }) {
	t.Helper()
	var b strings.Builder
	if err := WriteJSON(&b, rep); err != nil {
		t.Fatal(err)
	}
	var got struct {
		ClientPath string `json:"client_path"`
	}
	if err := json.Unmarshal([]byte(b.String()), &got); err != nil || got.ClientPath != ClientPathTLS {
		t.Errorf("JSON client_path = %q, %v; want %q", got.ClientPath, err, ClientPathTLS)
	}
	wantReportText(t, rep, "client path "+ClientPathTLS)
}

// TestTLSCertificate checks how the server's certificate is verified: a run
// without -insecure fails fast with tls_certificate against the self-signed
// server, and passes with the certificate as its CA and a name it holds.
func TestTLSCertificate(t *testing.T) {
	const addr = "127.0.76.202:19661"
	srv := startTLSTestServer(t, addr, false)
	ca := srv.caFile(t)
	tests := []struct {
		name     string
		opts     TLSOptions
		wantFail string // "": every session opens
	}{
		{"system roots", TLSOptions{}, clientFailTLSCertificate.String()},
		{"ca file, ip", TLSOptions{CAFile: ca}, ""},
		{"ca file, sni", TLSOptions{CAFile: ca, ServerName: tlsTestName}, ""},
		{"ca file, wrong sni", TLSOptions{CAFile: ca, ServerName: "other.test"}, clientFailTLSCertificate.String()},
		{"insecure, wrong sni", TLSOptions{Insecure: true, ServerName: "other.test"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), loadTestTimeout)
			defer cancel()
			start := time.Now()
			rep, err := Idle(ctx, IdleConfig{
				LoadConfig: LoadConfig{URL: srv.url("/"), Sessions: 4, TLS: tt.opts},
				Hold:       time.Millisecond,
			})
			if tt.wantFail == "" {
				if err != nil || rep.Connected != 4 || rep.Alive != 4 || len(rep.Failed) != 0 {
					t.Errorf("Idle = %+v, %v; want 4 connected and alive", rep, err)
				}
				return
			}
			if !errors.Is(err, ErrNoneOpened) || rep.Failed[tt.wantFail] != 4 || rep.Connected != 0 {
				t.Errorf("Idle = %+v, %v; want %v and %s=4", rep, err, ErrNoneOpened, tt.wantFail)
			}
			if d := time.Since(start); d > defaultHandshakeTimeout {
				t.Errorf("the run took %v, want it to fail before the handshake timeout", d)
			}
		})
	}
	t.Run("handshake, system roots", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), loadTestTimeout)
		defer cancel()
		rep, err := Handshake(ctx, HandshakeConfig{
			LoadConfig: LoadConfig{URL: srv.url("/"), Sessions: 2},
			Duration:   100 * time.Millisecond, Warmup: 10 * time.Millisecond,
		})
		if !errors.Is(err, ErrNoneOpened) || rep.Failed[clientFailTLSCertificate.String()] == 0 || rep.Total != 0 {
			t.Errorf("Handshake = %+v, %v; want %v and tls_certificate failures", rep, err, ErrNoneOpened)
		}
	})
}

// TestTLSFailures checks the failure kinds of wss targets that are not
// TLS WebSocket servers.
func TestTLSFailures(t *testing.T) {
	const plain = "127.0.76.203:19661" // answers plain HTTP, so TLS fails
	startResponder(t, plain, "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
	tests := []struct {
		name, url, want string
	}{
		{"refused", "wss://127.0.76.204:19661/", clientFailRefused.String()},
		{"not tls", "wss://" + plain + "/", clientFailTLSHandshake.String()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), loadTestTimeout)
			defer cancel()
			rep, err := Idle(ctx, IdleConfig{
				LoadConfig: LoadConfig{URL: tt.url, Sessions: 3, TLS: TLSOptions{Insecure: true}},
				Hold:       time.Millisecond,
			})
			if !errors.Is(err, ErrNoneOpened) || rep.Failed[tt.want] != 3 {
				t.Errorf("Idle = %+v, %v; want %v and %s=3", rep, err, ErrNoneOpened, tt.want)
			}
		})
	}
}

// TestTLSEchoInterrupted checks that cancelling a wss run ends it at once
// with a report marked interrupted.
func TestTLSEchoInterrupted(t *testing.T) {
	const addr = "127.0.76.205:19661"
	srv := startTLSTestServer(t, addr, false)
	live := new(Live)
	rep, err := runCancelled(t, "Echo", func(ctx context.Context) (*EchoReport, error) {
		return Echo(ctx, EchoConfig{
			LoadConfig: LoadConfig{URL: srv.url("/"), Sessions: 4, TLS: TLSOptions{Insecure: true}, Live: live},
			Duration:   time.Hour,
		})
	}, func() {
		enginetest.WaitForWithin(t, loadTestTimeout, "echoes to flow", func() bool { return live.Sample().Msgs > 0 })
	})
	if err != nil || !rep.Interrupted || rep.Connected != 4 || len(rep.Failed) != 0 {
		t.Errorf("Echo = %+v, %v; want an interrupted report of 4 sessions, no failures", rep, err)
	}
}

// FuzzParseClientTarget checks that a URL that parses gives a dialable
// address, its scheme's default port, and the client path of its scheme.
func FuzzParseClientTarget(f *testing.F) {
	for _, s := range []string{"ws://127.0.0.1/", "wss://x/", "wss://x:1/a?b", "WSS://[::1]/", "wss://", "http://x/", "wss://u@x/", "ws://x/#f"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		got, err := parseClientTarget(raw)
		if err != nil {
			if !errors.Is(err, ErrBadURL) || ClientPath(raw) != ClientPathGnet {
				t.Errorf("parseClientTarget(%q) = %v, ClientPath %q; want %v and gnet", raw, err, ClientPath(raw), ErrBadURL)
			}
			return
		}
		host, port, serr := net.SplitHostPort(got.addr)
		if serr != nil || port == "" || host != got.serverName() || got.path == "" {
			t.Errorf("parseClientTarget(%q) = %+v: address %v, host %q, port %q; want host:port and a path", raw, got, serr, host, port)
		}
		if want := map[bool]string{false: ClientPathGnet, true: ClientPathTLS}[got.tls]; ClientPath(raw) != want {
			t.Errorf("ClientPath(%q) = %q, want %q", raw, ClientPath(raw), want)
		}
	})
}

// FuzzTLSSessionProcess checks that a TLS session fed the server's bytes in
// random pieces, as reads bring them, counts the same messages and damage
// and ends the same way as fed them whole.
func FuzzTLSSessionProcess(f *testing.F) {
	s0, echo := newTLSBenchSession(f, 40)
	r := s0.run
	pattern := r.pattern
	f.Add(echo, []byte{3, 9, 20})
	f.Add(append(clientServerFrame(false, ws.OpBinary, echo[2:9]), clientServerFrame(true, ws.OpContinuation, echo[9:])...), []byte{1, 1, 1})
	f.Add(append(clientServerFrame(true, ws.OpPing, []byte("hi")), clientServerFrame(true, ws.OpClose, nil)...), []byte{2})
	f.Add(append(echo, clientServerFrame(true, ws.OpBinary, clientEchoOf(pattern, 5, 1))...), []byte{13, 1})
	f.Add([]byte{0x82, 127, 0, 0, 0, 0, 0, 0, 0, 40}, []byte{9})
	f.Add([]byte{0x02, 0x00, 0x80, 0x00}, []byte{})
	run := func(in []byte, cuts []int) (received, mismatches, msgs uint64, ended bool) {
		s := &tlsSession{cs: r.newSession(0), run: r, shard: s0.shard}
		s.cs.loop = &s.lp
		s.lp.hist = s.shard.hist
		s.c.in = make([]byte, 0, tlsReadBuffer)
		s.cs.state.Store(uint32(clientStateOpen))
		prev := 0
		for _, at := range append(cuts, len(in)) {
			at = min(max(at, prev), len(in))
			s.c.in = append(s.c.in, in[prev:at]...)
			prev = at
			if ended = s.process(clientPhaseMeasure, 1000); ended {
				break
			}
		}
		return s.lp.received, s.lp.mismatches, s.lp.msgs, ended
	}
	f.Fuzz(func(t *testing.T, in, cutBytes []byte) {
		if len(in) > tlsReadBuffer/2 {
			return // a read never brings more than the buffer holds
		}
		var cuts []int
		at := 0
		for _, c := range cutBytes {
			at += int(c)
			cuts = append(cuts, at)
		}
		wr, wm, wmsgs, wend := run(in, nil)
		gr, gm, gmsgs, gend := run(in, cuts)
		if gr != wr || gm != wm || gmsgs != wmsgs || gend != wend {
			t.Errorf("in pieces %v: received %d, mismatches %d, msgs %d, ended %v; whole: %d, %d, %d, %v",
				cuts, gr, gm, gmsgs, gend, wr, wm, wmsgs, wend)
		}
	})
}
