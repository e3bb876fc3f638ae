package codec

import (
	"crypto/sha1"
	"encoding/base64"
)

// websocketGUID is the GUID appended to the key (RFC 6455 §1.3).
const websocketGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

// acceptKeyLen is the length of a Sec-WebSocket-Accept value: base64 of a
// 20-byte SHA-1 digest.
const acceptKeyLen = 28

// AppendAcceptKey appends the Sec-WebSocket-Accept value for key,
// base64(SHA-1(key + GUID)) (RFC 6455 §4.2.2 item 5.4), to dst. It does not
// allocate beyond growing dst for keys of up to 92 bytes; a valid key has 24.
func AppendAcceptKey(dst, key []byte) []byte {
	buf := make([]byte, 0, 128)
	buf = append(buf, key...)
	buf = append(buf, websocketGUID...)
	sum := sha1.Sum(buf)
	n := len(dst)
	dst = append(dst, "0000000000000000000000000000"...)
	base64.StdEncoding.Encode(dst[n:], sum[:])
	return dst
}
