package tlslayer

import (
	"crypto/sha256"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"testing"
	"time"
)

// goEchoServer accepts one connection on ln with a Go tls.Server and echoes
// until the client's close_notify, then closes with its own.
func goEchoServer(ln net.Listener, cfg *tls.Config) <-chan error {
	done := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			done <- err
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(testTimeout))
		tc := tls.Server(c, cfg)
		_, err = io.Copy(tc, tc)
		if cerr := tc.Close(); err == nil {
			err = cerr
		}
		done <- err
	}()
	return done
}

// TestClientGoServer runs ClientHandshake against a Go tls.Server and echoes
// through the Layer, with the server's TLS 1.3 NewSessionTicket in the way.
func TestClientGoServer(t *testing.T) {
	p := testPKI(t)
	cases := []struct {
		name    string
		cert    tls.Certificate
		version uint16
		suite   uint16
	}{
		{"TLS12/ECDSA/AES128-GCM", p.ecdsa, tls.VersionTLS12, tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256},
		{"TLS12/RSA/AES256-GCM", p.rsa, tls.VersionTLS12, tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384},
		{"TLS12/ECDSA/CHACHA20", p.ecdsa, tls.VersionTLS12, tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256},
		{"TLS13/ECDSA", p.ecdsa, tls.VersionTLS13, 0},
		{"TLS13/RSA", p.rsa, tls.VersionTLS13, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ln := listen(t)
			done := goEchoServer(ln, serverConfigFor(tc.cert))
			ccfg := clientConfigFor(p)
			ccfg.MaxVersion = tc.version
			if tc.suite != 0 {
				ccfg.CipherSuites = []uint16{tc.suite}
			}
			// With a cache the client offers psk_dhe_ke, so a TLS 1.3
			// server sends a NewSessionTicket after the handshake.
			ccfg.ClientSessionCache = tls.NewLRUClientSessionCache(1)
			l, info, c := dialLayer(t, ln, ccfg)
			if info.Version != tc.version || (tc.suite != 0 && info.CipherSuite != tc.suite) {
				t.Fatalf("info = %x/%s, want %x/%s", info.Version, tls.CipherSuiteName(info.CipherSuite), tc.version, tls.CipherSuiteName(tc.suite))
			}
			leaf := tc.cert.Leaf
			if !info.HasPeerCert || info.PeerSubject != leaf.Subject.String() || info.PeerSHA256 != sha256.Sum256(leaf.Raw) {
				t.Fatalf("info = %+v, want the server's certificate", info)
			}
			lc := &layerConn{l: l, c: c}
			checkEcho(t, lc, []int{1})
			if tc.version == tls.VersionTLS13 && l.in.seq < 2 {
				t.Fatalf("read seq = %d after one echo, want the ticket record counted too", l.in.seq)
			}
			checkEcho(t, lc, echoSizes)
			closeLayerConn(t, lc)
			if err := <-done; err != nil {
				t.Fatalf("server: %v", err)
			}
		})
	}
}

// dialLayer dials ln and runs ClientHandshake.
func dialLayer(t *testing.T, ln net.Listener, cfg *tls.Config) (*Layer, Info, net.Conn) {
	t.Helper()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(testTimeout))
	l, info, err := ClientHandshake(deadlineCtx(t), c, cfg)
	if err != nil {
		t.Fatalf("client handshake: %v", err)
	}
	return l, info, c
}

// closeLayerConn sends close_notify and wants the peer's back.
func closeLayerConn(t *testing.T, lc *layerConn) {
	t.Helper()
	if _, err := lc.c.Write(lc.l.AppendAlert(nil, LevelWarning, uint8(AlertCloseNotify))); err != nil {
		t.Fatal(err)
	}
	if _, err := lc.Read(make([]byte, 1)); !errors.Is(err, ErrCloseNotify) {
		t.Fatalf("read after close = %v, want ErrCloseNotify", err)
	}
}

// TestClientResumption: TLS 1.2 sessions resume through the client's session
// cache (crypto/tls logs no secret then; it comes from the cached session);
// TLS 1.3 ones do not, since the ticket arrives after the handshake.
func TestClientResumption(t *testing.T) {
	p := testPKI(t)
	for _, tc := range []struct {
		version     uint16
		wantResumed bool
	}{
		{tls.VersionTLS12, true},
		{tls.VersionTLS13, false},
	} {
		t.Run(tls.VersionName(tc.version), func(t *testing.T) {
			scfg := serverConfigFor(p.ecdsa)
			ccfg := clientConfigFor(p)
			ccfg.MaxVersion = tc.version
			ccfg.ClientSessionCache = tls.NewLRUClientSessionCache(4)
			for i := range 3 {
				ln := listen(t)
				done := goEchoServer(ln, scfg)
				l, info, c := dialLayer(t, ln, ccfg)
				if want := tc.wantResumed && i > 0; info.Resumed != want {
					t.Fatalf("connection %d: resumed = %v, want %v", i, info.Resumed, want)
				}
				lc := &layerConn{l: l, c: c}
				checkEcho(t, lc, []int{1, 16<<10 + 1})
				closeLayerConn(t, lc)
				if err := <-done; err != nil {
					t.Fatalf("server: %v", err)
				}
			}
		})
	}
}

// TestClientCertificate: the client role presents a certificate to a Go
// server that requires one.
func TestClientCertificate(t *testing.T) {
	p := testPKI(t)
	for _, version := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		t.Run(tls.VersionName(version), func(t *testing.T) {
			ln := listen(t)
			scfg := serverConfigFor(p.ecdsa)
			scfg.ClientAuth = tls.RequireAndVerifyClientCert
			scfg.ClientCAs = p.pool
			done := goEchoServer(ln, scfg)
			ccfg := clientConfigFor(p)
			ccfg.MaxVersion = version
			ccfg.Certificates = []tls.Certificate{p.client}
			l, _, c := dialLayer(t, ln, ccfg)
			lc := &layerConn{l: l, c: c}
			checkEcho(t, lc, []int{1, 64})
			closeLayerConn(t, lc)
			if err := <-done; err != nil {
				t.Fatalf("server: %v", err)
			}
		})
	}
}
