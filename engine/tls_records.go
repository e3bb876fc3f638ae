package engine

// The record layer of a TLS session past its handshake: records opened in
// place as they arrive, plaintext sealed on its way out, alerts and
// close_notify (docs/architecture.md, "TLS").

import (
	"errors"
	"log/slog"

	"github.com/panjf2000/gnet/v2"

	"github.com/throngproxy/throng/tlslayer"
)

// openRecords is OnTraffic for a TLS socket of side d past its handshake:
// the whole records in gnet's buffer are opened in place, their plaintext
// goes to the session behind any it kept, and the ciphertext is consumed.
func (s *session) openRecords(c gnet.Conn, d side) gnet.Action {
	t := s.tls
	if len(t.sealed[d]) == 0 && len(t.carry[d]) == 0 && !recordWhole(c) {
		// Nothing to open yet, and a Peek of gnet's ring would copy it
		// all again on every read of a record that trickles in.
		return gnet.None
	}
	p, _ := c.Peek(-1)
	inGnet := len(p)
	if len(t.sealed[d]) > 0 {
		// The record a detach cut: this read completes it.
		p = append(t.sealed[d], p...)
	}
	plain, consumed, reply, err := t.layer[d].Open(p, s.sh.tlsReply[:0])
	if len(reply) > 0 {
		s.send(d, nil, reply)
	}
	if data := p[:plain]; len(data) > 0 || len(t.carry[d]) > 0 {
		if len(t.carry[d]) > 0 {
			data = append(t.carry[d], data...)
		}
		var keep int
		if d == toClient {
			keep = s.onClientData(data)
		} else {
			keep = s.onUpstreamData(data)
		}
		s.keepPlain(d, data, keep)
	}
	if err != nil {
		if c != s.conn(d) {
			// The session moved on meanwhile (a retry took another
			// backend socket): this one is being closed already.
			return gnet.None
		}
		if inGnet > 0 {
			_, _ = c.Discard(inGnet)
		}
		t.sealed[d] = nil
		// A pause this read started is off: the socket closes instead.
		s.cancelPause(d, c)
		s.onTLSError(d, err)
		return gnet.None
	}
	if c != s.conn(d) {
		return gnet.None
	}
	detach := s.detachNow(c)
	switch {
	case len(t.sealed[d]) > 0 || detach && consumed < len(p):
		// What follows the whole records is kept here rather than in
		// gnet's buffer, which a detach would drop. (Discard(0) would
		// discard everything: nothing left is nothing to discard.)
		t.sealed[d] = append(t.sealed[d][:0], p[consumed:]...)
		if len(t.sealed[d]) == 0 {
			t.sealed[d] = nil
		}
		if inGnet > 0 {
			_, _ = c.Discard(inGnet)
		}
	case consumed > 0:
		_, _ = c.Discard(consumed)
	}
	if detach {
		return gnet.Close
	}
	return gnet.None
}

// Sizes of TLS records as the loop sees them before opening them.
const (
	tlsRecordHeader = 5
	// tlsMaxRecord is the longest record TLS 1.2 allows (2^14 + 2048 of
	// ciphertext); a longer one is for Open to refuse.
	tlsMaxRecord = tlsRecordHeader + 16384 + 2048
)

// recordWhole reports whether gnet holds at least one whole record for c
// (or a header Open will refuse), reading only the header.
func recordWhole(c gnet.Conn) bool {
	n := c.InboundBuffered()
	if n < tlsRecordHeader {
		return false
	}
	hdr, _ := c.Peek(tlsRecordHeader)
	if len(hdr) < tlsRecordHeader {
		return false
	}
	need := tlsRecordHeader + (int(hdr[3])<<8 | int(hdr[4]))
	return n >= need || need > tlsMaxRecord
}

// keepPlain keeps the last keep bytes of data, the plaintext from side d
// just handed to the session, for the next read. The carry is dropped
// whenever it empties, so that an idle session holds none.
func (s *session) keepPlain(d side, data []byte, keep int) {
	t := s.tls
	if t == nil {
		return
	}
	if keep <= 0 {
		t.carry[d] = nil
		return
	}
	rest := data[len(data)-keep:]
	if c := t.carry[d]; len(c) >= keep && &rest[0] == &c[len(c)-keep] {
		t.carry[d] = c[:copy(c, rest)]
		return
	}
	t.carry[d] = append(t.carry[d][:0], rest...)
}

// onTLSError ends side d's socket after a record Open refused: its
// close_notify is answered with one, a renegotiation with no_renegotiation,
// anything else with the fatal alert it calls for.
func (s *session) onTLSError(d side, err error) {
	issued := flagClientCloseIssued
	if d == toUpstream {
		issued = flagUpstreamCloseIssued
	}
	if s.flags&issued != 0 {
		// Its socket is already closing after an earlier refusal: bytes
		// gnet still delivers are not another session ending (nor counted
		// as one).
		return
	}
	var ae *tlslayer.AlertError
	switch {
	case errors.Is(err, tlslayer.ErrCloseNotify):
	case errors.Is(err, tlslayer.ErrRenegotiation):
		s.sendAlert(d, tlslayer.LevelWarning, tlslayer.AlertNoRenegotiation)
	case errors.Is(err, tlslayer.ErrPeerAlert):
		// The peer ended it: nothing goes back (RFC 8446 §6.2).
		s.tls.notified[d] = true
	case errors.As(err, &ae):
		s.sh.stats.tlsAlerts.Add(1)
		s.sendAlert(d, tlslayer.LevelFatal, ae.Alert)
	default:
		s.sh.stats.tlsAlerts.Add(1)
		s.sendAlert(d, tlslayer.LevelFatal, tlslayer.AlertInternalError)
	}
	if s.sh.e.log.Enabled(bgCtx, levelDebug) {
		s.sh.e.log.LogAttrs(bgCtx, levelDebug, "TLS record refused",
			attrSession(s.id), slog.String("side", d.String()), attrErr(err))
	}
	if d == toClient {
		s.closeClient()
	} else {
		s.closeUpstream()
	}
}

// sendAlert sends one alert toward d, once: after an alert nothing more
// goes to it.
func (s *session) sendAlert(d side, level uint8, desc tlslayer.Alert) {
	t := s.tls
	if t == nil || t.layer[d] == nil || t.notified[d] || s.conn(d) == nil {
		return
	}
	t.notified[d] = true
	s.send(d, nil, t.layer[d].AppendAlert(s.sh.tlsOut[:0], level, uint8(desc)))
}

// seal returns held and p sealed into records for d when d's socket speaks
// TLS, in the shard's scratch; otherwise held and p unchanged. After an
// alert toward d nothing is: it returns nothing to send.
func (s *session) seal(d side, held, p []byte) ([]byte, []byte) {
	t := s.tls
	l := t.layer[d]
	if l == nil {
		return held, p
	}
	if t.notified[d] {
		return nil, nil
	}
	sh := s.sh
	if len(held) > 0 {
		sh.tlsStage = append(append(sh.tlsStage[:0], held...), p...)
		p = sh.tlsStage
	}
	out := l.Seal(sh.tlsOut[:0], p)
	if cap(out) <= maxTLSScratch {
		sh.tlsOut = out[:0]
	}
	if cap(sh.tlsStage) > maxTLSScratch {
		sh.tlsStage = nil
	}
	return nil, out
}

// sealFrames is seal for several frames in order: staged together, so
// that they make a record per 16 KiB rather than one each, and one send
// (a fan-out subscriber's backlog). The stage is the one seal uses for
// held bytes.
func (s *session) sealFrames(d side, frames [][]byte) ([]byte, []byte) {
	if len(frames) == 1 {
		return s.seal(d, nil, frames[0])
	}
	stage := s.sh.tlsStage[:0]
	for _, f := range frames {
		stage = append(stage, f...)
	}
	s.sh.tlsStage = stage
	return s.seal(d, nil, stage)
}

// maxTLSScratch bounds the shard's sealing buffers kept between calls.
const maxTLSScratch = 256 << 10

// writeTo writes p to c, d's conn, through gnet, sealed when d speaks
// TLS: the handshake's own messages (the request upstream, the 101 or a
// refusal toward the client), which go before any relayed byte.
func (s *session) writeTo(d side, c gnet.Conn, p []byte) error {
	if s.tls != nil {
		if _, p = s.seal(d, nil, p); len(p) == 0 {
			return nil
		}
	}
	_, err := c.Write(p)
	return err
}

// writeClient is writeTo for the client.
func (s *session) writeClient(p []byte) error { return s.writeTo(toClient, s.client, p) }

// writeClientv is writeClient for pieces written at once.
func (s *session) writeClientv(iov [][]byte) {
	if s.tls == nil || s.tls.layer[toClient] == nil {
		_, _ = s.client.Writev(iov)
		return
	}
	sh := s.sh
	b := sh.tlsPlain[:0]
	for _, v := range iov {
		b = append(b, v...)
	}
	_ = s.writeClient(b)
	if cap(b) <= maxTLSScratch {
		sh.tlsPlain = b[:0]
	}
}

// closeNotify tells a TLS peer on side d that nothing more comes, before
// its socket is closed or shut down.
func (s *session) closeNotify(d side) {
	t := s.tls
	c := s.conn(d)
	if t == nil || t.layer[d] == nil || t.notified[d] || c == nil {
		return
	}
	if s.flow != nil && s.flow.q[d].n > 0 {
		// Bytes still wait in the session's queue: an alert written past
		// them through gnet would overtake them.
		return
	}
	t.notified[d] = true
	_, _ = c.Write(t.layer[d].AppendAlert(s.sh.tlsOut[:0], tlslayer.LevelWarning, uint8(tlslayer.AlertCloseNotify)))
}
