package engine

import (
	"testing"
	"unsafe"
)

// TestSessionSize keeps the per-session struct small: it is most of what an
// idle session costs beyond gnet's two conns (docs/architecture.md, "Idle costs almost
// nothing").
func TestSessionSize(t *testing.T) {
	const limit = 288 // a size class of the Go allocator: one byte more costs 32
	if got := unsafe.Sizeof(session{}); got > limit {
		t.Fatalf("session is %d bytes, keep it at most %d", got, limit)
	}
	t.Logf("session: %d bytes", unsafe.Sizeof(session{}))
}
