//go:build !race

package tlsconf

import (
	"crypto/tls"
	"testing"

	"github.com/throngproxy/throng/config"
	"github.com/throngproxy/throng/engine/enginetest"
)

// TestGetCertificateAllocs checks that choosing a certificate for a
// lowercase name, exact or wildcard, or for no SNI, does not allocate:
// it runs once per handshake, in bursts.
func TestGetCertificateAllocs(t *testing.T) {
	dir := t.TempDir()
	ca := enginetest.NewCA(t, "test CA")
	c1, k1 := ca.IssueWith(t, enginetest.Options{Names: []string{"default.test"}}).WriteFiles(t, dir, "a")
	c2, k2 := ca.IssueWith(t, enginetest.Options{Names: []string{"app.example.com", "*.example.org"}}).WriteFiles(t, dir, "b")
	get := mustServer(t, tlsConfig(config.Certificate{Cert: c1, Key: k1}, config.Certificate{Cert: c2, Key: k2})).Config().GetCertificate
	for _, name := range []string{"app.example.com", "chat.example.org", "unknown.test", ""} {
		hello := &tls.ClientHelloInfo{ServerName: name}
		if n := testing.AllocsPerRun(100, func() { get(hello) }); n != 0 {
			t.Errorf("GetCertificate(%q) allocates %v times; want 0", name, n)
		}
	}
}
