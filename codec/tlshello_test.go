package codec

import (
	"bytes"
	"crypto/tls"
	"errors"
	"net"
	"testing"
	"time"
)

// errThStop ends a capture's handshake once the ClientHello is written.
var errThStop = errors.New("capture done")

// thRecorder is the client's side of a connection that keeps what the client
// writes before it first reads: its first flight, the ClientHello.
type thRecorder struct {
	net.Conn // nil: crypto/tls calls only the methods below here
	out      []byte
	reading  bool
}

func (r *thRecorder) Write(p []byte) (int, error) {
	if !r.reading {
		r.out = append(r.out, p...)
	}
	return len(p), nil
}

func (r *thRecorder) Read([]byte) (int, error) {
	r.reading = true
	return 0, errThStop
}

func (r *thRecorder) Close() error                     { return nil }
func (r *thRecorder) SetDeadline(time.Time) error      { return nil }
func (r *thRecorder) SetReadDeadline(time.Time) error  { return nil }
func (r *thRecorder) SetWriteDeadline(time.Time) error { return nil }

// thCapture returns the first flight of Go's crypto/tls client with cfg.
func thCapture(tb testing.TB, cfg *tls.Config) []byte {
	tb.Helper()
	r := &thRecorder{}
	if err := tls.Client(r, cfg).Handshake(); !errors.Is(err, errThStop) {
		tb.Fatalf("handshake: got %v, want %v", err, errThStop)
	}
	if len(r.out) < recordHeaderLen || r.out[0] != recordHandshake {
		tb.Fatalf("captured %x, not a handshake record", r.out)
	}
	return r.out
}

// thHellos are ClientHellos from crypto/tls: with a post-quantum key share
// and without, TLS 1.2 only, and with ALPN and a long server name.
func thHellos(tb testing.TB) map[string][]byte {
	return map[string][]byte{
		"X25519MLKEM768": thCapture(tb, &tls.Config{ServerName: "example.com",
			CurvePreferences: []tls.CurveID{tls.X25519MLKEM768, tls.X25519}}),
		"X25519":  thCapture(tb, &tls.Config{ServerName: "example.com", CurvePreferences: []tls.CurveID{tls.X25519}}),
		"TLS 1.2": thCapture(tb, &tls.Config{ServerName: "example.com", MaxVersion: tls.VersionTLS12}),
		"ALPN": thCapture(tb, &tls.Config{ServerName: string(bytes.Repeat([]byte("a123456789."), 20)) + "example",
			NextProtos: []string{"h2", "http/1.1"}}),
	}
}

// thMessage returns the handshake message carried by the records of b,
// which ClientHelloLen accepted whole.
func thMessage(b []byte) []byte {
	var msg []byte
	for len(b) >= recordHeaderLen {
		l := int(b[3])<<8 | int(b[4])
		msg = append(msg, b[recordHeaderLen:recordHeaderLen+l]...)
		b = b[recordHeaderLen+l:]
	}
	return msg[:handshakeHeaderLen+(int(msg[1])<<16|int(msg[2])<<8|int(msg[3]))]
}

// thRecords cuts msg into handshake records of TLS 1.0 version, their
// payload lengths taken from sizes in turn, the last one repeating.
func thRecords(msg []byte, sizes ...int) []byte {
	var out []byte
	for i := 0; len(msg) > 0; i++ {
		k := min(sizes[min(i, len(sizes)-1)], len(msg))
		out = append(out, recordHandshake, 3, 1, byte(k>>8), byte(k))
		out = append(out, msg[:k]...)
		msg = msg[k:]
	}
	return out
}

// thCheckPrefixes checks that every proper prefix of in is incomplete, or,
// when the whole fails, gets the same error as the whole.
func thCheckPrefixes(t *testing.T, in []byte) {
	t.Helper()
	n, whole := ClientHelloLen(in)
	if whole == nil {
		in = in[:n]
	}
	for k := range len(in) {
		if _, err := ClientHelloLen(in[:k]); err != ErrHelloIncomplete && err != whole {
			t.Fatalf("prefix of %d bytes: got %v, want %v or %v", k, err, ErrHelloIncomplete, whole)
		}
	}
}

func TestClientHelloLenReal(t *testing.T) {
	hellos := thHellos(t)
	pq, classic := len(hellos["X25519MLKEM768"]), len(hellos["X25519"])
	if pq < classic+1000 {
		t.Fatalf("post-quantum ClientHello of %d bytes, classic one of %d: want the key share to show", pq, classic)
	}
	t.Logf("ClientHello sizes: X25519MLKEM768 %d bytes, X25519 %d, TLS 1.2 %d, ALPN %d",
		pq, classic, len(hellos["TLS 1.2"]), len(hellos["ALPN"]))
	for name, hello := range hellos {
		t.Run(name, func(t *testing.T) {
			if n, err := ClientHelloLen(hello); err != nil || n != len(hello) {
				t.Fatalf("got %d, %v; want %d, nil", n, err, len(hello))
			}
			// Bytes after the record are not the ClientHello's.
			if n, err := ClientHelloLen(append(hello[:len(hello):len(hello)], "\x17\x03\x03"...)); err != nil || n != len(hello) {
				t.Fatalf("with bytes after: got %d, %v; want %d, nil", n, err, len(hello))
			}
			thCheckPrefixes(t, hello)
		})
	}
}

func TestClientHelloLenFragmented(t *testing.T) {
	msg := thMessage(thHellos(t)["X25519MLKEM768"])
	tests := []struct {
		name  string
		sizes []int
	}{
		{"1-byte records", []int{1}},
		{"2-byte records", []int{2}},
		{"header split 3+1", []int{3, 1, 1000}},
		{"header split 1+3", []int{1, 3, 500}},
		{"header whole, body split", []int{4, 7}},
		{"two records", []int{100, 16384}},
		{"last record 1 byte", []int{len(msg) - 1, 1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := thRecords(msg, tc.sizes...)
			if n, err := ClientHelloLen(in); err != nil || n != len(in) {
				t.Fatalf("got %d, %v; want %d, nil", n, err, len(in))
			}
			thCheckPrefixes(t, in)
		})
	}
}

func TestClientHelloLenLimits(t *testing.T) {
	// The largest accepted: four full records ending at exactly
	// MaxClientHelloBytes; the body one byte longer is refused.
	body := MaxClientHelloBytes - 4*recordHeaderLen - handshakeHeaderLen
	largest := thRecords(append([]byte{1, byte(body >> 16), byte(body >> 8), byte(body)}, make([]byte, body)...), maxRecordPayload)
	if n, err := ClientHelloLen(largest); err != nil || n != MaxClientHelloBytes {
		t.Fatalf("largest: got %d, %v; want %d, nil", n, err, MaxClientHelloBytes)
	}
	body++
	over := thRecords(append([]byte{1, byte(body >> 16), byte(body >> 8), byte(body)}, make([]byte, body)...), maxRecordPayload)
	if _, err := ClientHelloLen(over); err != errHelloTooLong {
		t.Fatalf("one byte over: got %v, want %v", err, errHelloTooLong)
	}
	// A message that would fit in one piece but not in 1-byte records.
	body = 40000
	tiny := thRecords(append([]byte{1, byte(body >> 16), byte(body >> 8), byte(body)}, make([]byte, body)...), 1)
	if n, err := ClientHelloLen(tiny); err != errHelloTooLong {
		t.Fatalf("40000 bytes in 1-byte records: got %d, %v; want %v", n, err, errHelloTooLong)
	}
	if n, err := ClientHelloLen(tiny[:MaxClientHelloBytes]); err != ErrHelloIncomplete {
		t.Fatalf("its first MaxClientHelloBytes: got %d, %v; want %v", n, err, ErrHelloIncomplete)
	}
}

func TestClientHelloLenErrors(t *testing.T) {
	hello := thHellos(t)["X25519"]
	msg := thMessage(hello)
	twoRecords := thRecords(msg, 50)
	cut := recordHeaderLen + 50
	alert := []byte{21, 3, 3, 0, 2, 2, 40}
	tests := []struct {
		name string
		in   []byte
		want error
	}{
		{"HTTP", []byte("GET / HTTP/1.1\r\nHost: a\r\n\r\n"), ErrNotTLS},
		{"HTTP's first byte", []byte("G"), ErrNotTLS},
		{"PROXY line", []byte("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n"), ErrNotTLS},
		// SSLv2-compatible ClientHello (RFC 5246 Appendix E.2): a 2-byte
		// length with the high bit set, then msg_type 1. Its first byte is
		// no TLS content type, so it is told from the first byte; a
		// TLS 1.2 server may accept one, but crypto/tls does not.
		{"SSLv2 ClientHello", []byte{0x80, 0x2e, 0x01, 0x03, 0x01, 0x00, 0x15, 0x00, 0x00, 0x00, 0x10}, ErrNotTLS},
		{"SSLv2's first byte", []byte{0x80}, ErrNotTLS},
		{"content type 0", []byte{0, 3, 1, 0, 1, 1}, ErrNotTLS},
		{"content type 25", []byte{25, 3, 1, 0, 1, 1}, ErrNotTLS},
		{"major version 2", []byte{22, 2, 0}, ErrNotTLS},
		{"SSL 3.0 record", []byte{22, 3, 0, 0, 1, 1}, ErrNotTLS},
		{"record version 0x0304", []byte{22, 3, 4, 0, 1, 1}, ErrNotTLS},
		{"alert first", alert, errHelloNotHandshake},
		{"change_cipher_spec first", []byte{20, 3, 3, 0, 1, 1}, errHelloNotHandshake},
		{"application data first", []byte{23, 3, 3, 0, 5, 1, 2, 3, 4, 5}, errHelloNotHandshake},
		{"record length 0", []byte{22, 3, 1, 0, 0}, errHelloRecordLen},
		{"record length 2^14+1", append([]byte{22, 3, 1, 0x40, 0x01}, msg...), errHelloRecordLen},
		{"record length high byte alone", []byte{22, 3, 1, 0x41}, errHelloRecordLen},
		{"ServerHello", []byte{22, 3, 3, 0, 4, 2, 0, 0, 0}, errHelloType},
		{"HelloRequest", []byte{22, 3, 1, 0, 4, 0, 0, 0, 0}, errHelloType},
		{"message over the limit", []byte{22, 3, 1, 0, 4, 1, 0x01, 0x00, 0x00}, errHelloTooLong},
		{"message length 2^24-1", []byte{22, 3, 1, 0, 4, 1, 0xff, 0xff, 0xff}, errHelloTooLong},
		{"header split, over the limit", []byte{22, 3, 1, 0, 2, 1, 0x01, 22, 3, 1, 0, 2, 0x00, 0x00}, errHelloTooLong},
		{"alert interleaves", bytes.Join([][]byte{twoRecords[:cut], alert, twoRecords[cut:]}, nil), errHelloRecord},
		{"change_cipher_spec interleaves", bytes.Join([][]byte{twoRecords[:cut], {20, 3, 3, 0, 1, 1}, twoRecords[cut:]}, nil), errHelloRecord},
		{"later record SSL 3.0", bytes.Join([][]byte{twoRecords[:cut], {22, 3, 0}, twoRecords[cut+3:]}, nil), errHelloRecord},
		{"later record garbage", append(twoRecords[:cut:cut], "GET / HTTP/1.1\r\n"...), errHelloRecord},
		{"later record length 0", append(twoRecords[:cut:cut], 22, 3, 1, 0, 0), errHelloRecordLen},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if n, err := ClientHelloLen(tc.in); err != tc.want || n != 0 {
				t.Fatalf("got %d, %v; want 0, %v", n, err, tc.want)
			}
			if tc.want != ErrNotTLS && !errors.Is(tc.want, ErrBadHello) {
				t.Fatalf("%v does not match ErrBadHello", tc.want)
			}
			thCheckPrefixes(t, tc.in)
		})
	}
}

func TestClientHelloLenFirstByte(t *testing.T) {
	// ErrNotTLS as soon as the first byte tells; TLS content types wait
	// for the version.
	for c := range 256 {
		want := ErrNotTLS
		if recordChangeCipher <= c && c <= recordHeartbeat {
			want = ErrHelloIncomplete
		}
		if n, err := ClientHelloLen([]byte{byte(c)}); err != want || n != 0 {
			t.Errorf("first byte %#x: got %d, %v; want 0, %v", c, n, err, want)
		}
	}
	if _, err := ClientHelloLen(nil); err != ErrHelloIncomplete {
		t.Errorf("no bytes: got %v, want %v", err, ErrHelloIncomplete)
	}
}

func TestClientHelloLenRecordTail(t *testing.T) {
	// The record completing the message may carry more handshake bytes;
	// n is still the record's end.
	msg := thMessage(thHellos(t)["X25519"])
	in := thRecords(append(msg[:len(msg):len(msg)], 0x10, 0, 0, 0), 1<<14)
	if n, err := ClientHelloLen(in); err != nil || n != len(in) {
		t.Fatalf("got %d, %v; want %d, nil", n, err, len(in))
	}
	thCheckPrefixes(t, in)
}

func TestHelloErrorsArePrefixed(t *testing.T) {
	for _, err := range []error{ErrHelloIncomplete, ErrNotTLS, ErrBadHello, errHelloNotHandshake,
		errHelloRecord, errHelloRecordLen, errHelloType, errHelloTooLong} {
		if msg := err.Error(); len(msg) < 7 || msg[:7] != "codec: " {
			t.Errorf("%q: want a \"codec: \" prefix", msg)
		}
	}
}

// As in TestProxyAllocations, the race detector does not change these
// counts: nothing here uses a pool.
func TestClientHelloLenAllocations(t *testing.T) {
	hello := thHellos(t)["X25519MLKEM768"]
	frag := thRecords(thMessage(hello), 1)
	tests := []struct {
		name string
		in   []byte
	}{
		{"whole", hello},
		{"1-byte records", frag},
		{"incomplete", hello[:len(hello)/2]},
		{"not TLS", []byte("GET / HTTP/1.1\r\n")},
		{"bad", []byte{21, 3, 3, 0, 2, 2, 40}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := testing.AllocsPerRun(100, func() { _, _ = ClientHelloLen(tc.in) }); got != 0 {
				t.Errorf("allocs per run: got %v, want 0", got)
			}
		})
	}
}

func BenchmarkClientHelloLen(b *testing.B) {
	hello := thHellos(b)["X25519MLKEM768"]
	b.ReportAllocs()
	b.SetBytes(int64(len(hello)))
	for b.Loop() {
		_, _ = ClientHelloLen(hello)
	}
}

func BenchmarkClientHelloLen1ByteRecords(b *testing.B) {
	in := thRecords(thMessage(thHellos(b)["X25519MLKEM768"]), 1)
	b.ReportAllocs()
	b.SetBytes(int64(len(in)))
	for b.Loop() {
		_, _ = ClientHelloLen(in)
	}
}
