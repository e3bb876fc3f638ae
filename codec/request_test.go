package codec

import (
	"errors"
	"strings"
	"testing"
)

const (
	testKey    = "dGhlIHNhbXBsZSBub25jZQ==" // RFC 6455 §1.3
	testAccept = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
)

// httpHead joins lines with CRLF and ends the head with an empty line.
func httpHead(lines ...string) []byte {
	return []byte(strings.Join(lines, "\r\n") + "\r\n\r\n")
}

// httpHandshake returns a minimal valid handshake head whose request line is
// first (the default if ""), without the header named drop (if any), and with
// extra header lines appended.
func httpHandshake(first, drop string, extra ...string) []byte {
	if first == "" {
		first = "GET /chat HTTP/1.1"
	}
	lines := []string{first}
	for _, l := range []string{
		"Host: example.com",
		"Upgrade: websocket",
		"Connection: Upgrade",
		"Sec-WebSocket-Key: " + testKey,
		"Sec-WebSocket-Version: 13",
	} {
		if drop == "" || !strings.HasPrefix(l, drop+":") {
			lines = append(lines, l)
		}
	}
	return httpHead(append(lines, extra...)...)
}

var (
	chromeHandshake = httpHead(
		"GET /chat?room=1 HTTP/1.1",
		"Host: example.com:8080",
		"Connection: Upgrade",
		"Pragma: no-cache",
		"Cache-Control: no-cache",
		"User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36",
		"Upgrade: websocket",
		"Origin: https://example.com",
		"Sec-WebSocket-Version: 13",
		"Accept-Encoding: gzip, deflate, br, zstd",
		"Accept-Language: en-US,en;q=0.9",
		"Sec-WebSocket-Key: "+testKey,
		"Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits",
		"Sec-WebSocket-Protocol: chat, superchat",
	)
	firefoxHandshake = httpHead(
		"GET /socket HTTP/1.1",
		"Host: example.com",
		"User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
		"Accept: */*",
		"Accept-Language: en-US,en;q=0.5",
		"Accept-Encoding: gzip, deflate, br, zstd",
		"Sec-WebSocket-Version: 13",
		"Origin: https://example.com",
		"Sec-WebSocket-Extensions: permessage-deflate",
		"Sec-WebSocket-Key: x3JJHMbDL1EzLkh9GBhXDw==",
		"Connection: keep-alive, Upgrade",
		"Sec-Fetch-Dest: empty",
		"Sec-Fetch-Mode: websocket",
		"Sec-Fetch-Site: same-origin",
		"Pragma: no-cache",
		"Cache-Control: no-cache",
		"Upgrade: websocket",
	)
	safariHandshake = httpHead(
		"GET /ws HTTP/1.1",
		"Host: [2001:db8::1]:443",
		"Sec-WebSocket-Extensions: permessage-deflate",
		"Sec-WebSocket-Key: AQIDBAUGBwgJCgsMDQ4PEA==",
		"Connection: Upgrade",
		"Upgrade: websocket",
		"Sec-WebSocket-Version: 13",
		"Origin: https://example.com",
		"User-Agent: Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15",
		"Pragma: no-cache",
		"Cache-Control: no-cache",
		"X-Request-Id: abc-123",
	)
)

func TestParseRequestValid(t *testing.T) {
	tests := []struct {
		name                          string
		head                          []byte
		target, host, key, origin, id string
		headers                       int
	}{
		{"chrome", chromeHandshake, "/chat?room=1", "example.com:8080", testKey, "https://example.com", "", 13},
		{"firefox", firefoxHandshake, "/socket", "example.com", "x3JJHMbDL1EzLkh9GBhXDw==", "https://example.com", "", 16},
		{"safari", safariHandshake, "/ws", "[2001:db8::1]:443", "AQIDBAUGBwgJCgsMDQ4PEA==", "https://example.com", "abc-123", 11},
		{"minimal", httpHandshake("", ""), "/chat", "example.com", testKey, "", "", 5},
		{"lf only", []byte("GET / HTTP/1.1\nHost: h\nUpgrade: websocket\nConnection: upgrade\nSec-WebSocket-Key: " + testKey + "\nSec-WebSocket-Version: 13\n\n"),
			"/", "h", testKey, "", "", 5},
		{"mixed line ends", []byte("GET / HTTP/1.1\r\nHost: h\nUpgrade: websocket\r\nConnection: upgrade\nSec-WebSocket-Key: " + testKey + "\r\nSec-WebSocket-Version: 13\n\r\n"),
			"/", "h", testKey, "", "", 5},
		{"names case-insensitive", httpHead("GET / HTTP/1.1", "HOST: h", "upgrade: WebSocket", "CONNECTION: UPGRADE",
			"sec-websocket-key: "+testKey, "SEC-WEBSOCKET-VERSION: 13", "ORIGIN: o", "x-request-id: r"),
			"/", "h", testKey, "o", "r", 7},
		{"multiple connection lines", httpHandshake("", "Connection", "Connection: keep-alive", "Connection: Upgrade"),
			"/chat", "example.com", testKey, "", "", 6},
		{"multiple upgrade lines", httpHandshake("", "Upgrade", "Upgrade: h2c", "Upgrade: websocket"),
			"/chat", "example.com", testKey, "", "", 6},
		{"upgrade list", httpHandshake("", "Upgrade", "Upgrade: h2c, websocket"),
			"/chat", "example.com", testKey, "", "", 5},
		{"ows trimmed", httpHandshake("", "", "X-Request-Id: \t id \t", "Origin:o"),
			"/chat", "example.com", testKey, "o", "id", 7},
		{"empty lines before the request line", append([]byte("\r\n\n"), httpHandshake("", "")...), "/chat", "example.com", testKey, "", "", 5},
		{"empty request id ignored", httpHandshake("", "", "X-Request-Id:", "X-Request-Id: second"),
			"/chat", "example.com", testKey, "", "second", 7},
		{"obs-text value", httpHandshake("", "", "X-Name: caf\xc3\xa9"), "/chat", "example.com", testKey, "", "", 6},
		{"key with unused bits set", httpHandshake("", "Sec-WebSocket-Key", "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZR=="),
			"/chat", "example.com", "dGhlIHNhbXBsZSBub25jZR==", "", "", 5},
		{"max headers", httpHandshake("", "", manyHeaders(MaxHeaders-5)...), "/chat", "example.com", testKey, "", "", MaxHeaders},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var r Request
			if err := ParseRequest(tc.head, &r); err != nil {
				t.Fatalf("ParseRequest: got %v, want nil", err)
			}
			for _, f := range []struct{ field, got, want string }{
				{"Method", string(r.Method), "GET"},
				{"Target", string(r.Target), tc.target},
				{"Proto", string(r.Proto), "HTTP/1.1"},
				{"Host", string(r.Host), tc.host},
				{"Key", string(r.Key), tc.key},
				{"Origin", string(r.Origin), tc.origin},
				{"RequestID", string(r.RequestID), tc.id},
			} {
				if f.got != f.want {
					t.Errorf("%s: got %q, want %q", f.field, f.got, f.want)
				}
			}
			if tc.id == "" && r.RequestID != nil {
				t.Errorf("RequestID: got %q, want nil", r.RequestID)
			}
			if len(r.Headers) != tc.headers {
				t.Errorf("len(Headers): got %d, want %d", len(r.Headers), tc.headers)
			}
		})
	}
}

// manyHeaders returns n distinct filler header lines.
func manyHeaders(n int) []string {
	lines := make([]string, n)
	for i := range lines {
		lines[i] = "X-Filler-" + strings.Repeat("a", i%7) + ": v"
	}
	return lines
}

func TestParseRequestErrors(t *testing.T) {
	tests := []struct {
		name string
		head []byte
		want *HandshakeError
	}{
		// Syntax.
		{"empty", nil, ErrMalformed},
		{"no line end", []byte("GET / HTTP/1.1"), ErrMalformed},
		{"no empty line", []byte("GET /chat HTTP/1.1\r\nHost: example.com\r\n"), ErrMalformed},
		{"bytes after head", append(httpHandshake("", ""), 'x'), ErrMalformed},
		{"empty line first", []byte("\r\n\r\n"), ErrMalformed},
		{"no spaces", httpHandshake("GET", ""), ErrMalformed},
		{"one space", httpHandshake("GET /chat", ""), ErrMalformed},
		{"double space", httpHandshake("GET  /chat HTTP/1.1", ""), ErrMalformed},
		{"trailing space", httpHandshake("GET /chat HTTP/1.1 ", ""), ErrMalformed},
		{"tab separator", httpHandshake("GET\t/chat HTTP/1.1", ""), ErrMalformed},
		{"method not token", httpHandshake("G(T /chat HTTP/1.1", ""), ErrMalformed},
		{"target with control", httpHandshake("GET /ch\x01at HTTP/1.1", ""), ErrMalformed},
		{"target with high byte", httpHandshake("GET /caf\xc3\xa9 HTTP/1.1", ""), ErrMalformed},
		{"http/2", httpHandshake("GET /chat HTTP/2.0", ""), ErrMalformed},
		{"http/1.2", httpHandshake("GET /chat HTTP/1.2", ""), ErrMalformed},
		{"lower-case proto", httpHandshake("GET /chat http/1.1", ""), ErrMalformed},
		{"http/0.9", []byte("GET /chat\r\n\r\n"), ErrMalformed},
		{"space before colon", httpHandshake("", "Host", "Host : example.com"), ErrMalformed},
		{"tab before colon", httpHandshake("", "", "X-A\t: b"), ErrMalformed},
		{"obs-fold", httpHandshake("", "", "X-A: b", " folded"), ErrMalformed},
		{"obs-fold tab", httpHandshake("", "", "X-A: b", "\tfolded"), ErrMalformed},
		{"no colon", httpHandshake("", "", "X-A b"), ErrMalformed},
		{"empty name", httpHandshake("", "", ": b"), ErrMalformed},
		{"name not token", httpHandshake("", "", "X(A): b"), ErrMalformed},
		{"nul in value", httpHandshake("", "", "X-A: a\x00b"), ErrMalformed},
		{"cr in value", httpHandshake("", "", "X-A: a\rb"), ErrMalformed},
		{"control in value", httpHandshake("", "", "X-A: a\x1bb"), ErrMalformed},
		{"del in value", httpHandshake("", "", "X-A: a\x7fb"), ErrMalformed},
		{"malformed beats too many", httpHandshake("", "", append(manyHeaders(MaxHeaders), "bad line")...), ErrMalformed},
		{"malformed beats not get", httpHandshake("POST /chat HTTP/1.1", "", "bad line"), ErrMalformed},
		// Limits and request line semantics.
		{"too many headers", httpHandshake("", "", manyHeaders(MaxHeaders-4)...), ErrTooManyHeaders},
		{"too many beats not get", httpHandshake("POST / HTTP/1.1", "", manyHeaders(MaxHeaders)...), ErrTooManyHeaders},
		{"post", httpHandshake("POST /chat HTTP/1.1", ""), ErrNotGet},
		{"lower-case get", httpHandshake("get /chat HTTP/1.1", ""), ErrNotGet},
		{"not get beats http/1.0", httpHandshake("HEAD /chat HTTP/1.0", ""), ErrNotGet},
		{"http/1.0", httpHandshake("GET /chat HTTP/1.0", ""), ErrHTTP10},
		{"http/1.0 beats target", httpHandshake("GET * HTTP/1.0", ""), ErrHTTP10},
		{"asterisk form", httpHandshake("GET * HTTP/1.1", ""), ErrMalformed},
		{"absolute form", httpHandshake("GET http://example.com/chat HTTP/1.1", ""), ErrMalformed},
		{"authority form", httpHandshake("GET example.com:80 HTTP/1.1", ""), ErrMalformed},
		{"target beats host", httpHandshake("GET chat HTTP/1.1", "Host"), ErrMalformed},
		// Host.
		{"no host", httpHandshake("", "Host"), ErrNoHost},
		{"no host beats no upgrade", httpHandshake("", "Host", "Upgrade: h2c"), ErrNoHost},
		{"empty host", httpHandshake("", "Host", "Host:"), ErrNoHost},
		{"two hosts", httpHandshake("", "", "Host: example.com"), ErrDuplicateHeader},
		{"two hosts differing case", httpHandshake("", "", "host: other"), ErrDuplicateHeader},
		{"two keys", httpHandshake("", "", "Sec-WebSocket-Key: "+testKey), ErrDuplicateHeader},
		{"duplicate beats body", httpHandshake("", "", "Host: x", "Content-Length: 3"), ErrDuplicateHeader},
		{"host with space", httpHandshake("", "Host", "Host: exa mple.com"), ErrMalformed},
		{"host with slash", httpHandshake("", "Host", "Host: example.com/x"), ErrMalformed},
		{"host with userinfo", httpHandshake("", "Host", "Host: u@example.com"), ErrMalformed},
		// Body.
		{"content-length", httpHandshake("", "", "Content-Length: 5"), ErrHasBody},
		{"content-length 00", httpHandshake("", "", "Content-Length: 00"), ErrHasBody},
		{"content-length 0", httpHandshake("", "", "Content-Length: 0"), ErrHasBody},
		{"transfer-encoding", httpHandshake("", "", "Transfer-Encoding: chunked"), ErrHasBody},
		{"empty transfer-encoding", httpHandshake("", "", "Transfer-Encoding:"), ErrHasBody},
		{"body beats no upgrade", httpHandshake("", "Upgrade", "Content-Length: 1"), ErrHasBody},
		// Upgrade and Connection.
		{"no upgrade", httpHandshake("", "Upgrade"), ErrNotUpgrade},
		{"upgrade h2c", httpHandshake("", "Upgrade", "Upgrade: h2c"), ErrNotUpgrade},
		{"upgrade prefix", httpHandshake("", "Upgrade", "Upgrade: websockets"), ErrNotUpgrade},
		{"no upgrade beats no connection", httpHandshake("", "Upgrade", "Connection: close"), ErrNotUpgrade},
		{"no connection", httpHandshake("", "Connection"), ErrNoConnectionUpgrade},
		{"connection keep-alive", httpHandshake("", "Connection", "Connection: keep-alive"), ErrNoConnectionUpgrade},
		{"connection upgraded", httpHandshake("", "Connection", "Connection: upgraded"), ErrNoConnectionUpgrade},
		{"no connection beats version", httpHandshake("", "Connection", "Sec-WebSocket-Version: 8"), ErrNoConnectionUpgrade},
		// Version.
		{"no version", httpHandshake("", "Sec-WebSocket-Version"), ErrBadVersion},
		{"version 8", httpHandshake("", "Sec-WebSocket-Version", "Sec-WebSocket-Version: 8"), ErrBadVersion},
		{"version list", httpHandshake("", "Sec-WebSocket-Version", "Sec-WebSocket-Version: 13, 8"), ErrBadVersion},
		{"version twice", httpHandshake("", "", "Sec-WebSocket-Version: 13"), ErrBadVersion},
		{"version 013", httpHandshake("", "Sec-WebSocket-Version", "Sec-WebSocket-Version: 013"), ErrBadVersion},
		{"version beats key", httpHandshake("", "Sec-WebSocket-Version", "Sec-WebSocket-Key: x"), ErrDuplicateHeader},
		{"version beats bad key", httpHead("GET / HTTP/1.1", "Host: h", "Upgrade: websocket", "Connection: upgrade",
			"Sec-WebSocket-Version: 7", "Sec-WebSocket-Key: short"), ErrBadVersion},
		// Key.
		{"no key", httpHandshake("", "Sec-WebSocket-Key"), ErrBadKey},
		{"empty key", httpHandshake("", "Sec-WebSocket-Key", "Sec-WebSocket-Key:"), ErrBadKey},
		{"short key", httpHandshake("", "Sec-WebSocket-Key", "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ="), ErrBadKey},
		{"long key", httpHandshake("", "Sec-WebSocket-Key", "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ=="+"AAAA"), ErrBadKey},
		{"key of 17 bytes", httpHandshake("", "Sec-WebSocket-Key", "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQE="), ErrBadKey},
		{"key bad char", httpHandshake("", "Sec-WebSocket-Key", "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZ-=="), ErrBadKey},
		{"key url alphabet", httpHandshake("", "Sec-WebSocket-Key", "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub2_jZQ=="), ErrBadKey},
		{"key no padding", httpHandshake("", "Sec-WebSocket-Key", "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQAA"), ErrBadKey},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var r Request
			err := ParseRequest(tc.head, &r)
			if !errors.Is(err, tc.want) {
				t.Fatalf("ParseRequest(%q): got %v, want %v", tc.head, err, tc.want)
			}
			var he *HandshakeError
			if !errors.As(err, &he) || he.Status != tc.want.Status {
				t.Errorf("status: got %v, want %d", err, tc.want.Status)
			}
		})
	}
}

func TestHandshakeErrorAnswers(t *testing.T) {
	tests := []struct {
		err    *HandshakeError
		status int
		header string
	}{
		{ErrMalformed, 400, ""},
		{ErrNotGet, 405, ""},
		{ErrHTTP10, 400, ""},
		{ErrNotUpgrade, 426, "Upgrade: websocket\r\n"},
		{ErrNoConnectionUpgrade, 400, ""},
		{ErrBadVersion, 426, "Sec-WebSocket-Version: 13\r\n"},
		{ErrBadKey, 400, ""},
		{ErrNoHost, 400, ""},
		{ErrDuplicateHeader, 400, ""},
		{ErrHasBody, 400, ""},
		{ErrHeadTooLarge, 431, ""},
		{ErrTooManyHeaders, 431, ""},
	}
	for _, tc := range tests {
		t.Run(tc.err.Error(), func(t *testing.T) {
			if tc.err.Status != tc.status || tc.err.Header != tc.header {
				t.Errorf("got %d %q, want %d %q", tc.err.Status, tc.err.Header, tc.status, tc.header)
			}
			if !strings.HasPrefix(tc.err.Error(), "codec: ") {
				t.Errorf("Error() = %q, want a \"codec: \" prefix", tc.err.Error())
			}
		})
	}
}

func TestParseRequestReuse(t *testing.T) {
	var r Request
	if err := ParseRequest(safariHandshake, &r); err != nil {
		t.Fatal(err)
	}
	if err := ParseRequest(httpHandshake("", "Upgrade"), &r); err != ErrNotUpgrade {
		t.Fatalf("got %v, want %v", err, ErrNotUpgrade)
	}
	if err := ParseRequest(httpHandshake("", ""), &r); err != nil {
		t.Fatal(err)
	}
	if r.RequestID != nil || r.Origin != nil || len(r.Headers) != 5 {
		t.Errorf("stale fields after reuse: RequestID %q, Origin %q, %d headers", r.RequestID, r.Origin, len(r.Headers))
	}
}

func TestOffers(t *testing.T) {
	var r Request
	head := httpHandshake("", "",
		"Sec-WebSocket-Protocol: chat, superchat",
		"Sec-WebSocket-Protocol: v2.example",
		"sec-websocket-extensions: permessage-deflate; client_max_window_bits, x-webkit-deflate-frame",
		"Sec-WebSocket-Extensions: foo; bar=\"a,b\"",
	)
	if err := ParseRequest(head, &r); err != nil {
		t.Fatal(err)
	}
	protocols := []struct {
		name string
		want bool
	}{
		{"chat", true}, {"superchat", true}, {"v2.example", true},
		{"Chat", false}, {"cha", false}, {"", false}, {"chat, superchat", false},
	}
	for _, tc := range protocols {
		t.Run("protocol "+tc.name, func(t *testing.T) {
			if got := r.OffersProtocol([]byte(tc.name)); got != tc.want {
				t.Errorf("OffersProtocol(%q) = %v, want %v", tc.name, got, tc.want)
			}
		})
	}
	extensions := []struct {
		name string
		want bool
	}{
		{"permessage-deflate", true}, {"Permessage-Deflate", true}, {"x-webkit-deflate-frame", true}, {"foo", true},
		{"client_max_window_bits", false}, {"b\"", false}, {"permessage", false}, {"", false},
	}
	for _, tc := range extensions {
		t.Run("extension "+tc.name, func(t *testing.T) {
			if got := r.OffersExtension([]byte(tc.name)); got != tc.want {
				t.Errorf("OffersExtension(%q) = %v, want %v", tc.name, got, tc.want)
			}
		})
	}
}
