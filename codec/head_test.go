package codec

import (
	"bytes"
	"testing"
)

// scanWhole runs a fresh HeadScanner over p in one call.
func scanWhole(p []byte) (int, bool) {
	var s HeadScanner
	return s.Scan(p)
}

// scanPieces runs a fresh HeadScanner over p cut at the given offsets and
// returns the head length in p and whether the end was found.
func scanPieces(t *testing.T, p []byte, cuts ...int) (int, bool) {
	t.Helper()
	var s HeadScanner
	prev := 0
	for _, cut := range append(cuts, len(p)) {
		piece := p[prev:cut]
		n, done := s.Scan(piece)
		if n > len(piece) || !done && n != len(piece) {
			t.Fatalf("Scan(%q) = %d, %v: n out of range", piece, n, done)
		}
		if done {
			return prev + n, true
		}
		prev = cut
	}
	return len(p), false
}

func TestHeadScanner(t *testing.T) {
	tests := []struct {
		name string
		in   string
		n    int // head length; -1 when not complete
	}{
		{"crlf", "GET / HTTP/1.1\r\nHost: a\r\n\r\n", 27},
		{"lf", "GET / HTTP/1.1\nHost: a\n\n", 24},
		{"crlf then lf", "GET / HTTP/1.1\r\nHost: a\r\n\n", 26},
		{"lf then crlf", "GET / HTTP/1.1\nHost: a\n\r\n", 25},
		{"data after head", "GET / HTTP/1.1\r\nHost: a\r\n\r\n\x81\x80abcd\r\n\r\n", 27},
		{"request line only", "GET / HTTP/1.1\r\n\r\n", 18},
		{"empty lines first are skipped", "\r\n\n\r\nGET / HTTP/1.1\r\n\r\n", 23},
		{"empty lines only", "\r\n\r\n\n", -1},
		{"bare cr first", "\rGET / HTTP/1.1\r\n\r\n", 19},
		{"incomplete", "GET / HTTP/1.1\r\nHost: a\r\n", -1},
		{"incomplete after cr", "GET / HTTP/1.1\r\nHost: a\r\n\r", -1},
		{"cr cr is not an end", "GET / HTTP/1.1\r\n\r\r\n", -1},
		{"cr inside line", "GET / HTTP/1.1\r\nX: a\rb\r\n\r\n", 26},
		{"empty", "", -1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := []byte(tc.in)
			check := func(how string, n int, done bool) {
				t.Helper()
				wantDone := tc.n >= 0
				wantN := tc.n
				if !wantDone {
					wantN = len(p)
				}
				if n != wantN || done != wantDone {
					t.Errorf("%s: got %d, %v, want %d, %v", how, n, done, wantN, wantDone)
				}
			}
			n, done := scanWhole(p)
			check("whole", n, done)
			for cut := 0; cut <= len(p); cut++ {
				n, done := scanPieces(t, p, cut)
				check("split", n, done)
			}
			cuts := make([]int, 0, len(p))
			for i := 1; i < len(p); i++ {
				cuts = append(cuts, i)
			}
			n, done = scanPieces(t, p, cuts...)
			check("bytewise", n, done)
		})
	}
}

func TestHeadScannerDoneAndReset(t *testing.T) {
	var s HeadScanner
	if n, done := s.Scan([]byte("A\r\n\r\nB")); n != 5 || !done {
		t.Fatalf("Scan = %d, %v, want 5, true", n, done)
	}
	if n, done := s.Scan([]byte("\r\n\r\n")); n != 0 || !done {
		t.Errorf("Scan after done = %d, %v, want 0, true", n, done)
	}
	if n, done := s.Scan(nil); n != 0 || !done {
		t.Errorf("Scan(nil) after done = %d, %v, want 0, true", n, done)
	}
	s.Reset()
	if n, done := s.Scan([]byte("\r\nB\n\n")); n != 5 || !done {
		t.Errorf("Scan after Reset = %d, %v, want 5, true", n, done)
	}
}

func TestValidValue(t *testing.T) {
	naive := func(v []byte) bool {
		for _, c := range v {
			if c < ' ' && c != '\t' || c == 0x7f {
				return false
			}
		}
		return true
	}
	// Every byte value at every position of words and tails, among
	// neighbours that are valid, obs-text or HTAB.
	for _, fill := range []byte{'a', 0x80, 0xff, '\t', ' ', 0x7e} {
		for n := 1; n <= 17; n++ {
			for pos := 0; pos < n; pos++ {
				for c := 0; c < 256; c++ {
					v := bytes.Repeat([]byte{fill}, n)
					v[pos] = byte(c)
					if got, want := validValue(v), naive(v); got != want {
						t.Fatalf("validValue(%q) = %v, want %v", v, got, want)
					}
				}
			}
		}
	}
}

func TestValidFieldValue(t *testing.T) {
	for v, want := range map[string]bool{"": true, "u 1\tx": true, "héllo": true, "a\r\nX-Admin: 1": false, "nul\x00": false, "del\x7f": false} {
		if got := ValidFieldValue(v); got != want {
			t.Errorf("ValidFieldValue(%q) = %v", v, got)
		}
	}
}
