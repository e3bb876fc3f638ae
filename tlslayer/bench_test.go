package tlslayer

import (
	"crypto/tls"
	"testing"
)

// benchSuites are the suites the benchmarks measure.
var benchSuites = []struct {
	name           string
	version, suite uint16
}{
	{"TLS12-AES128-GCM", tls.VersionTLS12, tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256},
	{"TLS13-AES128-GCM", tls.VersionTLS13, tls.TLS_AES_128_GCM_SHA256},
	{"TLS13-CHACHA20", tls.VersionTLS13, tls.TLS_CHACHA20_POLY1305_SHA256},
}

var benchSizes = []struct {
	name string
	n    int
}{{"64B", 64}, {"4KiB", 4 << 10}, {"16KiB", 16 << 10}}

func BenchmarkSeal(b *testing.B) {
	for _, bs := range benchSuites {
		for _, sz := range benchSizes {
			b.Run(bs.name+"/"+sz.name, func(b *testing.B) {
				c, _ := fixedPair(b, bs.version, bs.suite)
				msg := pattern(sz.n, 3)
				dst := make([]byte, 0, c.SealedLen(sz.n))
				b.ReportAllocs()
				b.SetBytes(int64(sz.n))
				for b.Loop() {
					c.Seal(dst, msg)
				}
			})
		}
	}
}

func BenchmarkOpen(b *testing.B) {
	for _, bs := range benchSuites {
		for _, sz := range benchSizes {
			b.Run(bs.name+"/"+sz.name, func(b *testing.B) {
				c, s := fixedPair(b, bs.version, bs.suite)
				sealed := c.Seal(nil, pattern(sz.n, 3))
				buf := make([]byte, len(sealed))
				b.ReportAllocs()
				b.SetBytes(int64(sz.n))
				for b.Loop() {
					// The copy is part of the measure; it is small next
					// to the AEAD.
					copy(buf, sealed)
					s.in.seq = 0
					if _, _, _, err := s.Open(buf, nil); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkParkedSeal is the cost of waking a parked Layer: Park, then seal
// 64 bytes, which rebuilds the write AEAD.
func BenchmarkParkedSeal(b *testing.B) {
	for _, bs := range benchSuites {
		b.Run(bs.name, func(b *testing.B) {
			c, _ := fixedPair(b, bs.version, bs.suite)
			msg := pattern(64, 3)
			dst := make([]byte, 0, c.SealedLen(64))
			b.ReportAllocs()
			for b.Loop() {
				c.Park()
				c.Seal(dst, msg)
			}
		})
	}
}
