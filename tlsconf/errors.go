package tlsconf

import (
	"errors"
	"strconv"
)

// Sentinel errors; every *Error wraps one of them.
var (
	// ErrUnreadable: a file cannot be read (the *Error also wraps the
	// os error, so errors.Is(err, fs.ErrNotExist) works).
	ErrUnreadable = errors.New("tlsconf: file cannot be read")
	// ErrInvalidFile: a file holds no usable certificate or key.
	ErrInvalidFile = errors.New("tlsconf: invalid certificate or key file")
	// ErrKeyMismatch: a private key is not the key of its certificate.
	ErrKeyMismatch = errors.New("tlsconf: private key does not match certificate")
	// ErrTicketKeys: the session ticket key file is malformed or empty.
	ErrTicketKeys = errors.New("tlsconf: invalid session ticket key file")
	// ErrNoCertificates: a Server was asked for with no certificate.
	ErrNoCertificates = errors.New("tlsconf: no certificate")
	// ErrNotTLS: Upstream was given a backend without tls = true.
	ErrNotTLS = errors.New("tlsconf: backend does not use TLS")
)

// Warnings (see Server.Warnings): conditions that do not stop a
// certificate from loading but that an operator must hear about.
var (
	// ErrExpired: a certificate's NotAfter has passed; clients that
	// verify it refuse the handshake.
	ErrExpired = errors.New("tlsconf: certificate expired")
	// ErrNotYetValid: a certificate's NotBefore is still to come.
	ErrNotYetValid = errors.New("tlsconf: certificate not yet valid")
	// ErrNoNames: a certificate has neither DNS nor IP SANs, so SNI never
	// selects it and clients that verify it refuse it (the common name is
	// not checked since Go 1.15, nor by browsers).
	ErrNoNames = errors.New("tlsconf: certificate has no DNS or IP SAN")
)

// Error is one problem with one file. NewServer, Reload and Check return
// several joined with errors.Join; use errors.As to reach each one.
type Error struct {
	Key  string // config key naming the file: "tls.certificates[0]", "tls.client_ca"
	File string // the file's path
	Line int    // 1-based line in File; 0 when not about one line
	Msg  string // what is wrong, e.g. "does not match /etc/site.pem's public key"
	Err  error  // the sentinel: ErrUnreadable, ErrInvalidFile, ErrKeyMismatch, ...
	// Cause is what crypto/x509, encoding/base64 or os reported, or nil.
	Cause error
}

// Error formats e as `key: file msg`, or `key: file:line: msg` when a line
// is known: "tls.certificates[0]: /etc/site.key does not match
// /etc/site.pem's public key".
func (e *Error) Error() string {
	b := make([]byte, 0, len(e.Key)+len(e.File)+len(e.Msg)+16)
	if e.Key != "" {
		b = append(b, e.Key...)
		b = append(b, ": "...)
	}
	b = append(b, e.File...)
	if e.Line > 0 {
		b = append(b, ':')
		b = strconv.AppendInt(b, int64(e.Line), 10)
		b = append(b, ':')
	}
	b = append(b, ' ')
	b = append(b, e.Msg...)
	return string(b)
}

// Unwrap returns the sentinel and, when there is one, the cause.
func (e *Error) Unwrap() []error {
	if e.Cause != nil {
		return []error{e.Err, e.Cause}
	}
	return []error{e.Err}
}
