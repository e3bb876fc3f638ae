package bus

import (
	"errors"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"
)

func TestParseURL(t *testing.T) {
	for _, tc := range []struct {
		url  string
		kind kind
		addr string // redis only
		db   int
		user string
		pass string
		tls  bool
	}{
		{url: "redis://127.0.0.1:6379", kind: kindRedis, addr: "127.0.0.1:6379"},
		{url: "redis://127.0.0.1:6379/3", kind: kindRedis, addr: "127.0.0.1:6379", db: 3},
		{url: "redis://bus.internal", kind: kindRedis, addr: "bus.internal:6379"},
		{url: "redis://u:p%40ss@h:1/0", kind: kindRedis, addr: "h:1", user: "u", pass: "p@ss"},
		{url: "redis://:secret@h:1", kind: kindRedis, addr: "h:1", pass: "secret"},
		{url: "rediss://h:6380", kind: kindRedis, addr: "h:6380", tls: true},
		{url: "REDIS://h:1", kind: kindRedis, addr: "h:1"},
		{url: "redis://[::1]:6379", kind: kindRedis, addr: "[::1]:6379"},
		{url: "nats://127.0.0.1:4222", kind: kindNATS},
		{url: "nats://u:p@h:4222", kind: kindNATS},
		{url: "nats://token@h", kind: kindNATS},
		{url: "nats://h:4222/", kind: kindNATS},
	} {
		k, o, err := parseURL(tc.url)
		if err != nil {
			t.Errorf("parseURL(%q): %v", tc.url, err)
			continue
		}
		if k != tc.kind {
			t.Errorf("parseURL(%q) kind %d, want %d", tc.url, k, tc.kind)
		}
		if k != kindRedis {
			continue
		}
		if o.Addr != tc.addr || o.DB != tc.db || o.Username != tc.user || o.Password != tc.pass || (o.TLSConfig != nil) != tc.tls {
			t.Errorf("parseURL(%q) = addr %q db %d user %q pass %q tls %v", tc.url, o.Addr, o.DB, o.Username, o.Password, o.TLSConfig != nil)
		}
	}

	for _, raw := range []string{
		"",
		"127.0.0.1:6379", // no scheme: parses as scheme "127.0.0.1"
		"localhost",
		"redis://",
		"redis://:6379",
		"redis:///0",
		"http://h:80",
		"tcp://h:6379",
		"unix:///tmp/redis.sock",
		"nats://",
		"nats://h:4222/sub",
		"nats://h:4222?x=1",
		"redis://h:1/notadb",
		"redis://u:secret@h:port/0",
		"redis://u:secret@h:1/x",
		"redis://h:1/0?dial_timeout=nonsense",
		"redis://h:1\x7f",
	} {
		_, _, err := parseURL(raw)
		if !errors.Is(err, ErrBadURL) {
			t.Errorf("parseURL(%q) = %v, want ErrBadURL", raw, err)
			continue
		}
		if strings.Contains(err.Error(), "secret") {
			t.Errorf("parseURL(%q) error shows the password: %v", raw, err)
		}
	}
}

func TestOpenRefuses(t *testing.T) {
	h := func(string, []byte) {}
	for _, tc := range []struct {
		name string
		opts Options
		is   error
	}{
		{"bad url", Options{URL: "http://h", OnMessage: h}, ErrBadURL},
		{"no url", Options{OnMessage: h}, ErrBadURL},
		{"bad prefix", Options{URL: "nats://h", Prefix: "a*.", OnMessage: h}, ErrBadChannel},
		{"no handler", Options{URL: "nats://h"}, nil},
		{"min above max", Options{URL: "nats://h", OnMessage: h, ReconnectMin: time.Second, ReconnectMax: time.Millisecond}, nil},
	} {
		b, err := Open(tc.opts)
		if err == nil {
			_ = b.Close()
			t.Errorf("%s: Open succeeded", tc.name)
			continue
		}
		if tc.is != nil && !errors.Is(err, tc.is) {
			t.Errorf("%s: Open = %v, want %v", tc.name, err, tc.is)
		}
	}
}

func TestValidateChannel(t *testing.T) {
	good := []string{
		"room1", "a.b.c", "a-b_c:d/e", "a?b", "r[0-9]", "ünïcödé", "数字.频道",
		"x", strings.Repeat("a", MaxChannelLen), "a.b-",
	}
	bad := []string{
		"", " ", "a b", " a", "a ", "a\tb", "a\nb", "a\rb", "a\x00b", "\x7f", "a\u0085b",
		"a\u00a0b", "a\u2028b", "a\u3000b", "*", ">", "a*", "a.*", "a.>", "a.*.b", "a>b",
		".", ".a", "a.", "a..b", "\xff", "a\xc0b", strings.Repeat("a", MaxChannelLen+1),
	}
	for _, ch := range good {
		if err := ValidateChannel(ch); err != nil {
			t.Errorf("ValidateChannel(%q) = %v, want nil", ch, err)
		}
	}
	for _, ch := range bad {
		if err := ValidateChannel(ch); !errors.Is(err, ErrBadChannel) {
			t.Errorf("ValidateChannel(%q) = %v, want ErrBadChannel", ch, err)
		}
	}
}

func TestValidatePrefix(t *testing.T) {
	for _, p := range []string{"", "throng.", "throng", "a.b.", "env:prod/"} {
		if err := validatePrefix(p); err != nil {
			t.Errorf("validatePrefix(%q) = %v", p, err)
		}
	}
	for _, p := range []string{".", "..", "a..", ".a", "a b.", "x*.", ">", strings.Repeat("p", maxPrefixLen+1)} {
		if err := validatePrefix(p); !errors.Is(err, ErrBadChannel) {
			t.Errorf("validatePrefix(%q) = %v, want ErrBadChannel", p, err)
		}
	}
}

// refValid is ValidateChannel's rule written another way, for the fuzzer.
func refValid(s string) bool {
	if s == "" || len(s) > MaxChannelLen || !utf8.ValidString(s) || strings.ContainsAny(s, "*>") {
		return false
	}
	if strings.IndexFunc(s, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) >= 0 {
		return false
	}
	for _, tok := range strings.Split(s, ".") {
		if tok == "" {
			return false
		}
	}
	return true
}

func FuzzChannel(f *testing.F) {
	for _, s := range []string{"room1", "a.b", "a..b", "a.*", ">", "a b", "\xff", "ü", "a\u2028", ".", "t.room"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		err := ValidateChannel(s)
		if (err == nil) != refValid(s) {
			t.Fatalf("ValidateChannel(%q) = %v, reference says valid=%v", s, err, refValid(s))
		}
		if err != nil {
			if !errors.Is(err, ErrBadChannel) {
				t.Fatalf("ValidateChannel(%q) = %v, not ErrBadChannel", s, err)
			}
			return
		}
		// A valid name stays one under any valid prefix, and holds nothing
		// that would split a NATS protocol line.
		for _, p := range []string{"t.", "throng"} {
			if len(p+s) <= MaxChannelLen && channelProblem(p+s) != "" {
				t.Fatalf("prefix %q + %q invalid", p, s)
			}
		}
		if strings.ContainsAny(s, " \t\r\n") {
			t.Fatalf("valid %q holds protocol white space", s)
		}
	})
}

func TestBackoff(t *testing.T) {
	lo, hi := 10*time.Millisecond, time.Second
	prevMax := time.Duration(0)
	for n := 0; n < 100; n++ {
		want := hi
		if n < 7 {
			want = lo << n
		}
		for i := 0; i < 50; i++ {
			d := backoff(n, lo, hi)
			if d < want/2 || d > want {
				t.Fatalf("backoff(%d) = %v, want in [%v, %v]", n, d, want/2, want)
			}
		}
		if want < prevMax {
			t.Fatalf("backoff bound shrinks at %d", n)
		}
		prevMax = want
	}
}

func TestStateString(t *testing.T) {
	for s, want := range map[State]string{Connecting: "connecting", Up: "up", Down: "down", 7: "state(7)"} {
		if got := s.String(); got != want {
			t.Errorf("%d.String() = %q, want %q", s, got, want)
		}
	}
}
