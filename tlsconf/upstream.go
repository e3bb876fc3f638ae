package tlsconf

import (
	"crypto/tls"
	"fmt"
	"net"

	"github.com/throngproxy/throng/config"
)

// Upstream builds the client config for a backend with tls = true:
// RootCAs are the system roots, or the PEM bundle at b.CA; ServerName is
// b.ServerName, or the host part of b.Addr (an IP address there is not
// sent as SNI, and is verified against the certificate's IP SANs);
// MinVersion TLS 1.2, the same CipherSuites as Server, NextProtos
// ["http/1.1"], and a session cache of its own so that new connections to
// the backend resume. It reads b.CA on each call: build one config per
// backend per configuration load, and share it among that backend's
// connections (a *tls.Config is safe for concurrent use).
func Upstream(b *config.Backend) (*tls.Config, error) {
	if !b.TLS {
		return nil, fmt.Errorf("backend %s: %w", b.Addr, ErrNotTLS)
	}
	name := b.ServerName
	if name == "" {
		host, _, err := net.SplitHostPort(b.Addr)
		if err != nil {
			return nil, fmt.Errorf("backend %s: server name from addr: %w", b.Addr, err)
		}
		name = host
	}
	conf := &tls.Config{
		ServerName:         name,
		MinVersion:         tls.VersionTLS12,
		CipherSuites:       cipherSuites(),
		NextProtos:         nextProtos(),
		ClientSessionCache: tls.NewLRUClientSessionCache(64),
	}
	if b.CA != "" {
		pool, err := loadPool(newReader(), "backend "+b.Addr+" ca", b.CA)
		if err != nil {
			return nil, err
		}
		conf.RootCAs = pool
	}
	return conf, nil
}
