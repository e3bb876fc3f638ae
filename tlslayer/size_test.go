package tlslayer

import (
	"bytes"
	"crypto/tls"
	"runtime"
	"testing"
	"unsafe"
)

// TestLayerHeapBytes measures the heap an idle Layer holds, AEAD key
// schedules included, over 10,000 layers made from fixed keys, and logs it.
// The bound only catches gross regressions (a tls.Conn is 3.9-6.7 KB).
func TestLayerHeapBytes(t *testing.T) {
	const n = 10000
	secret := bytes.Repeat([]byte{7}, 48)
	random := bytes.Repeat([]byte{9}, 32)
	for _, tc := range []struct {
		name    string
		version uint16
		suite   uint16
		max     uint64
	}{
		{"TLS12-AES128-GCM", tls.VersionTLS12, tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, 2048},
		{"TLS12-CHACHA20", tls.VersionTLS12, tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256, 512},
		{"TLS13-AES128-GCM", tls.VersionTLS13, tls.TLS_AES_128_GCM_SHA256, 2048},
		{"TLS13-AES256-GCM", tls.VersionTLS13, tls.TLS_AES_256_GCM_SHA384, 2048},
		{"TLS13-CHACHA20", tls.VersionTLS13, tls.TLS_CHACHA20_POLY1305_SHA256, 512},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, _ := suiteParams(tc.version, tc.suite)
			layers := make([]*Layer, n)
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			for i := range layers {
				var err error
				if tc.version == tls.VersionTLS13 {
					layers[i], err = newLayer13(tc.suite, Server, secret[:p.hashLen()], secret[:p.hashLen()])
				} else {
					layers[i], err = newLayer12(tc.suite, Server, secret, random, random)
				}
				if err != nil {
					t.Fatal(err)
				}
			}
			runtime.GC()
			runtime.ReadMemStats(&after)
			per := (after.HeapAlloc - before.HeapAlloc) / n
			for _, l := range layers {
				l.Park()
			}
			runtime.GC()
			runtime.ReadMemStats(&after)
			parked := (after.HeapAlloc - before.HeapAlloc) / n
			runtime.KeepAlive(layers)
			t.Logf("%s: %d heap bytes per Layer, %d parked (struct %d bytes)", tc.name, per, parked, unsafe.Sizeof(Layer{}))
			if per > tc.max || parked > 320 {
				t.Errorf("%d bytes per Layer, %d parked; want at most %d, 320", per, parked, tc.max)
			}
		})
	}
}
