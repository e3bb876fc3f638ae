package engine

// The access log: one line per session, written when it finishes
// (docs/operations.md, "Access log"). An open session's line is sampled by
// log.access_sample, decided when it opens, so that only sampled sessions
// carry the handshake's details until they end. Refusals are always
// logged, at most refusalBurst at once and refusalsPerTick a tick after
// that per loop, so that a flood of bad handshakes cannot become a flood of
// log lines.

import (
	"bytes"
	"encoding/hex"
	"log/slog"
	"strings"
	"time"

	"github.com/throngproxy/throng/codec"
)

// accessInfo is what the access line of an open session needs from its
// handshake, kept from the 101 to the end: one 64-byte struct and one
// string, about 120 bytes of RSS per session (BENCHMARKS.md), and only for
// sessions whose line will be written.
type accessInfo struct {
	start     int64 // unix nanoseconds at accept
	handshake time.Duration
	traceID   [16]byte
	// bytesIn and bytesOut count the payload relayed each way (client to
	// backend, backend to client); kept here, not in the session, since
	// only the access line reads them.
	bytesIn, bytesOut uint64
	// text holds, separated by accessSep: host, path, subprotocol,
	// extensions, request id, and the client behind a trusted proxy.
	text string
}

// accessSep separates accessInfo.text's fields; no header value holds it
// (a NUL is not allowed in a field value, RFC 9110 §5.5).
const accessSep = "\x00"

// Fields of accessInfo.text, in order.
const (
	accessHost = iota
	accessPath
	accessSubprotocol
	accessExtensions
	accessRequestID
	accessClient
	accessFields
)

// fields splits a.text.
func (a *accessInfo) fields() (f [accessFields]string) {
	rest := a.text
	for i := range f {
		f[i], rest, _ = strings.Cut(rest, accessSep)
	}
	return f
}

// Refusal lines per loop: a burst, then so many per tick (100 ms).
const (
	refusalBurst    = 100
	refusalsPerTick = 10
)

// refusalLimiter is a loop's token bucket for refusal lines.
type refusalLimiter struct {
	tokens     int64
	last       int64  // tick of the last refill
	suppressed uint64 // lines not written since the last one that was
	started    bool   // tokens were given their burst (tick 0 is a tick too)
}

// allow reports whether a refusal line may be written at tick now, and
// how many were suppressed before it.
func (l *refusalLimiter) allow(now int64) (bool, uint64) {
	if !l.started {
		l.tokens, l.last, l.started = refusalBurst, now, true
	}
	if now > l.last {
		l.tokens = min(refusalBurst, l.tokens+(now-l.last)*refusalsPerTick)
		l.last = now
	}
	if l.tokens <= 0 {
		l.suppressed++
		return false, 0
	}
	l.tokens--
	n := l.suppressed
	l.suppressed = 0
	return true, n
}

// sampleAccess decides at open whether the session's line will be written,
// and if so keeps the handshake's details for it: req is the client's
// request, resp the backend's 101.
func (s *session) sampleAccess(req *codec.Request, resp *codec.Response) {
	if !s.snap.accessLog {
		return
	}
	if p := s.snap.accessSample; p < 1 && float64(s.sh.rand.Uint64()>>11)/(1<<53) >= p {
		return
	}
	var proto, exts []byte
	for _, h := range resp.Headers {
		switch {
		case codec.EqualFold(h.Name, "Sec-WebSocket-Protocol"):
			proto = h.Value
		case codec.EqualFold(h.Name, "Sec-WebSocket-Extensions"):
			if len(exts) > 0 {
				exts = append(exts, ", "...)
			}
			exts = append(exts, h.Value...)
		}
	}
	sh := s.sh
	b := sh.tmp[:0]
	for i, f := range [accessFields][]byte{req.Host, pathOf(req.Target), proto, exts, s.hs.rid, s.realClient(req)} {
		if i > 0 {
			b = append(b, accessSep...)
		}
		b = append(b, f...)
	}
	sh.tmp = b[:0]
	a := &accessInfo{start: s.hs.start, handshake: time.Duration(time.Now().UnixNano() - s.hs.start), text: string(b)}
	_, _ = hex.Decode(a.traceID[:], s.hs.traceID)
	s.access = a
}

// pathOf is the path of a request target, without its query: a query may
// carry tokens, which do not belong in logs.
func pathOf(target []byte) []byte {
	if i := bytes.IndexByte(target, '?'); i >= 0 {
		return target[:i]
	}
	return target
}

// realClient is the client's address as a trusted proxy in front of throng
// reports it (the first X-Forwarded-For entry), or nil when the peer is the
// client.
func (s *session) realClient(req *codec.Request) []byte {
	ap := s.clientAddrPort()
	if !ap.IsValid() || !s.snap.trusted(ap.Addr()) {
		return nil
	}
	for _, h := range req.Headers {
		if codec.EqualFold(h.Name, "X-Forwarded-For") {
			first, _, _ := bytes.Cut(h.Value, []byte(","))
			return bytes.TrimSpace(first)
		}
	}
	return nil
}

// closedFirst names who started the close: the client, the backend or the
// proxy.
func (s *session) closedFirst() string {
	switch s.closeReason {
	case reasonClientClose:
		return "client"
	case reasonBackendClose:
		return "backend"
	}
	return "proxy"
}

// logAccess writes the session's access line: for an open session if it
// was sampled, for a refusal within the loop's rate. It runs in
// maybeFinish, before the handshake struct goes back to the free list.
func (s *session) logAccess() {
	if !s.snap.accessLog {
		return
	}
	if s.status == 101 {
		if s.access != nil {
			s.logSession()
		}
		return
	}
	ok, suppressed := s.sh.refusalLog.allow(s.sh.now())
	if !ok {
		return
	}
	s.logRefusal(suppressed)
}

// logSession writes an open session's line.
func (s *session) logSession() {
	a := s.access
	f := a.fields()
	client := s.clientAddr()
	if f[accessClient] != "" {
		client = f[accessClient]
	}
	attrs := [...]slog.Attr{
		attrSession(s.id),
		slog.String("client", client),
		slog.String("peer", s.clientAddr()),
		slog.String("host", f[accessHost]),
		slog.String("path", f[accessPath]),
		slog.String("route", s.routeName()),
		slog.String("upstream", s.upstreamName()),
		slog.String("backend", s.backendAddr()),
		slog.String("subprotocol", f[accessSubprotocol]),
		slog.String("extensions", f[accessExtensions]),
		slog.Int("status", int(s.status)),
		slog.Duration("handshake", a.handshake),
		slog.Duration("duration", time.Duration(time.Now().UnixNano()-a.start)),
		slog.Uint64("bytes_in", a.bytesIn),
		slog.Uint64("bytes_out", a.bytesOut),
		slog.Uint64("messages_in", uint64(s.c2u.Messages())),
		slog.Uint64("messages_out", uint64(s.u2c.Messages())),
		slog.Uint64("frames_in", s.c2u.Frames()),
		slog.Uint64("frames_out", s.u2c.Frames()),
		slog.Int("close_code_to_client", s.closeToClient()),
		slog.Int("close_code_to_backend", s.closeToBackend()),
		slog.String("closed_first", s.closedFirst()),
		slog.String("close_reason", s.closeReason.String()),
		slog.String("request_id", f[accessRequestID]),
		slog.String("trace_id", hex.EncodeToString(a.traceID[:])),
	}
	s.sh.e.log.LogAttrs(bgCtx, slog.LevelInfo, "session closed", attrs[:]...)
}

// closeToClient is the code of the Close the client got: the proxy's own,
// or else the backend's, relayed (a backend's Close that came after the
// proxy's went nowhere); 0 when none went.
func (s *session) closeToClient() int {
	if s.closeCode != 0 {
		return int(s.closeCode)
	}
	return int(s.u2c.CloseCode())
}

// closeToBackend is the code of the Close the backend got: the client's,
// relayed, or 1001 from the proxy (every Close it makes toward a backend
// is 1001 or a protocol error's); 0 when none went.
func (s *session) closeToBackend() int {
	if c := s.c2u.CloseCode(); c != 0 {
		return int(c)
	}
	if s.flags&flagClosedToUpstream != 0 && s.flags&flagUpstreamDrop == 0 {
		return statusGoingAway
	}
	return 0
}

// logRefusal writes a refused handshake's line, with what the head said
// when it is still at hand.
func (s *session) logRefusal(suppressed uint64) {
	var host, path, rid, trace string
	if hs := s.hs; hs != nil && len(hs.head) > 0 {
		req := &s.sh.req
		// A refused head may not parse to the end (a bad method stops
		// it before Host): whatever it got is logged.
		_ = codec.ParseRequest(hs.head, req)
		host, path = string(req.Host), string(pathOf(req.Target))
		rid, trace = string(hs.rid), string(hs.traceID)
	}
	attrs := [...]slog.Attr{
		attrSession(s.id),
		slog.String("client", s.clientAddr()),
		slog.String("host", host),
		slog.String("path", path),
		slog.String("route", s.routeName()),
		slog.String("upstream", s.upstreamName()),
		slog.String("backend", s.backendAddr()),
		slog.Int("status", int(s.status)),
		slog.Duration("duration", time.Duration(time.Now().UnixNano()-s.startedAt())),
		slog.String("request_id", rid),
		slog.String("trace_id", trace),
		slog.Uint64("suppressed_before", suppressed),
	}
	// The same message as an open session's line, so that one filter
	// finds every handshake; status tells them apart.
	s.sh.e.log.LogAttrs(bgCtx, slog.LevelInfo, "session closed", attrs[:]...)
}

// startedAt is the session's accept time in unix nanoseconds: the
// handshake's until the session opens, the access line's after; 0 when
// neither is kept (an open session whose line is not sampled).
func (s *session) startedAt() int64 {
	switch {
	case s.hs != nil:
		return s.hs.start
	case s.access != nil:
		return s.access.start
	}
	return 0
}
