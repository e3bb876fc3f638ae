package engine

// TLS toward clients on the event loops (docs/architecture.md, "TLS").
//
// crypto/tls makes the handshake and nothing else. A TLS listener's
// session first waits on its loop, in stateTLSHello, until the client's
// whole ClientHello is in gnet's buffer: a client that sends half of one
// holds a descriptor and a wheel slot, never a handshake goroutine. Then
// the socket is detached from the loop as flow control detaches one
// (Conn.Dup, OnTraffic returns gnet.Close) and a goroutine, one of at most
// tls.max_handshakes, runs the handshake over a blocking net.Conn. It
// keeps only the record protection (tlslayer.Layer: keys, IVs, sequence
// numbers) and enrols the socket on the session's loop again, where the
// session goes on in stateRequest. From then on the loop opens the
// client's records in place in gnet's buffer and seals everything toward
// the client in the shard's scratch before it goes the plain path: the
// kernel, else the session's queue, which so holds ciphertext.

import (
	"context"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"syscall"
	"time"

	"github.com/panjf2000/gnet/v2"

	"github.com/throngproxy/throng/codec"
	"github.com/throngproxy/throng/tlsconf"
	"github.com/throngproxy/throng/tlslayer"
)

// Headers the proxy sets from a verified client certificate
// (docs/protocol.md, "Client certificates"). A client's own copies are
// always removed, on plain listeners too.
const (
	headerCertSubject = "X-Client-Cert-Subject"
	headerCertSHA256  = "X-Client-Cert-Sha256"
)

// ownedTLSHeaders are the header names only the proxy may send upstream.
var ownedTLSHeaders = []string{headerCertSubject, headerCertSHA256}

// tlsReportSlack is how many ticks past its deadline a handshake
// goroutine is waited for before the wheel looks again.
const tlsReportSlack = 10

// tlsState is the record protection of a session's TLS sockets (the
// client's on a TLS listener, the backend's with tls = true) and what the
// client's handshake learnt that the request still needs.
type tlsState struct {
	// layer protects the records of each socket, by side; nil for a
	// plain socket, and for the client's until its handshake is done.
	layer [2]*tlslayer.Layer
	// carry is plaintext read from that side's socket and kept by the
	// session for the next read (early bytes after the head, a Close not
	// yet whole): ciphertext is consumed from gnet's buffer as soon as it
	// is opened.
	carry [2][]byte
	// peer is the verified client certificate, until the request went
	// upstream; nil without one.
	peer *tlsPeer
	// sealed holds the start of a record from that side's socket, taken
	// out of gnet's buffer when flow control detached the socket (gnet
	// drops a closed conn's input); the next read goes behind it.
	sealed [2][]byte
	// notified: an alert (close_notify or fatal) went to that side;
	// nothing more may.
	notified [2]bool
}

// tlsPeer is what the backend is told of a verified client certificate.
type tlsPeer struct {
	subject string
	sha256  [32]byte
}

// listeners tells a connection's listener, TLS or plain, by its local
// address. An exact address wins over a wildcard on the same port (with
// SO_REUSEPORT both can be bound: listen = ["10.0.0.1:8443"] beside
// listen_tls = ["0.0.0.0:8443"]).
type listeners []listenAddr

// listenAddr is one listen address, unmapped.
type listenAddr struct {
	ap  netip.AddrPort
	tls bool
}

// parseListeners reads server.listen and server.listen_tls.
func parseListeners(plain, overTLS []string) (listeners, error) {
	var l listeners
	for i, list := range [2][]string{plain, overTLS} {
		for _, a := range list {
			host, port, err := net.SplitHostPort(a)
			if err != nil {
				return nil, err
			}
			ap, err := netip.ParseAddrPort(net.JoinHostPort(orUnspecified(host), port))
			if err != nil {
				return nil, err
			}
			l = append(l, listenAddr{ap: netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()), tls: i == 1})
		}
	}
	return l, nil
}

// orUnspecified maps an empty host ("":443) to 0.0.0.0.
func orUnspecified(host string) string {
	if host == "" {
		return "0.0.0.0"
	}
	return host
}

// isTLS reports whether a connection accepted on local came through a TLS
// listener.
func (l listeners) isTLS(local net.Addr) bool {
	ta, ok := local.(*net.TCPAddr)
	if !ok {
		return false
	}
	ip, _ := netip.AddrFromSlice(ta.IP)
	ip = ip.Unmap()
	wildcard := false
	for _, la := range l {
		if int(la.ap.Port()) != ta.Port {
			continue
		}
		if la.ap.Addr() == ip {
			return la.tls
		}
		if la.ap.Addr().IsUnspecified() && la.tls {
			wildcard = true
		}
	}
	return wildcard
}

// onTLSHello runs in OnTraffic while the ClientHello arrives. Its bytes
// gather in the session's carry, each read's taken from gnet's buffer at
// once (a Peek of a non-empty ring copies all of it, which a client
// trickling its ClientHello byte by byte would make quadratic); once it is
// whole the socket goes to a handshake goroutine, if a slot is free.
func (s *session) onTLSHello(c gnet.Conn) gnet.Action {
	p, _ := c.Peek(-1)
	if len(p) == 0 {
		return gnet.None // Discard(0) would discard everything
	}
	hello := append(s.tls.carry[toClient], p...)
	s.tls.carry[toClient] = hello
	_, _ = c.Discard(len(p))
	_, err := codec.ClientHelloLen(hello)
	switch {
	case errors.Is(err, codec.ErrHelloIncomplete):
		return gnet.None
	case err != nil:
		// Plain HTTP on a TLS port, or not a handshake at all: there is
		// no TLS to answer with.
		s.sh.stats.tlsFailed.Add(1)
		s.abort()
		return gnet.None
	}
	e := s.sh.e
	if e.tlsBusy.Add(1) > e.tlsMax {
		e.tlsBusy.Add(-1)
		s.sh.stats.tlsBusy.Add(1)
		s.status = 503
		s.abort()
		return gnet.None
	}
	fd, err := c.Dup()
	if err != nil {
		e.tlsBusy.Add(-1)
		s.abort()
		return gnet.None
	}
	// The carry holds all of it: a client may send nothing past its
	// ClientHello before the server's answer, and whatever it did send is
	// the stream's next bytes.
	s.hs.tlsFD = fd
	s.setState(stateTLSHandshake)
	return gnet.Close
}

// onTLSDetached runs in OnClose of the client conn closed by onTLSHello:
// the socket, duplicated, goes to a handshake goroutine.
func (s *session) onTLSDetached() {
	s.client = nil
	e := s.sh.e
	j := &tlsJob{
		s:     s,
		loop:  s.sh.loop,
		fd:    s.hs.tlsFD,
		hello: s.tls.carry[toClient],
		by:    e.tickTime(s.hs.by),
		cfg:   e.tlsConfig(),
		keep:  s.snap.keepAlive,
	}
	s.tls.carry[toClient] = nil
	if e.tlsStart != nil {
		e.tlsStart(j)
		return
	}
	go e.handshakeTLS(j)
}

// tlsJob is one handshake for a goroutine: it reads only the job's fields.
type tlsJob struct {
	s     *session
	loop  gnet.EventLoop
	fd    int
	hello []byte
	by    time.Time
	cfg   *tls.Config
	keep  time.Duration
}

// handshakeTLS runs a client's handshake off the loop and hands the socket
// back to the session's loop, with the record layer, or reports failure.
func (e *Engine) handshakeTLS(j *tlsJob) {
	defer e.tlsBusy.Add(-1)
	fail := func(err error) {
		_ = j.loop.Execute(e.attachCtx, &tlsResult{s: j.s, err: err})
	}
	f := os.NewFile(uintptr(j.fd), "tls")
	nc, err := net.FileConn(f) // a descriptor of its own
	_ = f.Close()
	if err != nil {
		fail(err)
		return
	}
	ctx, cancel := context.WithDeadline(e.attachCtx, j.by)
	_ = nc.SetDeadline(j.by)
	layer, info, err := tlslayer.ServerHandshake(ctx, nc, j.hello, j.cfg)
	cancel()
	if err != nil {
		_ = nc.Close()
		fail(err)
		return
	}
	_ = nc.SetDeadline(time.Time{})
	if sc, ok := nc.(syscall.Conn); ok {
		// net.FileConn turned on Go's default keepalive: put back the
		// configuration's.
		if rc, err := sc.SyscallConn(); err == nil {
			_ = rc.Control(func(fd uintptr) { restoreKeepAlive(int(fd), j.keep) })
		}
	}
	t := &tlsTicket{s: j.s, layer: layer, resumed: info.Resumed}
	if info.HasPeerCert {
		t.peer = &tlsPeer{subject: info.PeerSubject, sha256: info.PeerSHA256}
	}
	ch, err := j.loop.Enroll(gnet.NewContext(e.attachCtx, t), nc)
	if err != nil {
		_ = nc.Close()
		fail(err)
		return
	}
	select {
	case res := <-ch:
		_ = j.loop.Execute(e.attachCtx, &tlsResult{s: j.s, t: t, err: res.Err})
	case <-e.attachCtx.Done():
		// The engine stopped: a registration queued behind its shutdown
		// never runs.
	}
}

// tlsTicket is the gnet context of a socket whose handshake is done: OnOpen
// gives it and its record layer to the session.
type tlsTicket struct {
	s       *session
	layer   *tlslayer.Layer
	peer    *tlsPeer
	resumed bool
	opened  bool // OnOpen ran
}

// onOpen runs in OnOpen of the socket enrolled after its handshake.
func (t *tlsTicket) onOpen(c gnet.Conn) gnet.Action {
	t.opened = true
	s := t.s
	if s.state != stateTLSHandshake {
		return gnet.Close
	}
	c.SetContext(s)
	s.client = c
	s.tls.layer[toClient], s.tls.peer = t.layer, t.peer
	s.sh.stats.tlsHandshakes.Add(1)
	if t.resumed {
		s.sh.stats.tlsResumed.Add(1)
	}
	s.setState(stateRequest)
	return gnet.None
}

// tlsResult reports the end of a handshake goroutine to the session's loop.
type tlsResult struct {
	s   *session
	t   *tlsTicket // nil when the handshake failed
	err error
}

func (r *tlsResult) Run(context.Context) error {
	if r.t != nil && r.t.opened {
		return nil
	}
	s := r.s
	if s.state != stateTLSHandshake {
		return nil
	}
	if r.t == nil {
		s.sh.stats.tlsFailed.Add(1)
	}
	if s.sh.e.log.Enabled(bgCtx, levelDebug) {
		s.sh.e.log.LogAttrs(bgCtx, levelDebug, "TLS handshake failed",
			attrSession(s.id), attrErr(r.err))
	}
	s.setState(stateClosed)
	s.maybeFinish()
	return nil
}

// onClientTLS is OnTraffic for a TLS session's client socket.
func (s *session) onClientTLS(c gnet.Conn) gnet.Action {
	if s.state == stateTLSHello {
		return s.onTLSHello(c)
	}
	t := s.tls
	if s.holdsEarly() {
		// As on a plain socket, early bytes stay in gnet's buffer, sealed:
		// their count bounds them the same way, records' overhead
		// included.
		if s.onClientEarly(c.InboundBuffered()+len(t.carry[toClient])) && s.client == c {
			_, _ = c.Discard(0)
			t.carry[toClient] = nil
		}
		return gnet.None
	}
	return s.openRecords(c, toClient)
}

// setUpstreamLayer gives the session the record layer of its new backend
// socket, nil for a plain one (a retry may move between both).
func (s *session) setUpstreamLayer(l *tlslayer.Layer) {
	if l == nil && s.tls == nil {
		return
	}
	if s.tls == nil {
		s.tls = &tlsState{}
		s.sh.tlsLive.Add(1)
	}
	t := s.tls
	t.layer[toUpstream], t.carry[toUpstream] = l, nil
	t.sealed[toUpstream], t.notified[toUpstream] = nil, false
}

// dialedTLS is the gnet context of a backend socket whose TLS handshake a
// dial worker made: for a session's attempt, or a warm pool's fill, which
// keeps it as the idle socket's context.
type dialedTLS struct {
	s     *session
	warm  *warmSet
	layer *tlslayer.Layer
}

// onOpen runs in OnOpen of such a socket.
func (x *dialedTLS) onOpen(c gnet.Conn) gnet.Action {
	if x.s == nil {
		return x.warm.onOpen(c)
	}
	s := x.s
	if s.state != stateConnecting || s.client == nil {
		// Too late: closed as the session's, whose OnClose then ends it
		// if that was all it waited for, as for a plain socket.
		s.flags &^= flagDialing
		c.SetContext(s)
		return gnet.Close
	}
	s.flags &^= flagDialing
	s.attachUpstream(c, x.layer)
	return gnet.None
}

// onIdleTraffic runs in OnTraffic of an idle warm TLS socket: records the
// backend sends unasked that carry no data (TLS 1.3 session tickets) are
// consumed; data, an alert or a bad record retire the socket.
func (x *dialedTLS) onIdleTraffic(c gnet.Conn) gnet.Action {
	p, _ := c.Peek(-1)
	plain, consumed, _, err := x.layer.Open(p, nil)
	if plain > 0 || err != nil {
		x.warm.remove(c)
		return gnet.Close
	}
	if consumed > 0 {
		_, _ = c.Discard(consumed) // Discard(0) would discard everything
	}
	return gnet.None
}

// warmLayer is the record layer of a warm socket, nil for a plain one.
func warmLayer(c gnet.Conn) *tlslayer.Layer {
	if x, ok := c.Context().(*dialedTLS); ok {
		return x.layer
	}
	return nil
}

// defaultMaxHandshakes is tls.max_handshakes when the config leaves it 0.
const defaultMaxHandshakes = 1024

// certWatchInterval is how often the certificate files are checked for a
// change (a renewal renamed over the old file, say).
const certWatchInterval = 2 * time.Second

// tlsConfig is the configuration handshakes use now.
func (e *Engine) tlsConfig() *tls.Config {
	if e.tlsServer == nil {
		return nil
	}
	return e.tlsServer.Config()
}

// onCertReload logs each reload the certificate watch attempted.
func (e *Engine) onCertReload(err error) {
	if err != nil {
		e.log.LogAttrs(bgCtx, slog.LevelError, "TLS files changed but did not load, keeping the previous ones", attrErr(err))
		return
	}
	e.log.LogAttrs(bgCtx, slog.LevelInfo, "TLS files reloaded")
}

// Parking: an idle session's record layers let go of their AEADs' key
// schedules (about 1.5 KB per AES-GCM layer, tlslayer.Layer.Park); the
// next record rebuilds them in a microsecond or two. A sweep on every tick
// visits at most parkPerTick sessions of the loop, so that a loop with a
// million sessions spends a bounded time per tick on it and every session
// is visited every few seconds.
const (
	parkAfterTicks = 50   // 5 s without a byte relayed
	parkPerTick    = 2048 // sessions visited per tick and loop
)

// parkIdle parks the record layers of the open sessions idle for
// parkAfterTicks, parkPerTick sessions at a time from where the last tick
// stopped.
func (sh *shard) parkIdle() {
	now := sh.now()
	s := sh.parkAt
	if s == nil {
		s = sh.sessions // a new round
	}
	for n := 0; s != nil && n < parkPerTick; n++ {
		if t := s.tls; t != nil && s.state == stateOpen && now-int64(s.lastActive) >= parkAfterTicks {
			t.park(sh)
		}
		s = s.next
	}
	sh.parkAt = s
}

// TLSHandshaking returns how many TLS handshakes are in progress (each
// holds one of tls.max_handshakes). Safe from any goroutine.
func (e *Engine) TLSHandshaking() int64 { return e.tlsBusy.Load() }

// Certificates lists the listeners' certificates in use; nil without
// listen_tls. Safe from any goroutine.
func (e *Engine) Certificates() []tlsconf.Certificate {
	if e.tlsServer == nil {
		return nil
	}
	return e.tlsServer.Certificates()
}

// park parks t's record layers that are not parked yet.
func (t *tlsState) park(sh *shard) {
	for _, l := range t.layer {
		if l != nil && !l.Parked() {
			l.Park()
			sh.stats.tlsParked.Add(1)
		}
	}
}

// tickTime converts a wheel tick to wall time.
func (e *Engine) tickTime(tick int64) time.Time {
	return time.Now().Add(time.Duration(tick-e.clock.Load()) * tickInterval)
}

// appendTLSHeaders appends the headers of a verified client certificate.
func (s *session) appendTLSHeaders(dst []byte) []byte {
	if s.tls == nil || s.tls.peer == nil {
		return dst
	}
	p := s.tls.peer
	dst = append(dst, headerCertSubject...)
	dst = append(dst, ": "...)
	dst = appendHeaderSafe(dst, p.subject)
	dst = append(dst, "\r\n"...)
	dst = append(dst, headerCertSHA256...)
	dst = append(dst, ": "...)
	dst = hex.AppendEncode(dst, p.sha256[:])
	return append(dst, "\r\n"...)
}

// appendHeaderSafe appends v with every byte a header value may not hold
// (controls, DEL) and '%' percent-encoded: a certificate's subject is the
// CA's words, not necessarily a valid field value.
func appendHeaderSafe(dst []byte, v string) []byte {
	const hexDigits = "0123456789ABCDEF"
	for i := 0; i < len(v); i++ {
		b := v[i]
		if b < 0x20 || b == 0x7f || b == '%' {
			dst = append(dst, '%', hexDigits[b>>4], hexDigits[b&15])
			continue
		}
		dst = append(dst, b)
	}
	return dst
}

// String names the side for logs.
func (d side) String() string {
	if d == toClient {
		return "client"
	}
	return "backend"
}
