package codec

import "testing"

// frBenchStream returns a client stream of count masked binary frames of size
// payload bytes, cut into 64 KiB reads as gnet delivers them.
func frBenchStream(size, count int) (reads [][]byte, total int) {
	var all []byte
	for range count {
		all = append(all, frFrame(frFin|frBinary, true, size, 0)...)
	}
	for rest := all; len(rest) > 0; {
		k := min(len(rest), 64<<10)
		reads = append(reads, rest[:k])
		rest = rest[k:]
	}
	return reads, len(all)
}

func frBenchScan(b *testing.B, size, count int) {
	reads, total := frBenchStream(size, count)
	var s Stream
	s.Init(FromClient, 0, false, false)
	b.ReportAllocs()
	b.SetBytes(int64(total))
	for b.Loop() {
		for _, p := range reads {
			if _, _, err := s.Scan(p); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// BenchmarkStreamScan64 scans 64 KiB reads of 64-byte masked frames: the
// per-header cost.
func BenchmarkStreamScan64(b *testing.B) { frBenchScan(b, 64, 1024) }

// BenchmarkStreamScan16K scans 64 KiB reads of 16 KiB frames.
func BenchmarkStreamScan16K(b *testing.B) { frBenchScan(b, 16<<10, 16) }

// BenchmarkStreamScan1MiB scans one 1 MiB frame in 64 KiB reads: payload is
// skipped, so the cost is per read.
func BenchmarkStreamScan1MiB(b *testing.B) { frBenchScan(b, 1<<20, 1) }

func BenchmarkAppendClose(b *testing.B) {
	dst := make([]byte, 0, 256)
	b.ReportAllocs()
	for b.Loop() {
		dst = AppendMaskedClose(dst[:0], StatusTryAgainLater, "slow consumer", frMask)
	}
}
