package backend

import (
	"io"
	"net"
	"runtime"
	"testing"
	"time"

	"github.com/gobwas/ws"
)

// BenchmarkServeEchoRoundTrip64 measures 64-byte echo round trips through a
// real server over loopback, 50 clients with one message in flight each.
// It uses RunParallel rather than b.Loop: the clients are concurrent.
func BenchmarkServeEchoRoundTrip64(b *testing.B) {
	const addr = "127.0.0.79:19001"
	const clients = 50
	startServe(b, Config{Addr: addr})
	frame := serveFrames(b, true, ws.NewBinaryFrame(servePayload(64)))
	conns := make(chan net.Conn, clients)
	for range clients {
		c := dialServe(b, ws.Dialer{}, addr)
		if err := c.conn.SetDeadline(time.Time{}); err != nil {
			b.Fatal(err)
		}
		conns <- c.conn
	}
	b.SetParallelism((clients + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
	b.ReportAllocs()
	b.SetBytes(64)
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		conn := <-conns
		defer func() { conns <- conn }()
		resp := make([]byte, 2+64)
		for pb.Next() {
			if _, err := conn.Write(frame); err != nil {
				b.Error(err)
				return
			}
			if _, err := io.ReadFull(conn, resp); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "roundtrips/s")
}
