package codec

import (
	"errors"
	"testing"
)

// FuzzClientHelloLen checks that every prefix of data is incomplete or gets
// the whole input's verdict (the same n when the whole succeeds, n bytes
// being enough), and that an accepted message cut into other records, their
// payload lengths taken from splits, is accepted whole again.
func FuzzClientHelloLen(f *testing.F) {
	// The small captures only: a large seed makes the minimizer's work on
	// each new input quadratic in its length, and stalls fuzzing for a
	// minute; what the parser looks at is the same in the large ones.
	hellos := thHellos(f)
	for _, name := range []string{"X25519", "TLS 1.2"} {
		f.Add(hellos[name], []byte{})
		f.Add(thRecords(thMessage(hellos[name]), 3, 1, 64), []byte{0, 2, 200})
	}
	f.Add([]byte{22, 3, 1, 0, 2, 1, 0, 22, 3, 1, 0, 3, 0, 1, 0xaa}, []byte{0})
	f.Add([]byte{22, 3, 1, 0, 4, 1, 0x01, 0x00, 0x00}, []byte{})
	f.Add([]byte{22, 3, 1, 0x40, 0x01}, []byte{})
	f.Add([]byte{21, 3, 3, 0, 2, 2, 40}, []byte{})
	f.Add([]byte("GET / HTTP/1.1\r\n"), []byte{})
	f.Add([]byte{0x80, 0x2e, 0x01, 0x03, 0x01}, []byte{})
	f.Fuzz(func(t *testing.T, data, splits []byte) {
		n, err := ClientHelloLen(data)
		switch {
		case err == nil:
			if n < recordHeaderLen+handshakeHeaderLen || n > len(data) || n > MaxClientHelloBytes {
				t.Fatalf("n = %d of %d bytes", n, len(data))
			}
		case err == ErrHelloIncomplete:
			if len(data) >= MaxClientHelloBytes {
				t.Fatalf("incomplete after %d bytes", len(data))
			}
		case err != ErrNotTLS && !errors.Is(err, ErrBadHello) || n != 0:
			t.Fatalf("got %d, %v", n, err)
		}
		if len(data) > 0 && (data[0] < recordChangeCipher || data[0] > recordHeartbeat) && err != ErrNotTLS {
			t.Fatalf("first byte %#x: got %v, want %v", data[0], err, ErrNotTLS)
		}
		for k := range len(data) {
			pn, perr := ClientHelloLen(data[:k])
			switch {
			case err == nil && k >= n:
				if perr != nil || pn != n {
					t.Fatalf("prefix of %d bytes: got %d, %v; whole: %d", k, pn, perr, n)
				}
			case perr != ErrHelloIncomplete && perr != err:
				t.Fatalf("prefix of %d bytes: got %v; whole: %v", k, perr, err)
			}
		}
		if err != nil {
			return
		}
		sizes := make([]int, 0, len(splits)+1)
		for _, s := range splits {
			sizes = append(sizes, 1+int(s)*64) // 1 to 16321
		}
		sizes = append(sizes, maxRecordPayload)
		in := thRecords(thMessage(data[:n]), sizes...)
		rn, rerr := ClientHelloLen(in)
		switch {
		case len(in) > MaxClientHelloBytes:
			if rerr != errHelloTooLong {
				t.Fatalf("re-cut into %d bytes: got %d, %v; want %v", len(in), rn, rerr, errHelloTooLong)
			}
		case rerr != nil || rn != len(in):
			t.Fatalf("re-cut into %d bytes: got %d, %v; want %d, nil", len(in), rn, rerr, len(in))
		}
	})
}
