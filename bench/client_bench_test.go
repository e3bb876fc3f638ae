package bench

import (
	"strconv"
	"testing"

	"github.com/gobwas/ws"
)

func BenchmarkClientReader(b *testing.B) {
	for _, size := range []int{64, 4096} {
		pattern := clientPattern(size)
		in := clientServerFrame(true, ws.OpBinary, clientEchoOf(pattern, 1, 0))
		r := clientReader{pattern: pattern, size: uint64(size)}
		b.Run(strconv.Itoa(size)+"B", func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(in)))
			for b.Loop() {
				_, _, _, _ = r.next(in)
			}
		})
	}
}

func BenchmarkClientFrameStamp(b *testing.B) {
	f := newClientFrame(clientPattern(4096), [4]byte{1, 2, 3, 4})
	b.ReportAllocs()
	var seq uint64
	for b.Loop() {
		seq++
		_ = f.stamp(int64(seq), seq)
	}
}
