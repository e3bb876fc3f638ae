package backend

import (
	"bytes"
	"errors"
	"net/http"

	"github.com/gobwas/ws"

	"github.com/throngproxy/throng/codec"
)

// serveMaxHeadBytes bounds the upgrade request head, request line to blank
// line included; a longer head is answered with 431.
const serveMaxHeadBytes = 16 << 10

// Prebuilt handshake refusals, one per status, as throng answers (codec).
// Each closes the connection. Read-only.
var (
	serveResp400 = codec.AppendErrorResponse(nil, http.StatusBadRequest, "")
	serveResp405 = codec.AppendErrorResponse(nil, http.StatusMethodNotAllowed, "Allow: GET\r\n")
	serveResp426 = codec.AppendErrorResponse(nil, http.StatusUpgradeRequired, "Sec-WebSocket-Version: 13\r\n")
	serveResp431 = codec.AppendErrorResponse(nil, http.StatusRequestHeaderFieldsTooLarge, "")
)

// serveHandshakeIO feeds a complete request head to ws.Upgrader and gathers
// its answer.
type serveHandshakeIO struct {
	head bytes.Reader
	resp []byte
}

func (h *serveHandshakeIO) Read(p []byte) (int, error) { return h.head.Read(p) }

func (h *serveHandshakeIO) Write(p []byte) (int, error) {
	h.resp = append(h.resp, p...)
	return len(p), nil
}

// newServeUpgrader returns an upgrader that accepts any WebSocket upgrade
// (RFC 6455 §4.2): it answers the first subprotocol the client offers and
// never accepts an extension.
func newServeUpgrader() ws.Upgrader {
	return ws.Upgrader{Protocol: func([]byte) bool { return true }}
}

// serveUpgrade validates the complete request head (RFC 6455 §4.2.1) and
// returns the response to send: the 101 with Sec-WebSocket-Accept, or a
// prebuilt refusal with ok == false. It allocates; it runs once per
// connection.
func serveUpgrade(u *ws.Upgrader, head []byte) (resp []byte, ok bool) {
	var hio serveHandshakeIO
	hio.head.Reset(head)
	hio.resp = make([]byte, 0, 256)
	if _, err := u.Upgrade(&hio); err != nil {
		// Upgrader wrote its own refusal (without Connection: close) or
		// none at all for an unparsable request line: send ours instead.
		var rej *ws.ConnectionRejectedError
		if errors.As(err, &rej) {
			switch rej.StatusCode() {
			case http.StatusMethodNotAllowed:
				return serveResp405, false
			case http.StatusUpgradeRequired:
				return serveResp426, false
			}
		}
		return serveResp400, false
	}
	return hio.resp, true
}
