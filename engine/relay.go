package engine

import (
	"errors"

	"github.com/gobwas/ws"

	"github.com/throngproxy/throng/codec"
)

// relayFromClient forwards client bytes of an open (or closing) session to
// the backend, frame headers validated, payload cut through. It returns how
// many bytes at the end of p gnet must keep: a Close frame not yet whole.
// A session with per-message limits goes through relayGated instead.
func (s *session) relayFromClient(p []byte) int {
	s.clientSeen = int32(s.sh.now())
	if s.route != nil && s.route.Fanout {
		return s.relayFanout(p)
	}
	// Once a Close went to the backend nothing more is forwarded: the
	// plain relay scans for the client's own Close and drops the rest.
	if s.flags&flagClosedToUpstream == 0 {
		var ms *msgState
		if ps := s.pol; ps != nil {
			ms = ps.msg
		}
		if ms != nil || s.pongBy != 0 {
			return s.relayGated(p, ms)
		}
	}
	return s.relay(p, toUpstream)
}

// relayFromUpstream forwards backend bytes to the client, like
// relayFromClient.
func (s *session) relayFromUpstream(p []byte) int { return s.relay(p, toClient) }

// way is what relaying toward one side needs to know of it: the flag that
// says its sender broke the protocol, the flag of a Close sent to it, why
// the sender's own Close closes the session, and the index of the route
// counters of that direction. ways is indexed by the receiving side.
type way struct {
	failed, closedTo uint16
	closeReason      closeReason
	counter          int // routeShard.bytes and .msgs: 0 client → backend, 1 backend → client
}

var ways = [2]way{
	toClient:   {failed: flagUpstreamFailed, closedTo: flagClosedToClient, closeReason: reasonBackendClose, counter: 1},
	toUpstream: {failed: flagClientFailed, closedTo: flagClosedToUpstream, closeReason: reasonClientClose, counter: 0},
}

// feed is the stream of frames relayed toward d: the client's toward the
// backend, the backend's toward the client.
func (s *session) feed(d side) *codec.Stream {
	if d == toUpstream {
		return &s.c2u
	}
	return &s.u2c
}

// feedSince is where the stall clock of the stream toward d is kept.
func (s *session) feedSince(d side) *uint16 {
	if d == toUpstream {
		return &s.c2uSince
	}
	return &s.u2cSince
}

// relay forwards p toward dst, read from the other side. Nothing follows
// a violation or a Close in a direction; bytes are scanned but not
// forwarded once a Close went the other way.
func (s *session) relay(p []byte, dst side) (keep int) {
	src, w := s.feed(dst), &ways[dst]
	if s.flags&w.failed != 0 || src.CloseSeen() {
		return 0
	}
	s.lastActive = int32(s.sh.now())
	before, msgs := frameAt(src), src.Messages()
	held, n, err := src.Scan(p)
	if src.ClosePending() {
		// A Close goes out only whole and checked: gnet keeps its bytes.
		keep = len(p) - n
	}
	s.trackMidFrame(s.feedSince(dst), src, before)
	if s.forward(dst, held, p[:n]) {
		s.countMessages(dst, src.Messages()-msgs)
	}
	if err != nil {
		s.protocolError(dst.other(), err)
		return 0
	}
	return s.relayed(dst, keep)
}

// forward sends held and then p toward dst, and counts their bytes. It
// reports whether they went: not when dst is gone or was sent a Close.
func (s *session) forward(dst side, held, p []byte) bool {
	if !s.present(dst) || s.flags&ways[dst].closedTo != 0 {
		return false
	}
	sent := uint64(len(held) + len(p))
	if sent == 0 {
		return true
	}
	if s.tls == nil {
		s.send(dst, held, p)
	} else {
		h, q := s.seal(dst, held, p)
		s.send(dst, h, q)
	}
	total := &s.sh.stats.bytesU2C
	if dst == toUpstream {
		total = &s.sh.stats.bytesC2U
	}
	if a := s.access; a != nil {
		if dst == toUpstream {
			a.bytesIn += sent
		} else {
			a.bytesOut += sent
		}
	}
	// The loop is the counters' only writer: a plain store of the sum is
	// enough for scrapers and avoids a locked add per read.
	total.Store(total.Load() + sent)
	if rs := s.routeShard(); rs != nil {
		addOwned(&rs.bytes[ways[dst].counter], sent)
	}
	return true
}

// countMessages adds n messages relayed toward dst to the route's counter.
func (s *session) countMessages(dst side, n uint32) {
	if rs := s.routeShard(); rs != nil && n != 0 {
		addOwned(&rs.msgs[ways[dst].counter], uint64(n))
	}
}

// relayed finishes a relay of bytes toward dst: a Close that went through
// starts closing, a pending drain or a full queue is seen to. It returns
// keep, or what flow control keeps.
func (s *session) relayed(dst side, keep int) int {
	w := &ways[dst]
	if s.feed(dst).CloseSeen() {
		s.flags |= w.closedTo
		s.beginClosing(w.closeReason)
	}
	if s.flags&flagDrainPending != 0 {
		s.drainPending()
	}
	// Once a Close went to dst its queue is its last words: let it drain.
	if s.flow != nil && s.flags&w.closedTo == 0 && s.throttle(dst, keep) {
		return keep
	}
	if s.state == stateClosing {
		s.pollClosing()
	}
	return keep
}

// relayGated is relayFromClient for a session with per-message limits
// (ms, else nil) or a Ping of the proxy's awaiting its Pong
// (docs/policy.md). The scan (codec.Stream.ScanGated) stops at each data
// frame header for ms to judge the frame, and at each whole Pong while
// one is awaited. Frames forwarded go out together, in as few sends as
// the drops between them allow; a dropped message's headers and payload
// are skipped, control frames between its fragments still go through, and
// so do Pongs other than the proxy's own. A rate limit with action close,
// or a message over max_message_bytes, stops the client's stream before
// that frame's header: the backend's input ends at a frame boundary.
func (s *session) relayGated(p []byte, ms *msgState) (keep int) {
	src := &s.c2u
	if s.flags&flagClientFailed != 0 || src.CloseSeen() {
		return 0
	}
	s.lastActive = int32(s.sh.now())
	var now int64 // for the buckets: read once per read, only if they are judged
	if ms != nil {
		now = s.sh.e.nanos()
	}
	msgs := src.Messages()
	// What is to go is pend (header bytes an earlier read held back)
	// and then p[from:to]; it is sent when a drop cuts it, or at the end.
	var pend []byte
	from, to := 0, 0
	flush := func() {
		s.forward(toUpstream, pend, p[from:to])
		pend = nil
	}
	g := &codec.Gate{Data: ms != nil, Pongs: s.pongBy != 0}
	for off := 0; ; {
		before := frameAt(src)
		held, n, err := src.ScanGated(p[off:], g)
		if src.ClosePending() {
			keep = len(p) - off - n
		}
		s.trackMidFrame(&s.c2uSince, src, before)
		preHeld, pre, hdrHeld, _ := g.Cut(held, p[off:off+n])
		if ms != nil && ms.skip > 0 {
			// The rest of a dropped frame's payload; held is empty
			// then, as the stream stood inside a payload.
			k := min(ms.skip, uint64(len(pre)))
			ms.skip -= k
			flush()
			from = off + int(k)
		}
		if len(preHeld) > 0 {
			pend = preHeld
		}
		to = off + len(pre)
		if err != nil {
			flush()
			s.protocolError(toClient, err)
			return 0
		}
		if !g.Stopped {
			break
		}
		if g.Pong {
			if s.ownPong(p[off+n-int(g.Size)-int(g.Length):off+n], g) {
				// The answer to the proxy's Ping: not the backend's.
				flush()
				from, to = off+n, off+n
				s.pongBy = 0
				g.Pongs = false
			} else {
				to = off + n
			}
			off += n
			continue
		}
		switch v := ms.judge(g, now); v {
		case msgForward:
			if len(hdrHeld) > 0 {
				pend = hdrHeld // nothing else is pending on a read's first header
			}
			to = off + n
			if g.Fin {
				ms.forwarded++
			}
		case msgDrop:
			flush()
			from, to = off+n, off+n
			ms.skip = g.Length
			if g.First {
				s.sh.stats.messagesDropped.Add(1)
			}
		case msgRateLimit, msgTooBig:
			flush()
			code, reason := ws.StatusPolicyViolation, reasonRateLimit
			if v == msgTooBig {
				code, reason = ws.StatusMessageTooBig, reasonTooBig
			}
			s.refuseMessage(code, reason)
			// The rest of the read is scanned for the client's Close.
			return s.relay(p[off+n:], toUpstream)
		}
		off += n
	}
	flush()
	if ms != nil {
		s.countMessages(toUpstream, ms.forwarded)
		ms.forwarded = 0
	} else {
		s.countMessages(toUpstream, src.Messages()-msgs)
	}
	return s.relayed(toUpstream, keep)
}

// refuseMessage closes a session whose client sent a message its limits
// refuse: code to the client, 1001 to the backend, whose input the gated
// relay left at a frame boundary. Unlike a protocol violation the
// client's stream is still sound, so it is read on (and dropped) until the
// client's Close answers: closing its socket on unread input would reset
// it, and the client could lose the Close that says why.
func (s *session) refuseMessage(code ws.StatusCode, reason closeReason) {
	s.sendClose(toClient, code)
	s.sendCloseAt(toUpstream, statusGoingAway, true)
	s.beginClosing(reason)
	s.pollClosing()
}

// trackMidFrame notes in since when the frame a direction stands inside
// began, for the stalled count of the stats line: a peer trickling one byte
// every few seconds inside a frame keeps its session open for ever,
// whatever the idle timeout (docs/tuning.md). The clock restarts with
// every new frame, so a busy stream whose reads end mid-frame is never
// stalled. before is frameAt(src) before the scan.
func (s *session) trackMidFrame(since *uint16, src *codec.Stream, before uint64) {
	switch {
	case !src.MidFrame():
		*since = 0
	case *since == 0 || frameAt(src) != before:
		*since = s.sh.e.stallStamp()
	}
}

// frameAt numbers the frame src stands at: the headers accepted, plus one
// while the next frame has not been (part of its header held, or a Close
// not yet whole).
func frameAt(src *codec.Stream) uint64 {
	n := src.Frames()
	if src.AtBoundary() {
		n++
	}
	return n
}

// protocolError fails a session whose peer offender broke RFC 6455: it
// is told the close code, the other side 1001.
func (s *session) protocolError(offender side, err error) {
	code := ws.StatusProtocolError
	var ce *codec.CloseError
	if errors.As(err, &ce) {
		code = ce.Code
	}
	s.sh.stats.protocolErr.Add(1)
	s.flags |= ways[offender.other()].failed
	s.sendClose(offender, code)
	// The offender's stream stopped before the bad header, so the other
	// side's input ends at a frame boundary.
	s.sendCloseAt(offender.other(), statusGoingAway, true)
	reason := reasonProtocol
	if code == ws.StatusMessageTooBig {
		reason = reasonTooBig
	}
	s.beginClosing(reason)
	s.pollClosing()
}

// slowConsumer ends a session whose peer d did not keep up: it accepted no
// byte for timeouts.write while bytes waited for it, or its queue passed
// write_buffer_limit while the socket feeding it could not be paused. d is
// told 1013 if what it was sent ends at a frame boundary (it may never read
// it) and dropped at once; the other side is told 1001.
func (s *session) slowConsumer(d side, reason closeReason) {
	s.sh.stats.slowConsumer.Add(1)
	s.sendClose(d, codec.StatusTryAgainLater)
	s.flush(d)
	if d == toClient {
		s.flags |= flagClientDrop | flagClosedToClient
	} else {
		s.flags |= flagUpstreamDrop | flagClosedToUpstream
	}
	s.sendClose(d.other(), statusGoingAway)
	s.beginClosing(reason)
	s.pollClosing()
}

// goAway closes an open session on the proxy's initiative (idle timeout,
// drain): code toward the client, 1001 toward the backend.
func (s *session) goAway(code ws.StatusCode, reason closeReason) {
	s.sendClose(toClient, code)
	s.sendClose(toUpstream, statusGoingAway)
	s.beginClosing(reason)
	s.pollClosing()
}

// drainClose closes an open session for a drain: Close 1001 both ways,
// each sent when its direction stands at a frame boundary. A direction in
// the middle of a frame gets its Close once that frame has been relayed
// (relay calls drainPending), bounded by timeouts.drain rather than
// dropped at once.
func (s *session) drainClose() {
	if s.state != stateOpen {
		return
	}
	s.flags |= flagDrainPending
	s.beginClosing(reasonDrain)
	s.drainPending()
	if s.flags&flagDrainPending != 0 {
		// A frame is still on its way: wait for it up to the drain's
		// budget, not the close timeout.
		s.closeBy = int32(s.sh.now() + 1 + ticks(s.snap.cfg.Timeouts.Drain.D()))
	}
	s.pollClosing()
}

// drainPending sends a drain's Close toward each side whose input now
// stands at a frame boundary.
func (s *session) drainPending() {
	for d := toClient; d <= toUpstream; d++ {
		if s.boundary(d) {
			s.sendClose(d, statusGoingAway)
		}
	}
	// A side that is gone is owed no Close (sendClose sends none): only
	// those still there keep the drain's longer wait.
	owed := false
	for d := toClient; d <= toUpstream; d++ {
		owed = owed || s.present(d) && s.flags&ways[d].closedTo == 0
	}
	if !owed {
		s.flags &^= flagDrainPending
		// Both Closes are out: the close handshake gets the usual time.
		s.closeBy = min(s.closeBy, int32(s.sh.now()+1+s.snap.closeTicks))
	}
}

// sendClose injects a Close frame toward d, once. A Close may only start at
// a frame boundary of what d has been sent so far; when d is mid-frame its
// connection is dropped instead.
func (s *session) sendClose(d side, code ws.StatusCode) { s.sendCloseAt(d, code, s.boundary(d)) }

// sendCloseAt is sendClose for a caller that knows whether d's input stands
// at a frame boundary (a stream that failed stopped before its bad header).
func (s *session) sendCloseAt(d side, code ws.StatusCode, atBoundary bool) {
	closed, drop := flagClosedToClient, flagClientDrop
	if d == toUpstream {
		closed, drop = flagClosedToUpstream, flagUpstreamDrop
	}
	if !s.present(d) || s.flags&closed != 0 {
		return
	}
	s.flags |= closed
	if d == toClient {
		s.closeCode = uint16(code)
	}
	if !atBoundary {
		s.flags |= drop
		return
	}
	frame := s.sh.closeFrame(d == toUpstream, code)
	if s.tls != nil {
		h, q := s.seal(d, nil, frame)
		s.send(d, h, q)
		return
	}
	s.send(d, nil, frame)
}
