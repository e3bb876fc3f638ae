package tlsconf

import (
	"crypto/tls"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/throngproxy/throng/config"
)

// cipherSuites returns the TLS 1.2 suites offered: ECDHE key exchange
// (forward secrecy) with an AEAD cipher, nothing else. It returns a new
// slice on each call, so that no caller can edit another's.
func cipherSuites() []uint16 {
	return []uint16{
		tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
		tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
		tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
		tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
		tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
		tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
	}
}

// nextProtos is what ALPN offers: a WebSocket upgrade is HTTP/1.1.
func nextProtos() []string { return []string{"http/1.1"} }

// Server holds the server-side TLS configuration of the listeners:
// certificates chosen by SNI, client-CA pool, ticket keys. Safe for
// concurrent use: the handshake goroutines call Config() while Reload or
// Watch replace what it returns.
type Server struct {
	mu  sync.Mutex // serializes loads, so that a reload by Watch never undoes a newer Reload
	cur atomic.Pointer[state]
}

// state is one loaded configuration, replaced whole and never edited.
type state struct {
	cfg        config.TLS // what it was loaded from; Watch reloads it
	conf       *tls.Config
	ticketFile bool     // conf's ticket keys came from tls.ticket_key_file
	certs      *certSet // what conf.GetCertificate picks from
	sum        [32]byte
	stamps     []stamp
	warnings   []error
}

// NewServer loads every file of c (certificates, client_ca,
// ticket_key_file) and fails with an error naming the key, the file and
// the problem, e.g. "tls.certificates[0]: /path/site.key does not match
// /path/site.pem's public key"; it reports every problem at once
// (errors.Join of *Error). c must have at least one certificate
// (ErrNoCertificates). An expired or not yet valid certificate, or one
// without names, loads: Warnings says so. NewServer starts no goroutine,
// and keeps a copy of c, not c.
func NewServer(c *config.TLS) (*Server, error) {
	l, err := load(c, time.Now())
	if err != nil {
		return nil, err
	}
	s := &Server{}
	s.cur.Store(build(c, l, nil))
	return s, nil
}

// Config returns the *tls.Config handshakes use now; call it for each
// handshake so that reloads apply to the next one. It does not allocate,
// and the caller must not modify what it returns.
//
// MinVersion is tls.min_version (nothing older than TLS 1.2), CipherSuites
// the TLS 1.2 ECDHE AEAD suites (ECDHE-{ECDSA,RSA}-AES{128,256}-GCM and
// ECDHE-{ECDSA,RSA}-CHACHA20-POLY1305), NextProtos ["http/1.1"].
// GetCertificate chooses by SNI (see the package doc and
// tls.certificates); ClientAuth off, request and require are
// tls.NoClientCert, tls.VerifyClientCertIfGiven and
// tls.RequireAndVerifyClientCert with ClientCAs from tls.client_ca;
// SessionTicketsDisabled is !session_tickets, and the ticket keys come
// from tls.ticket_key_file when it is set. CurvePreferences is nil: Go's
// default, X25519MLKEM768 first.
func (s *Server) Config() *tls.Config {
	return s.cur.Load().conf
}

// Certificate describes one certificate in use, for metrics and status.
type Certificate struct {
	File     string    // the tls.certificates entry's cert path
	Subject  string    // the leaf's subject
	NotAfter time.Time // the leaf's expiry
}

// Certificates lists the certificates handshakes use now, in config
// order. It returns a new slice on each call.
func (s *Server) Certificates() []Certificate {
	st := s.cur.Load()
	out := make([]Certificate, 0, len(st.certs.all))
	for i, c := range st.certs.all {
		// load adds them in config order, all of them or none.
		out = append(out, Certificate{File: st.cfg.Certificates[i].Cert, Subject: c.Leaf.Subject.String(), NotAfter: c.Leaf.NotAfter})
	}
	return out
}

// Warnings returns what the configuration in use loaded with but an
// operator should hear of: *Error values wrapping ErrExpired,
// ErrNotYetValid or ErrNoNames. It returns a new slice on each call.
func (s *Server) Warnings() []error {
	return slices.Clone(s.cur.Load().warnings)
}

// Reload re-reads every file of c, which may differ from the config the
// Server was built from (SIGHUP). On any error it keeps the previous state
// entirely, Watch's included, and returns the error for the caller to log.
// changed reports whether the configuration handed out changed: a file's
// content or a setting, not a file merely touched. Without
// tls.ticket_key_file, the keys crypto/tls drew itself carry over, so
// sessions from before the reload still resume.
func (s *Server) Reload(c *config.TLS) (changed bool, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.reload(c)
}

// reload is Reload with s.mu held.
func (s *Server) reload(c *config.TLS) (bool, error) {
	l, err := load(c, time.Now())
	if err != nil {
		return false, err
	}
	prev := s.cur.Load()
	if l.sum == prev.sum {
		// Same bytes and settings: keep the tls.Config (and its ticket
		// keys), take the new stamps so that Watch stops seeing a change.
		next := *prev
		next.cfg, next.stamps, next.warnings = copyTLS(c), l.stamps, l.warnings
		s.cur.Store(&next)
		return false, nil
	}
	s.cur.Store(build(c, l, prev))
	return true, nil
}

// Check loads everything c names like NewServer, without keeping it, for
// -check-config. Warnings are not errors; NewServer and Warnings give
// them.
func Check(c *config.TLS) error {
	_, err := load(c, time.Now())
	return err
}

// build makes the state of l. prev, when not nil, is the state it
// replaces.
func build(c *config.TLS, l *loaded, prev *state) *state {
	var conf *tls.Config
	if prev != nil && !prev.ticketFile && l.ticketKeys == nil {
		// Clone copies the ticket keys crypto/tls drew for prev (and is
		// safe while prev serves handshakes): sessions survive reloads.
		conf = prev.conf.Clone()
	} else {
		conf = &tls.Config{}
	}
	conf.MinVersion = l.minVersion
	conf.CipherSuites = cipherSuites()
	conf.NextProtos = nextProtos()
	conf.Certificates = nil
	conf.GetCertificate = l.certs.getCertificate
	conf.ClientAuth = l.clientAuth
	conf.ClientCAs = l.clientCAs
	conf.SessionTicketsDisabled = !c.SessionTickets
	if l.ticketKeys != nil {
		conf.SetSessionTicketKeys(l.ticketKeys)
	}
	return &state{
		cfg:        copyTLS(c),
		conf:       conf,
		ticketFile: l.ticketKeys != nil,
		certs:      l.certs,
		sum:        l.sum,
		stamps:     l.stamps,
		warnings:   l.warnings,
	}
}

// copyTLS copies c deeply enough that the caller may change c after.
func copyTLS(c *config.TLS) config.TLS {
	cp := *c
	cp.Certificates = slices.Clone(c.Certificates)
	return cp
}
