//go:build !race

package bench

import (
	"testing"

	"github.com/gobwas/ws"

	"github.com/throngproxy/throng/codec"
)

func TestClientAllocs(t *testing.T) {
	pattern := clientPattern(64)
	in := clientServerFrame(true, ws.OpBinary, clientEchoOf(pattern, 1, 0))
	r := clientReader{pattern: pattern, size: 64}
	f := newClientFrame(pattern, [4]byte{1, 2, 3, 4})
	key := newClientKey([16]byte{9})
	head := []byte("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " +
		string(key.accept[:]) + "\r\n\r\n")
	var resp codec.Response
	_ = clientCheckResponse(head, &key, &resp)
	tests := []struct {
		name string
		fn   func()
	}{
		{"reader", func() { _, _, _, _ = r.next(in) }},
		{"stamp", func() { _ = f.stamp(5, 6) }},
		{"check response", func() { _ = clientCheckResponse(head, &key, &resp) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := testing.AllocsPerRun(100, tt.fn); got != 0 {
				t.Errorf("AllocsPerRun = %v, want 0", got)
			}
		})
	}
}
