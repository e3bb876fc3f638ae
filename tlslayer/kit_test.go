package tlslayer

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/throngproxy/throng/engine/enginetest"
)

// testTimeout bounds every wait in these tests.
const testTimeout = 20 * time.Second

// pki is the test CA with its server and client certificates, each for
// localhost and 127.0.0.1.
type pki struct {
	pool       *x509.CertPool
	caPEM      []byte
	ecdsa      tls.Certificate // server, P-256
	rsa        tls.Certificate // server, RSA-2048
	client     tls.Certificate // client, P-256
	clientLeaf *x509.Certificate
}

var (
	pkiOnce sync.Once
	pkiVal  *pki
)

// testPKI returns the certificates, made once per test binary (RSA key
// generation is slow) by the first test to ask, which fails if they
// cannot be made.
func testPKI(t testing.TB) *pki {
	t.Helper()
	pkiOnce.Do(func() { pkiVal = makePKI(t) })
	if pkiVal == nil {
		t.Fatal("no test PKI: making it failed in an earlier test")
	}
	return pkiVal
}

func makePKI(t testing.TB) *pki {
	t.Helper()
	ca := enginetest.NewCA(t, "throng test CA")
	names := []string{"localhost", "127.0.0.1"}
	client := ca.Issue(t, "client-1", names, enginetest.ECDSA, true)
	return &pki{
		pool:       ca.Pool,
		caPEM:      ca.PEM,
		ecdsa:      ca.Issue(t, "localhost", names, enginetest.ECDSA, false).TLS(t),
		rsa:        ca.Issue(t, "localhost", names, enginetest.RSA, false).TLS(t),
		client:     client.TLS(t),
		clientLeaf: client.Cert,
	}
}

// serverConfigFor returns a server config with cert, limited to the suites a
// Layer carries.
func serverConfigFor(cert tls.Certificate) *tls.Config {
	return &tls.Config{
		Certificates: []tls.Certificate{cert},
		CipherSuites: CipherSuites12,
		MinVersion:   tls.VersionTLS12,
	}
}

// clientConfigFor returns a client config trusting the test CA.
func clientConfigFor(p *pki) *tls.Config {
	return &tls.Config{RootCAs: p.pool, ServerName: "localhost", MinVersion: tls.VersionTLS12}
}

// listen opens a loopback listener closed at the end of the test.
func listen(t testing.TB) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}

// deadlineCtx is a context bounded by testTimeout.
func deadlineCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	t.Cleanup(cancel)
	return ctx
}

// readClientHello reads from c exactly the records holding the first
// handshake message, as the event loop would before starting a handshake.
func readClientHello(c net.Conn) ([]byte, error) {
	var stream, msg []byte
	for {
		var hdr [recordHeaderLen]byte
		if _, err := io.ReadFull(c, hdr[:]); err != nil {
			return nil, fmt.Errorf("read record header: %w", err)
		}
		body := make([]byte, int(hdr[3])<<8|int(hdr[4]))
		if _, err := io.ReadFull(c, body); err != nil {
			return nil, fmt.Errorf("read record body: %w", err)
		}
		stream = append(append(stream, hdr[:]...), body...)
		msg = append(msg, body...)
		if len(msg) >= 4 && len(msg) >= 4+(int(msg[1])<<16|int(msg[2])<<8|int(msg[3])) {
			return stream, nil
		}
	}
}

// serverSide is the result of accepting one TLS connection through
// ServerHandshake.
type serverSide struct {
	l    *Layer
	info Info
	conn net.Conn
	err  error
}

// acceptLayer accepts one connection from ln on a goroutine, reads its
// ClientHello as prefix and runs ServerHandshake. The channel yields once.
func acceptLayer(t testing.TB, ln net.Listener, cfg *tls.Config) <-chan serverSide {
	t.Helper()
	ch := make(chan serverSide, 1)
	ctx := deadlineCtx(t)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			ch <- serverSide{err: err}
			return
		}
		t.Cleanup(func() { c.Close() })
		c.SetDeadline(time.Now().Add(testTimeout))
		prefix, err := readClientHello(c)
		if err != nil {
			ch <- serverSide{conn: c, err: err}
			return
		}
		l, info, err := ServerHandshake(ctx, c, prefix, cfg)
		ch <- serverSide{l: l, info: info, conn: c, err: err}
	}()
	return ch
}

// waitServer waits for the server side of a connection.
func waitServer(t testing.TB, ch <-chan serverSide) serverSide {
	t.Helper()
	select {
	case s := <-ch:
		return s
	case <-time.After(testTimeout):
		t.Fatal("server handshake did not finish")
	}
	panic("unreachable")
}

// dialGo dials ln with a Go tls.Client and completes its handshake.
func dialGo(t testing.TB, ln net.Listener, cfg *tls.Config) (*tls.Conn, error) {
	t.Helper()
	raw, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		return nil, err
	}
	raw.SetDeadline(time.Now().Add(testTimeout))
	c := tls.Client(raw, cfg)
	t.Cleanup(func() { c.Close() })
	ctx := deadlineCtx(t)
	return c, c.HandshakeContext(ctx)
}

// echoLayer serves c through l until the peer closes: it opens what arrives
// and seals it back. With emptyFirst an empty record goes first, which the
// peer must skip. It returns nil after close_notify, which it answers.
func echoLayer(l *Layer, c net.Conn, emptyFirst bool) error {
	buf := make([]byte, 0, 64<<10)
	out := make([]byte, 0, 80<<10)
	if emptyFirst {
		if _, err := c.Write(l.Seal(out, nil)); err != nil {
			return err
		}
	}
	for {
		n, rerr := c.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		plain, consumed, reply, err := l.Open(buf, out[:0])
		out = reply
		if plain > 0 {
			out = l.Seal(out, buf[:plain])
		}
		if errors.Is(err, ErrCloseNotify) {
			out = l.AppendAlert(out, LevelWarning, uint8(AlertCloseNotify))
		}
		if len(out) > 0 {
			if _, werr := c.Write(out); werr != nil {
				return werr
			}
		}
		buf = buf[:copy(buf, buf[consumed:])]
		if errors.Is(err, ErrCloseNotify) {
			return nil
		}
		if err != nil {
			return err
		}
		if rerr != nil {
			return rerr
		}
	}
}

// pattern returns n recognisable bytes; seed tells payloads apart.
func pattern(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7) + seed
	}
	return b
}

// echoSizes are the payload sizes every echo test sends.
var echoSizes = []int{0, 1, 64, 16 << 10, 16<<10 + 1, 1 << 20}

// checkEcho writes each size through c and wants it back byte-exact.
func checkEcho(t testing.TB, c io.ReadWriter, sizes []int) {
	t.Helper()
	for i, n := range sizes {
		msg := pattern(n, byte(i))
		errc := make(chan error, 1)
		go func() {
			_, err := c.Write(msg)
			errc <- err
		}()
		got := make([]byte, n)
		if _, err := io.ReadFull(c, got); err != nil {
			t.Fatalf("echo %d bytes: read: %v", n, err)
		}
		if err := <-errc; err != nil {
			t.Fatalf("echo %d bytes: write: %v", n, err)
		}
		if !bytes.Equal(got, msg) {
			t.Fatalf("echo %d bytes: got different bytes back", n)
		}
	}
}

// layerConn drives a Layer over a raw conn as a blocking io.ReadWriter,
// for the client-role tests.
type layerConn struct {
	l       *Layer
	c       net.Conn
	mu      sync.Mutex // guards l between the writing and reading goroutines
	in      []byte     // received, not yet opened
	plain   []byte     // opened, not yet returned
	pending []byte     // replies to send
}

func (lc *layerConn) Write(p []byte) (int, error) {
	lc.mu.Lock()
	out := lc.l.Seal(lc.pending, p)
	lc.pending = nil
	lc.mu.Unlock()
	_, err := lc.c.Write(out)
	return len(p), err
}

func (lc *layerConn) Read(p []byte) (int, error) {
	for len(lc.plain) == 0 {
		buf := make([]byte, 32<<10)
		n, rerr := lc.c.Read(buf)
		lc.in = append(lc.in, buf[:n]...)
		lc.mu.Lock()
		plain, consumed, reply, err := lc.l.Open(lc.in, lc.pending)
		lc.pending = reply
		lc.mu.Unlock()
		lc.plain = append(lc.plain, lc.in[:plain]...)
		lc.in = lc.in[consumed:]
		if err != nil && len(lc.plain) == 0 {
			return 0, err
		}
		if rerr != nil && len(lc.plain) == 0 {
			return 0, rerr
		}
	}
	n := copy(p, lc.plain)
	lc.plain = lc.plain[n:]
	return n, nil
}

// fixedPair returns a client and a server Layer sharing fixed keys, for
// tests that need no handshake.
func fixedPair(t testing.TB, version, suite uint16) (client, server *Layer) {
	t.Helper()
	c, s, err := makeFixedPair(version, suite)
	if err != nil {
		t.Fatalf("fixed pair %s: %v", tls.CipherSuiteName(suite), err)
	}
	return c, s
}

func makeFixedPair(version, suite uint16) (client, server *Layer, err error) {
	if version == tls.VersionTLS13 {
		p, _ := suiteParams(version, suite)
		cs := bytes.Repeat([]byte{0xc1}, p.hashLen())
		ss := bytes.Repeat([]byte{0x5e}, p.hashLen())
		if client, err = newLayer13(suite, Client, ss, cs); err != nil {
			return nil, nil, err
		}
		server, err = newLayer13(suite, Server, cs, ss)
		return client, server, err
	}
	ms := bytes.Repeat([]byte{0x4d}, 48)
	cr := bytes.Repeat([]byte{0xc7}, 32)
	sr := bytes.Repeat([]byte{0x57}, 32)
	if client, err = newLayer12(suite, Client, ms, cr, sr); err != nil {
		return nil, nil, err
	}
	server, err = newLayer12(suite, Server, ms, cr, sr)
	return client, server, err
}

// fixedSuites are the layers tests build from fixed keys.
var fixedSuites = []struct {
	name           string
	version, suite uint16
}{
	{"TLS12-AES128-GCM", tls.VersionTLS12, tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256},
	{"TLS12-AES256-GCM", tls.VersionTLS12, tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384},
	{"TLS12-CHACHA20", tls.VersionTLS12, tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256},
	{"TLS13-AES128-GCM", tls.VersionTLS13, tls.TLS_AES_128_GCM_SHA256},
	{"TLS13-AES256-GCM", tls.VersionTLS13, tls.TLS_AES_256_GCM_SHA384},
	{"TLS13-CHACHA20", tls.VersionTLS13, tls.TLS_CHACHA20_POLY1305_SHA256},
}
