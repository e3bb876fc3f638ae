package upstream

import (
	"errors"
	"strings"
	"testing"

	"github.com/throngproxy/throng/codec"
	"github.com/throngproxy/throng/config"
)

func TestParseKeySource(t *testing.T) {
	tests := []struct {
		in      string
		want    KeySource
		wantErr bool
	}{
		{"ip", KeySource{Kind: KeyIP}, false},
		{"path", KeySource{Kind: KeyPath}, false},
		{"header:X-User", KeySource{Kind: KeyHeader, Name: "X-User"}, false},
		{"cookie:sid", KeySource{Kind: KeyCookie, Name: "sid"}, false},
		{"query:room.id", KeySource{Kind: KeyQuery, Name: "room.id"}, false},
		{"", KeySource{}, true},
		{"IP", KeySource{}, true},
		{"header:", KeySource{}, true},
		{"header", KeySource{}, true},
		{"Header:X", KeySource{}, true},
		{"cookie:a b", KeySource{}, true},
		{"query:a=b", KeySource{}, true},
		{"path:/x", KeySource{}, true},
		{"host", KeySource{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseKeySource(tt.in)
			if tt.wantErr {
				if !errors.Is(err, ErrBadHashKey) || !strings.HasPrefix(err.Error(), "upstream: ") {
					t.Fatalf("ParseKeySource(%q) = %+v, %v; want ErrBadHashKey", tt.in, got, err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("ParseKeySource(%q) = %+v, %v; want %+v, nil", tt.in, got, err, tt.want)
			}
			if s := got.String(); s != tt.in {
				t.Fatalf("String() = %q; want %q", s, tt.in)
			}
		})
	}
}

func hdrs(kv ...string) []codec.Header {
	h := make([]codec.Header, 0, len(kv)/2)
	for i := 0; i < len(kv); i += 2 {
		h = append(h, codec.Header{Name: []byte(kv[i]), Value: []byte(kv[i+1])})
	}
	return h
}

func TestHashKey(t *testing.T) {
	const ip = "192.0.2.7"
	tests := []struct {
		name    string
		src     string
		headers []codec.Header
		target  string
		want    string // the bytes that must have been hashed
	}{
		{"ip", "ip", hdrs("X-User", "u1"), "/a?b=c", ip},
		{"header", "header:X-User", hdrs("Host", "h", "x-user", "alice", "X-User", "bob"), "/", "alice"},
		{"header empty value", "header:X-User", hdrs("X-User", ""), "/", ""},
		{"header missing", "header:X-User", hdrs("Host", "h"), "/", ip},
		{"header no headers", "header:X-User", nil, "/", ip},
		{"cookie", "cookie:sid", hdrs("Cookie", "a=1; sid=abc; b=2"), "/", "abc"},
		{"cookie first of several headers", "cookie:sid", hdrs("Cookie", "a=1", "cookie", "b=2;sid=xyz", "Cookie", "sid=late"), "/", "xyz"},
		{"cookie quoted", "cookie:sid", hdrs("Cookie", `sid="q v"`), "/", "q v"},
		{"cookie spaces", "cookie:sid", hdrs("Cookie", " a=1 ;  sid = abc ; "), "/", "abc"},
		{"cookie name is case-sensitive", "cookie:sid", hdrs("Cookie", "SID=1"), "/", ip},
		{"cookie prefix is not name", "cookie:sid", hdrs("Cookie", "sidx=1; xsid=2"), "/", ip},
		{"cookie missing", "cookie:sid", hdrs("Cookie", "a=1"), "/", ip},
		{"cookie not a cookie header", "cookie:sid", hdrs("Set-Cookie", "sid=1"), "/", ip},
		{"query", "query:room", nil, "/ws?a=1&room=42&room=43", "42"},
		{"query first param", "query:a", nil, "/ws?a=1&room=42", "1"},
		{"query bare name", "query:flag", nil, "/ws?x=1&flag&y", ""},
		{"query not encoded", "query:r", nil, "/ws?r=a%20b", "a%20b"},
		{"query name prefix", "query:room", nil, "/ws?rooms=1&xroom=2", ip},
		{"query in path is not query", "query:room", nil, "/room=1", ip},
		{"query fragment", "query:a", nil, "/?b=1#a=2", ip},
		{"query empty", "query:a", nil, "/?", ip},
		{"query no target", "query:a", nil, "", ip},
		{"path", "path", nil, "/chat/room?x=1", "/chat/room"},
		{"path no query", "path", nil, "/chat", "/chat"},
		{"path empty", "path", nil, "?x=1", ip},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ks, err := ParseKeySource(tt.src)
			if err != nil {
				t.Fatal(err)
			}
			got := ks.HashKey([]byte(ip), tt.headers, []byte(tt.target))
			if want := hashBytes([]byte(tt.want)); got != want {
				t.Fatalf("HashKey = %x; want hash of %q (%x)", got, tt.want, want)
			}
		})
	}
}

// TestHashKeyStable pins a few keys: they must not change between releases,
// or hash stickiness breaks across an upgrade.
func TestHashKeyStable(t *testing.T) {
	tests := []struct {
		in   string
		want uint64
	}{
		{"", 0xf52a15e9a9b5e89b},
		{"192.0.2.1", 0x4d0e1bc6845259f5},
	}
	for _, tt := range tests {
		if got := hashBytes([]byte(tt.in)); got != tt.want {
			t.Errorf("hashBytes(%q) = %#x; want %#x", tt.in, got, tt.want)
		}
	}
}

// FuzzParseKeySource checks that ParseKeySource never panics, accepts
// exactly what config.ValidHashKey does, and that String reads back.
func FuzzParseKeySource(f *testing.F) {
	for _, s := range []string{"ip", "path", "header:X-User", "cookie:sid", "query:room", "", "header:", "cookie:a b", "query:é", "ip:"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ks, err := ParseKeySource(s)
		if (err == nil) != config.ValidHashKey(s) {
			t.Fatalf("ParseKeySource(%q) error %v but config.ValidHashKey = %v", s, err, config.ValidHashKey(s))
		}
		if err != nil {
			return
		}
		if back, err := ParseKeySource(ks.String()); err != nil || back != ks || ks.String() != s {
			t.Fatalf("ParseKeySource(%q) = %+v; String %q reads back as %+v, %v", s, ks, ks.String(), back, err)
		}
	})
}

// FuzzHashKey checks that HashKey never panics on any Cookie header or
// target, and that a cookie or query value it finds is what it hashes.
func FuzzHashKey(f *testing.F) {
	f.Add("a=1; sid=abc", "/ws?room=1&x")
	f.Add(`sid="`, "?")
	f.Add(";;=;sid", "/?&&=&room")
	f.Add("", "")
	cookie := KeySource{Kind: KeyCookie, Name: "sid"}
	query := KeySource{Kind: KeyQuery, Name: "room"}
	path := KeySource{Kind: KeyPath}
	f.Fuzz(func(t *testing.T, c, target string) {
		h := hdrs("Cookie", c)
		ip := []byte("ip")
		if v, ok := cookieValue([]byte(c), "sid"); ok != (cookie.HashKey(ip, h, nil) == hashBytes(v)) && ok {
			t.Fatalf("cookie %q: found %q but hashed something else", c, v)
		}
		if v, ok := queryValue([]byte(target), "room"); ok && query.HashKey(ip, nil, []byte(target)) != hashBytes(v) {
			t.Fatalf("target %q: found %q but hashed something else", target, v)
		}
		path.HashKey(ip, h, []byte(target))
	})
}
