package enginetest

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/x509"
	"net"
	"os"
	"slices"
	"testing"
	"time"
)

// TestIssueWith checks that each option shapes the certificate, and that
// every certificate chains to its CA's Pool.
func TestIssueWith(t *testing.T) {
	ca := NewCA(t, "test CA")
	now := time.Now()
	tests := []struct {
		name      string
		o         Options
		cn        string
		dns       []string
		ips       []net.IP
		usage     x509.ExtKeyUsage
		rsa       bool
		valid     bool      // verifies now
		notBefore time.Time // zero: about an hour ago
	}{
		{"defaults", Options{}, "", nil, nil, x509.ExtKeyUsageServerAuth, false, true, time.Time{}},
		{"cn from the first name", Options{Names: []string{"a.test", "*.b.test", "192.0.2.1", "2001:db8::1"}},
			"a.test", []string{"a.test", "*.b.test"}, []net.IP{net.ParseIP("192.0.2.1").To4(), net.ParseIP("2001:db8::1")},
			x509.ExtKeyUsageServerAuth, false, true, time.Time{}},
		{"cn given", Options{CN: "client-1", Names: []string{"localhost"}}, "client-1", []string{"localhost"}, nil,
			x509.ExtKeyUsageServerAuth, false, true, time.Time{}},
		{"rsa client", Options{Names: []string{"c.test"}, Key: RSA, Client: true}, "c.test", []string{"c.test"}, nil,
			x509.ExtKeyUsageClientAuth, true, true, time.Time{}},
		{"expired", Options{Names: []string{"a.test"}, NotBefore: now.Add(-48 * time.Hour), NotAfter: now.Add(-time.Hour)},
			"a.test", []string{"a.test"}, nil, x509.ExtKeyUsageServerAuth, false, false, now.Add(-48 * time.Hour)},
		{"not yet valid", Options{Names: []string{"a.test"}, NotBefore: now.Add(time.Hour), NotAfter: now.Add(48 * time.Hour)},
			"a.test", []string{"a.test"}, nil, x509.ExtKeyUsageServerAuth, false, false, now.Add(time.Hour)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := ca.IssueWith(t, tt.o)
			c := l.Cert
			if c.Subject.CommonName != tt.cn || !slices.Equal(c.DNSNames, tt.dns) ||
				!slices.EqualFunc(c.IPAddresses, tt.ips, net.IP.Equal) || !slices.Equal(c.ExtKeyUsage, []x509.ExtKeyUsage{tt.usage}) {
				t.Fatalf("CN %q, DNS %q, IP %v, ExtKeyUsage %v; want %q, %q, %v, %v",
					c.Subject.CommonName, c.DNSNames, c.IPAddresses, c.ExtKeyUsage, tt.cn, tt.dns, tt.ips, tt.usage)
			}
			if _, isRSA := c.PublicKey.(*rsa.PublicKey); isRSA != tt.rsa {
				t.Fatalf("public key %T; want RSA %v", c.PublicKey, tt.rsa)
			}
			if _, isEC := c.PublicKey.(*ecdsa.PublicKey); isEC == tt.rsa {
				t.Fatalf("public key %T; want ECDSA %v", c.PublicKey, !tt.rsa)
			}
			if !tt.notBefore.IsZero() && !c.NotBefore.Equal(tt.notBefore.Truncate(time.Second)) {
				t.Fatalf("NotBefore %v; want %v", c.NotBefore, tt.notBefore)
			}
			opts := x509.VerifyOptions{Roots: ca.Pool, KeyUsages: []x509.ExtKeyUsage{tt.usage}}
			if _, err := c.Verify(opts); (err == nil) != tt.valid {
				t.Fatalf("Verify now: %v; want success %v", err, tt.valid)
			}
			if err := c.CheckSignatureFrom(ca.Cert); err != nil {
				t.Fatalf("CheckSignatureFrom(CA): %v", err)
			}
			tc := l.TLS(t)
			if tc.Leaf == nil || !bytes.Equal(tc.Leaf.Raw, c.Raw) || len(tc.Certificate) != 2 || !bytes.Equal(tc.Certificate[1], ca.Cert.Raw) {
				t.Fatalf("TLS(): Leaf set %v, chain of %d; want the leaf then the CA", tc.Leaf != nil, len(tc.Certificate))
			}
		})
	}
}

// TestIssueIsIssueWith checks that Issue keeps its meaning: cn as given,
// names split into DNS and IP SANs, kind and client honoured.
func TestIssueIsIssueWith(t *testing.T) {
	ca := NewCA(t, "test CA")
	c := ca.Issue(t, "svc", []string{"localhost", "127.0.0.1"}, ECDSA, true).Cert
	if c.Subject.CommonName != "svc" || !slices.Equal(c.DNSNames, []string{"localhost"}) || len(c.IPAddresses) != 1 ||
		!c.IPAddresses[0].Equal(net.IPv4(127, 0, 0, 1)) || !slices.Equal(c.ExtKeyUsage, []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}) {
		t.Fatalf("CN %q, DNS %q, IP %v, ExtKeyUsage %v", c.Subject.CommonName, c.DNSNames, c.IPAddresses, c.ExtKeyUsage)
	}
	if _, ok := c.PublicKey.(*ecdsa.PublicKey); !ok {
		t.Fatalf("public key %T; want ECDSA", c.PublicKey)
	}
}

// TestWriteFileIn checks the path it returns and what the file holds.
func TestWriteFileIn(t *testing.T) {
	dir := t.TempDir()
	p := WriteFileIn(t, dir, "a.pem", []byte("one"))
	WriteFileIn(t, dir, "a.pem", []byte("two"))
	if got, err := os.ReadFile(p); err != nil || string(got) != "two" || p != dir+string(os.PathSeparator)+"a.pem" {
		t.Fatalf("ReadFile(%s) = %q, %v; want %q at %s/a.pem", p, got, err, "two", dir)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Fatalf("%d files in the directory; want 1 (no temporary left)", len(ents))
	}
}
