package tlsconf

import (
	"crypto/tls"
	"errors"
	"io/fs"
	"slices"
	"strings"
	"testing"

	"github.com/throngproxy/throng/config"
	"github.com/throngproxy/throng/engine/enginetest"
)

// TestUpstream checks backend client configs against real servers: a
// certificate the CA signed verifies, one it did not sign or for another
// name is refused; server_name defaults to the addr's host, IPs included.
func TestUpstream(t *testing.T) {
	dir := t.TempDir()
	ca := enginetest.NewCA(t, "internal CA")
	stranger := enginetest.NewCA(t, "stranger CA")
	caPath := enginetest.WriteFileIn(t, dir, "internal-ca.pem", ca.PEM)
	signed := ca.IssueWith(t, enginetest.Options{Names: []string{"app.internal", "127.0.0.1"}, Key: enginetest.RSA}).TLS(t)
	unsigned := stranger.IssueWith(t, enginetest.Options{Names: []string{"app.internal", "127.0.0.1"}}).TLS(t)
	tests := []struct {
		name     string
		backend  config.Backend
		server   tls.Certificate
		wantName string
		wantOK   bool
	}{
		{"server name, signed", config.Backend{Addr: "10.0.0.5:443", TLS: true, ServerName: "app.internal", CA: caPath}, signed, "app.internal", true},
		{"server name, not signed by ca", config.Backend{Addr: "10.0.0.5:443", TLS: true, ServerName: "app.internal", CA: caPath}, unsigned, "app.internal", false},
		{"other server name", config.Backend{Addr: "10.0.0.5:443", TLS: true, ServerName: "other.internal", CA: caPath}, signed, "other.internal", false},
		{"name from addr", config.Backend{Addr: "app.internal:8443", TLS: true, CA: caPath}, signed, "app.internal", true},
		{"ip from addr, ip san", config.Backend{Addr: "127.0.0.1:8443", TLS: true, CA: caPath}, signed, "127.0.0.1", true},
		{"system roots do not know the test ca", config.Backend{Addr: "app.internal:443", TLS: true}, signed, "app.internal", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cli, err := Upstream(&tt.backend)
			if err != nil {
				t.Fatalf("Upstream: %v", err)
			}
			if cli.ServerName != tt.wantName || cli.MinVersion != tls.VersionTLS12 || !slices.Equal(cli.CipherSuites, cipherSuites()) ||
				!slices.Equal(cli.NextProtos, []string{"http/1.1"}) || cli.InsecureSkipVerify {
				t.Fatalf("ServerName %q, MinVersion %#x, CipherSuites %v, NextProtos %q, InsecureSkipVerify %v; want %q, TLS 1.2, the ECDHE AEAD suites, [http/1.1], false",
					cli.ServerName, cli.MinVersion, cli.CipherSuites, cli.NextProtos, cli.InsecureSkipVerify, tt.wantName)
			}
			r := handshake(t, "127.0.0.1", &tls.Config{Certificates: []tls.Certificate{tt.server}}, cli)
			if ok := r.clientErr == nil && r.serverErr == nil; ok != tt.wantOK {
				t.Fatalf("handshake: client %v, server %v; want success %v", r.clientErr, r.serverErr, tt.wantOK)
			}
			var ve *tls.CertificateVerificationError
			if !tt.wantOK && !errors.As(r.clientErr, &ve) {
				t.Fatalf("client error %v; want a *tls.CertificateVerificationError", r.clientErr)
			}
		})
	}
}

func TestUpstreamErrors(t *testing.T) {
	dir := t.TempDir()
	notCA := enginetest.WriteFileIn(t, dir, "empty.pem", []byte("# nothing\n"))
	tests := []struct {
		name    string
		backend config.Backend
		want    string
		is      error
	}{
		{"not tls", config.Backend{Addr: "10.0.0.5:80"}, "backend 10.0.0.5:80: ", ErrNotTLS},
		{"ca missing", config.Backend{Addr: "10.0.0.5:443", TLS: true, CA: dir + "/missing.pem"},
			"backend 10.0.0.5:443 ca: " + dir + "/missing.pem cannot be read", fs.ErrNotExist},
		{"ca without certificate", config.Backend{Addr: "10.0.0.5:443", TLS: true, CA: notCA},
			"backend 10.0.0.5:443 ca: " + notCA + " holds no PEM CERTIFICATE block", ErrInvalidFile},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Upstream(&tt.backend)
			if err == nil || !strings.HasPrefix(err.Error(), tt.want) || !errors.Is(err, tt.is) {
				t.Fatalf("Upstream error %v; want one starting %q and wrapping %v", err, tt.want, tt.is)
			}
		})
	}
}
