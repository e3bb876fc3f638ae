package engine

import (
	"errors"

	"github.com/gobwas/ws"

	"github.com/throngproxy/throng/codec"
)

// relayFromClient forwards client bytes of an open (or closing) session to
// the backend, frame headers validated, payload cut through. It returns how
// many bytes at the end of p gnet must keep: a Close frame not yet whole.
func (s *session) relayFromClient(p []byte) int { return s.relay(p, true) }

// relayFromUpstream forwards backend bytes to the client, like
// relayFromClient.
func (s *session) relayFromUpstream(p []byte) int { return s.relay(p, false) }

// relay forwards p, read from the client (fromClient) or the backend, to the
// other side. Nothing follows a violation or a Close in a direction; bytes
// are scanned but not forwarded once a Close went the other way.
func (s *session) relay(p []byte, fromClient bool) (keep int) {
	src, failed, closedTo, dst := &s.u2c, flagUpstreamFailed, flagClosedToClient, toClient
	total, since := &s.sh.stats.bytesU2C, &s.u2cSince
	if fromClient {
		src, failed, closedTo, dst = &s.c2u, flagClientFailed, flagClosedToUpstream, toUpstream
		total, since = &s.sh.stats.bytesC2U, &s.c2uSince
	}
	if s.flags&failed != 0 || src.CloseSeen() {
		return 0
	}
	s.lastActive = int32(s.sh.now())
	before, msgs := frameAt(src), src.Messages()
	held, n, err := src.Scan(p)
	if src.ClosePending() {
		// A Close goes out only whole and checked: gnet keeps its bytes.
		keep = len(p) - n
	}
	s.trackMidFrame(since, src, before)
	if s.present(dst) && s.flags&closedTo == 0 {
		sent := uint64(len(held) + n)
		if out := p[:n]; s.tls == nil {
			s.send(dst, held, out)
		} else {
			h, q := s.seal(dst, held, out)
			s.send(dst, h, q)
		}
		if a := s.access; a != nil {
			if fromClient {
				a.bytesIn += sent
			} else {
				a.bytesOut += sent
			}
		}
		// The loop is the counters' only writer: a plain store of the sum
		// is enough for scrapers and avoids a locked add per read.
		total.Store(total.Load() + sent)
		if rs := s.routeShard(); rs != nil {
			dir := 1
			if fromClient {
				dir = 0
			}
			addOwned(&rs.bytes[dir], sent)
			addOwned(&rs.msgs[dir], uint64(src.Messages()-msgs))
		}
	}
	if err != nil {
		s.protocolError(fromClient, err)
		return 0
	}
	if src.CloseSeen() {
		s.flags |= closedTo
		if fromClient {
			s.beginClosing(reasonClientClose)
		} else {
			s.beginClosing(reasonBackendClose)
		}
	}
	if s.flags&flagDrainPending != 0 {
		s.drainPending()
	}
	// Once a Close went to dst its queue is its last words: let it drain.
	if s.flow != nil && s.flags&closedTo == 0 && s.throttle(dst, keep) {
		return keep
	}
	if s.state == stateClosing {
		s.pollClosing()
	}
	return keep
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

// protocolError fails a session whose client (fromClient) or backend broke
// RFC 6455: the offender is told the close code, the other side 1001.
func (s *session) protocolError(fromClient bool, err error) {
	code := ws.StatusProtocolError
	var ce *codec.CloseError
	if errors.As(err, &ce) {
		code = ce.Code
	}
	s.sh.stats.protocolErr.Add(1)
	if fromClient {
		s.flags |= flagClientFailed
		s.sendClose(toClient, code)
		// The client's stream stopped before the offending header, so the
		// backend's input ends at a frame boundary.
		s.sendCloseAt(toUpstream, statusGoingAway, true)
	} else {
		s.flags |= flagUpstreamFailed
		s.sendClose(toUpstream, code)
		s.sendCloseAt(toClient, statusGoingAway, true)
	}
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
	if s.flags&(flagClosedToClient|flagClosedToUpstream) == flagClosedToClient|flagClosedToUpstream {
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
