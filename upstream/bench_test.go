package upstream

import (
	"testing"

	"github.com/throngproxy/throng/config"
)

// benchTable has a few routes of each kind, like a small real config.
func benchTable(tb testing.TB) *Table {
	return mustTable(tb, testConfig(
		config.Route{Host: "*", PathPrefix: "/"},
		config.Route{Host: "*", PathPrefix: "/api"},
		config.Route{Host: "example.com", PathPrefix: "/"},
		config.Route{Host: "example.com", PathPrefix: "/chat"},
		config.Route{Host: "*.example.com", PathPrefix: "/"},
		config.Route{Host: "*.eu.example.com", PathPrefix: "/ws"},
		config.Route{Host: "feeds.example.org", PathPrefix: "/market"},
	))
}

var (
	benchHosts   = [][]byte{[]byte("Example.com:443"), []byte("x.eu.example.com"), []byte("other.net"), []byte("[::1]:8080")}
	benchTargets = [][]byte{[]byte("/chat/room/42?token=abc"), []byte("/ws/v1"), []byte("/api/x"), []byte("/")}
)

func BenchmarkMatch(b *testing.B) {
	tb := benchTable(b)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if tb.Match(benchHosts[i&3], benchTargets[i&3]) == nil {
			b.Fatal("no route")
		}
		i++
	}
}

func BenchmarkPick(b *testing.B) {
	for _, kind := range allKinds {
		b.Run(kind, func(b *testing.B) {
			bs := backends(5, 3, 1, 1, 2, 2, 1, 1)
			setActive(bs, 10, 6, 2, 2, 4, 4, 2, 3)
			bal := mustBalancer(b, kind, bs)
			b.ReportAllocs()
			key := uint64(0)
			for b.Loop() {
				key += 0x9e3779b97f4a7c15
				if bal.Pick(0, key) == nil {
					b.Fatal("no backend")
				}
			}
		})
	}
}

func BenchmarkPickParallel(b *testing.B) {
	for _, kind := range allKinds {
		b.Run(kind, func(b *testing.B) {
			bs := backends(5, 3, 1, 1, 2, 2, 1, 1)
			bal := mustBalancer(b, kind, bs)
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				key := uint64(0)
				for pb.Next() {
					key += 0x9e3779b97f4a7c15
					p := bal.Pick(0, key)
					p.Acquire()
					p.Release()
				}
			})
		})
	}
}

func BenchmarkHashKey(b *testing.B) {
	ip := []byte("192.0.2.1")
	h := hdrs("Host", "example.com", "User-Agent", "bench", "Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==",
		"X-User", "alice", "Cookie", "theme=dark; lang=en; sid=0123456789abcdef")
	target := []byte("/ws/chat?token=abc&room=42")
	for _, src := range []string{"ip", "path", "header:X-User", "cookie:sid", "query:room"} {
		b.Run(src, func(b *testing.B) {
			ks, _ := ParseKeySource(src)
			b.ReportAllocs()
			for b.Loop() {
				ks.HashKey(ip, h, target)
			}
		})
	}
}
