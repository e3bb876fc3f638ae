package engine

// Proxy pings (keepalive.ping_interval, docs/policy.md): a client silent
// for the interval gets a Ping from the proxy, injected at a frame boundary
// of what the client is sent; no Pong within keepalive.pong_timeout closes
// the session. The timers are the session's wheel deadline (no goroutine,
// no timer per session) and two int32 in the session: clientSeen and
// pongBy. The proxy knows its own Pong by its payload (the session's id)
// and does not forward it; Pongs answering the backend's Pings go through.

import (
	"encoding/binary"
	"math"

	"github.com/gobwas/ws"

	"github.com/throngproxy/throng/codec"
)

// pingMagic starts the payload of the proxy's Pings; the session id
// follows, so that a Pong is recognised as the answer to this session's
// Ping and not a backend's.
const pingMagic = "throng\x00\x01"

// pingPayloadLen is the payload length of the proxy's Pings.
const pingPayloadLen = len(pingMagic) + 8 // < 126: one length byte

// pingPayload is the payload of session id's Pings.
func pingPayload(id uint64) (p [pingPayloadLen]byte) {
	copy(p[:], pingMagic)
	binary.BigEndian.PutUint64(p[len(pingMagic):], id)
	return p
}

// armOpen arms an open session's next deadline: the idle timeout, the
// next Ping or the Pong due, whichever comes first; none disarms it.
func (s *session) armOpen() {
	at := int64(math.MaxInt64)
	if idle := s.snap.idleTicks; idle > 0 {
		at = int64(s.lastActive) + idle + 1
	}
	if ping := s.snap.pingTicks; ping > 0 {
		if s.pongBy != 0 {
			at = min(at, int64(s.pongBy))
		} else {
			at = min(at, int64(s.clientSeen)+ping)
		}
	}
	if at == math.MaxInt64 {
		s.sh.wheel.disarm(s)
		return
	}
	s.sh.wheel.arm(s, at)
}

// keepalive runs at an open session's deadline with pings on: it sends
// the Ping due, or closes a session whose Pong is late. It reports whether
// the session is still open (and so wants its next deadline armed).
func (s *session) keepalive(now int64) bool {
	if s.pongBy != 0 {
		if now < int64(s.pongBy) {
			return true
		}
		if int64(s.clientSeen) > int64(s.pongBy)-s.snap.pongTicks {
			// The client spoke since the Ping, so it is there; its Pong
			// may wait behind a long frame. Give it another timeout.
			s.pongBy = int32(now + s.snap.pongTicks)
			return true
		}
		s.sh.stats.pingTimeout.Add(1)
		s.goAway(statusGoingAway, reasonPingTimeout)
		return false
	}
	if now-int64(s.clientSeen) < s.snap.pingTicks {
		return true
	}
	if !s.sendPing() {
		// Not at a frame boundary toward the client: try next tick.
		s.sh.wheel.arm(s, now+1)
		return false
	}
	s.pongBy = int32(now + s.snap.pongTicks)
	return true
}

// sendPing injects the proxy's Ping toward the client, if what the client
// has been sent ends at a frame boundary; it reports whether it did.
func (s *session) sendPing() bool {
	if !s.present(toClient) || s.flags&flagClosedToClient != 0 || !s.boundary(toClient) {
		return false
	}
	sh := s.sh
	payload := pingPayload(s.id)
	sh.tmp = codec.AppendServerFrame(sh.tmp[:0], ws.OpPing, payload[:])
	if s.tls != nil {
		h, q := s.seal(toClient, nil, sh.tmp)
		s.send(toClient, h, q)
	} else {
		s.send(toClient, nil, sh.tmp)
	}
	sh.stats.pingsSent.Add(1)
	return true
}

// ownPong reports whether frame, a whole masked Pong from the client, is
// the answer to this session's Ping.
func (s *session) ownPong(frame []byte, g *codec.Gate) bool {
	if g.Length != uint64(pingPayloadLen) || g.Size != 6 {
		return false
	}
	var p [pingPayloadLen]byte
	copy(p[:], frame[g.Size:])
	ws.Cipher(p[:], [4]byte(frame[2:6]), 0)
	return p == pingPayload(s.id)
}
