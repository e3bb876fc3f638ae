package tlslayer

import (
	"bytes"
	"crypto/tls"
	"errors"
	"io"
	"testing"
)

// TestOpenSplit records what a real Go client sends after the handshake
// (application data; on TLS 1.3 also its KeyUpdate; then close_notify) and
// opens it three ways from the same Layer state: whole, arriving one byte
// at a time, and cut in two at every byte. All must give the same plaintext
// and end in ErrCloseNotify having consumed everything.
func TestOpenSplit(t *testing.T) {
	p := testPKI(t)
	sizes := []int{1, 64, 1000, 16<<10 + 1, 2000}
	var want []byte
	for i, n := range sizes {
		want = append(want, pattern(n, byte(i))...)
	}
	for _, version := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		t.Run(tls.VersionName(version), func(t *testing.T) {
			ln := listen(t)
			ch := acceptLayer(t, ln, serverConfigFor(p.ecdsa))
			ccfg := clientConfigFor(p)
			ccfg.MaxVersion = version
			cc, err := dialGo(t, ln, ccfg)
			s := waitServer(t, ch)
			if err != nil || s.err != nil {
				t.Fatalf("handshake: client %v, server %v", err, s.err)
			}
			// Ask for the client's KeyUpdate (a no-op on 1.2).
			out := s.l.Seal(s.l.KeyUpdate(nil, true), []byte("go"))
			if _, err := s.conn.Write(out); err != nil {
				t.Fatal(err)
			}
			if got, err := io.ReadAll(io.LimitReader(cc, 2)); err != nil || string(got) != "go" {
				t.Fatalf("client read %q, %v", got, err)
			}
			go func() {
				for i, n := range sizes {
					cc.Write(pattern(n, byte(i)))
				}
				cc.CloseWrite()
				cc.Close()
			}()
			raw, err := io.ReadAll(s.conn)
			if err != nil {
				t.Fatalf("read client bytes: %v", err)
			}
			start := *s.l // the state before any of raw

			whole := start
			buf := bytes.Clone(raw)
			plain, consumed, _, err := whole.Open(buf, nil)
			if !errors.Is(err, ErrCloseNotify) || consumed != len(raw) || !bytes.Equal(buf[:plain], want) {
				t.Fatalf("whole: consumed %d of %d, plain equal %v, %v", consumed, len(raw), bytes.Equal(buf[:plain], want), err)
			}
			if version == tls.VersionTLS13 && whole.in.secret == start.in.secret {
				t.Fatal("the client's KeyUpdate did not change the read key")
			}

			stream := start
			got, total := openStream(t, &stream, raw, func(i int) int { return i + 1 })
			if !bytes.Equal(got, want) || total != len(raw) {
				t.Fatalf("byte at a time: %d plaintext bytes (want %d), consumed %d of %d", len(got), len(want), total, len(raw))
			}

			for k := range len(raw) + 1 {
				cut := start
				got, total := openStream(t, &cut, raw, func(i int) int {
					if i < k {
						return k
					}
					return len(raw)
				})
				if !bytes.Equal(got, want) || total != len(raw) {
					t.Fatalf("cut at %d: %d plaintext bytes (want %d), consumed %d of %d", k, len(got), len(want), total, len(raw))
				}
			}
		})
	}
}

// openStream feeds raw to l as it would arrive: next(i) is how many bytes of
// raw have arrived once i have. It wants ErrCloseNotify at the end, and
// returns the plaintext and the bytes consumed.
func openStream(t *testing.T, l *Layer, raw []byte, next func(int) int) ([]byte, int) {
	t.Helper()
	var pending, got []byte
	total := 0
	for arrived := 0; arrived < len(raw); {
		n := next(arrived)
		pending = append(pending, raw[arrived:n]...)
		arrived = n
		plain, consumed, reply, err := l.Open(pending, nil)
		if len(reply) != 0 {
			t.Fatalf("unexpected reply of %d bytes", len(reply))
		}
		got = append(got, pending[:plain]...)
		total += consumed
		pending = pending[consumed:]
		if errors.Is(err, ErrCloseNotify) {
			if arrived != len(raw) || len(pending) != 0 {
				t.Fatalf("close_notify with %d bytes still to come", len(raw)-total)
			}
			return got, total
		}
		if err != nil {
			t.Fatalf("at %d bytes: %v", arrived, err)
		}
	}
	t.Fatal("no close_notify")
	return nil, 0
}
