//go:build !race

package engine

import (
	"testing"

	"github.com/gobwas/ws"
)

// TestRelayAllocs: relaying a read of frames costs no allocation.
func TestRelayAllocs(t *testing.T) {
	for _, size := range []int{0, 64, 4 << 10, 70000} {
		s, span := newBenchSession(t, size)
		// A split header takes the held path (Writev) too.
		cut := len(span) - 3
		if got := testing.AllocsPerRun(200, func() {
			s.relayFromClient(span[:cut])
			s.relayFromClient(span[cut:])
		}); got != 0 {
			t.Errorf("frames of %d bytes: %v allocs per relay, want 0", size, got)
		}
	}
}

// TestRelayGatedAllocs: so does relaying them through per-message limits,
// forwarding every message or dropping most.
func TestRelayGatedAllocs(t *testing.T) {
	for _, tt := range []struct {
		name      string
		perSecond int64
		drop      bool
	}{{"forward", 1 << 40, false}, {"drop", 1, true}} {
		for _, size := range []int{0, 64, 70000} {
			s, span := newBenchSession(t, size)
			gate(s, tt.perSecond, tt.drop, 1<<20)
			cut := len(span) - 3
			if got := testing.AllocsPerRun(200, func() {
				s.relayFromClient(span[:cut])
				s.relayFromClient(span[cut:])
			}); got != 0 {
				t.Errorf("%s, frames of %d bytes: %v allocs per relay, want 0", tt.name, size, got)
			}
			if s.flags&flagClientFailed != 0 {
				t.Errorf("%s, frames of %d bytes: the session was closed", tt.name, size)
			}
		}
	}
}

// TestRelayPongAllocs: awaiting the Pong to a proxy Ping (the client's
// stream scanned for Pongs) costs no allocation either, and the session's
// own Pong is recognised and clears the wait.
func TestRelayPongAllocs(t *testing.T) {
	s, span := newBenchSession(t, 64)
	s.id = 77
	own := pingPayload(s.id)
	mask := [4]byte{9, 8, 7, 6}
	pong := append([]byte{0x80 | byte(ws.OpPong), 0x80 | byte(len(own)), 9, 8, 7, 6}, own[:]...)
	ws.Cipher(pong[6:], mask, 0)
	other := append([]byte(nil), pong...)
	other[len(other)-1] ^= 1 // another payload: a Pong to a backend's Ping
	if got := testing.AllocsPerRun(200, func() {
		s.pongBy = 1 << 20
		s.relayFromClient(span)
		s.relayFromClient(other)
	}); got != 0 {
		t.Errorf("%v allocs per relay while a Pong is awaited, want 0", got)
	}
	if s.pongBy == 0 {
		t.Fatal("a Pong of another payload was taken for the proxy's")
	}
	s.relayFromClient(pong)
	if s.pongBy != 0 {
		t.Fatal("the proxy's own Pong was not recognised")
	}
}
