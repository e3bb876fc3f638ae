package bench

import (
	"bytes"
	"encoding/base64"
	"errors"

	"github.com/throngproxy/throng/codec"
)

// clientMaxHeadBytes bounds the server's 101 response head.
const clientMaxHeadBytes = 16 << 10

// clientKeyLen is the length of a Sec-WebSocket-Key: base64 of 16 bytes.
const clientKeyLen = 24

// Handshake errors, returned by clientCheckResponse. Preallocated.
var (
	errClientBadHead   = errors.New("bench: client: malformed response head")
	errClientNot101    = errors.New("bench: client: response status is not 101")
	errClientNoUpgrade = errors.New("bench: client: response lacks Upgrade: websocket / Connection: Upgrade")
	errClientBadAccept = errors.New("bench: client: wrong Sec-WebSocket-Accept")
)

// clientKey is a Sec-WebSocket-Key and the Sec-WebSocket-Accept it wants.
type clientKey struct {
	key    [clientKeyLen]byte
	accept [28]byte
}

// newClientKey encodes the 16 random bytes nonce as a key (RFC 6455 §4.1
// item 7) and computes its accept value (§4.2.2 item 5.4).
func newClientKey(nonce [16]byte) clientKey {
	var k clientKey
	base64.StdEncoding.Encode(k.key[:], nonce[:])
	codec.AppendAcceptKey(k.accept[:0], k.key[:])
	return k
}

// clientAppendRequest appends the upgrade request for target (origin-form
// path and query) on host with key to dst (RFC 6455 §4.1).
func clientAppendRequest(dst []byte, host, target string, key *clientKey) []byte {
	dst = append(dst, "GET "...)
	dst = append(dst, target...)
	dst = append(dst, " HTTP/1.1\r\nHost: "...)
	dst = append(dst, host...)
	dst = append(dst, "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: "...)
	dst = append(dst, key.key[:]...)
	dst = append(dst, "\r\nSec-WebSocket-Version: 13\r\n\r\n"...)
	return dst
}

// clientCheckResponse checks the complete response head (as delimited by
// codec.HeadScanner) against key (RFC 6455 §4.1, client requirements 1–4):
// status 101, Upgrade: websocket, Connection: Upgrade and the expected
// Sec-WebSocket-Accept. resp is scratch reused across calls. It does not
// allocate once resp.Headers has grown.
func clientCheckResponse(head []byte, key *clientKey, resp *codec.Response) error {
	if err := codec.ParseResponse(head, resp); err != nil {
		return errClientBadHead
	}
	if resp.Status != 101 {
		return errClientNot101
	}
	if !codec.EqualFold(codec.Get(resp.Headers, "Upgrade"), "websocket") ||
		!codec.HasToken(codec.Get(resp.Headers, "Connection"), "upgrade") {
		return errClientNoUpgrade
	}
	if !bytes.Equal(codec.Get(resp.Headers, "Sec-WebSocket-Accept"), key.accept[:]) {
		return errClientBadAccept
	}
	return nil
}
