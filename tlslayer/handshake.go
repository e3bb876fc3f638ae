package tlslayer

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
)

// Info is what a handshake settled, for headers and logs.
type Info struct {
	Version     uint16 // tls.VersionTLS12 / tls.VersionTLS13
	CipherSuite uint16
	ServerName  string // SNI the client sent (server role) or the name the client asked for (client role)
	ALPN        string // negotiated application protocol, "" without one
	Resumed     bool   // the session was resumed from a ticket

	// PeerSubject is the verified peer leaf certificate's subject
	// (pkix.Name.String()), "" without one; PeerSHA256 is the SHA-256 of its
	// DER, zero without one. HasPeerCert tells. A certificate the peer sent
	// but crypto/tls did not verify (RequireAnyClientCert,
	// InsecureSkipVerify) does not count.
	PeerSubject string
	PeerSHA256  [32]byte
	HasPeerCert bool
}

// ServerHandshake runs crypto/tls's server handshake over conn and returns
// the record protection that is left of it. It blocks: run it on a goroutine
// of its own, off the event loop.
//
// prefix holds bytes already read from conn by the event loop (at least the
// whole ClientHello, maybe more, maybe nothing); they are the start of the
// stream. It is neither modified nor kept.
//
// cfg is used as given, but on a clone carrying a KeyLogWriter of this
// handshake (lines are passed on to cfg.KeyLogWriter when set). Session
// tickets keep working across calls with the same cfg: its automatically
// rotated ticket keys are shared with the clone, keys set with
// SetSessionTicketKeys or SessionTicketKey are copied, and configs returned
// by cfg.GetConfigForClient are cloned the same way, so crypto/tls picks
// ticket keys as it documents there. Set cfg.CipherSuites to CipherSuites12:
// a handshake that ends with a suite a Layer cannot carry fails.
//
// ctx bounds the handshake. conn is never closed: when ctx ends, its deadline
// is set in the past to interrupt the handshake, and on any error the caller
// closes conn. On success conn has been read exactly up to the end of the
// client's last handshake record (its Finished), not one byte more, so the
// event loop reads the first application record from the socket.
func ServerHandshake(ctx context.Context, conn net.Conn, prefix []byte, cfg *tls.Config) (*Layer, Info, error) {
	if cfg == nil {
		return nil, Info{}, ErrNilConfig
	}
	kl := &keyLog{next: cfg.KeyLogWriter}
	t := &transport{Conn: conn, prefix: prefix}
	tc := tls.Server(t, serverConfig(cfg, kl))
	if err := tc.HandshakeContext(ctx); err != nil {
		return nil, Info{}, fmt.Errorf("tlslayer: server handshake: %w", err)
	}
	if len(t.prefix) > 0 {
		return nil, Info{}, ErrPrefixPastFinished
	}
	return finish(Server, tc.ConnectionState(), kl, t)
}

// ClientHandshake runs crypto/tls's client handshake over conn (for wss://
// backends) and returns the record protection that is left of it. cfg is as
// for tls.Client, used on a clone that carries a KeyLogWriter. ctx and conn
// are as for ServerHandshake: on success conn has been read exactly up to
// the end of the server's Finished.
//
// TLS 1.2 sessions resume through cfg.ClientSessionCache; TLS 1.3 ones do
// not, because the server's NewSessionTicket arrives after the handshake and
// Open drops it.
func ClientHandshake(ctx context.Context, conn net.Conn, cfg *tls.Config) (*Layer, Info, error) {
	if cfg == nil {
		return nil, Info{}, ErrNilConfig
	}
	kl := &keyLog{next: cfg.KeyLogWriter}
	t := &transport{Conn: conn}
	c := cfg.Clone()
	c.KeyLogWriter = kl
	if c.ClientSessionCache != nil {
		c.ClientSessionCache = &cacheTap{next: c.ClientSessionCache, kl: kl}
	}
	tc := tls.Client(t, c)
	if err := tc.HandshakeContext(ctx); err != nil {
		return nil, Info{}, fmt.Errorf("tlslayer: client handshake: %w", err)
	}
	return finish(Client, tc.ConnectionState(), kl, t)
}

// serverConfig returns the config a server handshake runs with: cfg with
// kl as KeyLogWriter.
func serverConfig(cfg *tls.Config, kl *keyLog) *tls.Config {
	// crypto/tls creates a config's automatic ticket keys on first use. A
	// clone made before that would create keys of its own, every
	// handshake, and no ticket would ever resume. Asking cfg to decrypt
	// nothing makes it create (or rotate) them first; Clone then shares
	// them.
	_, _ = cfg.DecryptTicket(nil, tls.ConnectionState{})
	c := cfg.Clone()
	c.KeyLogWriter = kl
	c.UnwrapSession = tapUnwrap(c.UnwrapSession, kl)
	kl.base = c
	if get := cfg.GetConfigForClient; get != nil {
		// crypto/tls uses the returned config's ticket keys if they were
		// set explicitly, else the original config's, here c's, which are
		// cfg's. A clone keeps explicit keys, so both cases stay as they
		// were; only the KeyLogWriter changes.
		c.GetConfigForClient = func(chi *tls.ClientHelloInfo) (*tls.Config, error) {
			cc, err := get(chi)
			if err != nil || cc == nil {
				return cc, err
			}
			cc = cc.Clone()
			kl.next = cc.KeyLogWriter // the one crypto/tls would have used
			cc.KeyLogWriter = kl
			cc.UnwrapSession = tapUnwrap(cc.UnwrapSession, kl)
			kl.perClient = cc
			return cc, nil
		}
	}
	return c
}

// finish builds the Layer and Info of a completed handshake.
func finish(role Role, cs tls.ConnectionState, kl *keyLog, t *transport) (*Layer, Info, error) {
	l, err := layerFrom(role, cs, kl, t)
	if err != nil {
		return nil, Info{}, err
	}
	in := Info{
		Version:     cs.Version,
		CipherSuite: cs.CipherSuite,
		ServerName:  cs.ServerName,
		ALPN:        cs.NegotiatedProtocol,
		Resumed:     cs.DidResume,
	}
	if len(cs.VerifiedChains) > 0 && len(cs.VerifiedChains[0]) > 0 {
		leaf := cs.VerifiedChains[0][0]
		in.PeerSubject = leaf.Subject.String()
		in.PeerSHA256 = sha256.Sum256(leaf.Raw)
		in.HasPeerCert = true
	}
	return l, in, nil
}

func layerFrom(role Role, cs tls.ConnectionState, kl *keyLog, t *transport) (*Layer, error) {
	p, ok := suiteParams(cs.Version, cs.CipherSuite)
	if !ok {
		if cs.Version != tls.VersionTLS12 && cs.Version != tls.VersionTLS13 {
			return nil, fmt.Errorf("%w: %s", ErrUnsupportedVersion, tls.VersionName(cs.Version))
		}
		return nil, fmt.Errorf("%w: %s", ErrUnsupportedSuite, tls.CipherSuiteName(cs.CipherSuite))
	}
	if p.kind == kind13 {
		return layer13(role, cs.CipherSuite, p, kl, t)
	}
	return layer12(role, cs, kl, t)
}

// layer13 builds a TLS 1.3 Layer. The peer has sent nothing under its
// application key yet (the transport stopped reading at its Finished), so
// the read sequence number is 0. This end may have: Go's server sends its
// NewSessionTickets under the application key during Handshake. The write
// sequence number is counted, not assumed: every protected record written
// must open either under the own handshake key (sequence 0, 1, ...) or,
// after those, under the application key (0, 1, ...).
func layer13(role Role, suite uint16, p params, kl *keyLog, t *transport) (*Layer, error) {
	readApp, writeApp, ownHS := &kl.clientApp, &kl.serverApp, &kl.serverHS
	if role == Client {
		readApp, writeApp, ownHS = &kl.serverApp, &kl.clientApp, &kl.clientHS
	}
	if readApp.n == 0 || writeApp.n == 0 || ownHS.n == 0 {
		return nil, ErrMissingSecrets
	}
	l, err := newLayer13(suite, role, readApp.bytes(), writeApp.bytes())
	if err != nil {
		return nil, err
	}
	var hs halfConn
	if err := hs.setSecret13(p, ownHS.bytes()); err != nil {
		return nil, err
	}
	scratch := make([]byte, maxCiphertext13)
	app := false
	for log := t.wlog; len(log) > 0; {
		rec, rest, ok := cutRecord(log)
		if !ok {
			return nil, fmt.Errorf("%w: partial record written", ErrSequence)
		}
		log = rest
		if rec[0] != typeApplicationData {
			continue // ServerHello, HelloRetryRequest, compatibility CCS
		}
		if !app {
			if _, _, err := l.openRecord(&hs, rec, scratch); err == nil {
				continue
			}
			app = true
		}
		if _, _, err := l.openRecord(&l.out, rec, scratch); err != nil {
			return nil, fmt.Errorf("%w: record %d under the application key", ErrSequence, l.out.seq)
		}
	}
	return l, nil
}

// layer12 builds a TLS 1.2 Layer. Each side's Finished is record 0 under
// its new keys; both are checked to open there, which proves the key
// expansion, and leave both sequence numbers at 1.
func layer12(role Role, cs tls.ConnectionState, kl *keyLog, t *transport) (*Layer, error) {
	serverLog, clientLog := t.wlog, t.rlog
	if role == Client {
		serverLog, clientLog = t.rlog, t.wlog
	}
	sr, err := serverRandom(serverLog)
	if err != nil {
		return nil, err
	}
	ch, err := firstMessage(clientLog, msgClientHello)
	if err != nil {
		return nil, err
	}
	hello, err := parseClientHello(ch)
	if err != nil {
		return nil, err
	}
	master := kl.master.bytes()
	if !cs.DidResume && !bytes.Equal(kl.clientRandom[:], hello.random) {
		return nil, fmt.Errorf("%w: key log is for another ClientHello", ErrMissingSecrets)
	}
	if cs.DidResume {
		// crypto/tls logs no secret when it resumes a 1.2 session.
		if master, err = resumedMaster12(role, cs, kl, hello.ticket); err != nil {
			return nil, err
		}
	}
	if len(master) != 48 {
		return nil, ErrMissingSecrets
	}
	l, err := newLayer12(cs.CipherSuite, role, master, hello.random, sr)
	if err != nil {
		return nil, err
	}
	if err := l.checkFinished12(t.wlog, &l.out); err != nil {
		return nil, fmt.Errorf("%w: own Finished: %w", ErrSequence, err)
	}
	if err := l.checkFinished12(t.rlog, &l.in); err != nil {
		return nil, fmt.Errorf("%w: peer Finished: %w", ErrSequence, err)
	}
	return l, nil
}

// checkFinished12 opens with h the record after the ChangeCipherSpec in log,
// which must be its last record and hold a Finished message.
func (l *Layer) checkFinished12(log []byte, h *halfConn) error {
	var scratch [64]byte
	ccs := false
	for len(log) > 0 {
		rec, rest, ok := cutRecord(log)
		if !ok {
			return errors.New("partial record")
		}
		log = rest
		if !ccs {
			ccs = rec[0] == typeChangeCipherSpec
			continue
		}
		if len(rest) != 0 || len(rec) > recordHeaderLen+explicitLen+len(scratch) {
			return errors.New("records after Finished")
		}
		typ, data, err := l.openRecord(h, rec, scratch[:])
		if err != nil {
			return err
		}
		if typ != typeHandshake || len(data) < 4 || data[0] != msgFinished {
			return errors.New("not a Finished message")
		}
		return nil
	}
	return errors.New("no ChangeCipherSpec")
}

// serverRandom returns ServerHello.random (RFC 5246 §7.4.1.3) from the
// plaintext handshake records at the start of log.
func serverRandom(log []byte) ([]byte, error) {
	msg, err := firstMessage(log, msgServerHello)
	if err != nil {
		return nil, err
	}
	if len(msg) < 4+2+32 { // message header, server_version, random
		return nil, fmt.Errorf("%w: short ServerHello", ErrMissingSecrets)
	}
	return msg[6:38], nil
}

// firstMessage returns the first handshake message in the plaintext
// handshake records at the start of log, header included, and wants it to
// be of type typ.
func firstMessage(log []byte, typ uint8) ([]byte, error) {
	var msg []byte
	for {
		if len(msg) >= 4 {
			n := 4 + (int(msg[1])<<16 | int(msg[2])<<8 | int(msg[3]))
			if len(msg) >= n {
				if msg[0] != typ {
					break
				}
				return msg[:n], nil
			}
		}
		rec, rest, ok := cutRecord(log)
		if !ok || rec[0] != typeHandshake {
			break
		}
		msg = append(msg, rec[recordHeaderLen:]...)
		log = rest
	}
	return nil, fmt.Errorf("%w: no hello message of type %d", ErrMissingSecrets, typ)
}

// cutRecord splits the first whole record off b.
func cutRecord(b []byte) (rec, rest []byte, ok bool) {
	if len(b) < recordHeaderLen {
		return nil, b, false
	}
	n := recordHeaderLen + (int(b[3])<<8 | int(b[4]))
	if len(b) < n {
		return nil, b, false
	}
	return b[:n], b[n:], true
}
