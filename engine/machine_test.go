package engine

// The session state machine as a table: (state, event) → (next state, bytes
// written to each side, close codes), on in-memory conns with the engine's
// clock driven by the test. No socket, no goroutine, no wall clock: each row
// runs in microseconds and says exactly which transition it covers.

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/panjf2000/gnet/v2"

	"github.com/throngproxy/throng/config"
)

// memConn is a gnet.Conn in memory: it holds what the peer "sent" until
// the handler consumes it (Peek and Discard, as gnet does), records every
// write, and turns Close into an OnClose that the machine delivers after
// the current event, as gnet does. Any method the engine is not expected
// to call panics through the nil embedded interface.
type memConn struct {
	gnet.Conn
	ctx     any
	in      []byte   // unread bytes gnet holds for the handler
	writes  [][]byte // each Write or Writev, in order
	queued  int      // what OutboundBuffered reports
	closing bool     // Close was called; OnClose pending
	gone    bool     // OnClose ran
	woken   int      // Wake calls
}

func (c *memConn) Context() any         { return c.ctx }
func (c *memConn) SetContext(v any)     { c.ctx = v }
func (c *memConn) RemoteAddr() net.Addr { return &net.TCPAddr{IP: net.IPv4(192, 0, 2, 7), Port: 40000} }
func (c *memConn) Fd() int              { return -1 } // raw sends fail with EBADF and fall back to Write
func (c *memConn) OutboundBuffered() int {
	return c.queued
}
func (c *memConn) InboundBuffered() int { return len(c.in) }
func (c *memConn) Peek(int) ([]byte, error) {
	return c.in, nil
}

func (c *memConn) Discard(n int) (int, error) {
	if n <= 0 || n >= len(c.in) { // gnet's contract: 0 discards everything
		n = len(c.in)
	}
	c.in = c.in[n:]
	return n, nil
}

func (c *memConn) Write(p []byte) (int, error) {
	c.writes = append(c.writes, append([]byte(nil), p...))
	return len(p), nil
}

func (c *memConn) Writev(bs [][]byte) (int, error) {
	return c.Write(bytes.Join(bs, nil))
}

func (c *memConn) Close() error                  { c.closing = true; return nil }
func (c *memConn) Wake(gnet.AsyncCallback) error { c.woken++; return nil }

// Dup returns a descriptor of /dev/null: the machine never reads it.
func (c *memConn) Dup() (int, error) {
	return syscall.Open(os.DevNull, syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
}
func (c *memConn) LocalAddr() net.Addr {
	return &net.TCPAddr{IP: net.IPv4(198, 51, 100, 1), Port: 443}
}

// wrote is everything written to c.
func (c *memConn) wrote() string { return string(bytes.Join(c.writes, nil)) }

// closeCode is the code of the last Close frame written to c, unmasking
// it if masked; 0 when there is none.
func (c *memConn) closeCode() int {
	for i := len(c.writes) - 1; i >= 0; i-- {
		if len(c.writes[i]) < 2 || c.writes[i][0] != 0x88 { // FIN, Close; an HTTP head starts with 'H'
			continue
		}
		f, err := ws.ReadFrame(bytes.NewReader(c.writes[i]))
		if err != nil || f.Header.OpCode != ws.OpClose {
			continue
		}
		if f.Header.Masked {
			ws.Cipher(f.Payload, f.Header.Mask, 0)
		}
		code, _ := ws.ParseCloseFrameData(f.Payload)
		return int(code)
	}
	return 0
}

// machine is one session driven by hand: the engine and shard of the
// setup benchmark, with a clock the test advances.
type machine struct {
	t      *testing.T
	e      *Engine
	sh     *shard
	h      *handler
	s      *session
	client *memConn
	up     *memConn // the latest backend socket
	jobs   int      // dial jobs taken
	// tlsJobs are the TLS handshakes the session handed off.
	tlsJobs []*tlsJob
}

const (
	mBackendA = "127.0.0.1:1"
	mBackendB = "127.0.0.1:2"
)

// newMachine accepts one client on an engine configured by cfg (on top of
// two round-robin backends, no retry backoff, short timeouts).
func newMachine(t *testing.T, cfg func(*config.Config)) *machine {
	t.Helper()
	return newMachineAt(t, cfg, stateRequest, false)
}

// newMachineAt is newMachine for a session whose first state is first, as
// accept makes it: stateProxyHeader under proxy_protocol, stateTLSHello on
// a TLS listener (overTLS). The TLS handshakes it hands off wait in
// m.tlsJobs.
func newMachineAt(t *testing.T, cfg func(*config.Config), first state, overTLS bool) *machine {
	t.Helper()
	c := config.Default()
	c.Server.TCPKeepalive = config.DurationOf(0)
	c.Log.Access = false
	c.Timeouts.Handshake = config.DurationOf(5 * time.Second)
	c.Timeouts.UpstreamHandshake = config.DurationOf(2 * time.Second)
	c.Timeouts.Close = config.DurationOf(time.Second)
	c.Routes = []config.Route{{Host: "*", PathPrefix: "/", Upstream: "u"}}
	u := config.DefaultUpstream()
	u.Name, u.Retries = "u", 0
	u.RetryBackoff, u.RetryBackoffMax = config.DurationOf(0), config.DurationOf(0) // retries at once: no timer goroutine
	u.Backends = []config.Backend{{Addr: mBackendA, Weight: 1}, {Addr: mBackendB, Weight: 1}}
	c.Upstreams = []config.Upstream{u}
	if cfg != nil {
		cfg(c)
	}
	snap, err := newSnapshot(c, []byte("machine-test-key"), newRouteRegistry(1))
	if err != nil {
		t.Fatal(err)
	}
	e := &Engine{responses: newResponses(), maxSessions: 1 << 20, fdBudget: 1 << 21, log: slog.New(slog.NewTextHandler(io.Discard, nil)), tlsMax: 4}
	e.dialer = &dialer{jobs: make(chan dialJob, 8)}
	e.snap.Store(snap)
	e.clock.Store(1000)
	m := &machine{t: t, e: e, sh: newShard(e, nil, 7), h: &handler{e: e}, client: &memConn{}}
	e.tlsStart = func(j *tlsJob) {
		m.tlsJobs = append(m.tlsJobs, j)
		_ = syscall.Close(j.fd)
		e.tlsBusy.Add(-1)
	}
	m.sh.wheel.now = e.clock.Load()
	e.active.Add(1)
	m.s = m.sh.newSession(m.client, snap, first)
	if overTLS {
		m.s.tls = &tlsState{}
	}
	return m
}

// settle delivers the OnClose of every conn closed during the last event.
// queuedClose is the code of the last Close frame waiting toward d in the
// session's own queue (behind what gnet holds), 0 when there is none.
func (m *machine) queuedClose(d side) int {
	fs := m.s.flow
	if fs == nil {
		return 0
	}
	return (&memConn{writes: [][]byte{bytes.Join(fs.q[d].chunks, nil)}}).closeCode()
}

func (m *machine) settle() {
	for _, c := range []*memConn{m.client, m.up} {
		if c != nil && c.closing && !c.gone {
			c.gone = true
			m.h.OnClose(c, nil)
		}
	}
}

func (m *machine) clientSends(p string) {
	m.client.in = append(m.client.in, p...)
	if m.h.OnTraffic(m.client) == gnet.Close {
		m.client.closing = true
	}
	m.settle()
}

func (m *machine) backendSends(p string) {
	m.up.in = append(m.up.in, p...)
	if m.h.OnTraffic(m.up) == gnet.Close {
		m.up.closing = true
	}
	m.settle()
}

// dialed completes the pending dial: the socket is enrolled and opened.
func (m *machine) dialed() {
	m.t.Helper()
	j := m.dialLost()
	m.up = &memConn{ctx: j.s}
	if _, a := m.h.OnOpen(m.up); a == gnet.Close {
		m.up.closing = true
	}
	m.settle()
}

// dialFailed reports the pending dial as failed, as a worker does.
func (m *machine) dialFailed() {
	m.t.Helper()
	j := m.dialLost()
	(&dialResult{s: j.s, err: errors.New("connection refused")}).Run(nil)
	m.settle()
}

// dialLost takes the pending dial job, as a worker would, and returns it
// without an outcome (for a late one).
func (m *machine) dialLost() dialJob {
	m.t.Helper()
	select {
	case j := <-m.e.dialer.jobs:
		m.jobs++
		return j
	default:
		m.t.Fatal("no dial job pending")
		return dialJob{}
	}
}

// after advances the engine's clock by d and runs the shard's tick.
func (m *machine) after(d time.Duration) {
	m.e.clock.Add(ticks(d))
	m.sh.onTick()
	m.settle()
}

func (m *machine) clientGone() {
	m.client.closing = true
	m.settle()
}

func (m *machine) backendGone() {
	m.up.closing = true
	m.settle()
}

func (m *machine) drain() {
	m.e.draining.Store(true)
	_ = drainRunnable{m.sh}.Run(nil)
	m.settle()
}

// open takes the session to open: request, dial, 101.
func (m *machine) open() {
	m.clientSends(setupRequest)
	m.dialed()
	m.backendSends(setupResponse)
	if m.s.state != stateOpen {
		m.t.Fatalf("state %v after the 101, want open", m.s.state)
	}
}

// clientFrame is a masked client frame.
func clientFrame(op ws.OpCode, payload []byte) string {
	f := ws.NewFrame(op, true, payload)
	f = ws.MaskFrameWith(f, [4]byte{1, 2, 3, 4})
	var b bytes.Buffer
	_ = ws.WriteFrame(&b, f)
	return b.String()
}

// serverFrame is an unmasked backend frame.
func serverFrame(op ws.OpCode, payload []byte) string {
	var b bytes.Buffer
	_ = ws.WriteFrame(&b, ws.NewFrame(op, true, payload))
	return b.String()
}

func closeBody(code ws.StatusCode) []byte { return ws.NewCloseFrameBody(code, "") }

// fakeHello is a handshake record holding a ClientHello as far as its
// framing goes, which is all the loop reads of it.
const fakeHello = "\x16\x03\x01\x00\x08\x01\x00\x00\x04abcd"

// fanoutRoute adds a fan-out route on /live/ fed by a Redis that is not
// there (the bus keeps trying in the background; subscribing only records
// the channel), asking forward_auth at auth when it is not "".
func fanoutRoute(auth string) func(*config.Config) {
	return func(c *config.Config) {
		c.Bus.Redis = "redis://127.0.0.1:1/0"
		r := config.DefaultRoute()
		r.PathPrefix, r.Mode, r.Source, r.ForwardAuth = "/live/", config.ModeFanout, config.SourceRedis, auth
		c.Routes = append(c.Routes, r)
	}
}

// fanHub gives the machine's engine a fan-out hub, closed with the test.
func (m *machine) fanHub() {
	m.e.fan = newFanHub(m.e)
	m.t.Cleanup(m.e.fan.close)
}

// fakeLoop is the shard's event loop for rows that need Execute: it hands
// each runnable to the test instead of running it.
type fakeLoop struct {
	gnet.EventLoop
	ran chan gnet.Runnable
}

func (l *fakeLoop) Execute(_ context.Context, r gnet.Runnable) error { l.ran <- r; return nil }

// proxyV1 turns proxy_protocol v1 on, trusting the machine's client.
func proxyV1(c *config.Config) {
	c.Server.ProxyProtocol = "v1"
	c.Server.TrustedProxies = []string{"192.0.2.7"}
}

func TestMachine(t *testing.T) {
	retry := func(c *config.Config) { c.Upstreams[0].Retries = 1 }
	tests := []struct {
		name   string
		cfg    func(*config.Config)
		run    func(m *machine)
		want   state
		client string // the client was sent this
		up     string // the backend was sent this
		// close codes of the last Close sent each way (0: none)
		clientCode, upCode int
		finished           bool   // the session is over and unlinked
		dialTo             string // a dial to this backend is pending
		// first and overTLS make the session as accept does for a PROXY
		// or TLS listener (newMachineAt); the zero values, a plain one.
		first   state
		overTLS bool
	}{
		{name: "request → proxy_header → request: a v1 header gives the client's address",
			cfg: proxyV1, first: stateProxyHeader,
			run: func(m *machine) {
				m.clientSends("PROXY TCP4 192.0.2.99 198.51.100.1 5555 443\r\n")
				if got := m.s.clientAddr(); got != "192.0.2.99:5555" {
					m.t.Errorf("client address %s after the header", got)
				}
			}, want: stateRequest},
		{name: "proxy_header: a header in pieces is kept in gnet's buffer",
			cfg: proxyV1, first: stateProxyHeader,
			run: func(m *machine) { m.clientSends("PROXY TCP4 192.0.2.99 ") }, want: stateProxyHeader},
		{name: "proxy_header → closed: a request without a header",
			cfg: proxyV1, first: stateProxyHeader,
			run: func(m *machine) { m.clientSends(setupRequest) }, want: stateClosed, finished: true},
		{name: "proxy_header → tls_hello: a header on a TLS listener",
			cfg: proxyV1, first: stateProxyHeader, overTLS: true,
			run: func(m *machine) { m.clientSends("PROXY TCP4 192.0.2.99 198.51.100.1 5555 443\r\n") }, want: stateTLSHello},
		{name: "tls_hello → closed: plain HTTP on a TLS listener",
			first: stateTLSHello, overTLS: true,
			run: func(m *machine) { m.clientSends(setupRequest) }, want: stateClosed, finished: true},
		{name: "tls_hello: half a ClientHello holds no handshake slot",
			first: stateTLSHello, overTLS: true,
			run: func(m *machine) {
				m.clientSends(fakeHello[:7])
				if len(m.tlsJobs) != 0 || m.e.tlsBusy.Load() != 0 {
					m.t.Errorf("%d handshakes started, %d slots taken", len(m.tlsJobs), m.e.tlsBusy.Load())
				}
			}, want: stateTLSHello},
		{name: "tls_hello → tls_handshake: a whole ClientHello goes to a goroutine",
			first: stateTLSHello, overTLS: true,
			run: func(m *machine) {
				m.clientSends(fakeHello)
				if len(m.tlsJobs) != 1 || string(m.tlsJobs[0].hello) != fakeHello || m.s.client != nil {
					m.t.Fatalf("%d jobs; the session still holds its conn: %v", len(m.tlsJobs), m.s.client != nil)
				}
				m.after(time.Minute) // the wheel waits for the goroutine's report
			}, want: stateTLSHandshake},
		{name: "tls_handshake → request: the handshake done, the socket back",
			first: stateTLSHello, overTLS: true,
			run: func(m *machine) {
				m.clientSends(fakeHello)
				m.client = &memConn{}
				(&tlsTicket{s: m.s}).onOpen(m.client)
				m.clientSends(setupRequest)
			}, want: stateConnecting},
		{name: "tls_handshake → closed: the handshake failed",
			first: stateTLSHello, overTLS: true,
			run: func(m *machine) {
				m.clientSends(fakeHello)
				_ = (&tlsResult{s: m.s, err: errors.New("bad certificate")}).Run(nil)
			}, want: stateClosed, finished: true},
		{name: "request → open: a fan-out route answers the upgrade itself",
			cfg: fanoutRoute(""),
			run: func(m *machine) {
				m.fanHub()
				m.clientSends(strings.Replace(setupRequest, "GET /chat", "GET /live/room1", 1))
				if m.s.pol == nil || m.s.pol.fan == nil || m.s.pol.fan.name != "room1" {
					m.t.Fatal("not subscribed to room1")
				}
			}, want: stateOpen, client: "HTTP/1.1 101 "},
		{name: "connecting → open: forward_auth admits a fan-out request",
			run: func(m *machine) {
				srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(204) }))
				m.t.Cleanup(srv.Close)
				snap := *m.s.snap
				c := *snap.cfg
				fanoutRoute(srv.URL)(&c)
				ns, err := newSnapshot(&c, []byte("machine-test-key"), newRouteRegistry(1))
				if err != nil {
					m.t.Fatal(err)
				}
				m.s.snap = ns
				m.e.snap.Store(ns)
				m.fanHub()
				loop := &fakeLoop{ran: make(chan gnet.Runnable, 1)}
				m.sh.loop = loop
				m.clientSends(strings.Replace(setupRequest, "GET /chat", "GET /live/room1", 1))
				if m.s.state != stateConnecting {
					m.t.Fatalf("%v while the service is asked, want connecting", m.s.state)
				}
				select {
				case r := <-loop.ran:
					_ = r.Run(nil)
				case <-time.After(10 * time.Second):
					m.t.Fatal("no answer from the auth service")
				}
				m.e.stopAuth()
			}, want: stateOpen, client: "HTTP/1.1 101 "},
		{name: "request → connecting: head complete, dial queued",
			run: func(m *machine) { m.clientSends(setupRequest) }, want: stateConnecting},
		{name: "request: a head in pieces is held, no move",
			run: func(m *machine) {
				m.clientSends(setupRequest[:20])
				if len(m.s.hs.head) != 20 || len(m.client.in) != 0 {
					m.t.Fatalf("head %d bytes, %d left in gnet; want 20 and 0", len(m.s.hs.head), len(m.client.in))
				}
			}, want: stateRequest},
		{name: "request → rejecting: dial queue full",
			run: func(m *machine) {
				for len(m.e.dialer.jobs) < cap(m.e.dialer.jobs) {
					m.e.dialer.jobs <- dialJob{}
				}
				m.clientSends(setupRequest)
				for len(m.e.dialer.jobs) > 0 {
					<-m.e.dialer.jobs
				}
			},
			want: stateRejecting, client: "HTTP/1.1 503 "},
		{name: "request → rejecting: not GET",
			run:  func(m *machine) { m.clientSends(strings.Replace(setupRequest, "GET", "PUT", 1)) },
			want: stateRejecting, client: "HTTP/1.1 405 "},
		{name: "request → rejecting: early bytes past the limit with the head, no dial",
			cfg:  func(c *config.Config) { c.Limits.MaxEarlyBytes = 4 },
			run:  func(m *machine) { m.clientSends(setupRequest + "12345") },
			want: stateRejecting, client: "HTTP/1.1 400 "},
		{name: "request → closed: slowloris deadline",
			run: func(m *machine) { m.clientSends("GET / HT"); m.after(6 * time.Second) }, want: stateClosed, finished: true},
		{name: "request → closed: client gone",
			run: func(m *machine) { m.clientSends("GET / HT"); m.clientGone() }, want: stateClosed, finished: true},
		{name: "connecting → upstream_handshake: dial done, request sent",
			run:  func(m *machine) { m.clientSends(setupRequest); m.dialed() },
			want: stateUpstreamHandshake, up: "GET /chat HTTP/1.1\r\n"},
		{name: "connecting → connecting: dial failed, retried on the other backend",
			cfg: retry, run: func(m *machine) { m.clientSends(setupRequest); m.dialFailed() },
			want: stateConnecting, dialTo: mBackendB},
		{name: "connecting → rejecting: dial failed, no retry",
			run:  func(m *machine) { m.clientSends(setupRequest); m.dialFailed() },
			want: stateRejecting, client: "HTTP/1.1 502 "},
		{name: "connecting → rejecting: handshake deadline",
			run:  func(m *machine) { m.clientSends(setupRequest); m.dialLost(); m.after(6 * time.Second) },
			want: stateRejecting, client: "HTTP/1.1 504 "},
		{name: "connecting → rejecting: early bytes past the limit while dialling",
			cfg:  func(c *config.Config) { c.Limits.MaxEarlyBytes = 4 },
			run:  func(m *machine) { m.clientSends(setupRequest); m.clientSends("12345") },
			want: stateRejecting, client: "HTTP/1.1 400 "},
		{name: "connecting → closed: client gone, then the dial fails late",
			run: func(m *machine) {
				m.clientSends(setupRequest)
				j := m.dialLost()
				m.clientGone()
				(&dialResult{s: j.s, err: errors.New("connection refused")}).Run(nil)
			},
			want: stateClosed, finished: true},
		{name: "connecting → closed: client gone, then the dial result is refused",
			run: func(m *machine) {
				m.clientSends(setupRequest)
				j := m.dialLost()
				m.clientGone()
				m.up = &memConn{ctx: j.s}
				if _, a := m.h.OnOpen(m.up); a != gnet.Close {
					m.t.Fatal("a late socket was not refused")
				}
			},
			want: stateClosed, finished: true},
		{name: "connecting: drain while dialling, then Close 1001 on opening",
			run: func(m *machine) {
				m.clientSends(setupRequest)
				m.drain()
				m.dialed()
				m.backendSends(setupResponse)
			},
			want: stateClosing, client: "HTTP/1.1 101 ", clientCode: 1001, upCode: 1001},
		{name: "upstream_handshake → open: 101 relayed",
			run:  func(m *machine) { m.open() },
			want: stateOpen, client: "HTTP/1.1 101 Switching Protocols\r\n"},
		{name: "upstream_handshake → connecting: backend closed before answering, retried",
			cfg:  retry,
			run:  func(m *machine) { m.clientSends(setupRequest); m.dialed(); m.backendGone() },
			want: stateConnecting, dialTo: mBackendB},
		{name: "upstream_handshake → rejecting: garbage answer, no retry",
			run:  func(m *machine) { m.clientSends(setupRequest); m.dialed(); m.backendSends("SSH-2.0-x\r\n\r\n") },
			want: stateRejecting, client: "HTTP/1.1 502 "},
		{name: "upstream_handshake → rejecting: backend's deadline",
			run:  func(m *machine) { m.clientSends(setupRequest); m.dialed(); m.after(3 * time.Second) },
			want: stateRejecting, client: "HTTP/1.1 504 "},
		{name: "upstream_handshake → rejecting: refusal without a body",
			run: func(m *machine) {
				m.clientSends(setupRequest)
				m.dialed()
				m.backendSends("HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
			},
			want: stateRejecting, client: "HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"},
		{name: "upstream_handshake → upstream_body: head relayed at once",
			run: func(m *machine) {
				m.clientSends(setupRequest)
				m.dialed()
				m.backendSends("HTTP/1.1 403 Forbidden\r\nContent-Length: 10\r\n\r\nabc")
			},
			want: stateUpstreamBody, client: "HTTP/1.1 403 Forbidden\r\nContent-Length: 10\r\nConnection: close\r\n\r\nabc"},
		{name: "upstream_handshake → closed: client gone",
			run:  func(m *machine) { m.clientSends(setupRequest); m.dialed(); m.clientGone() },
			want: stateClosed, finished: true},
		{name: "upstream_body → rejecting: body complete",
			run: func(m *machine) {
				m.clientSends(setupRequest)
				m.dialed()
				m.backendSends("HTTP/1.1 403 Forbidden\r\nContent-Length: 6\r\n\r\nabc")
				m.backendSends("def")
			},
			want: stateRejecting, client: "\r\n\r\nabcdef"},
		{name: "upstream_body → rejecting: deadline cuts the body",
			run: func(m *machine) {
				m.clientSends(setupRequest)
				m.dialed()
				m.backendSends("HTTP/1.1 403 Forbidden\r\nContent-Length: 60\r\n\r\nabc")
				m.after(3 * time.Second)
			},
			want: stateRejecting, client: "Content-Length: 60\r\nConnection: close\r\n\r\nabc"},
		{name: "upstream_body → rejecting: close-delimited body ends with the backend",
			run: func(m *machine) {
				m.clientSends(setupRequest)
				m.dialed()
				m.backendSends("HTTP/1.1 401 Unauthorized\r\n\r\nwho")
				m.backendGone()
			},
			want: stateRejecting, client: "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n3\r\nwho\r\n0\r\n\r\n"},
		{name: "upstream_body → closed: client gone mid-body",
			run: func(m *machine) {
				m.clientSends(setupRequest)
				m.dialed()
				m.backendSends("HTTP/1.1 403 Forbidden\r\nContent-Length: 60\r\n\r\nabc")
				m.clientGone()
			},
			want: stateClosed, finished: true},
		{name: "open: early client frame relayed after the 101 by a wake",
			run: func(m *machine) {
				m.clientSends(setupRequest + clientFrame(ws.OpText, []byte("early")))
				m.dialed()
				m.backendSends(setupResponse)
				if m.client.woken != 1 {
					m.t.Fatalf("client woken %d times, want 1", m.client.woken)
				}
				m.h.OnTraffic(m.client) // what the wake runs
			},
			want: stateOpen, up: clientFrame(ws.OpText, []byte("early"))},
		{name: "open → closing: client's Close relayed",
			run:  func(m *machine) { m.open(); m.clientSends(clientFrame(ws.OpClose, closeBody(1000))) },
			want: stateClosing, upCode: 1000},
		{name: "open: a Close split in two waits in gnet's buffer",
			run: func(m *machine) {
				m.open()
				f := clientFrame(ws.OpClose, closeBody(1000))
				m.clientSends(f[:5])
				if len(m.client.in) != 5 || m.s.state != stateOpen {
					m.t.Fatalf("kept %d bytes in state %v, want 5 in open", len(m.client.in), m.s.state)
				}
				m.clientSends(f[5:])
			},
			want: stateClosing, upCode: 1000},
		{name: "open → closing: forbidden close code",
			run:  func(m *machine) { m.open(); m.clientSends(clientFrame(ws.OpClose, closeBody(1005))) },
			want: stateClosing, clientCode: 1002, upCode: 1001},
		{name: "open → closing: backend gone",
			run:  func(m *machine) { m.open(); m.backendGone() },
			want: stateClosing, clientCode: 1001},
		{name: "open → closing: idle deadline",
			cfg:  func(c *config.Config) { c.Timeouts.Idle = config.DurationOf(time.Second) },
			run:  func(m *machine) { m.open(); m.after(3 * time.Second) },
			want: stateClosing, clientCode: 1001, upCode: 1001},
		{name: "open → closing: drain",
			run:  func(m *machine) { m.open(); m.drain() },
			want: stateClosing, clientCode: 1001, upCode: 1001},
		{name: "closing → closed: close handshake both ways",
			run: func(m *machine) {
				m.open()
				m.clientSends(clientFrame(ws.OpClose, closeBody(1000)))
				m.backendSends(serverFrame(ws.OpClose, closeBody(1000)))
				m.backendGone()
			},
			want: stateClosed, clientCode: 1000, upCode: 1000, finished: true},
		{name: "closing → closed: client gone while its Close is queued",
			run: func(m *machine) {
				m.open()
				m.client.queued = 1 << 10 // the client does not read
				m.backendGone()           // Close 1001 queued for the client
				if m.client.closing {
					m.t.Fatal("client closed with its Close still queued")
				}
				if code := m.queuedClose(toClient); code != 1001 {
					m.t.Fatalf("Close %d queued for the client, want 1001", code)
				}
				m.clientGone()
			},
			want: stateClosed, finished: true},
		{name: "closing → closed: close deadline",
			run: func(m *machine) {
				m.open()
				m.client.queued = 1 << 10
				m.backendGone()
				if code := m.queuedClose(toClient); code != 1001 {
					m.t.Fatalf("Close %d queued for the client, want 1001", code)
				}
				m.after(2 * time.Second)
			},
			want: stateClosed, finished: true},
		{name: "rejecting → closed: linger deadline",
			run: func(m *machine) {
				m.clientSends(strings.Replace(setupRequest, "GET", "PUT", 1))
				m.after(3 * time.Second)
			},
			want: stateClosed, client: "HTTP/1.1 405 ", finished: true},
	}
	// made collects the moves the rows make, to check the table against.
	var made [numStates][numStates]bool
	ran := 0
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ran++
			m := newMachineAt(t, tt.cfg, tt.first, tt.overTLS)
			tt.run(m)
			if tt.dialTo != "" {
				if j := m.dialLost(); j.addr != tt.dialTo {
					t.Errorf("pending dial to %s, want %s", j.addr, tt.dialTo)
				}
			}
			// The backend's count holds this session exactly while it is
			// held, and never once it is on its way out.
			var active int64
			for _, b := range m.s.snap.table.Upstreams[0].Backends {
				active += b.Active()
			}
			held := m.s.flags&flagBackendHeld != 0
			if want := map[bool]int64{false: 0, true: 1}[held]; active != want {
				t.Errorf("backends count %d sessions, want %d (held %v)", active, want, held)
			}
			if held && (m.s.state == stateClosing || m.s.state == stateRejecting || m.s.state == stateClosed) {
				t.Errorf("still counted against its backend in %v", m.s.state)
			}
			for from := range numStates {
				for to := range numStates {
					if m.sh.stats.moves[from][to].Load() > 0 {
						made[from][to] = true
					}
				}
			}
			if m.s.state != tt.want {
				t.Errorf("state %v, want %v", m.s.state, tt.want)
			}
			if tt.client != "" && !strings.Contains(m.client.wrote(), tt.client) {
				t.Errorf("client got %q, want it to contain %q", m.client.wrote(), tt.client)
			}
			var up string
			if m.up != nil {
				up = m.up.wrote()
			}
			if tt.up != "" && !strings.Contains(up, tt.up) {
				t.Errorf("backend got %q, want it to contain %q", up, tt.up)
			}
			if got := m.client.closeCode(); got != tt.clientCode {
				t.Errorf("client's last Close %d, want %d", got, tt.clientCode)
			}
			upCode := 0
			if m.up != nil {
				upCode = m.up.closeCode()
			}
			if upCode != tt.upCode {
				t.Errorf("backend's last Close %d, want %d", upCode, tt.upCode)
			}
			if finished := m.s.flags&flagFinished != 0; finished != tt.finished {
				t.Errorf("finished %v, want %v", finished, tt.finished)
			}
			if tt.finished && (m.sh.sessions != nil || m.e.active.Load() != 0) {
				t.Errorf("a finished session is still counted or linked")
			}
			if n := m.sh.stats.badTransitions.Load(); n != 0 {
				t.Errorf("%d transitions outside allowedNext", n)
			}
		})
	}
	// Every move allowedNext permits is made by some row: the table holds
	// nothing the machine never does. Only a run of every row can tell.
	if ran != len(tests) {
		return
	}
	for from := range numStates {
		for to := range numStates {
			if allowedNext[from]&(1<<to) != 0 && !made[from][to] {
				t.Errorf("allowedNext has %v → %v, which no row makes", state(from), state(to))
			}
		}
	}
}
