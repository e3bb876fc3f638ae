//go:build !race

package codec

import (
	"strings"
	"testing"

	"github.com/gobwas/ws"
)

func TestStreamScanAllocs(t *testing.T) {
	in := frSplitStream(true, 65536)
	var s Stream
	got := testing.AllocsPerRun(100, func() {
		s.Init(FromClient, 0, false, false)
		for k, start := 0, 0; k < len(in); {
			j := min(len(in), k+1+k%23) // pieces that split headers
			_, n, err := s.Scan(in[start:j])
			if err != nil {
				t.Fatal(err)
			}
			if s.ClosePending() {
				start += n // passed again with the next piece, as the engine does
			} else {
				start = j
			}
			k = j
		}
		s.Init(FromServer, 0, false, false)
		_, _, _ = s.Scan(in) // fails: masked frames from a server
	})
	if got != 0 {
		t.Errorf("Scan allocs = %v, want 0", got)
	}
}

func TestAppendCloseAllocs(t *testing.T) {
	dst := make([]byte, 0, 256)
	reason := strings.Repeat("r", 200)
	got := testing.AllocsPerRun(100, func() {
		dst = AppendClose(dst[:0], ws.StatusGoingAway, reason)
		dst = AppendMaskedClose(dst, StatusBadGateway, "backend gone", frMask)
	})
	if got != 0 {
		t.Errorf("AppendClose allocs = %v, want 0", got)
	}
}
