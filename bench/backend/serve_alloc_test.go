//go:build !race

package backend

import (
	"testing"

	"github.com/gobwas/ws"
)

func TestServeEchoFeedAllocs(t *testing.T) {
	in := serveFrames(t, true,
		ws.NewTextFrame(servePayload(64)), ws.NewPingFrame([]byte("p")),
		ws.NewFrame(ws.OpBinary, false, servePayload(70000)), ws.NewFrame(ws.OpContinuation, true, nil))
	buf := make([]byte, len(in))
	var e serveEcho
	got := testing.AllocsPerRun(100, func() {
		copy(buf, in)
		// Cut inside a header and inside a payload.
		e.feed(buf[:7])
		e.feed(buf[7:100])
		e.feed(buf[100:])
	})
	if got != 0 {
		t.Errorf("got %v allocs per feed, want 0", got)
	}
}

func TestServeFaninAllocs(t *testing.T) {
	frame := faninFrames(ws.NewBinaryFrame(servePayload(64)))
	buf := make([]byte, len(frame))
	var f serveFanin
	if got := testing.AllocsPerRun(100, func() {
		copy(buf, frame)
		_, _, _, _ = f.next(buf)
	}); got != 0 {
		t.Errorf("serveFanin.next: got %v allocs, want 0", got)
	}
}
