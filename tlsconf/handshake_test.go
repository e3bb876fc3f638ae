package tlsconf

import (
	"crypto/tls"
	"io"
	"net"
	"os"
	"testing"
	"time"
)

// result is what one handshake gave each side.
type result struct {
	state     tls.ConnectionState // the client's
	clientErr error
	serverErr error
}

// handshake runs a real TLS handshake over loopback TCP on host (an
// address of 127.0.0.0/8, port chosen by the kernel): srv serves, cli
// dials. The server then writes two bytes that the client reads, so that
// a TLS 1.3 session ticket (sent after the handshake) reaches the
// client's session cache before handshake returns. Every wait has a
// deadline.
func handshake(t *testing.T, host string, srv, cli *tls.Config) result {
	t.Helper()
	ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	deadline := time.Now().Add(5 * time.Second)
	srvErr := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			srvErr <- err
			return
		}
		defer c.Close()
		c.SetDeadline(deadline)
		tc := tls.Server(c, srv)
		if err := tc.Handshake(); err != nil {
			srvErr <- err
			return
		}
		if _, err := tc.Write([]byte("ok")); err != nil {
			srvErr <- err
			return
		}
		// Read until the client closes, so that the connection never
		// ends with bytes unread (a reset could cut the client's read).
		_, err = io.Copy(io.Discard, tc)
		srvErr <- err
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(deadline)
	tc := tls.Client(c, cli)
	err = tc.Handshake()
	if err == nil {
		var b [2]byte
		_, err = io.ReadFull(tc, b[:])
	}
	r := result{state: tc.ConnectionState(), clientErr: err}
	tc.Close()
	r.serverErr = <-srvErr
	return r
}

// leafOf returns the leaf certificate the client got, or nil.
func (r result) leaf() []byte {
	if len(r.state.PeerCertificates) == 0 {
		return nil
	}
	return r.state.PeerCertificates[0].Raw
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
