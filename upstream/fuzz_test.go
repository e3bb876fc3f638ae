package upstream

import (
	"bytes"
	"testing"
)

// FuzzMatch checks that Match never panics and ignores the case of the
// host.
func FuzzMatch(f *testing.F) {
	f.Add([]byte("Example.com:443"), []byte("/chat/room?x"))
	f.Add([]byte("[::1"), []byte(""))
	f.Add([]byte("x.eu.example.com."), []byte("/ws"))
	f.Add([]byte(".example.com"), []byte("?"))
	tb := benchTable(f)
	f.Fuzz(func(t *testing.T, host, target []byte) {
		got := tb.Match(host, target)
		lower := bytes.Map(func(r rune) rune {
			if 'A' <= r && r <= 'Z' {
				return r + 'a' - 'A'
			}
			return r
		}, host)
		if len(lower) != len(host) {
			return // invalid UTF-8 was rewritten; not a case question
		}
		if l := tb.Match(lower, target); got != l {
			t.Fatalf("Match(%q) = %v but Match(lowercase) = %v", host, got, l)
		}
	})
}
