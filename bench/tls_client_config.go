package bench

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
)

// gnet has no TLS, so wss:// targets run on a client path of their own: one
// goroutine per connection over crypto/tls (tls_client*.go). It keeps the
// gnet path's phases, checks, failure kinds, histograms and reports, and
// every report says which path ran (ClientPath). Where it differs: each
// handshake (TLS and upgrade) is bounded by HandshakeTimeout from its own
// connect; Loops is unused (reports count 0 loops); a write that makes no
// progress for 10 s fails its session (write_timeout); TLS failures have
// kinds of their own (tls_certificate, tls_handshake); reports have a TLS
// part (TLSReport: key exchanges offered and negotiated, resumptions).

// Client paths, as reports name them (their ClientPath field).
const (
	// ClientPathGnet is the gnet event-loop client, for ws:// targets.
	ClientPathGnet = "gnet"
	// ClientPathTLS is one goroutine per connection over crypto/tls, for
	// wss:// targets.
	ClientPathTLS = "tls-goroutines"
)

// TLSOptions says how a wss:// target's certificate is checked; ws://
// targets ignore it. The zero value verifies the server against the
// system's roots and the URL's host.
type TLSOptions struct {
	// Insecure skips verifying the server's certificate chain and name
	// (for self-signed test servers). Default false.
	Insecure bool
	// CAFile is a PEM file of root certificates to verify the server with,
	// instead of the system's. Default "": the system's roots.
	CAFile string
	// ServerName is the name sent in SNI (none for an IP address) and
	// verified against the certificate. Default "": the URL's host.
	ServerName string
	// Curves are the key exchanges to offer (tls.Config.CurvePreferences;
	// ParseCurves reads -curves). crypto/tls picks among them by its own
	// order of preference, not theirs. Default nil: Go's default list.
	Curves []tls.CurveID
	// Resume gives the run's connections one tls.ClientSessionCache, so
	// that a handshake resumes the session of the last ticket the server
	// sent (RFC 8446 §2.2, RFC 5077), skipping its certificate and
	// signature; a run split over processes has one cache per process.
	// Default false: every handshake is a full one.
	Resume bool
}

// IsZero reports whether o is the zero value: no TLS option set.
func (o *TLSOptions) IsZero() bool {
	return !o.Insecure && o.CAFile == "" && o.ServerName == "" && o.Curves == nil && !o.Resume
}

// tlsSessionCacheSize is the capacity of a run's session cache: its
// connections share one server name, so one entry, and room for a few.
const tlsSessionCacheSize = 16

// ErrBadCA is returned for a CA file that cannot be read or holds no PEM
// certificate.
var ErrBadCA = errors.New("bench: CA file must hold PEM certificates")

// clientConfig returns the TLS client config for target: at least TLS 1.2,
// HTTP/1.1 by ALPN, o.Curves offered, and no session resumption (every
// connection makes a full handshake) unless o.Resume, which gives the
// config a session cache of its own. It reads o.CAFile, if set.
func (o *TLSOptions) clientConfig(target clientTarget) (*tls.Config, error) {
	cfg := &tls.Config{
		MinVersion:         tls.VersionTLS12,
		NextProtos:         []string{"http/1.1"},
		ServerName:         o.ServerName,
		InsecureSkipVerify: o.Insecure, // asked for: -insecure
		CurvePreferences:   slices.Clone(o.Curves),
	}
	if o.Resume {
		cfg.ClientSessionCache = tls.NewLRUClientSessionCache(tlsSessionCacheSize)
	}
	if cfg.ServerName == "" {
		cfg.ServerName = target.serverName()
	}
	if o.CAFile != "" {
		pem, err := os.ReadFile(o.CAFile)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrBadCA, err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%w: %s has none", ErrBadCA, o.CAFile)
		}
		cfg.RootCAs = pool
	}
	return cfg, nil
}

// serverName returns the host of t's address, without port or brackets.
func (t clientTarget) serverName() string {
	host, _, err := net.SplitHostPort(t.addr)
	if err != nil {
		return t.addr
	}
	return host
}

// ClientPath returns the client path a run on rawURL takes: ClientPathTLS
// for wss://, else ClientPathGnet (also for a URL that does not parse).
func ClientPath(rawURL string) string {
	if t, err := parseClientTarget(rawURL); err == nil && t.tls {
		return ClientPathTLS
	}
	return ClientPathGnet
}

// clientPathText describes a client path for text reports.
func clientPathText(path string) string {
	switch path {
	case ClientPathGnet:
		return path + " (event loops)"
	case ClientPathTLS:
		return path + " (crypto/tls, one goroutine per connection: gnet has no TLS)"
	default:
		return path
	}
}

// classifyTLS maps a failed TLS handshake to a failure kind: the
// certificate did not verify, the handshake's deadline passed (or the run
// cut it, killed), or anything else (an alert, EOF, a bad record).
func classifyTLS(err error, killed bool) clientFail {
	var (
		cve    *tls.CertificateVerificationError
		uae    x509.UnknownAuthorityError
		hne    x509.HostnameError
		cie    x509.CertificateInvalidError
		netErr net.Error
	)
	switch {
	case errors.As(err, &cve), errors.As(err, &uae), errors.As(err, &hne), errors.As(err, &cie):
		return clientFailTLSCertificate
	case killed, errors.As(err, &netErr) && netErr.Timeout():
		return clientFailHandshakeTimeout
	default:
		return clientFailTLSHandshake
	}
}

// classifyHandshakeIO maps a read or write error of the upgrade (after the
// TLS handshake) to a failure kind, as the gnet path counts them: the
// deadline passed (or the run cut it) or the peer closed.
func classifyHandshakeIO(err error, killed bool) clientFail {
	var netErr net.Error
	if killed || errors.As(err, &netErr) && netErr.Timeout() {
		return clientFailHandshakeTimeout
	}
	return clientFailHandshakeEOF
}
