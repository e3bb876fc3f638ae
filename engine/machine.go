package engine

// The session state machine: its states and transition table, setState,
// and every event that drives it. Each event's entry point is here, and
// dispatches on the state; the work of each step is in its own file:
// admit.go (the request), attempt.go (backends, dials, retries),
// upgrade.go (the backend's 101), refusal.go (a backend's non-101),
// relay.go (frames) and closing.go (Close handshakes, refusals, the end).
//
// Events:
//   - client bytes and backend bytes: onClientData, onUpstreamData (OnTraffic);
//   - dial result: onUpstreamOpen (OnOpen of the enrolled socket) and
//     onDialFailed (a worker's report);
//   - peer gone: onClientGone, onUpstreamGone (OnClose);
//   - deadline: onDeadline (the shard's timer wheel);
//   - drain: onDrain (Engine.Drain).

import "github.com/panjf2000/gnet/v2"

// state is where a session is in its life (docs/architecture.md, "Session
// state machine"). Every change goes through session.setState, and
// allowedNext says which changes there are.
type state uint8

const (
	// stateRequest: reading the client's upgrade request head.
	stateRequest state = iota
	// stateConnecting: a dial worker is connecting to a backend.
	stateConnecting
	// stateUpstreamHandshake: the request went upstream; waiting for the head
	// of the backend's answer.
	stateUpstreamHandshake
	// stateUpstreamBody: the backend refused the upgrade; its head went to
	// the client and its (bounded) body follows as it arrives.
	stateUpstreamBody
	// stateOpen: relaying frames both ways.
	stateOpen
	// stateClosing: a Close went one way or the proxy injected one; waiting
	// for the peers to finish, bounded by the close timeout.
	stateClosing
	// stateRejecting: an HTTP error was sent to the client; its write side is
	// being shut down and its input drained so that it reads the answer.
	stateRejecting
	// stateClosed: both sockets are gone or going.
	stateClosed
	// stateProxyHeader: reading the PROXY protocol header that must
	// start the connection (server.proxy_protocol).
	stateProxyHeader
	// stateTLSHello: a TLS listener's connection; its ClientHello is not
	// whole yet and stays in gnet's buffer (tls.go).
	stateTLSHello
	// stateTLSHandshake: the socket is with a handshake goroutine, off
	// the loop; the session waits for it to come back.
	stateTLSHandshake
	numStates
)

var stateNames = [numStates]string{
	"request", "connecting", "upstream_handshake", "upstream_body",
	"open", "closing", "rejecting", "closed",
	"proxy_header", "tls_hello", "tls_handshake",
}

// String returns the state's name as used in logs and metrics.
func (st state) String() string {
	if st < numStates {
		return stateNames[st]
	}
	return "invalid"
}

// allowedNext is the machine's transition table: the states each state may
// move to (a bit per state). setState counts any other move in
// badTransitions, which the tests require to stay 0; machine_test.go
// drives every row. docs/architecture.md lists the events behind each.
var allowedNext = [numStates]uint16{
	// The zero state is request: newSession enters it once more to arm
	// the handshake deadline.
	// A fan-out route's request opens at once (or from connecting, once
	// its forward_auth service admitted it): the proxy answers it.
	stateRequest:           bits(stateRequest, stateConnecting, stateOpen, stateRejecting, stateClosed, stateProxyHeader, stateTLSHello),
	stateConnecting:        bits(stateConnecting, stateUpstreamHandshake, stateOpen, stateRejecting, stateClosed),
	stateUpstreamHandshake: bits(stateConnecting, stateUpstreamBody, stateOpen, stateRejecting, stateClosed),
	stateUpstreamBody:      bits(stateRejecting, stateClosed),
	stateOpen:              bits(stateClosing),
	stateClosing:           bits(stateClosed),
	stateRejecting:         bits(stateClosed),
	stateClosed:            0,
	stateProxyHeader:       bits(stateRequest, stateTLSHello, stateClosed),
	stateTLSHello:          bits(stateTLSHandshake, stateClosed),
	stateTLSHandshake:      bits(stateRequest, stateClosed),
}

// bits is the set of states sts.
func bits(sts ...state) uint16 {
	var b uint16
	for _, st := range sts {
		b |= 1 << st
	}
	return b
}

// setState moves s to st, counts the transition (and any move allowedNext
// does not have) and arms the new state's deadline.
func (s *session) setState(st state) {
	if allowedNext[s.state]&(1<<st) == 0 {
		s.sh.stats.badTransitions.Add(1)
	}
	s.sh.stats.moves[s.state][st].Add(1)
	s.state = st
	w := &s.sh.wheel
	switch st {
	case stateRequest, stateConnecting, stateProxyHeader, stateTLSHello:
		w.arm(s, s.hs.by)
	case stateTLSHandshake:
		// The goroutine ends the handshake at hs.by itself; the wheel
		// only looks again after it should have reported.
		w.arm(s, s.hs.by+tlsReportSlack)
	case stateUpstreamHandshake, stateUpstreamBody:
		at := s.sh.now() + 1 + s.snap.upstreamHandshakeTicks
		if at > s.hs.by {
			at = s.hs.by
		}
		w.arm(s, at)
	case stateOpen:
		s.armOpen()
	case stateClosing, stateRejecting:
		// A session on its way out carries no more traffic: it stops
		// counting against its backend now, not when the backend gets
		// round to closing (up to timeouts.close later), so that the
		// balancers' loads, and the hash's bound, see live sessions only.
		// Its address's session slot goes back too: max_sessions_per_ip
		// counts open sessions.
		s.releaseBackend()
		s.releasePolicy()
		s.closeBy = int32(s.sh.now() + 1 + s.snap.closeTicks)
		if st == stateRejecting {
			s.closeBy = int32(s.sh.now() + 1 + s.snap.lingerTicks)
		}
		w.arm(s, s.sh.now()+1)
	case stateClosed:
		w.disarm(s)
	}
}

// onDeadline runs when the session's wheel deadline has come.
func (s *session) onDeadline() {
	switch s.state {
	case stateRequest, stateProxyHeader, stateTLSHello:
		// Slowloris or a silent client: nothing useful to answer.
		s.sh.stats.handshakeTimeout.Add(1)
		s.abort()
	case stateTLSHandshake:
		// The goroutine holds the socket and reports when it is done:
		// the session must outlive it.
		s.sh.wheel.arm(s, s.sh.now()+tlsReportSlack)
	case stateConnecting:
		s.sh.stats.handshakeTimeout.Add(1)
		// Stop waiting for the dial: if it completes, OnOpen finds the
		// session past connecting and closes the socket; if it fails, the
		// report finds the session finished. Waiting could be forever: a
		// gnet enrol whose epoll registration fails reports success
		// without ever calling OnOpen.
		s.abandonDial()
		s.reject(504)
	case stateUpstreamHandshake:
		s.sh.stats.handshakeTimeout.Add(1)
		if s.sh.now()-s.hs.sent < s.snap.upstreamHandshakeTicks {
			// The client's handshake time ran out before the backend's
			// upstream_handshake did: not the backend's failure, and no
			// time for another attempt.
			s.reject(504)
			return
		}
		s.backendFailed()
		s.retry(504)
	case stateUpstreamBody:
		// The head and part of the body went out: the client sees the
		// body incomplete.
		s.endRefusal(nil, cutTimeout)
	case stateOpen:
		if s.sh.e.draining.Load() {
			// Its moment of a spread drain (onDrain armed it).
			s.drainClose()
			return
		}
		now := s.sh.now()
		if idle := s.snap.idleTicks; idle > 0 && now-int64(s.lastActive) >= idle {
			s.sh.stats.idleTimeout.Add(1)
			s.goAway(statusGoingAway, reasonIdle)
			return
		}
		if s.snap.pingTicks > 0 && !s.keepalive(now) {
			return
		}
		s.armOpen()
	case stateClosing:
		s.pollClosing()
	case stateRejecting:
		s.pollRejecting()
	}
}

// onClientData dispatches client bytes by state. p is everything gnet holds
// for the client; it returns how many bytes at the end of p gnet must keep
// for the next call (which then sees them again, first).
func (s *session) onClientData(p []byte) int {
	switch s.state {
	case stateRequest:
		return s.onClientRequest(p)
	case stateOpen, stateClosing:
		return s.relayFromClient(p)
	}
	return 0 // rejecting, or a backend's refusal on its way: dropped
}

// holdsEarly reports whether client bytes are early ones now: after the
// head, before the 101. OnTraffic then leaves them unread (onClientEarly).
func (s *session) holdsEarly() bool {
	return s.state == stateConnecting || s.state == stateUpstreamHandshake
}

// onClientEarly handles client bytes that came after the head, before the
// 101: n are held in gnet's buffer. They are relayed once the upgrade
// succeeds (upgrade wakes the client for them) and dropped otherwise,
// never sent upstream as part of the request. It reports whether they
// were refused (earlyOverflow), so that the caller drops them.
func (s *session) onClientEarly(n int) bool { return s.earlyOverflow(n) }

// onUpstreamData dispatches backend bytes by state, with onClientData's
// contract.
func (s *session) onUpstreamData(p []byte) int {
	switch s.state {
	case stateUpstreamHandshake:
		return s.onUpstreamHandshake(p)
	case stateUpstreamBody:
		s.onUpstreamBody(p)
	case stateOpen, stateClosing:
		return s.relayFromUpstream(p)
	}
	return 0
}

// onDialFailed runs on the loop when a worker could not connect.
func (s *session) onDialFailed(err error) {
	s.flags &^= flagDialing
	s.sh.stats.dialFailed.Add(1)
	s.backendFailed()
	if s.sh.e.log.Enabled(bgCtx, levelDebug) {
		s.sh.e.log.LogAttrs(bgCtx, levelDebug, "backend connect failed",
			attrSession(s.id), attrBackend(s.backend.Addr), attrErr(err))
	}
	if s.state != stateConnecting {
		s.maybeFinish()
		return
	}
	s.retry(502)
}

// onUpstreamOpen runs in OnOpen for an enrolled backend socket.
func (s *session) onUpstreamOpen(c gnet.Conn) gnet.Action {
	s.flags &^= flagDialing
	if s.state != stateConnecting || s.client == nil {
		// The client left or the handshake timed out meanwhile.
		return gnet.Close
	}
	s.attachUpstream(c, nil)
	return gnet.None
}

// onClientGone runs in OnClose for the client socket.
func (s *session) onClientGone() {
	switch s.state {
	case stateOpen, stateClosing:
		// A vanished client turns into a Close 1001 toward the backend.
		s.sendClose(toUpstream, statusGoingAway)
		s.beginClosing(reasonClientClose)
		s.pollClosing()
	case stateRejecting, stateClosed:
	default:
		s.abandonDial()
		s.closeUpstream()
		s.setState(stateClosed)
	}
}

// onUpstreamGone runs in OnClose for the backend socket.
func (s *session) onUpstreamGone() {
	switch s.state {
	case stateUpstreamHandshake:
		if s.flags&flagWarmConn != 0 {
			// A warm socket the backend had closed (its idle timeout
			// beat ours): not the backend failing, and not a retry.
			s.flags &^= flagWarmConn
			s.sh.stats.warmStale.Add(1)
			s.dial()
			return
		}
		// Nothing reached the client yet: try the next backend.
		s.backendFailed()
		s.retry(502)
	case stateUpstreamBody:
		s.onRefusalBackendGone()
	case stateOpen, stateClosing:
		s.sendClose(toClient, statusGoingAway)
		s.beginClosing(reasonBackendClose)
		s.pollClosing()
	}
}

// onDrain runs for each session when the engine drains: an open session
// is told 1001 both ways, at once or, with server.drain_spread, at a
// random tick of that window. One still in its handshake is refused (503)
// or told 1001 as soon as it opens, as the draining flag says (admit.go,
// upgrade.go).
func (s *session) onDrain(spreadTicks int64) {
	if s.state != stateOpen {
		return
	}
	if spreadTicks <= 0 {
		s.drainClose()
		return
	}
	s.sh.wheel.arm(s, s.sh.now()+1+int64(s.sh.rand.Uint64()%uint64(spreadTicks)))
}
