package engine

// A fan-out subscriber's session (docs/fanout.md): the 101 throng makes
// itself, the client's frames (answered, dropped or published, never
// relayed), and its place in its channel.

import (
	"log/slog"
	"unicode/utf8"

	"github.com/gobwas/ws"

	"github.com/throngproxy/throng/bus"
	"github.com/throngproxy/throng/codec"
)

// proceed starts what a routed, admitted request goes on to: the first
// backend attempt, or on a fan-out route the subscription.
func (s *session) proceed() {
	if s.route.Fanout {
		s.openFanout()
		return
	}
	s.dialNext(502)
}

// openFanout answers the upgrade of a fan-out route with the proxy's own
// 101 and subscribes the client to its channel.
func (s *session) openFanout() {
	sh, hs := s.sh, s.hs
	f := s.snap.fan[s.route.Index]
	req := &sh.req
	if err := codec.ParseRequest(hs.head, req); err != nil {
		s.reject(400) // cannot happen: it parsed before
		return
	}
	name, ok := f.channel(req, s.route.PathPrefix)
	if !ok || bus.ValidateChannel(name) != nil {
		s.reject(400)
		return
	}
	var proto []byte
	if f.subprotocol != "" && req.OffersProtocol([]byte(f.subprotocol)) {
		proto = []byte(f.subprotocol)
	}
	sub, err := sh.e.fan.join(s, f, name)
	if err != nil {
		sh.e.log.LogAttrs(bgCtx, slog.LevelWarn, "fan-out subscribe", attrSession(s.id), slog.String("channel", name), attrErr(err))
		s.reject(503)
		return
	}
	if s.pol == nil {
		s.pol = &policyState{}
	}
	s.pol.fan = sub
	out := appendFanoutAccept(hs.fwd[:0], req.Key, proto, hs.rid)
	hs.fwd = out
	// No backend: the second descriptor goes back before the 101, so a
	// client that connects again as soon as it has its answer finds it
	// free. Until status is 101, fdsReserved still says two: a client gone
	// during the write takes the descriptor again.
	sh.e.fds.Add(-1)
	if err := s.writeClient(out); err != nil || s.client == nil {
		sh.e.fds.Add(1)
		return // gone: maybeFinish left the channel
	}
	s.status = 101 // fdsReserved is one from here
	maxFrame := uint64(s.policy().maxFrameBytes)
	s.c2u.Init(codec.FromClient, maxFrame, false, false)
	s.u2c.Init(codec.FromServer, maxFrame, false, false)
	resp := &sh.resp
	resp.Status, resp.Headers = 101, resp.Headers[:0]
	if proto != nil {
		resp.Headers = append(resp.Headers, codec.Header{Name: []byte("Sec-WebSocket-Protocol"), Value: proto})
	}
	s.enterOpen(req, resp)
	if s.state == stateOpen && sh.e.draining.Load() {
		s.drainClose()
	}
}

// fdsReserved is how many descriptors the admitted session s still
// reserves: one for an answered fan-out subscriber, two for any other.
func (s *session) fdsReserved() int64 {
	if s.route != nil && s.route.Fanout && s.status == 101 {
		return 1
	}
	return 2
}

// appendFanoutAccept appends the proxy's 101 (RFC 6455 §4.2.2) for a
// client whose Sec-WebSocket-Key is key, with the chosen subprotocol (nil
// for none) and the request id. No extension is accepted: frames go out
// as they came from the bus.
func appendFanoutAccept(dst, key, proto, rid []byte) []byte {
	dst = append(dst, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: "...)
	dst = codec.AppendAcceptKey(dst, key)
	dst = append(dst, "\r\n"...)
	if proto != nil {
		dst = append(append(append(dst, "Sec-WebSocket-Protocol: "...), proto...), "\r\n"...)
	}
	if len(rid) > 0 {
		dst = append(append(append(dst, "X-Request-Id: "...), rid...), "\r\n"...)
	}
	return append(dst, "\r\n"...)
}

// leaveFanout takes the session out of its channel, once.
func (s *session) leaveFanout() {
	if ps := s.pol; ps != nil && ps.fan != nil {
		s.sh.e.fan.leave(ps.fan)
		ps.fan = nil
	}
}

// relayFanout reads a subscriber's frames: it answers Pings, takes the
// proxy's own Pong, publishes the client's messages to the bus
// (client_messages = "publish") or drops them, and answers a Close with
// a Close. Nothing is relayed: there is no backend.
func (s *session) relayFanout(p []byte) (keep int) {
	src := &s.c2u
	if s.flags&flagClientFailed != 0 || src.CloseSeen() {
		return 0
	}
	s.lastActive = int32(s.sh.now())
	sub, ms := s.pol.fan, s.pol.msg
	publish := sub != nil && sub.route.publish
	// Data frames stop the scan to be gathered, or judged by the route's
	// per-message limits.
	g := &codec.Gate{Data: publish || ms != nil, Pongs: true, Pings: true}
	var now int64 // for the buckets: read once per read, only if they are judged
	if ms != nil {
		now = s.sh.e.nanos()
	}
	msgs := src.Messages()
	for off := 0; ; {
		held, n, err := src.ScanGated(p[off:], g)
		if src.ClosePending() {
			keep = len(p) - off - n
		}
		_, pre, hdrHeld, hdr := g.Cut(held, p[off:off+n])
		if publish && sub.remain > 0 {
			k := min(sub.remain, uint64(len(pre)))
			s.gather(sub, pre[:k])
		}
		if s.flags&flagClientFailed != 0 {
			return 0 // the Ping answered before this one found the client too slow
		}
		if err != nil {
			s.protocolError(toClient, err)
			return 0
		}
		if !g.Stopped {
			break
		}
		switch {
		case g.Ping:
			s.answerPing(hdr, g)
		case g.Pong:
			if s.pongBy != 0 && s.ownPong(hdr, g) {
				s.pongBy = 0
			}
		default: // a data frame's header
			if ms != nil && s.judgeFan(ms, g, now) {
				return 0 // refused: closing
			}
			if !publish {
				break
			}
			// Its payload is gathered next.
			h := append(append(s.sh.tmp[:0], hdrHeld...), hdr...)
			copy(sub.mask[:], h[len(h)-4:])
			sub.remain, sub.moff = g.Length, 0
			if g.First {
				sub.msg, sub.binary = sub.msg[:0], ws.OpCode(h[0]&0x0f) == ws.OpBinary
				sub.dropping = ms != nil && ms.dropping
			}
			if uint64(len(sub.msg))+g.Length > uint64(s.policy().maxFrameBytes) {
				// Its input is not read on: the message cannot be
				// followed past this header.
				s.flags |= flagClientFailed
				s.refuseMessage(ws.StatusMessageTooBig, reasonTooBig)
				return 0
			}
			sub.fin = g.Fin
			if g.Length == 0 && g.Fin {
				s.publishFan(sub)
			}
		}
		off += n
	}
	if dropped := src.Messages() - msgs; !publish && dropped > 0 {
		s.sh.e.fan.stats.clientDrops.Add(uint64(dropped))
	}
	if src.CloseSeen() {
		code := src.CloseCode()
		if code == ws.StatusNoStatusRcvd {
			code = ws.StatusNormalClosure
		}
		s.flags |= flagClosedToUpstream
		s.sendClose(toClient, code)
		s.beginClosing(reasonClientClose)
	}
	if s.flags&flagDrainPending != 0 {
		s.drainPending()
	}
	if s.state == stateClosing {
		s.pollClosing()
	}
	return keep
}

// judgeFan applies the route's per-message limits to a subscriber's data
// frame; it reports whether the session was refused (and is closing). A
// dropped message is not published.
func (s *session) judgeFan(ms *msgState, g *codec.Gate, now int64) bool {
	switch ms.judge(g, now) {
	case msgRateLimit:
		s.flags |= flagClientFailed
		s.refuseMessage(ws.StatusPolicyViolation, reasonRateLimit)
		return true
	case msgTooBig:
		s.flags |= flagClientFailed
		s.refuseMessage(ws.StatusMessageTooBig, reasonTooBig)
		return true
	case msgDrop:
		if g.First {
			s.sh.stats.messagesDropped.Add(1)
		}
	}
	return false
}

// gather adds payload bytes b of the message being published, unmasked.
func (s *session) gather(sub *fanSub, b []byte) {
	if sub.dropping {
		sub.remain -= uint64(len(b))
		return
	}
	start := len(sub.msg)
	sub.msg = append(sub.msg, b...)
	ws.Cipher(sub.msg[start:], sub.mask, sub.moff)
	sub.moff += len(b)
	sub.remain -= uint64(len(b))
	if sub.remain == 0 && sub.fin {
		s.publishFan(sub)
	}
}

// publishFan hands the gathered message to the bus's publisher; a full
// queue drops it (counted).
func (s *session) publishFan(sub *fanSub) {
	hub := s.sh.e.fan
	if sub.dropping {
		return // over its rate with rate_limit_action = "drop"
	}
	if sub.route.op == ws.OpText && (sub.binary || !utf8.Valid(sub.msg)) {
		// Framed as text for every subscriber, it must be UTF-8 (RFC
		// 6455 §8.1): one client must not break the whole channel.
		hub.stats.notTextIn.Add(1)
		sub.msg = sub.msg[:0]
		return
	}
	payload := append([]byte(nil), sub.msg...)
	if cap(sub.msg) > 64<<10 {
		sub.msg = nil // a big message's buffer is not kept for the session's life
	} else {
		sub.msg = sub.msg[:0]
	}
	if sub.route.up != nil {
		// client_messages = "upstream": to the channel's own WebSocket.
		if !hub.toFeed(sub.route.source, sub.name, payload) {
			hub.stats.clientDrops.Add(1)
		} else {
			hub.stats.published.Add(1)
		}
		return
	}
	hub.mu.Lock()
	fb := hub.buses[sub.route.source]
	hub.mu.Unlock()
	if fb == nil {
		hub.stats.clientDrops.Add(1)
		return
	}
	if fb.pubBytes.Add(int64(len(payload))) > publishQueueBytes {
		fb.pubBytes.Add(-int64(len(payload)))
		hub.stats.clientDrops.Add(1)
		return
	}
	select {
	case fb.pub <- bus.Message{Channel: sub.name, Payload: payload}:
	default:
		fb.pubBytes.Add(-int64(len(payload)))
		hub.stats.clientDrops.Add(1)
	}
}

// answerPing sends the Pong a client's Ping asks for (RFC 6455 §5.5.3):
// on a fan-out route there is no backend to answer it. frame is the whole
// masked Ping.
func (s *session) answerPing(frame []byte, g *codec.Gate) {
	if s.flags&flagClosedToClient != 0 {
		return
	}
	if q := s.queued(toClient); q > 0 && q > s.pol.fan.limit() {
		// Pings faster than the client reads their Pongs: the queue is
		// bounded as for deliveries.
		s.sh.e.fan.stats.slowClosed.Add(1)
		s.flags |= flagClientFailed
		s.slowConsumer(toClient, reasonSlowConsumer)
		return
	}
	var payload [ws.MaxControlFramePayloadSize]byte
	p := payload[:copy(payload[:], frame[g.Size:])]
	ws.Cipher(p, [4]byte(frame[g.Size-4:g.Size]), 0)
	out := codec.AppendServerFrame(s.sh.tmp[:0], ws.OpPong, p)
	s.sh.tmp = out[:0]
	if s.tls != nil {
		h, q := s.seal(toClient, nil, out)
		s.send(toClient, h, q)
		return
	}
	s.send(toClient, nil, out)
}
