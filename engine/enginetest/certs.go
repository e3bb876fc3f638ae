package enginetest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// KeyKind is the public key algorithm of a test certificate.
type KeyKind int

// Key kinds of test certificates.
const (
	ECDSA KeyKind = iota // P-256
	RSA                  // 2048 bits
)

// CA is a certificate authority made for one test: the certificates it
// issues are trusted by Pool (and by PEM, written where a config wants a
// file) and by nothing else.
type CA struct {
	Cert *x509.Certificate
	Key  crypto.Signer
	// PEM is the CA certificate, PEM-encoded.
	PEM []byte
	// Pool holds the CA certificate alone.
	Pool *x509.CertPool
}

// NewCA makes a CA named name with an ECDSA key, valid for a day.
func NewCA(t testing.TB, name string) *CA {
	t.Helper()
	key := newKey(t, ECDSA)
	tmpl := &x509.Certificate{
		SerialNumber:          serial(t),
		Subject:               pkix.Name{CommonName: name, Organization: []string{"throng tests"}},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &CA{Cert: cert, Key: key, PEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), Pool: pool}
}

// Leaf is a certificate the CA issued, with its key, PEM-encoded.
type Leaf struct {
	CertPEM []byte // the leaf, then the CA: a chain, leaf first
	KeyPEM  []byte // PKCS #8
	Cert    *x509.Certificate
}

// TLS returns the leaf as a tls.Certificate: the chain of CertPEM, the
// key, and Leaf set.
func (l *Leaf) TLS(t testing.TB) tls.Certificate {
	t.Helper()
	c, err := tls.X509KeyPair(l.CertPEM, l.KeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// Issue makes a certificate for cn whose SANs are names: IP addresses go
// into the IP SANs, the rest into the DNS names. client makes it a client
// certificate (ExtKeyUsageClientAuth) instead of a server's. It is
// IssueWith for the common case.
func (ca *CA) Issue(t testing.TB, cn string, names []string, kind KeyKind, client bool) *Leaf {
	t.Helper()
	return ca.IssueWith(t, Options{CN: cn, Names: names, Key: kind, Client: client})
}

// Options shape a certificate IssueWith makes. The zero value is an
// ECDSA server certificate with no name at all, valid from an hour ago
// for a day.
type Options struct {
	// CN is the subject's common name; empty means the first of Names,
	// or none if Names is empty.
	CN string
	// Names are the SANs: each an IP address (an IP SAN) or a DNS name,
	// wildcards included ("*.example.com"). Empty means no SAN.
	Names []string
	// Key is the key algorithm; RSA is slow to generate (about 100 ms).
	Key KeyKind
	// Client makes a client certificate (ExtKeyUsageClientAuth) instead
	// of a server's.
	Client bool
	// NotBefore and NotAfter bound the validity; zero means an hour ago
	// and a day from now. Past or future bounds make an expired or a
	// not-yet-valid certificate.
	NotBefore, NotAfter time.Time
}

// IssueWith makes a certificate shaped by o, signed by ca.
func (ca *CA) IssueWith(t testing.TB, o Options) *Leaf {
	t.Helper()
	key := newKey(t, o.Key)
	cn := o.CN
	if cn == "" && len(o.Names) > 0 {
		cn = o.Names[0]
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(t),
		Subject:      pkix.Name{CommonName: cn, Organization: []string{"throng tests"}},
		NotBefore:    o.NotBefore,
		NotAfter:     o.NotAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	if tmpl.NotBefore.IsZero() {
		tmpl.NotBefore = time.Now().Add(-time.Hour)
	}
	if tmpl.NotAfter.IsZero() {
		tmpl.NotAfter = time.Now().Add(24 * time.Hour)
	}
	if o.Key == RSA {
		tmpl.KeyUsage |= x509.KeyUsageKeyEncipherment // RSA key exchange; ECDSA keys do not encipher
	}
	if o.Client {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	}
	for _, n := range o.Names {
		if ip := net.ParseIP(n); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, n)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, key.Public(), ca.Key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	chain := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	return &Leaf{
		CertPEM: append(chain, ca.PEM...),
		KeyPEM:  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}),
		Cert:    cert,
	}
}

// WriteFiles writes the leaf's chain and key into dir as base.pem and
// base.key and returns their paths.
func (l *Leaf) WriteFiles(t testing.TB, dir, base string) (certPath, keyPath string) {
	t.Helper()
	certPath, keyPath = filepath.Join(dir, base+".pem"), filepath.Join(dir, base+".key")
	WriteFile(t, certPath, l.CertPEM)
	WriteFile(t, keyPath, l.KeyPEM)
	return certPath, keyPath
}

// WriteFileIn writes data to dir/name as WriteFile does and returns the
// path.
func WriteFileIn(t testing.TB, dir, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	WriteFile(t, p, data)
	return p
}

// WriteFile replaces path with data the way a certificate renewal does:
// written beside it, then renamed over it, so that a reader sees the old
// file or the new one, never half of one.
func WriteFile(t testing.TB, path string, data []byte) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func newKey(t testing.TB, kind KeyKind) crypto.Signer {
	t.Helper()
	var (
		k   crypto.Signer
		err error
	)
	switch kind {
	case RSA:
		k, err = rsa.GenerateKey(rand.Reader, 2048)
	default:
		k, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	}
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func serial(t testing.TB) *big.Int {
	t.Helper()
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		t.Fatal(err)
	}
	return n
}
