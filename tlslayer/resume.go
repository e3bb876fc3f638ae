package tlslayer

import (
	"crypto/tls"
	"errors"
	"fmt"
)

// A resumed TLS 1.2 handshake reuses the master secret of its session, and
// crypto/tls writes no key log line for it. The secret is in the
// session state instead: on the server, in the ticket the client sent back
// (which crypto/tls has already accepted), on the client, in the session
// its ClientSessionCache returned. SessionState.Bytes carries it.

// cacheTap passes a ClientSessionCache through, remembering the session it
// hands out.
type cacheTap struct {
	next tls.ClientSessionCache
	kl   *keyLog
}

func (c *cacheTap) Get(key string) (*tls.ClientSessionState, bool) {
	s, ok := c.next.Get(key)
	if ok && s != nil {
		if _, state, err := s.ResumptionState(); err == nil && state != nil {
			c.kl.session = state
		}
	}
	return s, ok
}

func (c *cacheTap) Put(key string, cs *tls.ClientSessionState) { c.next.Put(key, cs) }

// tapUnwrap wraps a caller's UnwrapSession to remember the session it
// returns. Without one it returns nil: crypto/tls decrypts its own tickets,
// and replacing that would change which ticket keys it uses.
func tapUnwrap(orig func([]byte, tls.ConnectionState) (*tls.SessionState, error), kl *keyLog) func([]byte, tls.ConnectionState) (*tls.SessionState, error) {
	if orig == nil {
		return nil
	}
	return func(identity []byte, cs tls.ConnectionState) (*tls.SessionState, error) {
		s, err := orig(identity, cs)
		if s != nil {
			kl.session = s
		}
		return s, err
	}
}

// resumedMaster12 returns the master secret of a resumed TLS 1.2 session.
func resumedMaster12(role Role, cs tls.ConnectionState, kl *keyLog, ticket []byte) ([]byte, error) {
	s := kl.session
	if s == nil && role == Server && len(ticket) > 0 {
		// crypto/tls accepted this ticket under the keys it chose: the
		// per-client config's explicit keys, else the base config's. A
		// ticket authenticates under one key only, so whichever of the two
		// decrypts it is the one that did.
		for _, c := range []*tls.Config{kl.perClient, kl.base} {
			if c == nil {
				continue
			}
			if st, err := c.DecryptTicket(ticket, cs); err == nil && st != nil {
				s = st
				break
			}
		}
	}
	if s == nil {
		return nil, fmt.Errorf("%w: resumed session not found", ErrMissingSecrets)
	}
	b, err := s.Bytes()
	if err != nil {
		return nil, fmt.Errorf("tlslayer: resumed session: %w", err)
	}
	return sessionSecret(b, cs.CipherSuite)
}

// sessionSecret returns the secret of an encoded TLS 1.2 SessionState
// (crypto/tls ticket.go): version(2) type(1) cipher_suite(2) created_at(8)
// secret<1..255>.
func sessionSecret(b []byte, suite uint16) ([]byte, error) {
	const off = 2 + 1 + 2 + 8
	if len(b) < off+1 || len(b) < off+1+int(b[off]) {
		return nil, errors.New("tlslayer: short session state")
	}
	if v := uint16(b[0])<<8 | uint16(b[1]); v != tls.VersionTLS12 {
		return nil, fmt.Errorf("tlslayer: session state of version %x", v)
	}
	if s := uint16(b[3])<<8 | uint16(b[4]); s != suite {
		return nil, fmt.Errorf("tlslayer: session state of suite %x, handshake has %x", s, suite)
	}
	return b[off+1 : off+1+int(b[off])], nil
}

// clientHello is what layer12 needs of a ClientHello.
type clientHello struct {
	random []byte
	ticket []byte // the SessionTicket extension (RFC 5077), nil without one
}

// parseClientHello parses a ClientHello message, header included
// (RFC 5246 §7.4.1.2).
func parseClientHello(m []byte) (clientHello, error) {
	bad := fmt.Errorf("%w: malformed ClientHello", ErrMissingSecrets)
	var h clientHello
	b := m[4:]
	if len(b) < 2+32+1 {
		return h, bad
	}
	h.random = b[2:34]
	b = b[34:]
	skip := func(lenBytes int) bool {
		if len(b) < lenBytes {
			return false
		}
		n := 0
		for _, c := range b[:lenBytes] {
			n = n<<8 | int(c)
		}
		if len(b) < lenBytes+n {
			return false
		}
		b = b[lenBytes+n:]
		return true
	}
	if !skip(1) || !skip(2) || !skip(1) { // session_id, cipher_suites, compression_methods
		return h, bad
	}
	if len(b) == 0 {
		return h, nil // no extensions
	}
	if len(b) < 2 || len(b) != 2+(int(b[0])<<8|int(b[1])) {
		return h, bad
	}
	b = b[2:]
	for len(b) > 0 {
		if len(b) < 4 || len(b) < 4+(int(b[2])<<8|int(b[3])) {
			return h, bad
		}
		typ, n := int(b[0])<<8|int(b[1]), int(b[2])<<8|int(b[3])
		if typ == 35 { // session_ticket
			h.ticket = b[4 : 4+n]
		}
		b = b[4+n:]
	}
	return h, nil
}
