package codec

import (
	"strings"
	"testing"
)

func TestAppendForwardedRequest(t *testing.T) {
	ip := []byte("192.0.2.1")
	tests := []struct {
		name string
		head []byte
		f    Forward
		want []byte
	}{
		{
			name: "minimal",
			head: httpHandshake("", ""),
			f:    Forward{ClientIP: ip, Proto: "https", RequestID: []byte("rid-1")},
			want: httpHead("GET /chat HTTP/1.1",
				"Host: example.com",
				"Sec-WebSocket-Key: "+testKey,
				"Sec-WebSocket-Version: 13",
				"Upgrade: websocket",
				"Connection: Upgrade",
				"X-Forwarded-For: 192.0.2.1",
				"X-Forwarded-Proto: https",
				"X-Forwarded-Host: example.com",
				"X-Request-Id: rid-1"),
		},
		{
			name: "traceparent replaced, tracestate kept",
			head: httpHead("GET /chat HTTP/1.1",
				"Host: example.com",
				"Upgrade: websocket",
				"Connection: Upgrade",
				"traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
				"TraceParent: 00-ffffffffffffffffffffffffffffffff-ffffffffffffffff-01",
				"tracestate: congo=t61rcWkgMzE",
				"Sec-WebSocket-Key: "+testKey,
				"Sec-WebSocket-Version: 13"),
			f: Forward{ClientIP: ip, Proto: "http", TraceParent: []byte("00-4bf92f3577b34da6a3ce929d0e0e4736-1111111111111111-01")},
			want: httpHead("GET /chat HTTP/1.1",
				"Host: example.com",
				"tracestate: congo=t61rcWkgMzE",
				"Sec-WebSocket-Key: "+testKey,
				"Sec-WebSocket-Version: 13",
				"Upgrade: websocket",
				"Connection: Upgrade",
				"X-Forwarded-For: 192.0.2.1",
				"X-Forwarded-Proto: http",
				"X-Forwarded-Host: example.com",
				"traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-1111111111111111-01"),
		},
		{
			name: "a new trace drops the client's tracestate",
			head: httpHead("GET /chat HTTP/1.1",
				"Host: example.com",
				"Upgrade: websocket",
				"Connection: Upgrade",
				"traceparent: not-a-trace",
				"tracestate: congo=t61rcWkgMzE",
				"Sec-WebSocket-Key: "+testKey,
				"Sec-WebSocket-Version: 13"),
			f: Forward{ClientIP: ip, Proto: "http", NewTrace: true, TraceParent: []byte("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00")},
			want: httpHead("GET /chat HTTP/1.1",
				"Host: example.com",
				"Sec-WebSocket-Key: "+testKey,
				"Sec-WebSocket-Version: 13",
				"Upgrade: websocket",
				"Connection: Upgrade",
				"X-Forwarded-For: 192.0.2.1",
				"X-Forwarded-Proto: http",
				"X-Forwarded-Host: example.com",
				"traceparent: 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00"),
		},
		{
			name: "hop-by-hop stripped",
			head: httpHead("GET /chat HTTP/1.1",
				"Host: example.com",
				"Upgrade: websocket",
				"Connection: keep-alive, Upgrade, X-Secret",
				"Connection: x-other",
				"Keep-Alive: timeout=5",
				"Proxy-Connection: keep-alive",
				"Proxy-Authorization: Basic Zm9vOmJhcg==",
				"Proxy-Authenticate: Basic",
				"TE: trailers",
				"Trailer: X-Checksum",
				"X-Secret: s3cr3t",
				"x-other: o",
				"Sec-WebSocket-Key: "+testKey,
				"Sec-WebSocket-Version: 13",
				"Cookie: a=b"),
			f: Forward{ClientIP: ip, Proto: "http", RequestID: []byte("rid-2")},
			want: httpHead("GET /chat HTTP/1.1",
				"Host: example.com",
				"Sec-WebSocket-Key: "+testKey,
				"Sec-WebSocket-Version: 13",
				"Cookie: a=b",
				"Upgrade: websocket",
				"Connection: Upgrade",
				"X-Forwarded-For: 192.0.2.1",
				"X-Forwarded-Proto: http",
				"X-Forwarded-Host: example.com",
				"X-Request-Id: rid-2"),
		},
		{
			name: "host and sec-websocket kept even if named in connection",
			head: httpHandshake("", "Connection",
				"Connection: Upgrade, Host, Sec-WebSocket-Protocol, Origin",
				"Origin: https://example.com",
				"Sec-WebSocket-Protocol: chat"),
			f: Forward{ClientIP: ip, Proto: "http", RequestID: []byte("r")},
			want: httpHead("GET /chat HTTP/1.1",
				"Host: example.com",
				"Sec-WebSocket-Key: "+testKey,
				"Sec-WebSocket-Version: 13",
				"Sec-WebSocket-Protocol: chat",
				"Upgrade: websocket",
				"Connection: Upgrade",
				"X-Forwarded-For: 192.0.2.1",
				"X-Forwarded-Proto: http",
				"X-Forwarded-Host: example.com",
				"X-Request-Id: r"),
		},
		{
			name: "xff replaced for untrusted peer",
			head: httpHandshake("", "",
				"X-Forwarded-For: 10.0.0.1, 10.0.0.2",
				"X-Forwarded-Proto: ftp",
				"X-Forwarded-Host: evil.example",
				"X-Request-Id: client-id"),
			f: Forward{ClientIP: []byte("2001:db8::1"), Proto: "https", RequestID: []byte("client-id")},
			want: httpHead("GET /chat HTTP/1.1",
				"Host: example.com",
				"Sec-WebSocket-Key: "+testKey,
				"Sec-WebSocket-Version: 13",
				"Upgrade: websocket",
				"Connection: Upgrade",
				"X-Forwarded-For: 2001:db8::1",
				"X-Forwarded-Proto: https",
				"X-Forwarded-Host: example.com",
				"X-Request-Id: client-id"),
		},
		{
			name: "xff appended for trusted peer",
			head: httpHandshake("", "",
				"X-Forwarded-For: 10.0.0.1, 10.0.0.2",
				"x-forwarded-for: 10.0.0.3",
				"X-Forwarded-For:"),
			f: Forward{ClientIP: ip, TrustedPeer: true, Proto: "https", RequestID: []byte("r")},
			want: httpHead("GET /chat HTTP/1.1",
				"Host: example.com",
				"Sec-WebSocket-Key: "+testKey,
				"Sec-WebSocket-Version: 13",
				"Upgrade: websocket",
				"Connection: Upgrade",
				"X-Forwarded-For: 10.0.0.1, 10.0.0.2, 10.0.0.3, 192.0.2.1",
				"X-Forwarded-Proto: https",
				"X-Forwarded-Host: example.com",
				"X-Request-Id: r"),
		},
		{
			name: "trusted peer without client list",
			head: httpHandshake("", ""),
			f:    Forward{ClientIP: ip, TrustedPeer: true, Proto: "http", RequestID: []byte("r")},
			want: httpHead("GET /chat HTTP/1.1",
				"Host: example.com",
				"Sec-WebSocket-Key: "+testKey,
				"Sec-WebSocket-Version: 13",
				"Upgrade: websocket",
				"Connection: Upgrade",
				"X-Forwarded-For: 192.0.2.1",
				"X-Forwarded-Proto: http",
				"X-Forwarded-Host: example.com",
				"X-Request-Id: r"),
		},
		{
			name: "client-address headers removed for untrusted peer",
			head: httpHandshake("", "",
				"Forwarded: for=1.2.3.4;proto=https",
				"X-Real-IP: 1.2.3.4",
				"true-client-ip: 1.2.3.4",
				"X-Client-IP: 1.2.3.4",
				"CF-Connecting-IP: 1.2.3.4",
				"Fastly-Client-IP: 1.2.3.4",
				"X-Cluster-Client-IP: 1.2.3.4",
				"X-Forwarded-Port: 443",
				"X-Forwarded-Ssl: on",
				"X_Real_IP: 1.2.3.4",
				"x_forwarded_for: 1.2.3.4",
				"X_Request_Id: spoofed",
				"X_User_Id: mallory",
				"X-Realistic: kept",
				"X-User-Id: alice"),
			f: Forward{ClientIP: ip, Proto: "http", RequestID: []byte("r"), Owned: []string{"x-user-id"}},
			want: httpHead("GET /chat HTTP/1.1",
				"Host: example.com",
				"Sec-WebSocket-Key: "+testKey,
				"Sec-WebSocket-Version: 13",
				"X-Realistic: kept",
				"Upgrade: websocket",
				"Connection: Upgrade",
				"X-Forwarded-For: 192.0.2.1",
				"X-Forwarded-Proto: http",
				"X-Forwarded-Host: example.com",
				"X-Request-Id: r"),
		},
		{
			name: "client-address headers kept for trusted peer, owned ones never",
			head: httpHandshake("", "",
				"Forwarded: for=10.0.0.1;proto=https",
				"X-Real-IP: 10.0.0.1",
				"X-User-Id: alice"),
			f: Forward{ClientIP: ip, TrustedPeer: true, Proto: "http", RequestID: []byte("r"), Forwarded: true, Owned: []string{"X-User-Id"}},
			want: httpHead("GET /chat HTTP/1.1",
				"Host: example.com",
				"Sec-WebSocket-Key: "+testKey,
				"Sec-WebSocket-Version: 13",
				"Forwarded: for=10.0.0.1;proto=https",
				"X-Real-IP: 10.0.0.1",
				"Upgrade: websocket",
				"Connection: Upgrade",
				"X-Forwarded-For: 192.0.2.1",
				"X-Forwarded-Proto: http",
				"X-Forwarded-Host: example.com",
				"X-Request-Id: r",
				"Forwarded: for=192.0.2.1;host=example.com;proto=http"),
		},
		{
			name: "own forwarded replaces an untrusted one, v6 and port quoted",
			head: httpHandshake("GET / HTTP/1.1", "Host", "Host: example.com:8443", "Forwarded: for=1.2.3.4"),
			f:    Forward{ClientIP: []byte("2001:db8::1"), Proto: "http", Forwarded: true},
			want: httpHead("GET / HTTP/1.1",
				"Sec-WebSocket-Key: "+testKey,
				"Sec-WebSocket-Version: 13",
				"Host: example.com:8443",
				"Upgrade: websocket",
				"Connection: Upgrade",
				"X-Forwarded-For: 2001:db8::1",
				"X-Forwarded-Proto: http",
				"X-Forwarded-Host: example.com:8443",
				`Forwarded: for="[2001:db8::1]";host="example.com:8443";proto=http`),
		},
		{
			name: "rewritten target and empty fields left out",
			head: httpHandshake("GET /api/chat?x=1 HTTP/1.1", "", "X-Request-Id: client-id"),
			f:    Forward{Target: []byte("/chat?x=1")},
			want: httpHead("GET /chat?x=1 HTTP/1.1",
				"Host: example.com",
				"Sec-WebSocket-Key: "+testKey,
				"Sec-WebSocket-Version: 13",
				"Upgrade: websocket",
				"Connection: Upgrade",
				"X-Forwarded-Host: example.com"),
		},
		{
			name: "lf-only client, order kept",
			head: []byte("GET / HTTP/1.1\nUser-Agent: ua\nHost: h:81\nUpgrade: websocket\nConnection: upgrade\n" +
				"Sec-WebSocket-Version: 13\nAccept: */*\nSec-WebSocket-Key: " + testKey + "\n\n"),
			f: Forward{ClientIP: ip, Proto: "http", RequestID: []byte("r")},
			want: httpHead("GET / HTTP/1.1",
				"User-Agent: ua",
				"Host: h:81",
				"Sec-WebSocket-Version: 13",
				"Accept: */*",
				"Sec-WebSocket-Key: "+testKey,
				"Upgrade: websocket",
				"Connection: Upgrade",
				"X-Forwarded-For: 192.0.2.1",
				"X-Forwarded-Proto: http",
				"X-Forwarded-Host: h:81",
				"X-Request-Id: r"),
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var r Request
			if err := ParseRequest(tc.head, &r); err != nil {
				t.Fatalf("ParseRequest: %v", err)
			}
			got := AppendForwardedRequest([]byte("prev"), &r, &tc.f)
			if want := "prev" + string(tc.want); string(got) != want {
				t.Errorf("got\n%s\nwant\n%s", got, want)
			}
			var back Request
			if err := ParseRequest(got[len("prev"):], &back); err != nil {
				t.Errorf("forwarded request does not parse: %v", err)
			}
		})
	}
}

func TestAppendSwitchingResponse(t *testing.T) {
	tests := []struct {
		name  string
		head  string
		id    string
		extra string
		want  string
	}{
		{
			name: "adds request id",
			head: "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " + testAccept + "\r\n\r\n",
			id:   "rid",
			want: "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " + testAccept + "\r\nX-Request-Id: rid\r\n\r\n",
		},
		{
			name: "hop-by-hop stripped but upgrade and connection",
			head: "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade, X-Internal, Sec-WebSocket-Protocol\r\n" +
				"Keep-Alive: timeout=5\r\nTransfer-Encoding: chunked\r\nTE: trailers\r\nTrailer: X-Sum\r\nProxy-Authenticate: Basic\r\n" +
				"X-Internal: secret\r\nSec-WebSocket-Accept: " + testAccept + "\r\nSet-Cookie: a=b\r\n\r\n",
			want: "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade, X-Internal, Sec-WebSocket-Protocol\r\n" +
				"Sec-WebSocket-Accept: " + testAccept + "\r\nSet-Cookie: a=b\r\n\r\n",
		},
		{
			name: "keeps the backend's request id",
			head: "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nx-request-id: backend\r\nConnection: Upgrade\r\n\r\n",
			id:   "rid",
			want: "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nx-request-id: backend\r\nConnection: Upgrade\r\n\r\n",
		},
		{
			name: "lf-only backend, no reason, no id",
			head: "HTTP/1.1 101\nUpgrade: websocket\nConnection: Upgrade\nSet-Cookie: s=1; Path=/\n\n",
			want: "HTTP/1.1 101 \r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSet-Cookie: s=1; Path=/\r\n\r\n",
		},
		{
			name:  "proxy's own header after the backend's",
			head:  "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSet-Cookie: s=1\r\n\r\n",
			id:    "rid",
			extra: "Set-Cookie: throng_backend=v; Path=/; HttpOnly; SameSite=Lax\r\n",
			want:  "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSet-Cookie: s=1\r\nX-Request-Id: rid\r\nSet-Cookie: throng_backend=v; Path=/; HttpOnly; SameSite=Lax\r\n\r\n",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var r Response
			if err := ParseResponse([]byte(tc.head), &r); err != nil {
				t.Fatal(err)
			}
			var id []byte
			if tc.id != "" {
				id = []byte(tc.id)
			}
			if got := string(AppendSwitchingResponse(nil, &r, id, []byte(tc.extra))); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestAppendRelayedHead(t *testing.T) {
	tests := []struct {
		name string
		head string
		want string
	}{
		{
			name: "chunked backend stays chunked",
			head: "HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\nConnection: keep-alive, X-Hop\r\nX-Hop: 1\r\nKeep-Alive: timeout=5\r\nSet-Cookie: a=b\r\n\r\n",
			want: "HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\nSet-Cookie: a=b\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
		},
		{
			name: "length backend keeps its length",
			head: "HTTP/1.0 404 Not Here\nContent-Length: 99999999\nUpgrade: h2c\nProxy-Authenticate: Basic\n\n",
			want: "HTTP/1.1 404 Not Here\r\nContent-Length: 99999999\r\nConnection: close\r\n\r\n",
		},
		{
			name: "close-delimited backend is chunked",
			head: "HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Bearer\r\n\r\n",
			want: "HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Bearer\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
		},
		{
			name: "standard reason when none",
			head: "HTTP/1.1 503\r\nRetry-After: 5\r\nContent-Length: 0\r\n\r\n",
			want: "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 5\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
		},
		{
			name: "unknown status without reason",
			head: "HTTP/1.1 599\r\nContent-Length: 0\r\n\r\n",
			want: "HTTP/1.1 599 \r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
		},
		{
			name: "204 has no body",
			head: "HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n",
			want: "HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n",
		},
		{
			name: "304 has no body",
			head: "HTTP/1.1 304 Not Modified\r\nETag: \"x\"\r\n\r\n",
			want: "HTTP/1.1 304 Not Modified\r\nETag: \"x\"\r\nConnection: close\r\n\r\n",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var r Response
			if err := ParseResponse([]byte(tc.head), &r); err != nil {
				t.Fatal(err)
			}
			kind, length, err := r.Body()
			if err != nil {
				t.Fatal(err)
			}
			if got := string(AppendRelayedHead(nil, &r, kind, length)); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestChunkFraming(t *testing.T) {
	payload := []byte("0123456789abcdefg")
	got := append(append(append(AppendChunkSize([]byte("x"), len(payload)), payload...), "\r\n"...), LastChunk...)
	if want := "x11\r\n0123456789abcdefg\r\n0\r\n\r\n"; string(got) != want {
		t.Fatalf("got %q, want %q", got, want)
	}
	var d ChunkedDecoder
	out, n, done, err := d.Decode(nil, got[1:])
	if string(out) != "0123456789abcdefg" || n != len(got)-1 || !done || err != nil {
		t.Fatalf("decodes to %q, %d, %v, %v", out, n, done, err)
	}
}

func TestAppendErrorResponse(t *testing.T) {
	tests := []struct {
		status int
		extra  string
		want   string
	}{
		{400, "", "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 16\r\nConnection: close\r\n\r\n400 Bad Request\n"},
		{426, ErrBadVersion.Header, "HTTP/1.1 426 Upgrade Required\r\nSec-WebSocket-Version: 13\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 21\r\nConnection: close\r\n\r\n426 Upgrade Required\n"},
		{503, "Retry-After: 1\r\n", "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 24\r\nConnection: close\r\n\r\n503 Service Unavailable\n"},
		{599, "", "HTTP/1.1 599 \r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 4\r\nConnection: close\r\n\r\n599\n"},
	}
	for _, tc := range tests {
		t.Run(strings.Fields(tc.want)[1], func(t *testing.T) {
			got := AppendErrorResponse(nil, tc.status, tc.extra)
			if string(got) != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
			// The advertised length matches the body, and the answer parses.
			var r Response
			end := strings.Index(string(got), "\r\n\r\n") + 4
			if err := ParseResponse(got[:end], &r); err != nil {
				t.Fatalf("ParseResponse: %v", err)
			}
			if kind, n, err := r.Body(); kind != BodyLength || n != int64(len(got)-end) || err != nil {
				t.Errorf("Body() = %v, %d, %v, want length, %d, nil", kind, n, err, len(got)-end)
			}
		})
	}
	for _, status := range []int{400, 401, 403, 404, 405, 426, 429, 431, 500, 502, 503, 504} {
		if statusText(status) == "" {
			t.Errorf("statusText(%d) is empty", status)
		}
	}
}

func TestSameName(t *testing.T) {
	tests := []struct {
		b, s string
		want bool
	}{
		{"X-Real-IP", "x-real-ip", true},
		{"x_real_ip", "x-real-ip", true},
		{"X_REAL-IP", "X-Real_Ip", true},
		{"X-Real-IQ", "x-real-ip", false},
		{"X-Real-IP ", "x-real-ip", false},
		{"X.Real.IP", "x-real-ip", false},
		{"X^Real", "x~real", false}, // '^'|0x20 is '~': only letters fold
	}
	for _, tt := range tests {
		if got := sameName([]byte(tt.b), tt.s); got != tt.want {
			t.Errorf("sameName(%q, %q) = %v, want %v", tt.b, tt.s, got, tt.want)
		}
	}
}
