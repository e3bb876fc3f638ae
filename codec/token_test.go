package codec

import (
	"strings"
	"testing"
)

func TestByteClasses(t *testing.T) {
	alnum := func(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' }
	classes := []struct {
		name   string
		lo, hi uint64
		want   func(c byte) bool
	}{
		{"token", tokenLo, tokenHi, func(c byte) bool { return alnum(c) || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0 }},
		{"host", hostLo, hostHi, func(c byte) bool { return alnum(c) || strings.IndexByte("-._~!$&'()*+,;=:[]%", c) >= 0 }},
		{"base64", base64Lo, base64Hi, func(c byte) bool { return alnum(c) || c == '+' || c == '/' }},
	}
	for _, tc := range classes {
		t.Run(tc.name, func(t *testing.T) {
			for c := 0; c < 256; c++ {
				if got, want := inClass(byte(c), tc.lo, tc.hi), c < 128 && tc.want(byte(c)); got != want {
					t.Errorf("inClass(%#02x) = %v, want %v", c, got, want)
				}
			}
		})
	}
}

func TestEqualFold(t *testing.T) {
	tests := []struct {
		b, s string
		want bool
	}{
		{"", "", true},
		{"Upgrade", "upgrade", true},
		{"UPGRADE", "upgrade", true},
		{"upgradE", "Upgrade", true},
		{"upgrade", "upgrades", false},
		{"upgrade", "upgradf", false},
		{"@", "`", false}, // differ by 0x20 but are not letters
		{"[", "{", false},
		{"Sec-WebSocket-Key", "sec-websocket-key", true},
		{"\xc4", "\xe4", false}, // not ASCII
	}
	for _, tc := range tests {
		t.Run(tc.b+"/"+tc.s, func(t *testing.T) {
			if got := EqualFold([]byte(tc.b), tc.s); got != tc.want {
				t.Errorf("EqualFold(%q, %q) = %v, want %v", tc.b, tc.s, got, tc.want)
			}
			if got := equalFoldBytes([]byte(tc.b), []byte(tc.s)); got != tc.want {
				t.Errorf("equalFoldBytes(%q, %q) = %v, want %v", tc.b, tc.s, got, tc.want)
			}
		})
	}
}

func TestNextToken(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"", nil},
		{"a", []string{"a"}},
		{"a,b", []string{"a", "b"}},
		{" keep-alive ,\tUpgrade ", []string{"keep-alive", "Upgrade"}},
		{"a, ,b", []string{"a", "", "b"}},
		{"a,", []string{"a"}},
		{`x; q="a,b", y`, []string{`x; q="a,b"`, "y"}},
		{`x; q="a\",b", y`, []string{`x; q="a\",b"`, "y"}},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			var got []string
			for v := []byte(tc.in); len(v) > 0; {
				var tok []byte
				tok, v = NextToken(v)
				got = append(got, string(tok))
			}
			if strings.Join(got, "|") != strings.Join(tc.want, "|") || len(got) != len(tc.want) {
				t.Errorf("tokens of %q = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestHasToken(t *testing.T) {
	tests := []struct {
		v, token string
		want     bool
	}{
		{"Upgrade", "upgrade", true},
		{"keep-alive, Upgrade", "upgrade", true},
		{"keep-alive,Upgrade", "upgrade", true},
		{"keep-alive", "upgrade", false},
		{"upgrades", "upgrade", false},
		{"h2c, WebSocket", "websocket", true},
		{"", "websocket", false},
	}
	for _, tc := range tests {
		t.Run(tc.v, func(t *testing.T) {
			if got := HasToken([]byte(tc.v), tc.token); got != tc.want {
				t.Errorf("HasToken(%q, %q) = %v, want %v", tc.v, tc.token, got, tc.want)
			}
		})
	}
}
