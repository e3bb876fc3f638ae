package tlslayer

import (
	"bytes"
	"crypto/tls"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/throngproxy/throng/engine/enginetest"
)

// sclient is an `openssl s_client` driven through its stdin, with stdout
// and stderr read together.
type sclient struct {
	stdin  io.WriteCloser
	chunks <-chan []byte
	out    []byte
	mark   int // out before mark is matched already
	exited chan error
}

// startSClient starts openssl s_client against addr; it skips the test when
// there is no openssl.
func startSClient(t *testing.T, addr string, ca string, args ...string) *sclient {
	t.Helper()
	path, err := exec.LookPath("openssl")
	if err != nil {
		t.Skip("no openssl:", err)
	}
	base := []string{"s_client", "-connect", addr, "-servername", "localhost", "-CAfile", ca, "-verify_return_error"}
	cmd := exec.CommandContext(deadlineCtx(t), path, append(base, args...)...)
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = pw, pw
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	chunks := make(chan []byte, 16)
	go func() {
		defer close(chunks)
		for {
			buf := make([]byte, 64<<10)
			n, err := pr.Read(buf)
			if n > 0 {
				chunks <- buf[:n]
			}
			if err != nil {
				return
			}
		}
	}()
	s := &sclient{stdin: stdin, chunks: chunks, exited: make(chan error, 1)}
	go func() { s.exited <- cmd.Wait() }()
	t.Cleanup(func() {
		stdin.Close()
		for range chunks {
		}
		<-s.exited
	})
	return s
}

// waitFor reads output until token appears after what was matched before.
func (s *sclient) waitFor(t *testing.T, token []byte) {
	t.Helper()
	deadline := time.After(testTimeout)
	for {
		if i := bytes.Index(s.out[s.mark:], token); i >= 0 {
			s.mark += i + len(token)
			return
		}
		select {
		case c, ok := <-s.chunks:
			if !ok {
				t.Fatalf("openssl exited before %.40q; output ends %q", token, tail(s.out))
			}
			s.out = append(s.out, c...)
		case <-deadline:
			t.Fatalf("no %.40q from openssl; output ends %q", token, tail(s.out))
		}
	}
}

// send writes b to stdin on a goroutine, so that a long write cannot block
// reading the output it causes.
func (s *sclient) send(b []byte) {
	go s.stdin.Write(b)
}

func tail(b []byte) []byte {
	if len(b) > 600 {
		return b[len(b)-600:]
	}
	return b
}

// digitLine returns n random digits and a newline: s_client takes a letter at
// the start of what it reads as a command, so payloads hold digits only.
func digitLine(r *rand.Rand, n int) []byte {
	b := make([]byte, n+1)
	for i := range n {
		b[i] = '0' + byte(r.IntN(10))
	}
	b[n] = '\n'
	return b
}

// TestOpenSSLClient covers the TLS 1.3 suites Go's client does not pick
// (ChaCha20, AES-256), plus AES-128 and a TLS 1.2 suite, against
// openssl s_client: echo of 64 B, 16 KiB+1 and 1 MiB lines, a client
// KeyUpdate asking for ours (the `K` command), and close_notify.
func TestOpenSSLClient(t *testing.T) {
	p := testPKI(t)
	ca := enginetest.WriteFileIn(t, t.TempDir(), "ca.pem", p.caPEM)
	cases := []struct {
		name      string
		args      []string
		version   uint16
		suite     uint16
		keyUpdate bool
	}{
		{"TLS13/CHACHA20", []string{"-tls1_3", "-ciphersuites", "TLS_CHACHA20_POLY1305_SHA256"}, tls.VersionTLS13, tls.TLS_CHACHA20_POLY1305_SHA256, true},
		{"TLS13/AES256-GCM", []string{"-tls1_3", "-ciphersuites", "TLS_AES_256_GCM_SHA384"}, tls.VersionTLS13, tls.TLS_AES_256_GCM_SHA384, true},
		{"TLS13/AES128-GCM", []string{"-tls1_3", "-ciphersuites", "TLS_AES_128_GCM_SHA256"}, tls.VersionTLS13, tls.TLS_AES_128_GCM_SHA256, true},
		{"TLS12/ECDHE-ECDSA-CHACHA20", []string{"-tls1_2", "-cipher", "ECDHE-ECDSA-CHACHA20-POLY1305"}, tls.VersionTLS12, tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ln := listen(t)
			ch := acceptLayer(t, ln, serverConfigFor(p.ecdsa))
			sc := startSClient(t, ln.Addr().String(), ca, tc.args...)
			s := waitServer(t, ch)
			if s.err != nil {
				t.Fatalf("server handshake: %v", s.err)
			}
			if s.info.Version != tc.version || s.info.CipherSuite != tc.suite {
				t.Fatalf("negotiated %x/%s, want %x/%s", s.info.Version, tls.CipherSuiteName(s.info.CipherSuite), tc.version, tls.CipherSuiteName(tc.suite))
			}
			readSecret := s.l.in.secret
			done := make(chan error, 1)
			// No empty record first: s_client, blocked in SSL_read on it, would
			// stop reading its stdin.
			go func() { done <- echoLayer(s.l, s.conn, false) }()
			r := rand.New(rand.NewPCG(1, uint64(tc.suite)))
			for _, n := range []int{64, 16<<10 + 1, 1 << 20} {
				line := digitLine(r, n)
				sc.send(line)
				sc.waitFor(t, line)
			}
			if tc.keyUpdate {
				sc.send([]byte("K\n"))
				sc.waitFor(t, []byte("KEYUPDATE"))
				for _, n := range []int{64, 16<<10 + 1} {
					line := digitLine(r, n)
					sc.send(line)
					sc.waitFor(t, line)
				}
			}
			sc.stdin.Close() // s_client sends close_notify
			if err := <-done; err != nil {
				t.Fatalf("server: %v", err)
			}
			if tc.keyUpdate && s.l.in.secret == readSecret {
				t.Fatal("openssl's KeyUpdate did not change the read key")
			}
		})
	}
}

// TestOpenSSLRenegotiation: openssl's `R` command sends a TLS 1.2
// ClientHello under the record keys; Open refuses it with ErrRenegotiation
// and the server answers with a no_renegotiation warning.
func TestOpenSSLRenegotiation(t *testing.T) {
	p := testPKI(t)
	ca := enginetest.WriteFileIn(t, t.TempDir(), "ca.pem", p.caPEM)
	ln := listen(t)
	ch := acceptLayer(t, ln, serverConfigFor(p.ecdsa))
	sc := startSClient(t, ln.Addr().String(), ca, "-tls1_2", "-cipher", "ECDHE-ECDSA-AES128-GCM-SHA256")
	s := waitServer(t, ch)
	if s.err != nil {
		t.Fatalf("server handshake: %v", s.err)
	}
	done := make(chan error, 1)
	// No empty record first: s_client, blocked in SSL_read on it, would
	// stop reading its stdin.
	go func() { done <- echoLayer(s.l, s.conn, false) }()
	line := digitLine(rand.New(rand.NewPCG(2, 2)), 64)
	sc.send(line)
	sc.waitFor(t, line)
	sc.send([]byte("R\n"))
	sc.waitFor(t, []byte("RENEGOTIATING"))
	if err := <-done; !errors.Is(err, ErrRenegotiation) {
		t.Fatalf("server: %v, want ErrRenegotiation", err)
	}
	if _, err := s.conn.Write(s.l.AppendAlert(nil, LevelWarning, uint8(AlertNoRenegotiation))); err != nil {
		t.Fatal(err)
	}
	s.conn.Close()
}
