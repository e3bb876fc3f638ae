package tlsconf

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"testing"
	"time"

	"github.com/throngproxy/throng/config"
	"github.com/throngproxy/throng/engine/enginetest"
)

// watch runs s.Watch every 10ms until the test ends and returns the
// channel its onReload results arrive on.
func watch(t *testing.T, s *Server) <-chan error {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	reloads := make(chan error)
	go func() {
		defer close(done)
		s.Watch(ctx, 10*time.Millisecond, func(err error) {
			select {
			case reloads <- err:
			case <-ctx.Done():
			}
		})
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return reloads
}

// waitReload waits for an onReload result matching ok, failing the test
// after a deadline; it returns the results seen before.
func waitReload(t *testing.T, reloads <-chan error, ok func(error) bool) []error {
	t.Helper()
	deadline := time.After(5 * time.Second)
	var seen []error
	for {
		select {
		case err := <-reloads:
			if ok(err) {
				return seen
			}
			seen = append(seen, err)
		case <-deadline:
			t.Fatalf("no matching reload within 5s; saw %v", seen)
		}
	}
}

// TestWatchRenameOver checks that a certificate and key replaced by
// renaming new files over them are picked up, and that a half-done
// replacement (new key, old certificate) is reported and then recovered.
func TestWatchRenameOver(t *testing.T) {
	dir := t.TempDir()
	ca := enginetest.NewCA(t, "test CA")
	oldLeaf := ca.IssueWith(t, enginetest.Options{Names: []string{"app.test"}})
	newLeaf := ca.IssueWith(t, enginetest.Options{Names: []string{"app.test"}})
	certPath, keyPath := oldLeaf.WriteFiles(t, dir, "site")
	s := mustServer(t, tlsConfig(config.Certificate{Cert: certPath, Key: keyPath}))
	reloads := watch(t, s)

	enginetest.WriteFile(t, keyPath, newLeaf.KeyPEM)
	// The watcher may or may not poll between the two renames; if it does,
	// it reports a mismatch and keeps the old pair.
	enginetest.WriteFile(t, certPath, newLeaf.CertPEM)
	for _, err := range waitReload(t, reloads, func(err error) bool { return err == nil }) {
		if !errors.Is(err, ErrKeyMismatch) {
			t.Errorf("reload between the renames: %v; want ErrKeyMismatch", err)
		}
	}
	r := handshake(t, "127.0.0.1", s.Config(), &tls.Config{ServerName: "app.test", RootCAs: ca.Pool})
	if r.clientErr != nil || r.serverErr != nil || !bytes.Equal(r.leaf(), newLeaf.Cert.Raw) {
		t.Fatalf("handshake after the rename: client %v, server %v, new leaf %v", r.clientErr, r.serverErr, bytes.Equal(r.leaf(), newLeaf.Cert.Raw))
	}
}

// TestWatchBrokenThenFixed checks that a broken file is reported, the old
// configuration kept, and the fixed file loaded.
func TestWatchBrokenThenFixed(t *testing.T) {
	dir := t.TempDir()
	ca := enginetest.NewCA(t, "test CA")
	leaf := ca.IssueWith(t, enginetest.Options{Names: []string{"app.test"}})
	certPath, keyPath := leaf.WriteFiles(t, dir, "site")
	tickets := ticketKeyFile(t, dir, "tickets", 1)
	c := tlsConfig(config.Certificate{Cert: certPath, Key: keyPath})
	c.TicketKeyFile = tickets
	s := mustServer(t, c)
	before := s.Config()
	reloads := watch(t, s)

	enginetest.WriteFile(t, tickets, []byte("short\n"))
	waitReload(t, reloads, func(err error) bool { return errors.Is(err, ErrTicketKeys) })
	if s.Config() != before {
		t.Fatal("a broken ticket key file replaced the configuration")
	}
	// Ten polls go by without a report: the broken file is not retried
	// until it changes. (This wait can only miss a repeat, never invent
	// one; nothing waits on it for synchronization.)
	select {
	case err := <-reloads:
		t.Fatalf("the unchanged broken file was reported again: %v", err)
	case <-time.After(100 * time.Millisecond):
	}
	enginetest.WriteFile(t, tickets, readFile(t, ticketKeyFile(t, dir, "tickets.next", 2)))
	if seen := waitReload(t, reloads, func(err error) bool { return err == nil }); len(seen) > 0 {
		t.Errorf("reloads before the fix loaded: %v; want none", seen)
	}
	if s.Config() == before {
		t.Fatal("the fixed ticket key file did not replace the configuration")
	}
}

// TestWatchFollowsReload checks that after Reload with another config,
// Watch watches the new config's files and reloads that config, not the
// one the Server was built from.
func TestWatchFollowsReload(t *testing.T) {
	dir := t.TempDir()
	ca := enginetest.NewCA(t, "test CA")
	a := ca.IssueWith(t, enginetest.Options{Names: []string{"app.test"}})
	b := ca.IssueWith(t, enginetest.Options{Names: []string{"app.test"}})
	aCert, aKey := a.WriteFiles(t, dir, "a")
	bCert, bKey := b.WriteFiles(t, dir, "b")
	s := mustServer(t, tlsConfig(config.Certificate{Cert: aCert, Key: aKey}))
	reloads := watch(t, s)
	if _, err := s.Reload(tlsConfig(config.Certificate{Cert: bCert, Key: bKey})); err != nil {
		t.Fatal(err)
	}
	next := ca.IssueWith(t, enginetest.Options{Names: []string{"app.test"}})
	enginetest.WriteFile(t, bKey, next.KeyPEM)
	enginetest.WriteFile(t, bCert, next.CertPEM)
	waitReload(t, reloads, func(err error) bool { return err == nil })
	got, err := s.Config().GetCertificate(&tls.ClientHelloInfo{ServerName: "app.test"})
	if err != nil || !bytes.Equal(got.Leaf.Raw, next.Cert.Raw) {
		t.Fatalf("after the rename over b: leaf is the new one %v (err %v); want it", err == nil && bytes.Equal(got.Leaf.Raw, next.Cert.Raw), err)
	}
}
