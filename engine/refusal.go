package engine

import (
	"log/slog"

	"github.com/throngproxy/throng/codec"
)

// maxRefusalBody bounds the body of a non-101 answer relayed to the
// client, counted in bytes as they go on the wire (chunk framing
// included).
const maxRefusalBody = 64 << 10

// Why a refusal's body was cut short, for the log line.
const (
	cutOverBound  = "body over 64 KiB"
	cutEarlyClose = "backend closed before the end of the body"
	cutTimeout    = "body not complete within the upstream handshake timeout"
	cutBadChunk   = "malformed chunked body"
)

// startRefusal begins relaying a backend's non-101 answer: its head goes
// to the client at once, its body as it arrives (docs/protocol.md,
// "Refused handshakes"). rest are the bytes that followed the head.
func (s *session) startRefusal(resp *codec.Response, rest []byte) {
	hs := s.hs
	kind, length, err := resp.Body()
	if err != nil {
		s.reject(502)
		return
	}
	if resp.Status >= 502 && resp.Status <= 504 {
		// The backend (or something behind it) is failing; a 4xx is the
		// backend doing its job for this client and counts for nothing.
		s.backendFailed()
		if s.canRetry() {
			s.retry(resp.Status)
			return
		}
	}
	s.status = uint16(resp.Status)
	hs.bodyKind, hs.bodyLeft, hs.bodySent = kind, length, 0
	hs.chunk.Reset()
	if kind == codec.BodyNone {
		s.endRefusal(codec.AppendRelayedHead(hs.fwd[:0], resp, kind, length), "")
		return
	}
	s.setState(stateUpstreamBody)
	hs.fwd = codec.AppendRelayedHead(hs.fwd[:0], resp, kind, length)
	if _ = s.writeClient(hs.fwd); s.client == nil {
		return
	}
	s.onUpstreamBody(rest)
}

// onUpstreamBody relays the next bytes of the refusal's body, up to
// maxRefusalBody.
func (s *session) onUpstreamBody(p []byte) {
	hs := s.hs
	if len(p) == 0 {
		return
	}
	room := maxRefusalBody - hs.bodySent
	switch hs.bodyKind {
	case codec.BodyLength:
		n := min(int64(len(p)), hs.bodyLeft)
		over := n > room
		n = min(n, room)
		s.relayBody(p[:n])
		hs.bodyLeft -= n
		switch {
		case hs.bodyLeft == 0:
			s.endRefusal(nil, "")
		case over:
			s.endRefusal(nil, cutOverBound)
		}
	case codec.BodyChunked:
		// The chunks go on as sent; the decoder only checks them and
		// finds where the body ends.
		n, done, err := hs.chunk.Skip(p)
		over := int64(n) > room
		s.relayBody(p[:min(int64(n), room)])
		switch {
		case over:
			s.endRefusal(nil, cutOverBound)
		case err != nil:
			s.endRefusal(nil, cutBadChunk)
		case done:
			s.endRefusal(nil, "")
		}
	case codec.BodyClose:
		over := int64(len(p)) > room
		p = p[:min(int64(len(p)), room)]
		if len(p) > 0 && s.client != nil {
			// One chunk per read, its framing around the bytes in one
			// writev rather than a copy.
			var size [20]byte
			iov := &s.sh.iov3
			iov[0], iov[1], iov[2] = codec.AppendChunkSize(size[:0], len(p)), p, crlf
			hs.bodySent += int64(len(iov[0]) + len(p) + len(crlf))
			s.writeClientv(iov[:])
			iov[0], iov[1], iov[2] = nil, nil, nil
		}
		if over {
			s.endRefusal(nil, cutOverBound)
		}
	}
}

var crlf = []byte("\r\n")

// relayBody writes body bytes to the client and counts them.
func (s *session) relayBody(p []byte) {
	if len(p) == 0 || s.client == nil {
		return
	}
	s.hs.bodySent += int64(len(p))
	_ = s.writeClient(p)
}

// onRefusalBackendGone ends a refusal whose backend closed: the end of a
// close-delimited body, else a body cut short.
func (s *session) onRefusalBackendGone() {
	if s.hs.bodyKind == codec.BodyClose {
		s.endRefusal(codec.LastChunk, "")
		return
	}
	s.endRefusal(nil, cutEarlyClose)
}

// endRefusal writes last (the rest of the answer, if any) and ends the
// refusal: the backend is closed and the client's write side shut down once
// its output has drained, as for any answer (closing.go). A body cut short
// (why says how) is logged: the client sees it incomplete, since the head
// announced a length or chunks that never end, and the proxy never turns
// it into a whole answer of another length.
func (s *session) endRefusal(last []byte, why string) {
	if why != "" {
		s.sh.e.log.LogAttrs(bgCtx, slog.LevelWarn, "refusal body cut",
			attrSession(s.id), attrBackend(s.backendAddr()), slog.Int("status", int(s.status)),
			slog.Int64("body_bytes", s.hs.bodySent), slog.String("reason", why))
	}
	s.closeUpstream()
	s.sendAndLinger(last)
}
