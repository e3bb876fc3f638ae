package engine

import (
	"golang.org/x/sys/unix"
)

// Close codes the proxy sends that gobwas/ws names differently or not at all.
const statusGoingAway = 1001

// beginClosing enters stateClosing once, for reason (counted for the
// metrics); the close timeout starts then.
func (s *session) beginClosing(reason closeReason) {
	if s.state == stateOpen {
		s.closeReason = reason
		s.sh.stats.closedBy[reason].Add(1)
		s.setState(stateClosing)
	}
}

// pollClosing closes whichever socket is finished, and re-arms itself for
// the next tick while something is still waited for. It runs after every
// event of a closing session and on every tick.
//
// The client socket is closed by the proxy (it is the server side, RFC 6455
// §7.1.1) once a Close went to the client and the client's Close came back
// (or the client broke the protocol), and its output has drained: gnet drops
// queued output on close. The upstream socket is left for the backend to
// close, so that TIME_WAIT lands on the backend rather than on the proxy's
// ephemeral ports, unless the backend broke the protocol or is dropped.
// At the close deadline whatever is left is closed.
func (s *session) pollClosing() {
	if s.state != stateClosing {
		return
	}
	expired := s.sh.now() >= int64(s.closeBy)
	if s.present(toClient) && s.flags&flagClientCloseIssued == 0 {
		done := s.flags&flagClosedToClient != 0 &&
			(s.c2u.CloseSeen() || s.flags&flagClientFailed != 0 || !s.present(toUpstream) && s.flags&flagUpstreamDrop != 0)
		switch {
		case expired, s.flags&flagClientDrop != 0:
			s.closeClient()
		case done && s.queued(toClient) == 0:
			s.closeClient()
		}
	}
	if s.present(toUpstream) && s.flags&flagUpstreamCloseIssued == 0 {
		// A backend answers the close handshake by closing TCP itself
		// (RFC 6455 §7.1.1); the proxy closes first only a backend that
		// broke the protocol.
		ours := s.flags&(flagUpstreamFailed|flagUpstreamDrop) != 0
		switch {
		case expired:
			s.closeUpstream()
		case s.flags&flagUpstreamDrop != 0:
			s.closeUpstream()
		case ours && s.queued(toUpstream) == 0:
			s.closeUpstream()
		}
	}
	if s.present(toClient) || s.present(toUpstream) {
		s.sh.wheel.arm(s, s.sh.now()+1)
	}
}

// closeClient asks gnet to close the client socket; OnClose follows. A
// socket flow control holds (detached, or on its way back) is closed here,
// and the peer-gone event runs at once.
func (s *session) closeClient() {
	if s.flags&flagClientCloseIssued != 0 {
		return
	}
	if c := s.client; c != nil {
		s.flags |= flagClientCloseIssued
		s.closeNotify(toClient)
		_ = c.Close()
		return
	}
	s.dropHeld(toClient)
}

// closeUpstream asks gnet to close the backend socket, like closeClient.
func (s *session) closeUpstream() {
	if s.flags&flagUpstreamCloseIssued != 0 {
		return
	}
	if c := s.upstream; c != nil {
		s.flags |= flagUpstreamCloseIssued
		s.closeNotify(toUpstream)
		_ = c.Close()
		return
	}
	s.dropHeld(toUpstream)
}

// abort drops both sockets without a word (slowloris, early-byte overflow).
func (s *session) abort() {
	s.closeUpstream()
	s.closeClient()
	s.setState(stateClosed)
	s.maybeFinish()
}

// reject answers the client with an HTTP error and closes.
func (s *session) reject(status int) { s.rejectWith(status, "") }

// rejectWith answers with status and extra header lines.
func (s *session) rejectWith(status int, header string) {
	s.sh.stats.rejected.Add(1)
	s.status = uint16(status)
	s.closeUpstream()
	s.sendAndLinger(s.sh.e.responses.get(status, header))
}

// rejectResponse answers with a whole response made elsewhere (an auth
// service's refusal, relayed as it came).
func (s *session) rejectResponse(status int, resp []byte) {
	s.sh.stats.rejected.Add(1)
	s.status = uint16(status)
	s.closeUpstream()
	s.sendAndLinger(resp)
}

// sendAndLinger writes a final HTTP answer to the client, then shuts down its
// write side and drains its input for a moment before closing: closing with
// unread input would send a reset that can destroy the answer in flight.
func (s *session) sendAndLinger(out []byte) {
	c := s.client
	if c == nil {
		s.setState(stateClosed)
		s.maybeFinish()
		return
	}
	if len(out) > 0 {
		if _ = s.writeClient(out); s.client == nil {
			return
		}
	}
	// Over TLS the answer ends with close_notify, before the shutdown.
	if s.closeNotify(toClient); s.client == nil {
		return
	}
	s.setState(stateRejecting)
	s.pollRejecting()
}

// pollRejecting shuts the client's write side once the answer has left
// gnet's queue, and closes at the linger deadline.
func (s *session) pollRejecting() {
	c := s.client
	if c == nil {
		return
	}
	if s.sh.now() >= int64(s.closeBy) {
		s.closeClient()
		return
	}
	if s.flags&flagClientShut == 0 && c.OutboundBuffered() == 0 {
		s.flags |= flagClientShut
		_ = unix.Shutdown(c.Fd(), unix.SHUT_WR)
	}
	s.sh.wheel.arm(s, s.sh.now()+1)
}

// maybeFinish ends the session once neither socket nor a dial is left.
func (s *session) maybeFinish() {
	if s.present(toClient) || s.present(toUpstream) || s.flags&(flagDialing|flagFinished) != 0 || s.state == stateTLSHandshake {
		return
	}
	s.flags |= flagFinished
	s.endFlow()
	s.releaseBackend()
	s.releasePolicy()
	sh := s.sh
	if s.state != stateClosed {
		s.setState(stateClosed)
	}
	sh.wheel.disarm(s)
	sh.unlink(s)
	s.logAccess()
	s.access = nil
	if s.tls != nil {
		sh.tlsLive.Add(-1)
	}
	if s.hs != nil {
		sh.handshakes.Put(s.hs)
		s.hs = nil
	}
	sh.stats.closed.Add(1)
	sh.stats.live.Add(-1)
	if s.status == 101 {
		if rs := s.routeShard(); rs != nil {
			rs.open.Store(rs.open.Load() - 1)
		}
	} else {
		sh.countRefusal(s.status)
	}
	if s.flags&flagLingering != 0 {
		sh.e.lingering.Add(-1)
	} else {
		sh.e.release(s.fdsReserved())
	}
}
