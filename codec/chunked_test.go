package codec

import (
	"bytes"
	"testing"
)

// chunkedResult is what decoding a whole input produced.
type chunkedResult struct {
	out  string
	n    int
	done bool
	err  error
}

// decodeChunked feeds p to a fresh ChunkedDecoder cut at the given offsets,
// stopping at the end of the body or an error, and returns the body, the
// offset in p where decoding stopped, done and the error.
func decodeChunked(p []byte, cuts ...int) chunkedResult {
	var d ChunkedDecoder
	var out []byte
	prev := 0
	for _, cut := range append(cuts, len(p)) {
		var n int
		var done bool
		var err error
		out, n, done, err = d.Decode(out, p[prev:cut])
		if done || err != nil {
			return chunkedResult{string(out), prev + n, done, err}
		}
		prev = cut
	}
	return chunkedResult{string(out), len(p), false, nil}
}

func TestChunkedDecoder(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want chunkedResult // n == -1 means len(in)
	}{
		{"one chunk", "5\r\nhello\r\n0\r\n\r\n", chunkedResult{"hello", -1, true, nil}},
		{"two chunks", "5\r\nhello\r\n7\r\n, world\r\n0\r\n\r\n", chunkedResult{"hello, world", -1, true, nil}},
		{"hex sizes", "a\r\n0123456789\r\nB\r\nabcdefghijk\r\n0\r\n\r\n", chunkedResult{"0123456789abcdefghijk", -1, true, nil}},
		{"leading zeros", "0005\r\nhello\r\n000\r\n\r\n", chunkedResult{"hello", -1, true, nil}},
		{"extensions", "5;name=value;x\r\nhello\r\n0;last\r\n\r\n", chunkedResult{"hello", -1, true, nil}},
		{"bws before extension", "5 \t;a=\"b;c\"\r\nhello\r\n0\r\n\r\n", chunkedResult{"hello", -1, true, nil}},
		{"trailers", "5\r\nhello\r\n0\r\nX-Checksum: abc\r\nX-Other: d\r\n\r\n", chunkedResult{"hello", -1, true, nil}},
		{"bare lf", "5\nhello\n0\nX-T: a\n\n", chunkedResult{"hello", -1, true, nil}},
		{"empty body", "0\r\n\r\n", chunkedResult{"", -1, true, nil}},
		{"data after body", "5\r\nhello\r\n0\r\n\r\nHTTP/1.1 200 OK", chunkedResult{"hello", 15, true, nil}},
		{"crlf inside data", "4\r\n\r\n\r\n\r\n0\r\n\r\n", chunkedResult{"\r\n\r\n", -1, true, nil}},
		{"incomplete data", "5\r\nhel", chunkedResult{"hel", -1, false, nil}},
		{"incomplete trailer", "5\r\nhello\r\n0\r\nX: y\r\n", chunkedResult{"hello", -1, false, nil}},
		{"empty input", "", chunkedResult{"", 0, false, nil}},

		{"not hex", "x\r\n", chunkedResult{"", 0, false, ErrBadChunk}},
		{"no size", "\r\nhello", chunkedResult{"", 0, false, ErrBadChunk}},
		{"negative size", "-1\r\n", chunkedResult{"", 0, false, ErrBadChunk}},
		{"bad byte after size", "5x\r\nhello", chunkedResult{"", 1, false, ErrBadChunk}},
		{"nul after size", "5\x00\r\nhello", chunkedResult{"", 1, false, ErrBadChunk}},
		{"control in extension", "5;a\x01\r\nhello", chunkedResult{"", 3, false, ErrBadChunk}},
		{"cr without lf", "5\rhello", chunkedResult{"", 2, false, ErrBadChunk}},
		{"data too long", "5\r\nhello!\r\n0\r\n\r\n", chunkedResult{"hello", 8, false, ErrBadChunk}},
		{"cr after data without lf", "5\r\nhello\rX", chunkedResult{"hello", 9, false, ErrBadChunk}},
		{"size overflow", "10000000000000000\r\n", chunkedResult{"", 16, false, ErrBadChunk}},
		{"bad end of trailer", "0\r\n\rX", chunkedResult{"", 4, false, ErrBadChunk}},
		{"space before size", " 5\r\nhello", chunkedResult{"", 0, false, ErrBadChunk}},
		{"largest size", "fffffffffffffff\r\nab", chunkedResult{"ab", -1, false, nil}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := []byte(tc.in)
			want := tc.want
			if want.n < 0 {
				want.n = len(p)
			}
			if got := decodeChunked(p); got != want {
				t.Fatalf("whole: got %+v, want %+v", got, want)
			}
			for cut := 0; cut <= len(p); cut++ {
				if got := decodeChunked(p, cut); got != want {
					t.Errorf("split at %d: got %+v, want %+v", cut, got, want)
				}
			}
			cuts := make([]int, 0, len(p))
			for i := 1; i < len(p); i++ {
				cuts = append(cuts, i)
			}
			if got := decodeChunked(p, cuts...); got != want {
				t.Errorf("bytewise: got %+v, want %+v", got, want)
			}
		})
	}
}

func TestChunkedDecoderAfterEnd(t *testing.T) {
	var d ChunkedDecoder
	out, n, done, err := d.Decode(nil, []byte("1\r\na\r\n0\r\n\r\nrest"))
	if string(out) != "a" || n != 11 || !done || err != nil {
		t.Fatalf("Decode = %q, %d, %v, %v, want \"a\", 11, true, nil", out, n, done, err)
	}
	if out, n, done, err = d.Decode(out, []byte("1\r\nb\r\n")); string(out) != "a" || n != 0 || !done || err != nil {
		t.Errorf("Decode after done = %q, %d, %v, %v, want \"a\", 0, true, nil", out, n, done, err)
	}
	d.Reset()
	if out, _, done, err = d.Decode(out[:0], []byte("1\r\nb\r\n0\n\n")); string(out) != "b" || !done || err != nil {
		t.Errorf("Decode after Reset = %q, %v, %v, want \"b\", true, nil", out, done, err)
	}

	d.Reset()
	if _, _, _, err = d.Decode(nil, []byte("zz")); err != ErrBadChunk {
		t.Fatalf("Decode(zz) error = %v, want %v", err, ErrBadChunk)
	}
	for _, p := range [][]byte{nil, []byte("0\r\n\r\n")} {
		if _, n, done, err := d.Decode(nil, p); n != 0 || done || err != ErrBadChunk {
			t.Errorf("Decode(%q) after error = %d, %v, %v, want 0, false, %v", p, n, done, err, ErrBadChunk)
		}
	}
}

func TestChunkedDecoderAppends(t *testing.T) {
	var d ChunkedDecoder
	dst := []byte("prefix:")
	out, _, done, err := d.Decode(dst, []byte("3\r\nabc\r\n0\r\n\r\n"))
	if !bytes.Equal(out, []byte("prefix:abc")) || !done || err != nil {
		t.Errorf("Decode = %q, %v, %v, want \"prefix:abc\", true, nil", out, done, err)
	}
}
