package engine

import (
	"net"
	"testing"

	"github.com/panjf2000/gnet/v2"

	"github.com/throngproxy/throng/config"
)

// fakeConn is enough of a gnet.Conn to drive a session through its whole
// life without sockets: it records writes and closes.
type fakeConn struct {
	sinkConn
	ctx    any
	addr   net.Addr
	closed bool
}

func (c *fakeConn) Context() any         { return c.ctx }
func (c *fakeConn) SetContext(v any)     { c.ctx = v }
func (c *fakeConn) RemoteAddr() net.Addr { return c.addr }
func (c *fakeConn) Close() error         { c.closed = true; return nil }

const setupRequest = "GET /chat HTTP/1.1\r\nHost: example.test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
	"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nOrigin: http://example.test\r\n\r\n"

const setupResponse = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
	"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n"

// BenchmarkSessionSetup runs one session through request, routing, the
// upstream handshake, open and close, with fake conns: its allocations are
// what each new session costs the heap (and later the GC) beyond gnet's own.
func BenchmarkSessionSetup(b *testing.B) {
	cfg := config.Default()
	cfg.Server.TCPKeepalive = config.DurationOf(0)
	cfg.Log.Access = false
	cfg.Routes = []config.Route{{Host: "*", PathPrefix: "/", Upstream: "u"}}
	cfg.Upstreams = []config.Upstream{{Name: "u", Balance: "round_robin", Backends: []config.Backend{{Addr: "127.0.0.1:1", Weight: 1}}}}
	snap, err := newSnapshot(cfg, nil, newRouteRegistry(1))
	if err != nil {
		b.Fatal(err)
	}
	e := &Engine{responses: newResponses(), maxSessions: 1 << 30, fdBudget: 1 << 31}
	e.dialer = &dialer{jobs: make(chan dialJob, 1)}
	e.snap.Store(snap)
	sh := newShard(e, nil, 1)
	h := &handler{e: e}
	addr := &net.TCPAddr{IP: net.IPv4(192, 0, 2, 1), Port: 40000}
	req, resp := []byte(setupRequest), []byte(setupResponse)
	client, up := &fakeConn{addr: addr}, &fakeConn{addr: addr}

	b.ReportAllocs()
	for b.Loop() {
		*client = fakeConn{addr: addr}
		*up = fakeConn{addr: addr}
		e.active.Add(1)
		s := sh.newSession(client, snap, stateRequest)
		s.onClientData(req)
		<-e.dialer.jobs
		up.ctx = s
		if h.onUpstreamOpenAction(up) != gnet.None {
			b.Fatal("upstream refused")
		}
		s.onUpstreamData(resp)
		if s.state != stateOpen {
			b.Fatalf("state %v, want open", s.state)
		}
		h.OnClose(up, nil)
		h.OnClose(client, nil)
		if s.flags&flagFinished == 0 {
			b.Fatal("session did not finish")
		}
	}
}

func (h *handler) onUpstreamOpenAction(c gnet.Conn) gnet.Action {
	_, a := h.OnOpen(c)
	return a
}
