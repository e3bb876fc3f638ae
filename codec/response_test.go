package codec

import (
	"errors"
	"strings"
	"testing"
)

func TestParseResponse(t *testing.T) {
	tests := []struct {
		name    string
		head    []byte
		err     error
		status  int
		reason  string
		headers int
	}{
		{"101", httpHead("HTTP/1.1 101 Switching Protocols", "Upgrade: websocket", "Connection: Upgrade",
			"Sec-WebSocket-Accept: "+testAccept), nil, 101, "Switching Protocols", 3},
		{"no reason", httpHead("HTTP/1.1 404 ", "Content-Length: 0"), nil, 404, "", 1},
		{"no reason no space", httpHead("HTTP/1.1 204"), nil, 204, "", 0},
		{"http/1.0", httpHead("HTTP/1.0 200 OK"), nil, 200, "OK", 0},
		{"lf only", []byte("HTTP/1.1 200 OK\nA: b\n\n"), nil, 200, "OK", 1},
		{"reason with tab and high bytes", httpHead("HTTP/1.1 500 Oops\tcaf\xc3\xa9"), nil, 500, "Oops\tcaf\xc3\xa9", 0},
		{"status 999", httpHead("HTTP/1.1 999 Odd"), nil, 999, "Odd", 0},
		{"max headers", httpHead(append([]string{"HTTP/1.1 200 OK"}, manyHeaders(MaxHeaders)...)...), nil, 200, "OK", MaxHeaders},

		{"empty", nil, ErrBadResponse, 0, "", 0},
		{"garbage", []byte("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n"), ErrBadResponse, 0, "", 0},
		{"html", []byte("<html><body>hi</body></html>\n\n"), ErrBadResponse, 0, "", 0},
		{"incomplete", []byte("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"), ErrBadResponse, 0, "", 0},
		{"bytes after head", append(httpHead("HTTP/1.1 101 Switching Protocols"), 0x81), ErrBadResponse, 0, "", 0},
		{"http/2", httpHead("HTTP/2 200 OK"), ErrBadResponse, 0, "", 0},
		{"lower-case proto", httpHead("http/1.1 200 OK"), ErrBadResponse, 0, "", 0},
		{"two-digit status", httpHead("HTTP/1.1 20 OK"), ErrBadResponse, 0, "", 0},
		{"four-digit status", httpHead("HTTP/1.1 2000 OK"), ErrBadResponse, 0, "", 0},
		{"status 099", httpHead("HTTP/1.1 099 OK"), ErrBadResponse, 0, "", 0},
		{"status letters", httpHead("HTTP/1.1 2x0 OK"), ErrBadResponse, 0, "", 0},
		{"double space", httpHead("HTTP/1.1  200 OK"), ErrBadResponse, 0, "", 0},
		{"control in reason", httpHead("HTTP/1.1 200 O\x00K"), ErrBadResponse, 0, "", 0},
		{"bad header", httpHead("HTTP/1.1 200 OK", "Bad Header: x"), ErrBadResponse, 0, "", 0},
		{"obs-fold", httpHead("HTTP/1.1 200 OK", "A: b", " c"), ErrBadResponse, 0, "", 0},
		{"cr in value", httpHead("HTTP/1.1 200 OK", "A: b\rc"), ErrBadResponse, 0, "", 0},
		{"too many headers", httpHead(append([]string{"HTTP/1.1 200 OK"}, manyHeaders(MaxHeaders+1)...)...), ErrBadResponse, 0, "", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var r Response
			err := ParseResponse(tc.head, &r)
			if err != tc.err {
				t.Fatalf("ParseResponse(%q): got %v, want %v", tc.head, err, tc.err)
			}
			if err != nil {
				return
			}
			if r.Status != tc.status || string(r.Reason) != tc.reason || len(r.Headers) != tc.headers {
				t.Errorf("got %d %q with %d headers, want %d %q with %d", r.Status, r.Reason, len(r.Headers), tc.status, tc.reason, tc.headers)
			}
		})
	}
}

func TestCheckUpgrade(t *testing.T) {
	var req Request
	if err := ParseRequest(httpHandshake("", "",
		"Sec-WebSocket-Protocol: chat, superchat",
		"Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits, x-foo",
	), &req); err != nil {
		t.Fatal(err)
	}
	ok := []string{"Upgrade: websocket", "Connection: Upgrade", "Sec-WebSocket-Accept: " + testAccept}
	resp := func(status string, lines ...string) []byte {
		return httpHead(append([]string{"HTTP/1.1 " + status}, lines...)...)
	}
	with := func(extra ...string) []byte {
		return resp("101 Switching Protocols", append(ok[:len(ok):len(ok)], extra...)...)
	}
	tests := []struct {
		name string
		head []byte
		want Negotiated
		err  error
	}{
		{"plain", with(), Negotiated{}, nil},
		{"case-insensitive", resp("101 Switching Protocols", "upgrade: WebSocket", "CONNECTION: upgrade",
			"sec-websocket-accept: "+testAccept), Negotiated{}, nil},
		{"connection list", resp("101 Switching Protocols", "Upgrade: websocket", "Connection: keep-alive, Upgrade",
			"Sec-WebSocket-Accept: "+testAccept), Negotiated{}, nil},
		{"protocol", with("Sec-WebSocket-Protocol: superchat"), Negotiated{}, nil},
		{"deflate", with("Sec-WebSocket-Extensions: permessage-deflate"), Negotiated{Deflate: true}, nil},
		{"deflate with params", with("Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover"),
			Negotiated{Deflate: true}, nil},
		{"deflate case-insensitive", with("Sec-WebSocket-Extensions: Permessage-Deflate; client_max_window_bits=15"),
			Negotiated{Deflate: true}, nil},
		{"other", with("Sec-WebSocket-Extensions: x-foo"), Negotiated{Other: true}, nil},
		{"both on two lines", with("Sec-WebSocket-Extensions: x-foo", "Sec-WebSocket-Extensions: permessage-deflate"),
			Negotiated{Deflate: true, Other: true}, nil},
		{"empty extensions", with("Sec-WebSocket-Extensions:"), Negotiated{}, nil},

		{"200", resp("200 OK", ok...), Negotiated{}, ErrBadUpgradeResponse},
		{"http/1.0 101", []byte("HTTP/1.0 101 Switching Protocols\r\n" + strings.Join(ok, "\r\n") + "\r\n\r\n"), Negotiated{}, ErrBadUpgradeResponse},
		{"empty line before status", append([]byte("\r\n"), with()...), Negotiated{}, nil},
		{"no upgrade", resp("101 Switching Protocols", ok[1:]...), Negotiated{}, ErrBadUpgradeResponse},
		{"upgrade h2c", resp("101 Switching Protocols", "Upgrade: h2c", ok[1], ok[2]), Negotiated{}, ErrBadUpgradeResponse},
		{"no connection", resp("101 Switching Protocols", ok[0], ok[2]), Negotiated{}, ErrBadUpgradeResponse},
		{"connection close", resp("101 Switching Protocols", ok[0], "Connection: close", ok[2]), Negotiated{}, ErrBadUpgradeResponse},
		{"no accept", resp("101 Switching Protocols", ok[:2]...), Negotiated{}, ErrBadAccept},
		{"wrong accept", resp("101 Switching Protocols", ok[0], ok[1], "Sec-WebSocket-Accept: t"+testAccept[1:]),
			Negotiated{}, ErrBadAccept},
		{"accept of other key", resp("101 Switching Protocols", ok[0], ok[1], "Sec-WebSocket-Accept: HSmrc0sMlYUkAGmm5OPpG2HaGWk="),
			Negotiated{}, ErrBadAccept},
		{"accept twice", with("Sec-WebSocket-Accept: " + testAccept), Negotiated{}, ErrBadAccept},
		{"accept lower-case", resp("101 Switching Protocols", ok[0], ok[1], "Sec-WebSocket-Accept: s3pplmbitxaq9kygzzhzrbk+xoo="),
			Negotiated{}, ErrBadAccept},
		{"unoffered protocol", with("Sec-WebSocket-Protocol: mqtt"), Negotiated{}, ErrUnofferedProtocol},
		{"protocol case differs", with("Sec-WebSocket-Protocol: Chat"), Negotiated{}, ErrUnofferedProtocol},
		{"two protocols", with("Sec-WebSocket-Protocol: chat, superchat"), Negotiated{}, ErrUnofferedProtocol},
		{"protocol twice", with("Sec-WebSocket-Protocol: chat", "Sec-WebSocket-Protocol: chat"), Negotiated{}, ErrUnofferedProtocol},
		{"empty protocol", with("Sec-WebSocket-Protocol:"), Negotiated{}, ErrUnofferedProtocol},
		{"unoffered extension", with("Sec-WebSocket-Extensions: permessage-bzip2"), Negotiated{}, ErrUnofferedExtension},
		{"offered and unoffered", with("Sec-WebSocket-Extensions: permessage-deflate, x-bar"), Negotiated{}, ErrUnofferedExtension},
		{"param named as extension", with("Sec-WebSocket-Extensions: client_max_window_bits"), Negotiated{}, ErrUnofferedExtension},
		{"nameless extension", with("Sec-WebSocket-Extensions: ; a=b"), Negotiated{}, ErrUnofferedExtension},
		{"accept checked before protocol", resp("101 Switching Protocols", ok[0], ok[1], "Sec-WebSocket-Protocol: mqtt"),
			Negotiated{}, ErrBadAccept},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var r Response
			if err := ParseResponse(tc.head, &r); err != nil {
				t.Fatalf("ParseResponse: %v", err)
			}
			got, err := CheckUpgrade(&r, &req)
			if err != tc.err || got != tc.want {
				t.Errorf("CheckUpgrade: got %+v, %v, want %+v, %v", got, err, tc.want, tc.err)
			}
		})
	}
}

func TestCheckUpgradeNoOffers(t *testing.T) {
	var req Request
	if err := ParseRequest(httpHandshake("", ""), &req); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		extra string
		err   error
	}{
		{"none", "X-A: b", nil},
		{"protocol", "Sec-WebSocket-Protocol: chat", ErrUnofferedProtocol},
		{"deflate", "Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover", ErrUnofferedExtension},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var r Response
			head := httpHead("HTTP/1.1 101 Switching Protocols", "Upgrade: websocket", "Connection: Upgrade",
				"Sec-WebSocket-Accept: "+testAccept, tc.extra)
			if err := ParseResponse(head, &r); err != nil {
				t.Fatal(err)
			}
			if _, err := CheckUpgrade(&r, &req); err != tc.err {
				t.Errorf("CheckUpgrade: got %v, want %v", err, tc.err)
			}
		})
	}
}

func TestBody(t *testing.T) {
	tests := []struct {
		name   string
		status string
		lines  []string
		kind   BodyKind
		length int64
		err    error
	}{
		{"close-delimited", "200 OK", nil, BodyClose, 0, nil},
		{"length", "403 Forbidden", []string{"Content-Length: 12"}, BodyLength, 12, nil},
		{"length zero", "404 Not Found", []string{"Content-Length: 0"}, BodyNone, 0, nil},
		{"length list", "200 OK", []string{"Content-Length: 7, 7"}, BodyLength, 7, nil},
		{"length twice", "200 OK", []string{"Content-Length: 7", "content-length: 7"}, BodyLength, 7, nil},
		{"chunked", "502 Bad Gateway", []string{"Transfer-Encoding: chunked"}, BodyChunked, 0, nil},
		{"chunked upper-case", "200 OK", []string{"Transfer-Encoding: Chunked"}, BodyChunked, 0, nil},
		{"chunked overrides length", "200 OK", []string{"Content-Length: 5", "Transfer-Encoding: chunked"}, BodyChunked, 0, nil},
		{"chunked overrides bad length", "200 OK", []string{"Content-Length: x", "Transfer-Encoding: chunked"}, BodyChunked, 0, nil},
		{"100", "100 Continue", []string{"Content-Length: 5"}, BodyNone, 0, nil},
		{"204", "204 No Content", []string{"Transfer-Encoding: chunked"}, BodyNone, 0, nil},
		{"304", "304 Not Modified", []string{"Content-Length: 50"}, BodyNone, 0, nil},
		{"large length", "200 OK", []string{"Content-Length: 4611686018427387904"}, BodyLength, 1 << 62, nil},

		{"length differs", "200 OK", []string{"Content-Length: 7, 8"}, BodyNone, 0, ErrBadResponse},
		{"length lines differ", "200 OK", []string{"Content-Length: 7", "Content-Length: 8"}, BodyNone, 0, ErrBadResponse},
		{"length not number", "200 OK", []string{"Content-Length: 12a"}, BodyNone, 0, ErrBadResponse},
		{"length signed", "200 OK", []string{"Content-Length: +12"}, BodyNone, 0, ErrBadResponse},
		{"length negative", "200 OK", []string{"Content-Length: -1"}, BodyNone, 0, ErrBadResponse},
		{"length empty", "200 OK", []string{"Content-Length:"}, BodyNone, 0, ErrBadResponse},
		{"length only commas", "200 OK", []string{"Content-Length: ,"}, BodyNone, 0, ErrBadResponse},
		{"length leading empty element", "200 OK", []string{"Content-Length: , 5"}, BodyLength, 5, nil},
		{"length empty element", "200 OK", []string{"Content-Length: 5,"}, BodyLength, 5, nil}, // RFC 9110 §5.6.1.2
		{"length overflow", "200 OK", []string{"Content-Length: 99999999999999999999"}, BodyNone, 0, ErrBadResponse},
		{"gzip", "200 OK", []string{"Transfer-Encoding: gzip"}, BodyNone, 0, ErrBadResponse},
		{"gzip then chunked", "200 OK", []string{"Transfer-Encoding: gzip, chunked"}, BodyNone, 0, ErrBadResponse},
		{"chunked twice", "200 OK", []string{"Transfer-Encoding: chunked", "Transfer-Encoding: chunked"}, BodyNone, 0, ErrBadResponse},
		{"empty transfer-encoding", "200 OK", []string{"Transfer-Encoding:"}, BodyNone, 0, ErrBadResponse},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var r Response
			if err := ParseResponse(httpHead(append([]string{"HTTP/1.1 " + tc.status}, tc.lines...)...), &r); err != nil {
				t.Fatal(err)
			}
			kind, length, err := r.Body()
			if kind != tc.kind || length != tc.length || err != tc.err {
				t.Errorf("Body() = %v, %d, %v, want %v, %d, %v", kind, length, err, tc.kind, tc.length, tc.err)
			}
		})
	}
}

func TestGet(t *testing.T) {
	hs := []Header{
		{Name: []byte("Content-Type"), Value: []byte("text/plain")},
		{Name: []byte("X-Empty"), Value: []byte{}},
		{Name: []byte("content-type"), Value: []byte("second")},
	}
	tests := []struct {
		name, want string
		found      bool
	}{
		{"content-type", "text/plain", true},
		{"CONTENT-TYPE", "text/plain", true},
		{"x-empty", "", true},
		{"x-missing", "", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := Get(hs, tc.name)
			if string(got) != tc.want || (got != nil) != tc.found {
				t.Errorf("Get(%q) = %q (nil: %v), want %q (found: %v)", tc.name, got, got == nil, tc.want, tc.found)
			}
		})
	}
}

func TestBodyKindString(t *testing.T) {
	for kind, want := range map[BodyKind]string{BodyNone: "none", BodyLength: "length", BodyChunked: "chunked", BodyClose: "close", 9: "invalid"} {
		if got := kind.String(); got != want {
			t.Errorf("BodyKind(%d).String() = %q, want %q", kind, got, want)
		}
	}
}

func TestResponseErrorsArePrefixed(t *testing.T) {
	for _, err := range []error{ErrBadResponse, ErrBadAccept, ErrBadUpgradeResponse, ErrUnofferedProtocol, ErrUnofferedExtension, ErrBadChunk} {
		if msg := err.Error(); len(msg) < 7 || msg[:7] != "codec: " || errors.Unwrap(err) != nil {
			t.Errorf("%q: want a \"codec: \" prefix and nothing wrapped", msg)
		}
	}
}
