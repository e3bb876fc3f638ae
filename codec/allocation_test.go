//go:build !race

package codec

import "testing"

func TestHTTPAllocations(t *testing.T) {
	var (
		req  Request
		resp Response
		s    HeadScanner
		d    ChunkedDecoder
	)
	if err := ParseRequest(chromeHandshake, &req); err != nil {
		t.Fatal(err)
	}
	if err := ParseResponse(benchUpgrade, &resp); err != nil {
		t.Fatal(err)
	}
	f := Forward{ClientIP: []byte("192.0.2.1"), TrustedPeer: true, Proto: "https", RequestID: []byte("rid")}
	dst := make([]byte, 0, 4096)
	chunked := []byte("5;x=y\r\nhello\r\n0\r\nT: v\r\n\r\n")
	relayed := Response{Proto: []byte("HTTP/1.1"), Status: 404, Headers: resp.Headers}
	badHead := httpHandshake("", "Sec-WebSocket-Version")
	tests := []struct {
		name string
		fn   func()
	}{
		{"ParseRequest", func() { _ = ParseRequest(chromeHandshake, &req) }},
		{"ParseRequest rejecting", func() { _ = ParseRequest(badHead, &req) }},
		{"HeadScanner.Scan", func() { s.Reset(); s.Scan(chromeHandshake) }},
		{"ParseResponse", func() { _ = ParseResponse(benchUpgrade, &resp) }},
		{"CheckUpgrade", func() { _, _ = CheckUpgrade(&resp, &req) }},
		{"Response.Body", func() { _, _, _ = relayed.Body() }},
		{"OffersProtocol", func() { req.OffersProtocol([]byte("superchat")) }},
		{"OffersExtension", func() { req.OffersExtension([]byte("permessage-deflate")) }},
		{"Get", func() { Get(req.Headers, "sec-websocket-key") }},
		{"HasToken", func() { HasToken([]byte("keep-alive, Upgrade"), "upgrade") }},
		{"AppendAcceptKey", func() { dst = AppendAcceptKey(dst[:0], req.Key) }},
		{"AppendForwardedRequest", func() { dst = AppendForwardedRequest(dst[:0], &req, &f) }},
		{"AppendSwitchingResponse", func() { dst = AppendSwitchingResponse(dst[:0], &resp, f.RequestID, nil) }},
		{"AppendRelayedHead", func() { dst = AppendRelayedHead(dst[:0], &relayed, BodyChunked, 0) }},
		{"AppendChunkSize", func() { dst = AppendChunkSize(dst[:0], len(chunked)) }},
		{"AppendErrorResponse", func() { dst = AppendErrorResponse(dst[:0], 426, ErrBadVersion.Header) }},
		{"ChunkedDecoder.Decode", func() { d.Reset(); dst, _, _, _ = d.Decode(dst[:0], chunked) }},
		{"HandshakeError.Error", func() { _ = ErrBadKey.Error() }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := testing.AllocsPerRun(100, tc.fn); got != 0 {
				t.Errorf("allocs per run: got %v, want 0", got)
			}
		})
	}
}
