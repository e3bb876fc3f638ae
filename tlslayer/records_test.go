package tlslayer

import (
	"bytes"
	"crypto/tls"
	"errors"
	"testing"
)

// TestSealOpenRoundTrip seals with one end of a fixed-key pair and opens with
// the other, both ways, for every suite and the echo sizes.
func TestSealOpenRoundTrip(t *testing.T) {
	for _, fs := range fixedSuites {
		t.Run(fs.name, func(t *testing.T) {
			c, s := fixedPair(t, fs.version, fs.suite)
			for _, dir := range []struct {
				name     string
				from, to *Layer
			}{{"client-to-server", c, s}, {"server-to-client", s, c}} {
				for _, n := range echoSizes {
					msg := pattern(n, byte(n))
					rec := dir.from.Seal(nil, msg)
					if len(rec) != dir.from.SealedLen(n) {
						t.Fatalf("%s %d: sealed %d bytes, SealedLen says %d", dir.name, n, len(rec), dir.from.SealedLen(n))
					}
					plain, consumed, reply, err := dir.to.Open(rec, nil)
					if err != nil || consumed != len(rec) || len(reply) != 0 {
						t.Fatalf("%s %d: Open = consumed %d of %d, reply %d, %v", dir.name, n, consumed, len(rec), len(reply), err)
					}
					if !bytes.Equal(rec[:plain], msg) {
						t.Fatalf("%s %d: plaintext differs", dir.name, n)
					}
				}
			}
		})
	}
}

// openCase is one input to Open built by the sending end of a fixed pair.
type openCase struct {
	name      string
	only      uint16 // tls.VersionTLS12 or 13: run on that version only; 0 both
	toClient  bool   // the server end sends, the client end opens
	build     func(from *Layer) []byte
	wantPlain string
	wantErr   error
	wantReply bool
}

func appendRaw(dst []byte, typ uint8, body []byte) []byte {
	dst = append(dst, typ, 3, 3, byte(len(body)>>8), byte(len(body)))
	return append(dst, body...)
}

var openCases = []openCase{
	{name: "app-data", build: func(f *Layer) []byte {
		return f.Seal(f.Seal(nil, []byte("hello ")), []byte("world"))
	}, wantPlain: "hello world"},
	{name: "empty-record", build: func(f *Layer) []byte {
		return f.Seal(f.Seal(nil, nil), []byte("x"))
	}, wantPlain: "x"},
	{name: "bit-flip", build: func(f *Layer) []byte {
		b := f.Seal(f.Seal(nil, []byte("ok")), []byte("hello"))
		b[len(b)-3] ^= 0x10
		return b
	}, wantPlain: "ok", wantErr: ErrBadRecordMAC},
	{name: "header-version-changed", build: func(f *Layer) []byte {
		b := f.Seal(nil, []byte("hello"))
		b[2] = 1
		return b
	}, only: tls.VersionTLS12, wantErr: ErrBadRecordMAC},
	{name: "too-short-for-tag", build: func(f *Layer) []byte {
		return appendRaw(nil, typeApplicationData, make([]byte, 10))
	}, wantErr: ErrBadRecordMAC},
	{name: "close-notify", build: func(f *Layer) []byte {
		b := f.Seal(nil, []byte("bye"))
		b = f.AppendAlert(b, LevelWarning, uint8(AlertCloseNotify))
		return f.Seal(b, []byte("after"))
	}, wantPlain: "bye", wantErr: ErrCloseNotify},
	{name: "fatal-alert", build: func(f *Layer) []byte {
		return f.AppendAlert(f.Seal(nil, []byte("a")), LevelFatal, uint8(AlertHandshakeFailure))
	}, wantPlain: "a", wantErr: PeerAlertError(AlertHandshakeFailure)},
	{name: "warning-alert-skipped", only: tls.VersionTLS12, build: func(f *Layer) []byte {
		return f.Seal(f.AppendAlert(nil, LevelWarning, uint8(AlertNoRenegotiation)), []byte("x"))
	}, wantPlain: "x"},
	{name: "warning-alert-fatal-in-13", only: tls.VersionTLS13, build: func(f *Layer) []byte {
		return f.AppendAlert(nil, LevelWarning, uint8(AlertNoRenegotiation))
	}, wantErr: PeerAlertError(AlertNoRenegotiation)},
	{name: "user-canceled-skipped", only: tls.VersionTLS13, build: func(f *Layer) []byte {
		return f.Seal(f.AppendAlert(nil, LevelWarning, uint8(AlertUserCanceled)), []byte("x"))
	}, wantPlain: "x"},
	{name: "alert-of-3-bytes", build: func(f *Layer) []byte {
		return f.sealRecord(nil, typeAlert, []byte{1, 0, 0})
	}, wantErr: ErrDecodeError},
	{name: "oversize-header", build: func(f *Layer) []byte {
		// Only the header: the length alone condemns it.
		return []byte{typeApplicationData, 3, 3, (maxCiphertext12 + 1) >> 8, (maxCiphertext12 + 1) & 0xff}
	}, wantErr: ErrRecordOverflow},
	{name: "oversize-header-13", only: tls.VersionTLS13, build: func(f *Layer) []byte {
		return []byte{typeApplicationData, 3, 3, (maxCiphertext13 + 1) >> 8, (maxCiphertext13 + 1) & 0xff}
	}, wantErr: ErrRecordOverflow},
	{name: "plaintext-over-2^14", build: func(f *Layer) []byte {
		return f.sealRecord(f.Seal(nil, []byte("a")), typeApplicationData, make([]byte, MaxPlaintext+1))
	}, wantPlain: "a", wantErr: ErrRecordOverflow},
	{name: "change-cipher-spec", build: func(f *Layer) []byte {
		return appendRaw(nil, typeChangeCipherSpec, []byte{1})
	}, wantErr: ErrUnexpectedMessage},
	{name: "unknown-record-type", build: func(f *Layer) []byte {
		return appendRaw(nil, 24, make([]byte, 40))
	}, wantErr: ErrUnexpectedMessage},
	{name: "plaintext-handshake-13", only: tls.VersionTLS13, build: func(f *Layer) []byte {
		return appendRaw(nil, typeHandshake, []byte{msgClientHello, 0, 0, 0})
	}, wantErr: ErrUnexpectedMessage},
	{name: "empty-handshake-record", build: func(f *Layer) []byte {
		return f.sealRecord(nil, typeHandshake, nil)
	}, wantErr: ErrUnexpectedMessage},
	{name: "renegotiation-client-hello", only: tls.VersionTLS12, build: func(f *Layer) []byte {
		return f.sealRecord(f.Seal(nil, []byte("a")), typeHandshake, []byte{msgClientHello, 0, 0, 2, 3, 3})
	}, wantPlain: "a", wantErr: ErrRenegotiation},
	{name: "renegotiation-hello-request", only: tls.VersionTLS12, toClient: true, build: func(f *Layer) []byte {
		return f.sealRecord(nil, typeHandshake, []byte{msgHelloRequest, 0, 0, 0})
	}, wantErr: ErrRenegotiation},
	{name: "hello-request-to-server", only: tls.VersionTLS12, build: func(f *Layer) []byte {
		return f.sealRecord(nil, typeHandshake, []byte{msgHelloRequest, 0, 0, 0})
	}, wantErr: ErrUnexpectedMessage},
	{name: "client-hello-13", only: tls.VersionTLS13, build: func(f *Layer) []byte {
		return f.sealRecord(nil, typeHandshake, []byte{msgClientHello, 0, 0, 2, 3, 3})
	}, wantErr: ErrUnexpectedMessage},
	{name: "padding-stripped", only: tls.VersionTLS13, build: func(f *Layer) []byte {
		// content "hi", type application_data, three zeros of padding.
		return f.sealRecord(nil, 0, []byte{'h', 'i', typeApplicationData, 0, 0})
	}, wantPlain: "hi"},
	{name: "only-padding", only: tls.VersionTLS13, build: func(f *Layer) []byte {
		return f.sealRecord(nil, 0, []byte{0, 0})
	}, wantErr: ErrUnexpectedMessage},
	{name: "key-update", only: tls.VersionTLS13, build: func(f *Layer) []byte {
		b := f.Seal(nil, []byte("before "))
		b = f.KeyUpdate(b, false)
		return f.Seal(b, []byte("after"))
	}, wantPlain: "before after"},
	{name: "key-update-requested", only: tls.VersionTLS13, build: func(f *Layer) []byte {
		return f.Seal(f.KeyUpdate(nil, true), []byte("after"))
	}, wantPlain: "after", wantReply: true},
	{name: "key-update-split-across-records", only: tls.VersionTLS13, build: func(f *Layer) []byte {
		b := f.sealRecord(nil, typeHandshake, []byte{msgKeyUpdate, 0})
		b = f.sealRecord(b, typeHandshake, []byte{0, 1, 0})
		f.out.update(f.p)
		return f.Seal(b, []byte("after"))
	}, wantPlain: "after"},
	{name: "data-inside-split-message", only: tls.VersionTLS13, build: func(f *Layer) []byte {
		b := f.sealRecord(nil, typeHandshake, []byte{msgKeyUpdate, 0})
		return f.Seal(b, []byte("x"))
	}, wantErr: ErrUnexpectedMessage},
	{name: "key-update-bad-value", only: tls.VersionTLS13, build: func(f *Layer) []byte {
		return f.sealRecord(nil, typeHandshake, []byte{msgKeyUpdate, 0, 0, 1, 2})
	}, wantErr: ErrIllegalParameter},
	{name: "key-update-bad-length", only: tls.VersionTLS13, build: func(f *Layer) []byte {
		return f.sealRecord(nil, typeHandshake, []byte{msgKeyUpdate, 0, 0, 2, 0, 0})
	}, wantErr: ErrDecodeError},
	{name: "key-update-not-last-in-record", only: tls.VersionTLS13, build: func(f *Layer) []byte {
		return f.sealRecord(nil, typeHandshake, []byte{msgKeyUpdate, 0, 0, 1, 0, msgKeyUpdate, 0, 0, 1, 0})
	}, wantErr: ErrUnexpectedMessage},
	{name: "key-update-on-12-appends-nothing", only: tls.VersionTLS12, build: func(f *Layer) []byte {
		return f.Seal(f.KeyUpdate(nil, true), []byte("x"))
	}, wantPlain: "x"},
	{name: "ticket-to-client-ignored", only: tls.VersionTLS13, toClient: true, build: func(f *Layer) []byte {
		nst := []byte{msgNewSessionTicket, 0, 0, 16, 0, 0, 0, 60, 1, 2, 3, 4, 0, 0, 3, 't', 'k', 't', 0, 0}
		// Split inside the header, inside the body, then two in one record.
		b := f.sealRecord(nil, typeHandshake, nst[:2])
		b = f.sealRecord(b, typeHandshake, nst[2:10])
		b = f.sealRecord(b, typeHandshake, nst[10:])
		b = f.sealRecord(b, typeHandshake, append(append([]byte(nil), nst...), nst...))
		return f.Seal(b, []byte("x"))
	}, wantPlain: "x"},
	{name: "ticket-to-server", only: tls.VersionTLS13, build: func(f *Layer) []byte {
		return f.sealRecord(nil, typeHandshake, []byte{msgNewSessionTicket, 0, 0, 16, 0, 0, 0, 60, 1, 2, 3, 4, 0, 0, 3, 't', 'k', 't', 0, 0})
	}, wantErr: ErrUnexpectedMessage},
	{name: "incomplete-trailing-record", build: func(f *Layer) []byte {
		b := f.Seal(nil, []byte("whole"))
		n := len(b)
		b = f.Seal(b, []byte("partial"))
		return b[:n+9]
	}, wantPlain: "whole"},
}

// TestOpenCases runs the Open table on every suite.
func TestOpenCases(t *testing.T) {
	for _, fs := range fixedSuites {
		for _, oc := range openCases {
			if oc.only != 0 && oc.only != fs.version {
				continue
			}
			t.Run(fs.name+"/"+oc.name, func(t *testing.T) {
				c, s := fixedPair(t, fs.version, fs.suite)
				from, to := c, s
				if oc.toClient {
					from, to = s, c
				}
				in := oc.build(from)
				plain, consumed, reply, err := to.Open(in, nil)
				if oc.wantErr == nil && err != nil || oc.wantErr != nil && !errors.Is(err, oc.wantErr) {
					t.Fatalf("err = %v, want %v", err, oc.wantErr)
				}
				if got := string(in[:plain]); got != oc.wantPlain {
					t.Fatalf("plain = %q, want %q", got, oc.wantPlain)
				}
				if consumed < plain || consumed > len(in) {
					t.Fatalf("consumed = %d, plain %d, len %d", consumed, plain, len(in))
				}
				var ae *AlertError
				if errors.As(err, &ae) && ae.Alert == 0 {
					t.Fatalf("alert error %v without an alert", err)
				}
				if oc.wantReply != (len(reply) > 0) {
					t.Fatalf("reply of %d bytes, want one: %v", len(reply), oc.wantReply)
				}
				if len(reply) > 0 {
					// The sender opens the answer, then both keep talking
					// under the new keys.
					if _, _, r2, err := from.Open(reply, nil); err != nil || len(r2) != 0 {
						t.Fatalf("sender opening the reply: %v", err)
					}
					back := to.Seal(nil, []byte("new keys"))
					if p, _, _, err := from.Open(back, nil); err != nil || string(back[:p]) != "new keys" {
						t.Fatalf("after the reply: %q, %v", back[:p], err)
					}
				}
			})
		}
	}
}

// TestAlertErrors: the errors name their alert and wrap what they should.
func TestAlertErrors(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want Alert
	}{
		{ErrBadRecordMAC, AlertBadRecordMAC},
		{ErrRecordOverflow, AlertRecordOverflow},
		{ErrUnexpectedMessage, AlertUnexpectedMessage},
		{ErrDecodeError, AlertDecodeError},
		{ErrIllegalParameter, AlertIllegalParameter},
	} {
		var ae *AlertError
		if !errors.As(tc.err, &ae) || ae.Alert != tc.want {
			t.Errorf("%v: alert %v, want %v", tc.err, ae, tc.want)
		}
	}
	var err error = PeerAlertError(AlertBadCertificate)
	var pa PeerAlertError
	if !errors.Is(err, ErrPeerAlert) || !errors.As(err, &pa) || Alert(pa) != AlertBadCertificate {
		t.Errorf("peer alert %v does not unwrap to ErrPeerAlert with its description", err)
	}
	if got, want := err.Error(), "tlslayer: peer sent fatal alert bad_certificate"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	if got := Alert(201).String(); got != "alert(201)" {
		t.Errorf("unknown alert name = %q", got)
	}
}

// TestPark: a parked Layer rebuilds its AEADs and goes on where it stopped,
// across a KeyUpdate too.
func TestPark(t *testing.T) {
	for _, fs := range fixedSuites {
		t.Run(fs.name, func(t *testing.T) {
			c, s := fixedPair(t, fs.version, fs.suite)
			for round := range 3 {
				c.Park()
				s.Park()
				rec := c.Seal(nil, []byte("after park"))
				if round == 1 {
					rec = c.KeyUpdate(rec, true)
					rec = c.Seal(rec, []byte("!"))
				}
				s.Park()
				plain, consumed, reply, err := s.Open(rec, nil)
				want := "after park"
				if round == 1 {
					want += "!"
				}
				if err != nil || consumed != len(rec) || string(rec[:plain]) != want {
					t.Fatalf("round %d: Open = %q, consumed %d of %d, %v", round, rec[:plain], consumed, len(rec), err)
				}
				c.Park()
				back := s.Seal(reply, []byte("back"))
				if plain, _, _, err := c.Open(back, nil); err != nil || string(back[:plain]) != "back" {
					t.Fatalf("round %d: back = %q, %v", round, back[:plain], err)
				}
			}
		})
	}
}

// TestUselessRecords: a peer cannot keep the loop busy with records that
// carry no data. Of the KeyUpdates asking for an answer between two data
// records only the first is answered, and past maxUselessRecords records in
// a row without data the connection is refused; data resets both.
func TestUselessRecords(t *testing.T) {
	for _, fs := range fixedSuites {
		if fs.version != tls.VersionTLS13 {
			continue
		}
		t.Run(fs.name, func(t *testing.T) {
			c, s := fixedPair(t, fs.version, fs.suite)
			var flood []byte
			for range maxUselessRecords {
				flood = c.KeyUpdate(flood, true)
			}
			_, consumed, reply, err := s.Open(flood, nil)
			if err != nil || consumed != len(flood) {
				t.Fatalf("%d updates: consumed %d of %d, %v", maxUselessRecords, consumed, len(flood), err)
			}
			one := len(s.KeyUpdate(nil, false))
			// The answer above moved s's write key on once: c reads it.
			if len(reply) != one {
				t.Fatalf("%d update requests got %d bytes of answers, want one answer (%d bytes)", maxUselessRecords, len(reply), one)
			}
			data := c.Seal(nil, []byte("data"))
			if plain, _, _, err := s.Open(data, nil); err != nil || plain != 4 {
				t.Fatalf("data after the updates: %d, %v", plain, err)
			}
			more := c.KeyUpdate(nil, true)
			if _, _, reply, err = s.Open(more, nil); err != nil || len(reply) != one {
				t.Fatalf("after data, an update request: %d bytes of answers, %v; want one", len(reply), err)
			}
			var empties []byte
			for range maxUselessRecords {
				empties = c.Seal(empties, nil)
			}
			if _, _, _, err := s.Open(empties, nil); err != ErrUnexpectedMessage {
				t.Fatalf("%d records without data in a row: %v, want ErrUnexpectedMessage", maxUselessRecords+1, err)
			}
		})
	}
}
