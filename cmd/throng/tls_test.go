package main

// wss:// at the edge: real TLS clients (Go's crypto/tls, openssl s_client,
// Node's ws, Python's websockets) through the real binary, with a CA made
// in the test.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"

	"github.com/throngproxy/throng/engine/enginetest"
)

// tlsSite is a throng whose only listener is a TLS one, in front of the
// echo backend, with certificates of its own test CA.
type tlsSite struct {
	*throng
	ca       *enginetest.CA
	dir      string
	certPath string // the first (default) certificate's files
	keyPath  string
	host     string
}

// tlsConfigDoc turns basicConfig's plain listener on addr into a TLS one
// and appends the certificates (pairs of paths) to extra.
func tlsConfigDoc(addr string, backends []string, extra string, certs ...string) string {
	cfg := basicConfig(addr, backends, extra)
	cfg = strings.Replace(cfg, fmt.Sprintf("listen = [%q]", addr), fmt.Sprintf("listen = []\nlisten_tls = [%q]", addr), 1)
	for i := 0; i+1 < len(certs); i += 2 {
		cfg += fmt.Sprintf("\n[[tls.certificates]]\ncert = %q\nkey = %q\n", certs[i], certs[i+1])
	}
	return cfg
}

// startTLSSite starts an echo backend and a TLS throng on a new host whose
// default certificate names "localhost" and the host's IP. extra joins
// the config as in basicConfig.
func startTLSSite(t *testing.T, extra string) *tlsSite {
	t.Helper()
	host := newHost()
	backend := net.JoinHostPort(host, "19001")
	startBackend(t, backend)
	ca := enginetest.NewCA(t, "throng test CA")
	dir := t.TempDir()
	certPath, keyPath := ca.Issue(t, "localhost", []string{"localhost", host}, enginetest.ECDSA, false).WriteFiles(t, dir, "site")
	addr := net.JoinHostPort(host, "18443")
	th := startThrong(t, addr, tlsConfigDoc(addr, []string{backend}, extra, certPath, keyPath))
	return &tlsSite{throng: th, ca: ca, dir: dir, certPath: certPath, keyPath: keyPath, host: host}
}

// clientConfig trusts the site's CA.
func (s *tlsSite) clientConfig() *tls.Config {
	return &tls.Config{RootCAs: s.ca.Pool, ServerName: "localhost"}
}

// dialWSS opens a wss session through the proxy with cfg.
func dialWSS(t testing.TB, addr, path string, cfg *tls.Config) *tls.Conn {
	t.Helper()
	c, err := tryWSS(addr, path, cfg)
	if err != nil {
		t.Fatalf("dial wss://%s%s: %v", addr, path, err)
	}
	return c
}

// tryWSS is dialWSS that returns the error.
func tryWSS(addr, path string, cfg *tls.Config) (*tls.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	d := ws.Dialer{TLSConfig: cfg}
	c, br, _, err := d.Dial(ctx, "wss://"+addr+path)
	if err != nil {
		return nil, err
	}
	if br != nil {
		ws.PutReader(br)
	}
	return c.(*tls.Conn), nil
}

// TestTLSEcho: messages of every size cross byte-exact over TLS 1.2 and
// 1.3, ECDSA and RSA certificates chosen by SNI, and the backend is told
// X-Forwarded-Proto: https.
func TestTLSEcho(t *testing.T) {
	host := newHost()
	backend := net.JoinHostPort(host, "19001")
	heads := make(chan http.Header, 8)
	wsBackendHeaders(t, backend, heads, func(c net.Conn) {
		for {
			msg, op, err := wsutil.ReadClientData(c)
			if err != nil {
				return
			}
			if err := wsutil.WriteServerMessage(c, op, msg); err != nil {
				return
			}
		}
	})
	ca := enginetest.NewCA(t, "throng test CA")
	dir := t.TempDir()
	ecCert, ecKey := ca.Issue(t, "ecdsa.test", []string{"ecdsa.test", host}, enginetest.ECDSA, false).WriteFiles(t, dir, "ecdsa")
	rsaCert, rsaKey := ca.Issue(t, "rsa.test", []string{"rsa.test"}, enginetest.RSA, false).WriteFiles(t, dir, "rsa")
	addr := net.JoinHostPort(host, "18443")
	startThrong(t, addr, tlsConfigDoc(addr, []string{backend}, "", ecCert, ecKey, rsaCert, rsaKey))

	sizes := []int{0, 1, 125, 126, 16383, 16384, 16385, 65535, 65536, 1 << 20, 16 << 20}
	for _, tc := range []struct {
		name, sni string
		version   uint16
		wantAlgo  string
	}{
		{"1.3 ecdsa", "ecdsa.test", tls.VersionTLS13, "ECDSA"},
		{"1.2 ecdsa", "ecdsa.test", tls.VersionTLS12, "ECDSA"},
		{"1.3 rsa", "rsa.test", tls.VersionTLS13, "RSA"},
		{"1.2 rsa", "rsa.test", tls.VersionTLS12, "RSA"},
		{"unknown name gets the first", "other.test", tls.VersionTLS13, "ECDSA"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := &tls.Config{RootCAs: ca.Pool, ServerName: tc.sni, MinVersion: tc.version, MaxVersion: tc.version}
			if tc.sni == "other.test" {
				// The default certificate does not name it: check the
				// chain only, and that it is the first one.
				cfg.InsecureSkipVerify = true
			}
			c := dialWSS(t, addr, "/", cfg)
			defer c.Close()
			st := c.ConnectionState()
			if st.Version != tc.version {
				t.Fatalf("version %x, want %x", st.Version, tc.version)
			}
			if got := st.PeerCertificates[0].PublicKeyAlgorithm.String(); got != tc.wantAlgo {
				t.Fatalf("certificate key %s, want %s", got, tc.wantAlgo)
			}
			select {
			case h := <-heads:
				if h.Get("X-Forwarded-Proto") != "https" {
					t.Errorf("X-Forwarded-Proto %q, want https", h.Get("X-Forwarded-Proto"))
				}
			case <-time.After(5 * time.Second):
				t.Fatal("backend saw no request")
			}
			if tc.sni == "other.test" {
				echo(t, c, ws.OpText, []byte("default"))
				return
			}
			for _, n := range sizes {
				echo(t, c, ws.OpBinary, bytes.Repeat([]byte{byte(n)}, n))
			}
		})
	}
}

// wsBackendHeaders is wsBackend that reports each upgrade's headers.
func wsBackendHeaders(t *testing.T, addr string, heads chan<- http.Header, serve func(net.Conn)) {
	t.Helper()
	fakeBackend(t, addr, func(c net.Conn) {
		got := http.Header{}
		u := ws.Upgrader{OnHeader: func(k, v []byte) error {
			got.Add(string(k), string(v))
			return nil
		}}
		if _, err := u.Upgrade(c); err != nil {
			return
		}
		select {
		case heads <- got:
		default:
		}
		serve(c)
	})
}

// TestTLSManySessions: 1,000 concurrent wss sessions each echo, over both
// loops.
func TestTLSManySessions(t *testing.T) {
	s := startTLSSite(t, "")
	const n = 1000
	var wg sync.WaitGroup
	errs := make(chan error, n)
	conns := make([]*tls.Conn, n)
	sem := make(chan struct{}, 64)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			c, err := tryWSS(s.addr, "/", s.clientConfig())
			if err != nil {
				errs <- err
				return
			}
			conns[i] = c
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("dial: %v", err)
	}
	for i, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			echo(t, c, ws.OpText, fmt.Appendf(nil, "session %d", i))
		}()
	}
	wg.Wait()
	for _, c := range conns {
		c.Close()
	}
	line := stats(t, s.throng)
	if statOf(t, line, "tls_handshakes") < n || statOf(t, line, "tls_failed") != 0 {
		t.Fatalf("stats: %s", line)
	}
}

// TestTLSRecordsSplitEveryByte: a client whose every TLS byte arrives in a
// write of its own still gets its upgrade and its echo.
func TestTLSRecordsSplitEveryByte(t *testing.T) {
	s := startTLSSite(t, "")
	raw, err := net.Dial("tcp", s.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	c := tls.Client(&trickleConn{Conn: raw}, s.clientConfig())
	_ = c.SetDeadline(time.Now().Add(20 * time.Second))
	if _, err := io.WriteString(c, upgradeRequest("localhost", "/")); err != nil {
		t.Fatal(err)
	}
	if head, err := readHead(c); err != nil || statusOf(head) != 101 {
		t.Fatalf("answer %q (%v)", head, err)
	}
	msg := bytes.Repeat([]byte("split "), 700)
	if err := wsutil.WriteClientMessage(c, ws.OpBinary, msg); err != nil {
		t.Fatal(err)
	}
	got, _, err := wsutil.ReadServerData(c)
	if err != nil || !bytes.Equal(got, msg) {
		t.Fatalf("echo: %d bytes, %v", len(got), err)
	}
}

// trickleConn writes one byte per write(2).
type trickleConn struct{ net.Conn }

func (c *trickleConn) Write(p []byte) (int, error) {
	for i := range p {
		if _, err := c.Conn.Write(p[i : i+1]); err != nil {
			return i, err
		}
	}
	return len(p), nil
}

// TestTLSCorruptRecord: a record whose ciphertext was tampered with closes
// that session with a bad_record_mac alert (and a Close 1001 toward its
// backend); another session keeps relaying.
func TestTLSCorruptRecord(t *testing.T) {
	s := startTLSSite(t, "")
	other := dialWSS(t, s.addr, "/", s.clientConfig())
	defer other.Close()
	raw, err := net.Dial("tcp", s.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	tamper := &tamperConn{Conn: raw}
	c := tls.Client(tamper, s.clientConfig())
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, upgradeRequest("localhost", "/")); err != nil {
		t.Fatal(err)
	}
	if head, err := readHead(c); err != nil || statusOf(head) != 101 {
		t.Fatalf("answer %q (%v)", head, err)
	}
	tamper.flipNext.Store(true)
	_ = wsutil.WriteClientMessage(c, ws.OpText, []byte("this record is damaged"))
	_, _, err = wsutil.ReadServerData(c)
	if err == nil || !strings.Contains(err.Error(), "bad record MAC") {
		t.Fatalf("after a damaged record: %v, want a bad_record_mac alert", err)
	}
	echo(t, other, ws.OpText, []byte("still here"))
	line := stats(t, s.throng)
	if statOf(t, line, "tls_alerts") != 1 {
		t.Fatalf("stats: %s", line)
	}
}

// tamperConn flips a bit in the last byte (the tag) of the next write once
// flipNext is set.
type tamperConn struct {
	net.Conn
	flipNext atomic.Bool
}

func (c *tamperConn) Write(p []byte) (int, error) {
	if c.flipNext.Swap(false) && len(p) > 5 {
		q := append([]byte(nil), p...)
		q[len(q)-1] ^= 1
		return c.Conn.Write(q)
	}
	return c.Conn.Write(p)
}

// TestTLSStalledHandshakes: 100 connections that sent nothing or half a
// ClientHello hold no handshake slot (max_handshakes = 4): a new client
// completes its handshake at once, an open session keeps relaying, and the
// stalled ones are closed at timeouts.handshake.
func TestTLSStalledHandshakes(t *testing.T) {
	s := startTLSSite(t, "[tls]\nmax_handshakes = 4\n")
	open := dialWSS(t, s.addr, "/", s.clientConfig())
	defer open.Close()
	hello := clientHello(t, s.clientConfig())
	var stalled []net.Conn
	for i := range 100 {
		c, err := net.Dial("tcp", s.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if i%2 == 1 {
			if _, err := c.Write(hello[:len(hello)/2]); err != nil {
				t.Fatal(err)
			}
		}
		stalled = append(stalled, c)
	}
	start := time.Now()
	c := dialWSS(t, s.addr, "/", s.clientConfig())
	echo(t, c, ws.OpText, []byte("not held up"))
	c.Close()
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("a new client took %v beside 100 stalled handshakes", d)
	}
	for _, sc := range stalled {
		expectEOF(t, sc, 6*time.Second)
	}
	echo(t, open, ws.OpText, []byte("still relaying"))
	line := stats(t, s.throng)
	if statOf(t, line, "handshake_timeout") < 100 || statOf(t, line, "tls_busy") != 0 {
		t.Fatalf("stats: %s", line)
	}
}

// TestTLSHandshakeSlots: clients that sent a whole ClientHello and then
// stall hold a slot each; past max_handshakes more are refused at once and
// counted, and the slots come back when the stalled ones time out.
func TestTLSHandshakeSlots(t *testing.T) {
	s := startTLSSite(t, "[tls]\nmax_handshakes = 4\n")
	hello := clientHello(t, s.clientConfig())
	var held []net.Conn
	for range 10 {
		c, err := net.Dial("tcp", s.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if _, err := c.Write(hello); err != nil {
			t.Fatal(err)
		}
		held = append(held, c)
	}
	enginetest.WaitFor(t, "6 refusals", func() bool { return statOf(t, stats(t, s.throng), "tls_busy") == 6 })
	for _, c := range held {
		expectEOF(t, c, 6*time.Second)
	}
	c := dialWSS(t, s.addr, "/", s.clientConfig())
	echo(t, c, ws.OpText, []byte("slots are back"))
	c.Close()
}

// clientHello returns the first flight of a Go client with cfg.
func clientHello(t *testing.T, cfg *tls.Config) []byte {
	t.Helper()
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	go func() { _ = tls.Client(a, cfg).Handshake() }()
	_ = b.SetReadDeadline(time.Now().Add(5 * time.Second))
	hdr := make([]byte, 5)
	if _, err := io.ReadFull(b, hdr); err != nil {
		t.Fatal(err)
	}
	body := make([]byte, int(hdr[3])<<8|int(hdr[4]))
	if _, err := io.ReadFull(b, body); err != nil {
		t.Fatal(err)
	}
	return append(hdr, body...)
}

// TestTLSNotTLS: plain HTTP on a TLS port is closed without an answer, and
// counted.
func TestTLSNotTLS(t *testing.T) {
	s := startTLSSite(t, "")
	c, err := net.Dial("tcp", s.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, _ = io.WriteString(c, upgradeRequest("localhost", "/"))
	expectEOF(t, c, 3*time.Second)
	if line := stats(t, s.throng); statOf(t, line, "tls_failed") != 1 {
		t.Fatalf("stats: %s", line)
	}
}

// TestTLSMinVersion: min_version = "1.3" refuses a TLS 1.2 client; TLS
// 1.1 is never spoken.
func TestTLSMinVersion(t *testing.T) {
	s := startTLSSite(t, "[tls]\nmin_version = \"1.3\"\n")
	cfg := s.clientConfig()
	cfg.MaxVersion = tls.VersionTLS12
	if c, err := tryWSS(s.addr, "/", cfg); err == nil {
		c.Close()
		t.Fatal("a TLS 1.2 client was admitted under min_version 1.3")
	}
	s12 := startTLSSite(t, "")
	cfg = s12.clientConfig()
	cfg.MinVersion, cfg.MaxVersion = tls.VersionTLS10, tls.VersionTLS11
	if c, err := tryWSS(s12.addr, "/", cfg); err == nil {
		c.Close()
		t.Fatal("a TLS 1.1 client was admitted")
	}
	c := dialWSS(t, s.addr, "/", s.clientConfig())
	echo(t, c, ws.OpText, []byte("1.3"))
	c.Close()
}

// TestTLSCertificateReload: a renewed certificate renamed over the old
// file is served to new clients without a restart, open sessions keep
// relaying, a broken file keeps the certificate in use, and SIGHUP
// reloads too.
func TestTLSCertificateReload(t *testing.T) {
	s := startTLSSite(t, "")
	open := dialWSS(t, s.addr, "/", s.clientConfig())
	defer open.Close()
	first := servedSerial(t, s)

	next := s.ca.Issue(t, "localhost", []string{"localhost", s.host}, enginetest.ECDSA, false)
	enginetest.WriteFile(t, s.keyPath, next.KeyPEM)
	enginetest.WriteFile(t, s.certPath, next.CertPEM)
	want := next.Cert.SerialNumber.String()
	enginetest.WaitForWithin(t, 10*time.Second, "the renewed certificate", func() bool { return servedSerial(t, s) == want })
	echo(t, open, ws.OpText, []byte("kept"))
	if first == want {
		t.Fatal("test issued the same serial twice")
	}

	enginetest.WriteFile(t, s.certPath, []byte("-----BEGIN CERTIFICATE-----\nbroken\n-----END CERTIFICATE-----\n"))
	waitOutput(t, s.proc, "did not load, keeping the previous ones")
	if got := servedSerial(t, s); got != want {
		t.Fatalf("a broken file replaced the certificate: serial %s", got)
	}

	third := s.ca.Issue(t, "localhost", []string{"localhost", s.host}, enginetest.RSA, false)
	enginetest.WriteFile(t, s.keyPath, third.KeyPEM)
	enginetest.WriteFile(t, s.certPath, third.CertPEM)
	_ = s.cmd.Process.Signal(syscall.SIGHUP)
	want = third.Cert.SerialNumber.String()
	enginetest.WaitForWithin(t, 10*time.Second, "the certificate after SIGHUP", func() bool { return servedSerial(t, s) == want })
	echo(t, open, ws.OpText, []byte("still kept"))
}

// servedSerial is the serial of the certificate a new handshake gets.
func servedSerial(t *testing.T, s *tlsSite) string {
	t.Helper()
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 2 * time.Second}, "tcp", s.addr, s.clientConfig())
	if err != nil {
		return "error: " + err.Error()
	}
	defer c.Close()
	return c.ConnectionState().PeerCertificates[0].SerialNumber.String()
}

// TestTLSResumptionAcrossProcesses: two throng processes reading one
// ticket_key_file resume each other's sessions, for TLS 1.2 and 1.3; a
// process with another key file does not.
func TestTLSResumptionAcrossProcesses(t *testing.T) {
	dir := t.TempDir()
	keys := filepath.Join(dir, "tickets")
	if err := os.WriteFile(keys, []byte("# rotated daily\n"+
		"q2A3y0e2Lk8k3xQ3b3Ztd8v6t7vH0y4zq1cVf2lH0wE=\n"+
		"b0nB9w0pXy3kE8f2Q4m6t1r7v5u3s9a0c2e4g6i8k0M=\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	other := filepath.Join(dir, "other")
	if err := os.WriteFile(other, []byte("Zm9vYmFyYmF6cXV4Zm9vYmFyYmF6cXV4Zm9vYmFyYmE=\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	extra := fmt.Sprintf("[tls]\nticket_key_file = %q\n", keys)
	a := startTLSSite(t, extra)
	// b and c share a's CA and certificate files.
	startOn := func(keyFile string) string {
		host := newHost()
		backend := net.JoinHostPort(host, "19001")
		startBackend(t, backend)
		addr := net.JoinHostPort(host, "18443")
		startThrong(t, addr, tlsConfigDoc(addr, []string{backend}, fmt.Sprintf("[tls]\nticket_key_file = %q\n", keyFile), a.certPath, a.keyPath))
		return addr
	}
	b, c := startOn(keys), startOn(other)
	for _, v := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		cache := tls.NewLRUClientSessionCache(8)
		cfg := &tls.Config{RootCAs: a.ca.Pool, ServerName: "localhost", ClientSessionCache: cache, MinVersion: v, MaxVersion: v}
		resumed := func(addr string) bool {
			t.Helper()
			conn := dialWSS(t, addr, "/", cfg)
			defer conn.Close()
			// TLS 1.3 tickets come after the handshake: an echo
			// makes sure the client has read them.
			echo(t, conn, ws.OpText, []byte("ticket"))
			return conn.ConnectionState().DidResume
		}
		if resumed(a.addr) {
			t.Fatalf("version %x: first handshake resumed", v)
		}
		if !resumed(b) {
			t.Fatalf("version %x: a ticket of process a did not resume on process b", v)
		}
		if !resumed(a.addr) {
			t.Fatalf("version %x: a ticket did not resume on its own process", v)
		}
		if resumed(c) {
			t.Fatalf("version %x: process c resumed with another key file", v)
		}
	}
	if line := stats(t, a.throng); statOf(t, line, "tls_resumed") < 1 {
		t.Fatalf("stats: %s", line)
	}
}

// TestTLSClientAuth: client_auth = "require" admits a client with a
// certificate of client_ca, tells the backend its subject and
// fingerprint, strips a client's own copies of those headers, and refuses
// clients without a certificate or with one of another CA; "request"
// admits both, telling nothing for the one without.
func TestTLSClientAuth(t *testing.T) {
	host := newHost()
	backend := net.JoinHostPort(host, "19001")
	heads := make(chan http.Header, 8)
	wsBackendHeaders(t, backend, heads, func(c net.Conn) { _, _ = io.Copy(io.Discard, c) })
	ca := enginetest.NewCA(t, "server CA")
	clients := enginetest.NewCA(t, "client CA")
	stranger := enginetest.NewCA(t, "stranger CA")
	dir := t.TempDir()
	certPath, keyPath := ca.Issue(t, "localhost", []string{"localhost"}, enginetest.ECDSA, false).WriteFiles(t, dir, "site")
	clientCA := filepath.Join(dir, "clients.pem")
	enginetest.WriteFile(t, clientCA, clients.PEM)
	alice := clients.Issue(t, "alice", nil, enginetest.ECDSA, true)
	mallory := stranger.Issue(t, "mallory", nil, enginetest.ECDSA, true)

	start := func(mode string) string {
		h := newHost()
		addr := net.JoinHostPort(h, "18443")
		startThrong(t, addr, tlsConfigDoc(addr, []string{backend}, fmt.Sprintf("[tls]\nclient_ca = %q\nclient_auth = %q\n", clientCA, mode), certPath, keyPath))
		return addr
	}
	upgrade := func(addr string, cert *enginetest.Leaf) (http.Header, error) {
		cfg := &tls.Config{RootCAs: ca.Pool, ServerName: "localhost"}
		if cert != nil {
			cfg.Certificates = []tls.Certificate{cert.TLS(t)}
		}
		c, err := tls.DialWithDialer(&net.Dialer{Timeout: 2 * time.Second}, "tcp", addr, cfg)
		if err != nil {
			return nil, err
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		req := upgradeRequest("localhost", "/", "X-Client-Cert-Subject: CN=admin", "X-Client-Cert-Sha256: 00")
		if _, err := io.WriteString(c, req); err != nil {
			return nil, err
		}
		head, err := readHead(c)
		if err != nil {
			return nil, err
		}
		if statusOf(head) != 101 {
			return nil, fmt.Errorf("status %d", statusOf(head))
		}
		select {
		case h := <-heads:
			return h, nil
		case <-time.After(5 * time.Second):
			return nil, errors.New("backend saw no request")
		}
	}
	req := start("require")
	h, err := upgrade(req, alice)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(alice.Cert.Raw)
	if got := h.Values("X-Client-Cert-Subject"); len(got) != 1 || got[0] != alice.Cert.Subject.String() {
		t.Errorf("subject headers %q, want [%q]", got, alice.Cert.Subject.String())
	}
	if got := h.Values("X-Client-Cert-Sha256"); len(got) != 1 || got[0] != hex.EncodeToString(sum[:]) {
		t.Errorf("fingerprint headers %q", got)
	}
	if _, err := upgrade(req, nil); err == nil {
		t.Error("require admitted a client without a certificate")
	}
	if _, err := upgrade(req, mallory); err == nil {
		t.Error("require admitted a certificate of another CA")
	}
	opt := start("request")
	h, err = upgrade(opt, nil)
	if err != nil {
		t.Fatal(err)
	}
	if h.Get("X-Client-Cert-Subject") != "" || h.Get("X-Client-Cert-Sha256") != "" {
		t.Errorf("a client's own certificate headers reached the backend: %v", h)
	}
}

// TestTLSOpenSSLClient: openssl s_client over TLS 1.2 and 1.3 with SNI
// upgrades and echoes; on 1.3 a KeyUpdate it asks for (command K) changes
// both directions' keys mid-session and the echo goes on.
func TestTLSOpenSSLClient(t *testing.T) {
	openssl, err := exec.LookPath("openssl")
	if err != nil {
		t.Skip("openssl not installed")
	}
	s := startTLSSite(t, "")
	caFile := filepath.Join(s.dir, "ca.pem")
	enginetest.WriteFile(t, caFile, s.ca.PEM)
	for _, v := range []string{"-tls1_2", "-tls1_3"} {
		t.Run(v, func(t *testing.T) {
			sc := startSClient(t, openssl, s.addr, "-servername", "localhost", "-CAfile", caFile, "-verify_return_error", v)
			sc.send(t, []byte(upgradeRequest("localhost", "/")))
			sc.waitFor(t, []byte("HTTP/1.1 101 "))
			frame := func(msg string) []byte {
				var b bytes.Buffer
				if err := wsutil.WriteClientMessage(&b, ws.OpText, []byte(msg)); err != nil {
					t.Fatal(err)
				}
				return b.Bytes()
			}
			sc.send(t, frame("before key update"))
			sc.waitFor(t, []byte("before key update"))
			if v == "-tls1_3" {
				sc.send(t, []byte("K\n"))
				sc.waitFor(t, []byte("KEYUPDATE"))
			}
			sc.send(t, frame("after key update"))
			sc.waitFor(t, []byte("after key update"))
		})
	}
	if line := stats(t, s.throng); statOf(t, line, "tls_alerts") != 0 {
		t.Fatalf("stats: %s", line)
	}
}

// TestTLSNodeClient: Node's ws over wss, with the test CA, echoes text and
// binary messages up to 1 MiB.
func TestTLSNodeClient(t *testing.T) {
	node := requireNode(t)
	s := startTLSSite(t, "")
	caFile := filepath.Join(s.dir, "ca.pem")
	enginetest.WriteFile(t, caFile, s.ca.PEM)
	abs, err := filepath.Abs(caFile)
	if err != nil {
		t.Fatal(err)
	}
	runNode(t, node, 60*time.Second, "wss_client.js", "wss://"+s.addr+"/", "localhost", abs)
}

// TestTLSPythonClient: Python's websockets over wss (its ssl module is
// OpenSSL), TLS 1.2 and 1.3, echoes messages up to 1 MiB.
func TestTLSPythonClient(t *testing.T) {
	python := requirePythonWebsockets(t)
	s := startTLSSite(t, "")
	caFile := filepath.Join(s.dir, "ca.pem")
	enginetest.WriteFile(t, caFile, s.ca.PEM)
	for _, v := range []string{"1.2", "1.3"} {
		runPython(t, python, 60*time.Second, "testdata/python/wss_client.py", s.addr, caFile, v)
	}
}

// TestTLSIdleParking: a session's record layer lets go of its AEADs at
// the 101 and again after 5 s idle (tls_parked), and the next message,
// either way, rebuilds them.
func TestTLSIdleParking(t *testing.T) {
	s := startTLSSite(t, "")
	c := dialWSS(t, s.addr, "/", s.clientConfig())
	defer c.Close()
	echo(t, c, ws.OpText, []byte("before"))
	if n := statOf(t, stats(t, s.throng), "tls_parked"); n != 1 {
		t.Fatalf("tls_parked %d after the 101, want 1", n)
	}
	enginetest.WaitForWithin(t, 10*time.Second, "the idle layer parked again", func() bool {
		return statOf(t, stats(t, s.throng), "tls_parked") >= 2
	})
	for _, n := range []int{1, 16385, 1 << 20} {
		echo(t, c, ws.OpBinary, make([]byte, n))
	}
}
