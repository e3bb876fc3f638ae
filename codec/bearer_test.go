package codec

import (
	"bytes"
	"testing"
)

func TestBearerToken(t *testing.T) {
	h := func(v string) []Header { return []Header{{Name: []byte("Authorization"), Value: []byte(v)}} }
	tests := []struct{ in, want string }{
		{"Bearer abc.def.ghi", "abc.def.ghi"},
		{"bearer  abc ", "abc"},
		{"Basic dXNlcjpwYXNz", ""},
		{"Bearer ", ""},
		{"Bearerabc", ""},
	}
	for _, tt := range tests {
		if got := BearerToken(h(tt.in)); string(got) != tt.want {
			t.Errorf("BearerToken(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestCutQueryParam(t *testing.T) {
	tests := []struct{ target, name, value, rest string }{
		{"/ws?token=abc", "token", "abc", "/ws"},
		{"/ws?a=1&token=abc&b=2", "token", "abc", "/ws?a=1&b=2"},
		{"/ws?token=abc&token=def", "token", "abc", "/ws?token=def"},
		{"/ws?a=1&token=", "token", "", "/ws?a=1"},
		{"/ws?xtoken=1&token=t", "token", "t", "/ws?xtoken=1"},
	}
	for _, tt := range tests {
		v, rest, ok := CutQueryParam(nil, []byte(tt.target), tt.name)
		if !ok || string(v) != tt.value || string(rest) != tt.rest {
			t.Errorf("CutQueryParam(%q, %q) = %q %q %v, want %q %q", tt.target, tt.name, v, rest, ok, tt.value, tt.rest)
		}
	}
	for _, target := range []string{"/ws", "/ws?a=1", "/ws?tokenx=1"} {
		if _, _, ok := CutQueryParam(nil, []byte(target), "token"); ok {
			t.Errorf("CutQueryParam(%q) found a token", target)
		}
	}
}

func TestCutProtocol(t *testing.T) {
	hs := []Header{
		{Name: []byte("Sec-WebSocket-Protocol"), Value: []byte("chat, a.b.c")},
		{Name: []byte("sec-websocket-protocol"), Value: []byte("v2")},
	}
	isJWT := func(b []byte) bool { return bytes.Count(b, []byte(".")) == 2 }
	tok, rest, ok := CutProtocol(nil, hs, isJWT)
	if !ok || string(tok) != "a.b.c" || string(rest) != "chat, v2" {
		t.Fatalf("CutProtocol = %q %q %v", tok, rest, ok)
	}
	if _, rest, ok := CutProtocol(nil, hs[1:], isJWT); ok || string(rest) != "v2" {
		t.Fatalf("no token: %q %v", rest, ok)
	}
}

func FuzzCutQueryParam(f *testing.F) {
	f.Add("/ws?a=1&token=abc&b=2", "token")
	f.Add("/?&&=&token", "token")
	f.Fuzz(func(t *testing.T, target, name string) {
		v, rest, ok := CutQueryParam(nil, []byte(target), name)
		if !ok {
			return
		}
		path, _, _ := bytes.Cut([]byte(target), []byte("?"))
		if len(rest) >= len(target) || !bytes.HasPrefix(rest, path) || bytes.Count(rest, []byte("?")) > bytes.Count([]byte(target), []byte("?")) {
			t.Fatalf("CutQueryParam(%q, %q) = %q, %q", target, name, v, rest)
		}
	})
}
