//go:build !race

package engine

import (
	"testing"

	"github.com/gobwas/ws"
)

// TestPingAllocs: a Ping round (the deadline, the Ping, the Pong) costs
// no allocation, so that pinging idle sessions does not grow the heap.
func TestPingAllocs(t *testing.T) {
	s, _ := newBenchSession(t, 64)
	snap := *s.snap
	snap.pingTicks, snap.pongTicks = 10, 10
	s.snap = &snap
	s.id = 5
	own := pingPayload(s.id)
	pong := append([]byte{0x80 | byte(ws.OpPong), 0x80 | byte(len(own)), 9, 8, 7, 6}, own[:]...)
	ws.Cipher(pong[6:], [4]byte{9, 8, 7, 6}, 0)
	now := int64(1000)
	if got := testing.AllocsPerRun(200, func() {
		now += 20
		s.sh.e.clock.Store(now)
		s.clientSeen = int32(now - 15)
		s.onDeadline()
		if s.pongBy == 0 {
			t.Fatal("no Ping sent")
		}
		s.relayFromClient(pong)
		if s.pongBy != 0 {
			t.Fatal("Pong not recognised")
		}
	}); got != 0 {
		t.Errorf("%v allocs per Ping round, want 0", got)
	}
}
