package tlslayer

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"sync"
	"testing"
	"time"
)

// TestServerGoClient runs ServerHandshake against a Go tls.Client for every
// version × suite × certificate type the Go client can be made to
// negotiate, then echoes through the Layer on raw socket bytes.
func TestServerGoClient(t *testing.T) {
	p := testPKI(t)
	cases := []struct {
		name    string
		cert    tls.Certificate
		version uint16
		suite   uint16 // 0: let the client pick (TLS 1.3)
		want    uint16
	}{
		{"TLS12/ECDSA/AES128-GCM", p.ecdsa, tls.VersionTLS12, tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, 0},
		{"TLS12/ECDSA/AES256-GCM", p.ecdsa, tls.VersionTLS12, tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, 0},
		{"TLS12/ECDSA/CHACHA20", p.ecdsa, tls.VersionTLS12, tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256, 0},
		{"TLS12/RSA/AES128-GCM", p.rsa, tls.VersionTLS12, tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, 0},
		{"TLS12/RSA/AES256-GCM", p.rsa, tls.VersionTLS12, tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384, 0},
		{"TLS12/RSA/CHACHA20", p.rsa, tls.VersionTLS12, tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256, 0},
		{"TLS13/ECDSA", p.ecdsa, tls.VersionTLS13, 0, tls.TLS_AES_128_GCM_SHA256},
		{"TLS13/RSA", p.rsa, tls.VersionTLS13, 0, tls.TLS_AES_128_GCM_SHA256},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ln := listen(t)
			ch := acceptLayer(t, ln, serverConfigFor(tc.cert))
			ccfg := clientConfigFor(p)
			ccfg.MaxVersion = tc.version
			want := tc.want
			if tc.suite != 0 {
				ccfg.CipherSuites = []uint16{tc.suite}
				want = tc.suite
			}
			cc, err := dialGo(t, ln, ccfg)
			s := waitServer(t, ch)
			if err != nil || s.err != nil {
				t.Fatalf("handshake: client %v, server %v", err, s.err)
			}
			cs := cc.ConnectionState()
			if s.info.Version != tc.version || s.info.CipherSuite != cs.CipherSuite {
				t.Fatalf("info = %x/%s, client has %x/%s", s.info.Version, tls.CipherSuiteName(s.info.CipherSuite), cs.Version, tls.CipherSuiteName(cs.CipherSuite))
			}
			if s.info.CipherSuite != want {
				// Go's server picks ChaCha for 1.3 clients without AES hardware.
				t.Logf("negotiated %s, wanted %s", tls.CipherSuiteName(s.info.CipherSuite), tls.CipherSuiteName(want))
			}
			if s.info.ServerName != "localhost" || s.info.HasPeerCert || s.info.Resumed {
				t.Fatalf("info = %+v, want ServerName localhost, no peer cert, not resumed", s.info)
			}
			runEcho(t, cc, s, echoSizes)
		})
	}
}

// runEcho serves s through echoLayer, checks the echo of sizes through the
// client cc, then closes with close_notify both ways.
func runEcho(t *testing.T, cc *tls.Conn, s serverSide, sizes []int) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- echoLayer(s.l, s.conn, true) }()
	checkEcho(t, cc, sizes)
	if err := cc.CloseWrite(); err != nil {
		t.Fatalf("client close_notify: %v", err)
	}
	if err := <-done; err != nil {
		t.Fatalf("server: %v", err)
	}
	if n, err := cc.Read(make([]byte, 1)); n != 0 || err != io.EOF {
		t.Fatalf("client read after close_notify = %d, %v; want 0, EOF", n, err)
	}
}

// TestResumption resumes sessions from tickets: the second connection with
// the same client cache and the same server cfg must resume and relay. The
// ticket-key cases check that the per-handshake clone keeps cfg's keys.
func TestResumption(t *testing.T) {
	p := testPKI(t)
	keys := func(c *tls.Config) {
		c.SetSessionTicketKeys([][32]byte{{1, 2, 3}})
	}
	perSNI := func(c *tls.Config) {
		inner := c.Clone()
		c.GetConfigForClient = func(*tls.ClientHelloInfo) (*tls.Config, error) { return inner, nil }
	}
	cases := []struct {
		name    string
		version uint16
		setup   func(*tls.Config)
	}{
		{"TLS12/auto-keys", tls.VersionTLS12, nil},
		{"TLS13/auto-keys", tls.VersionTLS13, nil},
		{"TLS12/SetSessionTicketKeys", tls.VersionTLS12, keys},
		{"TLS13/SetSessionTicketKeys", tls.VersionTLS13, keys},
		{"TLS13/GetConfigForClient", tls.VersionTLS13, perSNI},
		{"TLS12/GetConfigForClient", tls.VersionTLS12, perSNI},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			scfg := serverConfigFor(p.ecdsa)
			if tc.setup != nil {
				tc.setup(scfg)
			}
			ccfg := clientConfigFor(p)
			ccfg.MaxVersion = tc.version
			ccfg.ClientSessionCache = tls.NewLRUClientSessionCache(4)
			for i, wantResumed := range []bool{false, true, true} {
				ln := listen(t)
				ch := acceptLayer(t, ln, scfg)
				cc, err := dialGo(t, ln, ccfg)
				s := waitServer(t, ch)
				if err != nil || s.err != nil {
					t.Fatalf("connection %d: handshake: client %v, server %v", i, err, s.err)
				}
				if s.info.Resumed != wantResumed || cc.ConnectionState().DidResume != wantResumed {
					t.Fatalf("connection %d: resumed: server %v, client %v; want %v", i, s.info.Resumed, cc.ConnectionState().DidResume, wantResumed)
				}
				// The echo also makes the 1.3 client read its ticket.
				runEcho(t, cc, s, []int{1, 64, 16<<10 + 1})
			}
		})
	}
}

// recordConn records the bytes a client reads.
type recordConn struct {
	net.Conn
	mu   sync.Mutex
	read []byte
}

func (r *recordConn) Read(p []byte) (int, error) {
	n, err := r.Conn.Read(p)
	r.mu.Lock()
	r.read = append(r.read, p[:n]...)
	r.mu.Unlock()
	return n, err
}

// helloRetryRandom is ServerHello.random of a HelloRetryRequest (RFC 8446 §4.1.3).
var helloRetryRandom = []byte{
	0xCF, 0x21, 0xAD, 0x74, 0xE5, 0x9A, 0x61, 0x11, 0xBE, 0x1D, 0x8C, 0x02, 0x1E, 0x65, 0xB8, 0x91,
	0xC2, 0xA2, 0x11, 0x16, 0x7A, 0xBB, 0x8C, 0x5E, 0x07, 0x9E, 0x09, 0xE2, 0xC8, 0xA8, 0x33, 0x9C,
}

// TestHelloRetryRequest: the client's only key share is X25519, the server
// takes only P-256, so the server asks again; the sequence numbers must
// still come out right (the server also sends tickets).
func TestHelloRetryRequest(t *testing.T) {
	p := testPKI(t)
	ln := listen(t)
	scfg := serverConfigFor(p.ecdsa)
	scfg.CurvePreferences = []tls.CurveID{tls.CurveP256}
	ch := acceptLayer(t, ln, scfg)
	raw, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	raw.SetDeadline(time.Now().Add(testTimeout))
	rc := &recordConn{Conn: raw}
	ccfg := clientConfigFor(p)
	ccfg.CurvePreferences = []tls.CurveID{tls.X25519, tls.CurveP256}
	cc := tls.Client(rc, ccfg)
	defer cc.Close()
	err = cc.HandshakeContext(deadlineCtx(t))
	s := waitServer(t, ch)
	if err != nil || s.err != nil {
		t.Fatalf("handshake: client %v, server %v", err, s.err)
	}
	rc.mu.Lock()
	sawHRR := bytes.Contains(rc.read, helloRetryRandom)
	rc.mu.Unlock()
	if !sawHRR {
		t.Fatal("server sent no HelloRetryRequest")
	}
	if cs := cc.ConnectionState(); cs.CurveID != tls.CurveP256 || cs.Version != tls.VersionTLS13 {
		t.Fatalf("curve %v version %x, want P-256 on TLS 1.3", cs.CurveID, cs.Version)
	}
	runEcho(t, cc, s, []int{1, 64, 16<<10 + 1})
}

// TestMutualTLS: a verified client certificate shows up in Info; without
// one the handshake fails.
func TestMutualTLS(t *testing.T) {
	p := testPKI(t)
	wantSum := sha256.Sum256(p.clientLeaf.Raw)
	for _, version := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		for _, withCert := range []bool{true, false} {
			name := tls.VersionName(version) + "/without-cert"
			if withCert {
				name = tls.VersionName(version) + "/with-cert"
			}
			t.Run(name, func(t *testing.T) {
				ln := listen(t)
				scfg := serverConfigFor(p.ecdsa)
				scfg.ClientAuth = tls.RequireAndVerifyClientCert
				scfg.ClientCAs = p.pool
				ch := acceptLayer(t, ln, scfg)
				ccfg := clientConfigFor(p)
				ccfg.MaxVersion = version
				if withCert {
					ccfg.Certificates = []tls.Certificate{p.client}
				}
				cc, cerr := dialGo(t, ln, ccfg)
				s := waitServer(t, ch)
				if !withCert {
					if s.err == nil {
						t.Fatal("server handshake succeeded without a client certificate")
					}
					return
				}
				if cerr != nil || s.err != nil {
					t.Fatalf("handshake: client %v, server %v", cerr, s.err)
				}
				if !s.info.HasPeerCert || s.info.PeerSubject != p.clientLeaf.Subject.String() || s.info.PeerSHA256 != wantSum {
					t.Fatalf("info = %+v, want subject %q and sum %x", s.info, p.clientLeaf.Subject.String(), wantSum)
				}
				// 1.3 tickets come after the client's Finished here.
				runEcho(t, cc, s, []int{1, 16<<10 + 1})
			})
		}
	}
}

// TestServerKeyUpdate: the server updates its key and asks the Go client to
// update; the client's KeyUpdate must switch Open's read key, and data must
// keep flowing both ways, across several rounds.
func TestServerKeyUpdate(t *testing.T) {
	p := testPKI(t)
	ln := listen(t)
	ch := acceptLayer(t, ln, serverConfigFor(p.ecdsa))
	cc, err := dialGo(t, ln, clientConfigFor(p))
	s := waitServer(t, ch)
	if err != nil || s.err != nil {
		t.Fatalf("handshake: client %v, server %v", err, s.err)
	}
	l := s.l
	for round := range 3 {
		before := l.in.secret
		out := l.KeyUpdate(nil, true)
		out = l.Seal(out, []byte("after update"))
		if _, err := s.conn.Write(out); err != nil {
			t.Fatal(err)
		}
		got := make([]byte, len("after update"))
		if _, err := io.ReadFull(cc, got); err != nil || string(got) != "after update" {
			t.Fatalf("round %d: client read %q, %v", round, got, err)
		}
		// The client answered with its own KeyUpdate before this.
		if _, err := cc.Write([]byte("client data")); err != nil {
			t.Fatal(err)
		}
		plain := readPlain(t, l, s.conn, len("client data"))
		if string(plain) != "client data" {
			t.Fatalf("round %d: server opened %q", round, plain)
		}
		if l.in.secret == before {
			t.Fatalf("round %d: read key did not change", round)
		}
	}
	runEcho(t, cc, s, []int{1, 64 << 10})
}

// readPlain reads from c and opens with l until it has n plaintext bytes.
func readPlain(t testing.TB, l *Layer, c net.Conn, n int) []byte {
	t.Helper()
	var in, plain []byte
	buf := make([]byte, 32<<10)
	for len(plain) < n {
		k, err := c.Read(buf)
		if err != nil {
			t.Fatalf("read: %v", err)
		}
		in = append(in, buf[:k]...)
		pl, consumed, reply, err := l.Open(in, nil)
		if err != nil {
			t.Fatalf("open: %v", err)
		}
		if len(reply) > 0 {
			if _, err := c.Write(reply); err != nil {
				t.Fatal(err)
			}
		}
		plain = append(plain, in[:pl]...)
		in = in[consumed:]
	}
	return plain
}

// holdConn sends nothing until its owner reads or calls flush, so that a
// client's last handshake flight and its first application data leave in one
// TCP write, as a fast client's would.
type holdConn struct {
	net.Conn
	held []byte
}

func (h *holdConn) Write(p []byte) (int, error) {
	h.held = append(h.held, p...)
	return len(p), nil
}

func (h *holdConn) Read(p []byte) (int, error) {
	if err := h.flush(); err != nil {
		return 0, err
	}
	return h.Conn.Read(p)
}

func (h *holdConn) flush() error {
	if len(h.held) == 0 {
		return nil
	}
	_, err := h.Conn.Write(h.held)
	h.held = h.held[:0]
	return err
}

// TestDataRightAfterFinished: bytes the client sends in the same flight as
// its Finished must stay in the socket for the event loop (TLS 1.3 full
// handshake; TLS 1.2 resumed, where the client's Finished comes last).
func TestDataRightAfterFinished(t *testing.T) {
	p := testPKI(t)
	req := []byte("GET /chat HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n\r\n")
	for _, version := range []uint16{tls.VersionTLS13, tls.VersionTLS12} {
		t.Run(tls.VersionName(version), func(t *testing.T) {
			scfg := serverConfigFor(p.ecdsa)
			ccfg := clientConfigFor(p)
			ccfg.MaxVersion = version
			ccfg.ClientSessionCache = tls.NewLRUClientSessionCache(4)
			for i := range 2 {
				ln := listen(t)
				ch := acceptLayer(t, ln, scfg)
				raw, err := net.Dial("tcp", ln.Addr().String())
				if err != nil {
					t.Fatal(err)
				}
				defer raw.Close()
				raw.SetDeadline(time.Now().Add(testTimeout))
				hc := &holdConn{Conn: raw}
				cc := tls.Client(hc, ccfg)
				if err := cc.HandshakeContext(deadlineCtx(t)); err != nil {
					t.Fatalf("client handshake: %v", err)
				}
				if _, err := cc.Write(req); err != nil {
					t.Fatal(err)
				}
				if err := hc.flush(); err != nil {
					t.Fatal(err)
				}
				s := waitServer(t, ch)
				if s.err != nil {
					t.Fatalf("connection %d: server handshake: %v", i, s.err)
				}
				if got := readPlain(t, s.l, s.conn, len(req)); !bytes.Equal(got, req) {
					t.Fatalf("connection %d: server opened %q, want %q", i, got, req)
				}
				if version == tls.VersionTLS12 && i == 1 && !s.info.Resumed {
					t.Fatal("second TLS 1.2 connection did not resume")
				}
				// Drain the 1.3 ticket so the next connection can resume.
				out := s.l.Seal(nil, []byte("ok"))
				if _, err := s.conn.Write(out); err != nil {
					t.Fatal(err)
				}
				if got, err := io.ReadAll(io.LimitReader(cc, 2)); err != nil || string(got) != "ok" {
					t.Fatalf("client read %q, %v", got, err)
				}
			}
		})
	}
}

// TestHandshakeFailures: what ServerHandshake refuses.
func TestHandshakeFailures(t *testing.T) {
	p := testPKI(t)
	t.Run("CBC-suite", func(t *testing.T) {
		ln := listen(t)
		scfg := serverConfigFor(p.ecdsa)
		scfg.CipherSuites = []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA}
		ch := acceptLayer(t, ln, scfg)
		ccfg := clientConfigFor(p)
		ccfg.MaxVersion = tls.VersionTLS12
		ccfg.CipherSuites = []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA}
		_, _ = dialGo(t, ln, ccfg)
		if s := waitServer(t, ch); !errors.Is(s.err, ErrUnsupportedSuite) {
			t.Fatalf("err = %v, want ErrUnsupportedSuite", s.err)
		}
	})
	t.Run("context-deadline", func(t *testing.T) {
		ln := listen(t)
		raw, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer raw.Close()
		c, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		// The client never says anything.
		_, _, err = ServerHandshake(ctx, c, nil, serverConfigFor(p.ecdsa))
		if err == nil || ctx.Err() == nil {
			t.Fatalf("err = %v, want the handshake cut short by the context", err)
		}
	})
	t.Run("nil-config", func(t *testing.T) {
		if _, _, err := ServerHandshake(deadlineCtx(t), nil, nil, nil); !errors.Is(err, ErrNilConfig) {
			t.Fatalf("err = %v, want ErrNilConfig", err)
		}
	})
}

// TestCorruptedRecordFromGoClient flips one bit of a real client's record:
// Open must refuse it with bad_record_mac, and the Go client must take the
// fatal alert the server sends back.
func TestCorruptedRecordFromGoClient(t *testing.T) {
	p := testPKI(t)
	for _, version := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		t.Run(tls.VersionName(version), func(t *testing.T) {
			ln := listen(t)
			ch := acceptLayer(t, ln, serverConfigFor(p.ecdsa))
			ccfg := clientConfigFor(p)
			ccfg.MaxVersion = version
			cc, err := dialGo(t, ln, ccfg)
			s := waitServer(t, ch)
			if err != nil || s.err != nil {
				t.Fatalf("handshake: client %v, server %v", err, s.err)
			}
			if _, err := cc.Write([]byte("hello, corrupted")); err != nil {
				t.Fatal(err)
			}
			rec, err := readRecord(s.conn)
			if err != nil {
				t.Fatal(err)
			}
			rec[len(rec)-20] ^= 0x04
			_, consumed, _, err := s.l.Open(rec, nil)
			var ae *AlertError
			if !errors.As(err, &ae) || ae.Alert != AlertBadRecordMAC || consumed != 0 {
				t.Fatalf("Open = consumed %d, %v; want bad_record_mac", consumed, err)
			}
			if _, err := s.conn.Write(s.l.AppendAlert(nil, LevelFatal, uint8(ae.Alert))); err != nil {
				t.Fatal(err)
			}
			// crypto/tls reports a received alert as a net.OpError around
			// its unexported alert type: only the text can be compared.
			var oe *net.OpError
			if _, err := cc.Read(make([]byte, 1)); !errors.As(err, &oe) || oe.Op != "remote error" || oe.Err.Error() != "tls: bad record MAC" {
				t.Fatalf("client read err = %v, want the bad_record_mac alert", err)
			}
		})
	}
}

// readRecord reads one whole record from c.
func readRecord(c net.Conn) ([]byte, error) {
	rec := make([]byte, recordHeaderLen)
	if _, err := io.ReadFull(c, rec); err != nil {
		return nil, err
	}
	rec = append(rec, make([]byte, int(rec[3])<<8|int(rec[4]))...)
	_, err := io.ReadFull(c, rec[recordHeaderLen:])
	return rec, err
}
