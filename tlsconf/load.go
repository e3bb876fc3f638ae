package tlsconf

import (
	"crypto"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/binary"
	"encoding/pem"
	"errors"
	"fmt"
	"hash"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/throngproxy/throng/config"
)

// loaded is everything read from the files of one config.TLS, checked and
// parsed, not yet made into a tls.Config.
type loaded struct {
	minVersion uint16
	clientAuth tls.ClientAuthType
	certs      *certSet
	clientCAs  *x509.CertPool // nil without tls.client_ca
	ticketKeys [][32]byte     // nil without tls.ticket_key_file
	stamps     []stamp        // each file as it was just before it was read
	sum        [sha256.Size]byte
	warnings   []error
}

// load reads and checks every file c names, reporting every problem at
// once. now decides which certificates are expired.
func load(c *config.TLS, now time.Time) (*loaded, error) {
	r := newReader()
	// The values that shape the tls.Config go into the digest with the
	// files, so that Reload sees a change of either.
	r.field(c.MinVersion)
	r.field(c.ClientAuth)
	r.field(strconv.FormatBool(c.SessionTickets))
	l := &loaded{certs: newCertSet()}
	var errs []error
	var err error
	if l.minVersion, err = minVersion(c.MinVersion); err != nil {
		errs = append(errs, err)
	}
	if l.clientAuth, err = clientAuth(c.ClientAuth); err != nil {
		errs = append(errs, err)
	}
	if len(c.Certificates) == 0 {
		errs = append(errs, fmt.Errorf("tls.certificates: none given: %w", ErrNoCertificates))
	}
	for i, cc := range c.Certificates {
		key := "tls.certificates[" + strconv.Itoa(i) + "]"
		cert, warns, err := loadPair(r, key, cc.Cert, cc.Key, now)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		l.certs.add(cert)
		l.warnings = append(l.warnings, warns...)
	}
	if c.ClientCA != "" {
		if l.clientCAs, err = loadPool(r, "tls.client_ca", c.ClientCA); err != nil {
			errs = append(errs, err)
		}
	}
	if c.TicketKeyFile != "" {
		if l.ticketKeys, err = loadTicketKeys(r, "tls.ticket_key_file", c.TicketKeyFile); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	l.stamps = r.stamps
	r.h.Sum(l.sum[:0])
	return l, nil
}

func minVersion(v string) (uint16, error) {
	switch v {
	case config.TLSVersion12, "":
		return tls.VersionTLS12, nil
	case config.TLSVersion13:
		return tls.VersionTLS13, nil
	}
	return 0, fmt.Errorf("tls.min_version: %q is not \"1.2\" or \"1.3\": %w", v, config.ErrInvalid)
}

func clientAuth(v string) (tls.ClientAuthType, error) {
	switch v {
	case config.ClientAuthOff, "":
		return tls.NoClientCert, nil
	case config.ClientAuthRequest:
		return tls.VerifyClientCertIfGiven, nil
	case config.ClientAuthRequire:
		return tls.RequireAndVerifyClientCert, nil
	}
	return 0, fmt.Errorf("tls.client_auth: %q is not off, request or require: %w", v, config.ErrInvalid)
}

// reader reads the files of one load: it stamps each before reading it
// (a change after the stamp is then seen by the next poll, never lost),
// hashes what it read, and reads a file named twice (a certificate and
// its key in one PEM) once.
type reader struct {
	h      hash.Hash
	stamps []stamp
	files  map[string][]byte
}

func newReader() *reader {
	return &reader{h: sha256.New(), files: map[string][]byte{}}
}

// field adds a length-prefixed value to the digest.
func (r *reader) field(s string) {
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], uint64(len(s)))
	r.h.Write(n[:])
	r.h.Write([]byte(s))
}

func (r *reader) read(key, path string) ([]byte, error) {
	if data, ok := r.files[path]; ok {
		return data, nil
	}
	r.stamps = append(r.stamps, statFile(path))
	data, err := os.ReadFile(path)
	if err != nil {
		// The *fs.PathError repeats the path; keep only its reason.
		msg := err.Error()
		var pe *fs.PathError
		if errors.As(err, &pe) {
			msg = pe.Err.Error()
		}
		return nil, &Error{Key: key, File: path, Msg: "cannot be read: " + msg, Err: ErrUnreadable, Cause: err}
	}
	r.files[path] = data
	r.field(path)
	r.field(string(data))
	return data, nil
}

// loadPair reads a certificate chain and its key and checks that they
// belong together. Expiry and missing names are warnings, not errors: a
// certificate that just expired still serves clients that do not check,
// and refusing to start would take every other certificate down with it.
func loadPair(r *reader, key, certPath, keyPath string, now time.Time) (*tls.Certificate, []error, error) {
	certPEM, err1 := r.read(key, certPath)
	keyPEM, err2 := r.read(key, keyPath)
	if err1 != nil || err2 != nil {
		return nil, nil, errors.Join(err1, err2)
	}
	chain, leaf, err1 := parseChain(key, certPath, certPEM)
	signer, err2 := parseKey(key, keyPath, keyPEM)
	if err1 != nil || err2 != nil {
		return nil, nil, errors.Join(err1, err2)
	}
	pub, ok := signer.Public().(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !pub.Equal(leaf.PublicKey) {
		return nil, nil, &Error{Key: key, File: keyPath, Msg: "does not match " + certPath + "'s public key", Err: ErrKeyMismatch}
	}
	var warns []error
	switch {
	case now.After(leaf.NotAfter):
		warns = append(warns, &Error{Key: key, File: certPath, Msg: "expired at " + leaf.NotAfter.UTC().Format(time.RFC3339), Err: ErrExpired})
	case now.Before(leaf.NotBefore):
		warns = append(warns, &Error{Key: key, File: certPath, Msg: "is not valid before " + leaf.NotBefore.UTC().Format(time.RFC3339), Err: ErrNotYetValid})
	}
	if len(leaf.DNSNames) == 0 && len(leaf.IPAddresses) == 0 {
		warns = append(warns, &Error{Key: key, File: certPath, Msg: "has no DNS or IP subject alternative name: SNI never selects it and verifying clients refuse it", Err: ErrNoNames})
	}
	return &tls.Certificate{Certificate: chain, PrivateKey: signer, Leaf: leaf}, warns, nil
}

// parseChain parses the CERTIFICATE blocks of data, leaf first; other
// blocks (a key kept in the same file) are skipped.
func parseChain(key, path string, data []byte) (chain [][]byte, leaf *x509.Certificate, err error) {
	certs, err := parseCerts(key, path, data)
	if err != nil {
		return nil, nil, err
	}
	for _, c := range certs {
		chain = append(chain, c.Raw)
	}
	return chain, certs[0], nil
}

// parseCerts parses every CERTIFICATE block of data, in order, skipping
// other blocks; a file without one is an error.
func parseCerts(key, path string, data []byte) ([]*x509.Certificate, error) {
	var certs []*x509.Certificate
	for n := 1; ; n++ {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, &Error{Key: key, File: path, Msg: "PEM block " + strconv.Itoa(n) + " is not a certificate: " + err.Error(), Err: ErrInvalidFile, Cause: err}
		}
		certs = append(certs, c)
	}
	if len(certs) == 0 {
		return nil, &Error{Key: key, File: path, Msg: "holds no PEM CERTIFICATE block", Err: ErrInvalidFile}
	}
	return certs, nil
}

// parseKey parses the first private key block of data: PKCS #8
// ("PRIVATE KEY"), PKCS #1 ("RSA PRIVATE KEY") or SEC 1 ("EC PRIVATE
// KEY"). Other blocks (certificates, openssl's "EC PARAMETERS") are
// skipped.
func parseKey(key, path string, data []byte) (crypto.Signer, error) {
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			return nil, &Error{Key: key, File: path, Msg: "holds no PEM private key block", Err: ErrInvalidFile}
		}
		var k any
		var err error
		switch {
		case b.Type == "ENCRYPTED PRIVATE KEY" || strings.Contains(b.Headers["Proc-Type"], "ENCRYPTED"):
			return nil, &Error{Key: key, File: path, Msg: "holds an encrypted key: throng needs it unencrypted", Err: ErrInvalidFile}
		case b.Type == "PRIVATE KEY":
			k, err = x509.ParsePKCS8PrivateKey(b.Bytes)
		case b.Type == "RSA PRIVATE KEY":
			k, err = x509.ParsePKCS1PrivateKey(b.Bytes)
		case b.Type == "EC PRIVATE KEY":
			k, err = x509.ParseECPrivateKey(b.Bytes)
		default:
			continue
		}
		if err != nil {
			return nil, &Error{Key: key, File: path, Msg: "holds a " + b.Type + " block that does not parse: " + err.Error(), Err: ErrInvalidFile, Cause: err}
		}
		s, ok := k.(crypto.Signer)
		if !ok {
			return nil, &Error{Key: key, File: path, Msg: fmt.Sprintf("holds a %T, which cannot sign", k), Err: ErrInvalidFile}
		}
		return s, nil
	}
}

// loadPool reads a PEM bundle of CA certificates.
func loadPool(r *reader, key, path string) (*x509.CertPool, error) {
	data, err := r.read(key, path)
	if err != nil {
		return nil, err
	}
	certs, err := parseCerts(key, path, data)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	for _, c := range certs {
		pool.AddCert(c)
	}
	return pool, nil
}

// loadTicketKeys reads a session ticket key file (see the package doc),
// reporting every bad line. Errors never quote a line: it is key material.
func loadTicketKeys(r *reader, key, path string) ([][32]byte, error) {
	data, err := r.read(key, path)
	if err != nil {
		return nil, err
	}
	var keys [][32]byte
	var errs []error
	for i, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' {
			continue
		}
		raw, err := base64.StdEncoding.DecodeString(line)
		switch {
		case err != nil:
			errs = append(errs, &Error{Key: key, File: path, Line: i + 1, Msg: "is not standard base64 (openssl rand -base64 32 makes a key)", Err: ErrTicketKeys, Cause: err})
		case len(raw) != 32:
			errs = append(errs, &Error{Key: key, File: path, Line: i + 1, Msg: "holds " + strconv.Itoa(len(raw)) + " bytes; a key is 32", Err: ErrTicketKeys})
		default:
			keys = append(keys, [32]byte(raw))
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if len(keys) == 0 {
		return nil, &Error{Key: key, File: path, Msg: "holds no key: want lines of 32 random bytes in base64 (openssl rand -base64 32)", Err: ErrTicketKeys}
	}
	return keys, nil
}
