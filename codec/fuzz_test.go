package codec

import (
	"bytes"
	"errors"
	"testing"
)

// fuzzCuts turns fuzzer bytes into increasing cut offsets within [0, n]:
// each byte advances by 0–16 bytes, so pieces may also be empty.
func fuzzCuts(n int, splits []byte) []int {
	var cuts []int
	pos := 0
	for _, b := range splits {
		pos += int(b) % 17
		if pos >= n {
			break
		}
		cuts = append(cuts, pos)
	}
	return cuts
}

func FuzzHeadScanner(f *testing.F) {
	f.Add([]byte("GET / HTTP/1.1\r\nHost: a\r\n\r\nrest"), []byte{1, 2, 3})
	f.Add([]byte("GET / HTTP/1.1\nHost: a\n\n"), []byte{0, 0, 5})
	f.Add([]byte("a\r\n\nb"), []byte{1, 1, 1, 1})
	f.Add([]byte("a\n\r\nb"), []byte{2})
	f.Add([]byte("a\r\r\n\r\r\n\r\n"), []byte{3, 1})
	f.Add(chromeHandshake, []byte{16, 16, 16, 16, 16, 16, 16, 16})
	f.Fuzz(func(t *testing.T, data, splits []byte) {
		wantN, wantDone := scanWhole(data)
		if gotN, gotDone := scanPieces(t, data, fuzzCuts(len(data), splits)...); gotN != wantN || gotDone != wantDone {
			t.Fatalf("in pieces: got %d, %v; whole: %d, %v", gotN, gotDone, wantN, wantDone)
		}
		if wantDone {
			head := data[:wantN]
			if !bytes.HasSuffix(head, []byte("\n\n")) && !bytes.HasSuffix(head, []byte("\n\r\n")) &&
				!(len(head) <= 2 && (string(head) == "\n" || string(head) == "\r\n")) {
				t.Fatalf("head %q does not end in an empty line", head)
			}
		}
	})
}

func FuzzParseRequest(f *testing.F) {
	for _, seed := range [][]byte{
		chromeHandshake, firefoxHandshake, safariHandshake,
		httpHandshake("", ""),
		httpHandshake("", "", "X-Forwarded-For: 10.0.0.1", "Connection: x-a, host", "X-A: b"),
		[]byte("GET / HTTP/1.1\nHost: h\nUpgrade: websocket\nConnection: upgrade\nSec-WebSocket-Key: " + testKey + "\nSec-WebSocket-Version: 13\n\n"),
		httpHandshake("POST / HTTP/1.0", "Host"),
		httpHandshake("", "", " folded"),
		[]byte("\r\n\r\n"),
		nil,
	} {
		f.Add(seed, false)
		f.Add(seed, true)
	}
	f.Fuzz(func(t *testing.T, head []byte, trusted bool) {
		var r Request
		err := ParseRequest(head, &r)
		if err != nil {
			var he *HandshakeError
			if !errors.As(err, &he) || he.Status < 400 {
				t.Fatalf("error %v is not a *HandshakeError with a 4xx status", err)
			}
			return
		}
		if n, done := scanWhole(head); !done || n != len(head) {
			t.Fatalf("accepted head %q, but HeadScanner ends it at %d, %v", head, n, done)
		}
		fwd := Forward{ClientIP: []byte("192.0.2.1"), TrustedPeer: trusted, Proto: "https", RequestID: []byte("rid")}
		out := AppendForwardedRequest(nil, &r, &fwd)
		var back Request
		if err := ParseRequest(out, &back); err != nil {
			if err == ErrTooManyHeaders && len(r.Headers)+4 > MaxHeaders {
				return // forwarding adds up to four lines net; the backend's own limit applies
			}
			t.Fatalf("forwarded request %q of %q does not parse: %v", out, head, err)
		}
		if !bytes.Equal(back.Host, r.Host) || !bytes.Equal(back.Key, r.Key) || !bytes.Equal(back.Target, r.Target) {
			t.Fatalf("forwarded Host/Key/Target %q %q %q, want %q %q %q", back.Host, back.Key, back.Target, r.Host, r.Key, r.Target)
		}
		if string(back.RequestID) != "rid" {
			t.Fatalf("forwarded X-Request-Id %q, want %q", back.RequestID, "rid")
		}
	})
}

func FuzzParseResponse(f *testing.F) {
	for _, seed := range [][]byte{
		httpHead("HTTP/1.1 101 Switching Protocols", "Upgrade: websocket", "Connection: Upgrade",
			"Sec-WebSocket-Accept: "+testAccept, "Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover",
			"Sec-WebSocket-Protocol: chat"),
		httpHead("HTTP/1.1 200 OK", "Transfer-Encoding: chunked", "Content-Length: 5"),
		httpHead("HTTP/1.0 404", "Content-Length: 7, 7"),
		[]byte("HTTP/1.1 204\n\n"),
		[]byte("\x16\x03\x01\x00"),
		nil,
	} {
		f.Add(seed)
	}
	var req Request
	if err := ParseRequest(chromeHandshake, &req); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, head []byte) {
		var r Response
		if err := ParseResponse(head, &r); err != nil {
			if err != ErrBadResponse {
				t.Fatalf("error %v, want %v", err, ErrBadResponse)
			}
			return
		}
		if n, done := scanWhole(head); !done || n != len(head) {
			t.Fatalf("accepted head %q, but HeadScanner ends it at %d, %v", head, n, done)
		}
		if _, err := CheckUpgrade(&r, &req); err != nil && !errors.Is(err, ErrBadUpgradeResponse) && !errors.Is(err, ErrBadAccept) &&
			!errors.Is(err, ErrUnofferedProtocol) && !errors.Is(err, ErrUnofferedExtension) {
			t.Fatalf("CheckUpgrade: unexpected error %v", err)
		}
		kind, length, err := r.Body()
		if err == nil && (kind > BodyClose || length < 0 || kind != BodyLength && length != 0) {
			t.Fatalf("Body() = %v, %d", kind, length)
		}
		var back Response
		sw := AppendSwitchingResponse(nil, &r, []byte("rid"), nil)
		if err := ParseResponse(sw, &back); err != nil && !(len(r.Headers) == MaxHeaders && Get(r.Headers, "x-request-id") == nil) {
			t.Fatalf("switching response %q does not parse: %v", sw, err)
		} else if err == nil && (back.Status != r.Status || !bytes.Equal(back.Reason, r.Reason)) {
			t.Fatalf("switching response status %d %q, want %d %q", back.Status, back.Reason, r.Status, r.Reason)
		}
		rel := AppendRelayedHead(nil, &r, kind, length)
		end := bytes.Index(rel, []byte("\r\n\r\n")) + 4
		if err := ParseResponse(rel[:end], &back); err != nil && len(r.Headers) < MaxHeaders-1 {
			t.Fatalf("relayed response %q does not parse: %v", rel, err)
		}
	})
}

func FuzzChunkedDecoder(f *testing.F) {
	f.Add([]byte("5\r\nhello\r\n0\r\n\r\n"), []byte{1, 2, 3})
	f.Add([]byte("a;x=y\r\n0123456789\r\n0\r\nT: v\r\n\r\nafter"), []byte{7, 0, 7})
	f.Add([]byte("5\nhello\n0\n\n"), []byte{1})
	f.Add([]byte("fffffffffffffff\r\n"), []byte{4, 4})
	f.Add([]byte("5\r\nhello\rX"), []byte{9})
	f.Fuzz(func(t *testing.T, data, splits []byte) {
		want := decodeChunked(data)
		if got := decodeChunked(data, fuzzCuts(len(data), splits)...); got != want {
			t.Fatalf("in pieces: got %+v; whole: %+v", got, want)
		}
		if want.err != nil && want.err != ErrBadChunk || want.n > len(data) || len(want.out) > len(data) {
			t.Fatalf("whole: %+v for %d bytes", want, len(data))
		}
		// Skip finds the same end and the same error, keeping nothing.
		var sk ChunkedDecoder
		n, done, err := sk.Skip(data)
		if n != want.n || done != want.done || err != want.err {
			t.Fatalf("Skip = %d, %v, %v; Decode: %+v", n, done, err, want)
		}
	})
}
