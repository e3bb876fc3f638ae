package tlsconf

import (
	"bytes"
	"crypto/rand"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"io/fs"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/throngproxy/throng/config"
	"github.com/throngproxy/throng/engine/enginetest"
)

// tlsConfig returns [tls] at its defaults with the given certificates.
func tlsConfig(certs ...config.Certificate) *config.TLS {
	c := config.Default().TLS
	c.Certificates = certs
	return &c
}

func mustServer(t *testing.T, c *config.TLS) *Server {
	t.Helper()
	s, err := NewServer(c)
	if err != nil {
		t.Fatalf("NewServer: %v", err)
	}
	return s
}

// ticketKeyFile writes a ticket key file of n fresh keys and returns its
// path.
func ticketKeyFile(t *testing.T, dir, name string, n int) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("# throng session ticket keys, newest first\n")
	for range n {
		var k [32]byte
		rand.Read(k[:])
		b.WriteString(base64.StdEncoding.EncodeToString(k[:]) + "\n")
	}
	return enginetest.WriteFileIn(t, dir, name, []byte(b.String()))
}

// TestSNISelection runs real handshakes and checks the leaf each client
// got: exact names, one-label wildcards, IP SANs, and the first
// certificate for everything else.
func TestSNISelection(t *testing.T) {
	dir := t.TempDir()
	ca := enginetest.NewCA(t, "test CA")
	leaves := []*enginetest.Leaf{
		ca.IssueWith(t, enginetest.Options{Names: []string{"default.test"}}),
		ca.IssueWith(t, enginetest.Options{Names: []string{"app.example.com", "api.example.com"}}),
		ca.IssueWith(t, enginetest.Options{Names: []string{"*.example.org"}, Key: enginetest.RSA}),
		ca.IssueWith(t, enginetest.Options{Names: []string{"ip.test", "127.0.0.2", "2001:db8::2"}}),
	}
	var certs []config.Certificate
	for i, l := range leaves {
		c, k := l.WriteFiles(t, dir, "site"+string(rune('a'+i)))
		certs = append(certs, config.Certificate{Cert: c, Key: k})
	}
	s := mustServer(t, tlsConfig(certs...))
	tests := []struct {
		name  string
		host  string // listen address: which local IP the connection reaches
		sni   string // client ServerName; an IP or "" sends no SNI
		want  int    // index in leaves
		check bool   // verify the chain against the CA and sni
	}{
		{"exact", "127.0.0.1", "app.example.com", 1, true},
		{"exact second name", "127.0.0.1", "api.example.com", 1, true},
		{"exact other case", "127.0.0.1", "APP.Example.COM", 1, true},
		{"wildcard", "127.0.0.1", "chat.example.org", 2, true},
		{"wildcard covers one label only", "127.0.0.1", "a.chat.example.org", 0, false},
		{"wildcard not the apex", "127.0.0.1", "example.org", 0, false},
		{"ip by local address", "127.0.0.2", "127.0.0.2", 3, true},
		{"unknown name", "127.0.0.1", "nope.test", 0, false},
		{"unknown name on an ip listener", "127.0.0.2", "nope.test", 0, false},
		{"no sni", "127.0.0.1", "", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cli := &tls.Config{ServerName: tt.sni, RootCAs: ca.Pool, InsecureSkipVerify: !tt.check}
			r := handshake(t, tt.host, s.Config(), cli)
			if r.clientErr != nil || r.serverErr != nil {
				t.Fatalf("handshake: client %v, server %v", r.clientErr, r.serverErr)
			}
			if got, want := r.leaf(), leaves[tt.want].Cert.Raw; !bytes.Equal(got, want) {
				t.Fatalf("got the leaf of %v; want %v", subject(r), leaves[tt.want].Cert.DNSNames)
			}
			if r.state.NegotiatedProtocol != "" && r.state.NegotiatedProtocol != "http/1.1" {
				t.Errorf("ALPN %q; want http/1.1 or none", r.state.NegotiatedProtocol)
			}
		})
	}
}

func subject(r result) []string {
	if len(r.state.PeerCertificates) == 0 {
		return nil
	}
	return r.state.PeerCertificates[0].DNSNames
}

// TestSNIIPLiteral checks an SNI that is an IP literal, which Go's client
// never sends (RFC 6066 forbids it) but others do: it is matched against
// IP SANs.
func TestSNIIPLiteral(t *testing.T) {
	dir := t.TempDir()
	ca := enginetest.NewCA(t, "test CA")
	first := ca.IssueWith(t, enginetest.Options{Names: []string{"default.test"}})
	byIP := ca.IssueWith(t, enginetest.Options{Names: []string{"192.0.2.7", "2001:db8::7"}})
	c1, k1 := first.WriteFiles(t, dir, "a")
	c2, k2 := byIP.WriteFiles(t, dir, "b")
	s := mustServer(t, tlsConfig(config.Certificate{Cert: c1, Key: k1}, config.Certificate{Cert: c2, Key: k2}))
	for _, tt := range []struct {
		sni  string
		want *enginetest.Leaf
	}{
		{"192.0.2.7", byIP}, {"2001:db8::7", byIP}, {"192.0.2.8", first},
	} {
		got, err := s.Config().GetCertificate(&tls.ClientHelloInfo{ServerName: tt.sni})
		if err != nil || !bytes.Equal(got.Leaf.Raw, tt.want.Cert.Raw) {
			t.Errorf("GetCertificate(SNI %q) = %v, %v; want %v", tt.sni, got.Leaf.Subject, err, tt.want.Cert.Subject)
		}
	}
}

// TestNewServerErrors checks that each broken file is reported with its
// key, its path and what is wrong.
func TestNewServerErrors(t *testing.T) {
	dir := t.TempDir()
	ca := enginetest.NewCA(t, "test CA")
	a := ca.IssueWith(t, enginetest.Options{Names: []string{"a.test"}})
	b := ca.IssueWith(t, enginetest.Options{Names: []string{"b.test"}})
	aCert, aKey := a.WriteFiles(t, dir, "a")
	_, bKey := b.WriteFiles(t, dir, "b")
	junk := enginetest.WriteFileIn(t, dir, "junk.pem", []byte("not PEM at all\n"))
	caOnlyKey := enginetest.WriteFileIn(t, dir, "key-only.pem", a.KeyPEM)
	encrypted := enginetest.WriteFileIn(t, dir, "enc.key", []byte("-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n"))
	badBlock := enginetest.WriteFileIn(t, dir, "bad-block.pem", []byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"))
	missing := dir + "/missing.pem"
	var k [32]byte
	good := base64.StdEncoding.EncodeToString(k[:])
	short := base64.StdEncoding.EncodeToString(k[:16])
	badLine := enginetest.WriteFileIn(t, dir, "tickets-bad", []byte("# keys\n"+good+"\n\nnot base64!\n"))
	shortKey := enginetest.WriteFileIn(t, dir, "tickets-short", []byte(good+"\n"+short+"\n"))
	noKey := enginetest.WriteFileIn(t, dir, "tickets-none", []byte("# no keys yet\n\n"))
	pair := config.Certificate{Cert: aCert, Key: aKey}

	tests := []struct {
		name string
		edit func(c *config.TLS)
		want []string // each in the error text
		is   error
	}{
		{"key mismatch", func(c *config.TLS) { c.Certificates = []config.Certificate{{Cert: aCert, Key: bKey}} },
			[]string{"tls.certificates[0]: " + bKey + " does not match " + aCert + "'s public key"}, ErrKeyMismatch},
		{"mismatch in second pair", func(c *config.TLS) { c.Certificates = []config.Certificate{pair, {Cert: aCert, Key: bKey}} },
			[]string{"tls.certificates[1]: " + bKey + " does not match "}, ErrKeyMismatch},
		{"missing cert", func(c *config.TLS) { c.Certificates = []config.Certificate{{Cert: missing, Key: aKey}} },
			[]string{"tls.certificates[0]: " + missing + " cannot be read: no such file or directory"}, fs.ErrNotExist},
		{"not PEM", func(c *config.TLS) { c.Certificates = []config.Certificate{{Cert: junk, Key: aKey}} },
			[]string{"tls.certificates[0]: " + junk + " holds no PEM CERTIFICATE block"}, ErrInvalidFile},
		{"certificate does not parse", func(c *config.TLS) { c.Certificates = []config.Certificate{{Cert: badBlock, Key: aKey}} },
			[]string{"tls.certificates[0]: " + badBlock + " PEM block 1 is not a certificate: "}, ErrInvalidFile},
		{"key file without key", func(c *config.TLS) { c.Certificates = []config.Certificate{{Cert: aCert, Key: aCert}} },
			[]string{"tls.certificates[0]: " + aCert + " holds no PEM private key block"}, ErrInvalidFile},
		{"encrypted key", func(c *config.TLS) { c.Certificates = []config.Certificate{{Cert: aCert, Key: encrypted}} },
			[]string{"tls.certificates[0]: " + encrypted + " holds an encrypted key"}, ErrInvalidFile},
		{"no certificates", func(c *config.TLS) { c.Certificates = nil }, []string{"tls.certificates: none given"}, ErrNoCertificates},
		{"client ca missing", func(c *config.TLS) { c.ClientCA = missing },
			[]string{"tls.client_ca: " + missing + " cannot be read"}, fs.ErrNotExist},
		{"client ca without certificate", func(c *config.TLS) { c.ClientCA = caOnlyKey },
			[]string{"tls.client_ca: " + caOnlyKey + " holds no PEM CERTIFICATE block"}, ErrInvalidFile},
		{"ticket line not base64", func(c *config.TLS) { c.TicketKeyFile = badLine },
			[]string{"tls.ticket_key_file: " + badLine + ":4: is not standard base64"}, ErrTicketKeys},
		{"ticket key short", func(c *config.TLS) { c.TicketKeyFile = shortKey },
			[]string{"tls.ticket_key_file: " + shortKey + ":2: holds 16 bytes; a key is 32"}, ErrTicketKeys},
		{"ticket file without key", func(c *config.TLS) { c.TicketKeyFile = noKey },
			[]string{"tls.ticket_key_file: " + noKey + " holds no key"}, ErrTicketKeys},
		{"ticket file read even with tickets off", func(c *config.TLS) { c.SessionTickets, c.TicketKeyFile = false, missing },
			[]string{"tls.ticket_key_file: " + missing + " cannot be read"}, ErrUnreadable},
		{"every problem at once", func(c *config.TLS) {
			c.Certificates = []config.Certificate{{Cert: aCert, Key: bKey}, {Cert: junk, Key: aKey}}
			c.ClientCA, c.TicketKeyFile = missing, noKey
		}, []string{"tls.certificates[0]: ", "tls.certificates[1]: ", "tls.client_ca: ", "tls.ticket_key_file: "}, ErrKeyMismatch},
		{"bad setting", func(c *config.TLS) { c.MinVersion = "1.1" }, []string{"tls.min_version: "}, config.ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := tlsConfig(pair)
			tt.edit(c)
			s, err := NewServer(c)
			if err == nil {
				t.Fatalf("NewServer = %v, nil; want an error", s)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("NewServer error\n%v\nwant it to contain %q", err, w)
				}
			}
			if !errors.Is(err, tt.is) {
				t.Errorf("NewServer error %v; want errors.Is(err, %v)", err, tt.is)
			}
			if cerr := Check(c); cerr == nil || cerr.Error() != err.Error() {
				t.Errorf("Check = %v; want the error of NewServer", cerr)
			}
		})
	}
}

// TestKeyMismatchText checks the whole text of the most common mistake.
func TestKeyMismatchText(t *testing.T) {
	dir := t.TempDir()
	ca := enginetest.NewCA(t, "test CA")
	certPath, _ := ca.IssueWith(t, enginetest.Options{Names: []string{"a.test"}}).WriteFiles(t, dir, "site")
	_, otherKey := ca.IssueWith(t, enginetest.Options{Names: []string{"a.test"}, Key: enginetest.RSA}).WriteFiles(t, dir, "other")
	_, err := NewServer(tlsConfig(config.Certificate{Cert: certPath, Key: otherKey}))
	want := "tls.certificates[0]: " + otherKey + " does not match " + certPath + "'s public key"
	if err == nil || err.Error() != want {
		t.Fatalf("NewServer error %v; want %q", err, want)
	}
	var e *Error
	if !errors.As(err, &e) || e.Key != "tls.certificates[0]" || e.File != otherKey {
		t.Fatalf("errors.As(*Error) = %+v; want Key tls.certificates[0], File %s", e, otherKey)
	}
}

// TestWarnings checks that an expired, a future and a nameless
// certificate load, each with its warning.
func TestWarnings(t *testing.T) {
	dir := t.TempDir()
	ca := enginetest.NewCA(t, "test CA")
	now := time.Now()
	tests := []struct {
		name string
		opts enginetest.Options
		want error // nil: no warning
	}{
		{"valid", enginetest.Options{Names: []string{"a.test"}}, nil},
		{"expired", enginetest.Options{Names: []string{"a.test"}, NotBefore: now.Add(-48 * time.Hour), NotAfter: now.Add(-time.Hour)}, ErrExpired},
		{"not yet valid", enginetest.Options{Names: []string{"a.test"}, NotBefore: now.Add(time.Hour), NotAfter: now.Add(48 * time.Hour)}, ErrNotYetValid},
		{"no names", enginetest.Options{}, ErrNoNames},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			certPath, keyPath := ca.IssueWith(t, tt.opts).WriteFiles(t, dir, "c"+string(rune('0'+i)))
			s := mustServer(t, tlsConfig(config.Certificate{Cert: certPath, Key: keyPath}))
			got := s.Warnings()
			if tt.want == nil {
				if len(got) != 0 {
					t.Fatalf("Warnings() = %v; want none", got)
				}
				return
			}
			if len(got) != 1 || !errors.Is(got[0], tt.want) || !strings.HasPrefix(got[0].Error(), "tls.certificates[0]: "+certPath+" ") {
				t.Fatalf("Warnings() = %v; want one %v naming tls.certificates[0] and %s", got, tt.want, certPath)
			}
		})
	}
}

// TestConfigFields checks what Config hands out for each setting.
func TestConfigFields(t *testing.T) {
	dir := t.TempDir()
	ca := enginetest.NewCA(t, "test CA")
	certPath, keyPath := ca.IssueWith(t, enginetest.Options{Names: []string{"a.test"}}).WriteFiles(t, dir, "site")
	caPath := enginetest.WriteFileIn(t, dir, "clients.pem", ca.PEM)
	tests := []struct {
		name        string
		edit        func(c *config.TLS)
		wantMin     uint16
		wantAuth    tls.ClientAuthType
		wantCAs     bool
		wantNoTicks bool
	}{
		{"defaults", func(*config.TLS) {}, tls.VersionTLS12, tls.NoClientCert, false, false},
		{"tls 1.3", func(c *config.TLS) { c.MinVersion = "1.3" }, tls.VersionTLS13, tls.NoClientCert, false, false},
		{"request", func(c *config.TLS) { c.ClientAuth, c.ClientCA = "request", caPath }, tls.VersionTLS12, tls.VerifyClientCertIfGiven, true, false},
		{"require", func(c *config.TLS) { c.ClientAuth, c.ClientCA = "require", caPath }, tls.VersionTLS12, tls.RequireAndVerifyClientCert, true, false},
		{"tickets off", func(c *config.TLS) { c.SessionTickets = false }, tls.VersionTLS12, tls.NoClientCert, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := tlsConfig(config.Certificate{Cert: certPath, Key: keyPath})
			tt.edit(c)
			got := mustServer(t, c).Config()
			if got.MinVersion != tt.wantMin || got.ClientAuth != tt.wantAuth || (got.ClientCAs != nil) != tt.wantCAs ||
				got.SessionTicketsDisabled != tt.wantNoTicks {
				t.Errorf("MinVersion, ClientAuth, ClientCAs set, SessionTicketsDisabled = %#x, %v, %v, %v; want %#x, %v, %v, %v",
					got.MinVersion, got.ClientAuth, got.ClientCAs != nil, got.SessionTicketsDisabled,
					tt.wantMin, tt.wantAuth, tt.wantCAs, tt.wantNoTicks)
			}
			wantSuites := []uint16{
				tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
				tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
				tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256, tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
			}
			if !slices.Equal(got.CipherSuites, wantSuites) || !slices.Equal(got.NextProtos, []string{"http/1.1"}) ||
				got.CurvePreferences != nil || got.GetCertificate == nil || len(got.Certificates) != 0 {
				t.Errorf("CipherSuites %v, NextProtos %q, CurvePreferences %v, GetCertificate set %v, Certificates %d; want the six ECDHE AEAD suites, [http/1.1], nil, true, 0",
					got.CipherSuites, got.NextProtos, got.CurvePreferences, got.GetCertificate != nil, len(got.Certificates))
			}
		})
	}
}

// TestMinVersion13RefusesTLS12 checks min_version = "1.3" with a client
// that stops at TLS 1.2.
func TestMinVersion13RefusesTLS12(t *testing.T) {
	dir := t.TempDir()
	ca := enginetest.NewCA(t, "test CA")
	certPath, keyPath := ca.IssueWith(t, enginetest.Options{Names: []string{"a.test"}}).WriteFiles(t, dir, "site")
	c := tlsConfig(config.Certificate{Cert: certPath, Key: keyPath})
	c.MinVersion = "1.3"
	r := handshake(t, "127.0.0.1", mustServer(t, c).Config(), &tls.Config{ServerName: "a.test", RootCAs: ca.Pool, MaxVersion: tls.VersionTLS12})
	if r.clientErr == nil || r.serverErr == nil {
		t.Fatalf("TLS 1.2 client against min_version 1.3: client %v, server %v; want both to fail", r.clientErr, r.serverErr)
	}
}

// TestReload checks that a broken file keeps the previous state whole and
// that a good one replaces it, by real handshakes.
func TestReload(t *testing.T) {
	dir := t.TempDir()
	ca := enginetest.NewCA(t, "test CA")
	oldLeaf := ca.IssueWith(t, enginetest.Options{Names: []string{"app.test"}})
	newLeaf := ca.IssueWith(t, enginetest.Options{Names: []string{"app.test"}, Key: enginetest.RSA})
	certPath, keyPath := oldLeaf.WriteFiles(t, dir, "site")
	c := tlsConfig(config.Certificate{Cert: certPath, Key: keyPath})
	s := mustServer(t, c)
	before := s.Config()
	cli := &tls.Config{ServerName: "app.test", RootCAs: ca.Pool}
	leafNow := func() []byte {
		t.Helper()
		r := handshake(t, "127.0.0.1", s.Config(), cli)
		if r.clientErr != nil || r.serverErr != nil {
			t.Fatalf("handshake: client %v, server %v", r.clientErr, r.serverErr)
		}
		return r.leaf()
	}

	// The new certificate is in place, its key not yet: a mismatch.
	enginetest.WriteFile(t, certPath, newLeaf.CertPEM)
	changed, err := s.Reload(c)
	if !errors.Is(err, ErrKeyMismatch) || changed {
		t.Fatalf("Reload with the new cert and the old key = %v, %v; want false, ErrKeyMismatch", changed, err)
	}
	if s.Config() != before || !bytes.Equal(leafNow(), oldLeaf.Cert.Raw) {
		t.Fatal("after a failed Reload the configuration changed; want the old one kept")
	}
	// A key file that does not parse at all.
	enginetest.WriteFile(t, keyPath, []byte("garbage"))
	if changed, err := s.Reload(c); !errors.Is(err, ErrInvalidFile) || changed {
		t.Fatalf("Reload with a garbage key = %v, %v; want false, ErrInvalidFile", changed, err)
	}
	if s.Config() != before {
		t.Fatal("after a failed Reload the configuration changed")
	}

	enginetest.WriteFile(t, keyPath, newLeaf.KeyPEM)
	if changed, err := s.Reload(c); err != nil || !changed {
		t.Fatalf("Reload with the new pair = %v, %v; want true, nil", changed, err)
	}
	if !bytes.Equal(leafNow(), newLeaf.Cert.Raw) {
		t.Fatal("after Reload the handshake still shows the old certificate")
	}

	after := s.Config()
	if changed, err := s.Reload(c); err != nil || changed || s.Config() != after {
		t.Fatalf("Reload of unchanged files = %v, %v (config replaced: %v); want false, nil, kept", changed, err, s.Config() != after)
	}
	c13 := *c
	c13.MinVersion = "1.3"
	if changed, err := s.Reload(&c13); err != nil || !changed || s.Config().MinVersion != tls.VersionTLS13 {
		t.Fatalf("Reload with min_version 1.3 = %v, %v, MinVersion %#x; want true, nil, TLS 1.3", changed, err, s.Config().MinVersion)
	}
}

// TestSessionTicketsShared checks that a ticket issued by one Server
// resumes against another built from the same ticket_key_file, and not
// against one with other keys or with tickets off.
func TestSessionTicketsShared(t *testing.T) {
	dir := t.TempDir()
	ca := enginetest.NewCA(t, "test CA")
	certPath, keyPath := ca.IssueWith(t, enginetest.Options{Names: []string{"app.test"}}).WriteFiles(t, dir, "site")
	shared := ticketKeyFile(t, dir, "tickets", 2)
	other := ticketKeyFile(t, dir, "tickets-other", 1)
	server := func(keys string, tickets bool) *Server {
		c := tlsConfig(config.Certificate{Cert: certPath, Key: keyPath})
		c.TicketKeyFile, c.SessionTickets = keys, tickets
		return mustServer(t, c)
	}
	tests := []struct {
		name       string
		first      *Server
		second     *Server
		wantResume bool
	}{
		{"same file", server(shared, true), server(shared, true), true},
		{"other file", server(shared, true), server(other, true), false},
		{"no file", server(shared, true), server("", true), false},
		{"tickets off", server(shared, false), server(shared, false), false},
	}
	for _, tt := range tests {
		for _, v := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
			t.Run(tt.name+"/"+tls.VersionName(v), func(t *testing.T) {
				cli := &tls.Config{ServerName: "app.test", RootCAs: ca.Pool, MaxVersion: v,
					ClientSessionCache: tls.NewLRUClientSessionCache(4)}
				if r := handshake(t, "127.0.0.1", tt.first.Config(), cli); r.clientErr != nil || r.serverErr != nil || r.state.DidResume {
					t.Fatalf("first handshake: client %v, server %v, resumed %v", r.clientErr, r.serverErr, r.state.DidResume)
				}
				r := handshake(t, "127.0.0.1", tt.second.Config(), cli)
				if r.clientErr != nil || r.serverErr != nil {
					t.Fatalf("second handshake: client %v, server %v", r.clientErr, r.serverErr)
				}
				if r.state.DidResume != tt.wantResume {
					t.Fatalf("DidResume = %v; want %v", r.state.DidResume, tt.wantResume)
				}
			})
		}
	}
}

// TestReloadKeepsAutomaticTicketKeys checks that without a ticket key
// file, sessions from before a reload still resume after it.
func TestReloadKeepsAutomaticTicketKeys(t *testing.T) {
	dir := t.TempDir()
	ca := enginetest.NewCA(t, "test CA")
	certPath, keyPath := ca.IssueWith(t, enginetest.Options{Names: []string{"app.test"}}).WriteFiles(t, dir, "site")
	c := tlsConfig(config.Certificate{Cert: certPath, Key: keyPath})
	s := mustServer(t, c)
	cli := &tls.Config{ServerName: "app.test", RootCAs: ca.Pool, ClientSessionCache: tls.NewLRUClientSessionCache(4)}
	if r := handshake(t, "127.0.0.1", s.Config(), cli); r.clientErr != nil || r.serverErr != nil {
		t.Fatalf("first handshake: client %v, server %v", r.clientErr, r.serverErr)
	}
	next := ca.IssueWith(t, enginetest.Options{Names: []string{"app.test"}})
	enginetest.WriteFile(t, certPath, next.CertPEM)
	enginetest.WriteFile(t, keyPath, next.KeyPEM)
	if changed, err := s.Reload(c); err != nil || !changed {
		t.Fatalf("Reload = %v, %v; want true, nil", changed, err)
	}
	r := handshake(t, "127.0.0.1", s.Config(), cli)
	if r.clientErr != nil || r.serverErr != nil || !r.state.DidResume {
		t.Fatalf("handshake after Reload: client %v, server %v, resumed %v; want a resumption", r.clientErr, r.serverErr, r.state.DidResume)
	}
}

// TestTicketKeyFileFormat checks comments, blank lines, CRLF and order:
// keys come out in file order, the first encrypting.
func TestTicketKeyFileFormat(t *testing.T) {
	dir := t.TempDir()
	var k1, k2 [32]byte
	k1[0], k2[0] = 1, 2
	doc := "# rotated 2026-01-01\r\n\r\n" + base64.StdEncoding.EncodeToString(k1[:]) + "\r\n  # older\n  " +
		base64.StdEncoding.EncodeToString(k2[:]) + "  \n"
	path := enginetest.WriteFileIn(t, dir, "tickets", []byte(doc))
	keys, err := loadTicketKeys(newReader(), "tls.ticket_key_file", path)
	if err != nil || !slices.Equal(keys, [][32]byte{k1, k2}) {
		t.Fatalf("loadTicketKeys = %v, %v; want the two keys in file order", keys, err)
	}
}

// TestClientAuth checks client_auth request and require with real
// handshakes.
func TestClientAuth(t *testing.T) {
	dir := t.TempDir()
	ca := enginetest.NewCA(t, "test CA")
	clientCA := enginetest.NewCA(t, "client CA")
	strangerCA := enginetest.NewCA(t, "stranger CA")
	certPath, keyPath := ca.IssueWith(t, enginetest.Options{Names: []string{"app.test"}}).WriteFiles(t, dir, "site")
	caPath := enginetest.WriteFileIn(t, dir, "clients.pem", clientCA.PEM)
	good := clientCA.IssueWith(t, enginetest.Options{Names: []string{"client.test"}, Client: true}).TLS(t)
	stranger := strangerCA.IssueWith(t, enginetest.Options{Names: []string{"client.test"}, Client: true}).TLS(t)
	tests := []struct {
		name   string
		auth   string
		cert   *tls.Certificate // nil: the client has none
		wantOK bool
	}{
		{"require, none", "require", nil, false},
		{"require, good", "require", &good, true},
		{"require, other CA", "require", &stranger, false},
		{"request, none", "request", nil, true},
		{"request, good", "request", &good, true},
		{"request, other CA", "request", &stranger, false},
		{"off, good", "off", &good, true},
	}
	for _, tt := range tests {
		for _, v := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
			t.Run(tt.name+"/"+tls.VersionName(v), func(t *testing.T) {
				c := tlsConfig(config.Certificate{Cert: certPath, Key: keyPath})
				c.ClientAuth, c.ClientCA = tt.auth, caPath
				cli := &tls.Config{ServerName: "app.test", RootCAs: ca.Pool, MaxVersion: v}
				if tt.cert != nil {
					// Go's client sends a certificate only if the server
					// lists its issuer; a hostile client sends it anyway.
					cli.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return tt.cert, nil }
				}
				r := handshake(t, "127.0.0.1", mustServer(t, c).Config(), cli)
				if ok := r.clientErr == nil && r.serverErr == nil; ok != tt.wantOK {
					t.Fatalf("handshake: client %v, server %v; want success %v", r.clientErr, r.serverErr, tt.wantOK)
				}
			})
		}
	}
}
