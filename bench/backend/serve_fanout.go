package backend

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"

	"github.com/gobwas/ws"
	"github.com/panjf2000/gnet/v2"

	"github.com/throngproxy/throng/bench/wsframe"
)

// ModeFanout is the Mode that relays every data message a connection
// sends to every other open connection with the same request path (the query
// is ignored); the sender does not get its own message back. Fanout runs on
// one event loop, so that every subscriber list is touched by one goroutine
// and a message is written to each subscriber directly, without copies or
// cross-loop hand-offs.
const ModeFanout = "fanout"

// Fanout limits.
const (
	// defaultFanoutBufferLimit is Config.FanoutBufferLimit's default.
	defaultFanoutBufferLimit = 4 << 20
	// serveFanoutMaxMessage bounds a relayed message's payload (16 MiB, as
	// the load generators' messages); a longer one is refused with 1009.
	serveFanoutMaxMessage = 16 << 20
	// serveFanoutKeepBytes is the largest reassembly buffer a connection
	// keeps between fragmented messages.
	serveFanoutKeepBytes = 64 << 10
	// serveFanoutRoom is the space kept free before a reassembled message's
	// payload for its frame header.
	serveFanoutRoom = 10
)

// ErrFanoutLoops is returned for a fanout server with more than one
// event loop. It wraps ErrBadLoops.
var ErrFanoutLoops = fmt.Errorf("%w (fanout mode: 0 or 1)", ErrBadLoops)

// Prebuilt Close frames of the fanout server (RFC 6455 §7.4.1). Read-only.
var (
	serveClose1009 = []byte{0x80 | byte(ws.OpClose), 2, 0x03, 0xf1} // message too big
	serveClose1013 = []byte{0x80 | byte(ws.OpClose), 2, 0x03, 0xf5} // try again later: slow subscriber
)

// serveFanCloseFor returns the prebuilt Close frame answering err, a
// *wsframe.Error from serveFanin.next: 1009 for a message over the limit,
// 1002 for anything else.
func serveFanCloseFor(err error) []byte {
	// The errors are wsframe's preallocated values: comparing spares the
	// allocation errors.As's target would cost.
	if err == wsframe.ErrTooLong {
		return serveClose1009
	}
	return serveClose1002
}

// serveFanEvent is what serveFanin.next stopped on.
type serveFanEvent uint8

const (
	serveFanNeedMore serveFanEvent = iota // p holds no whole frame: nothing consumed
	serveFanSkip                          // a frame was consumed with nothing to do (Pong, fragment)
	serveFanMessage                       // a whole data message, as one unmasked frame, is in out
	serveFanPing                          // a Ping; out is its unmasked payload
	serveFanClose                         // a Close; out is its unmasked payload
)

// String returns the event's name.
func (e serveFanEvent) String() string {
	switch e {
	case serveFanNeedMore:
		return "need_more"
	case serveFanSkip:
		return "skip"
	case serveFanMessage:
		return "message"
	case serveFanPing:
		return "ping"
	case serveFanClose:
		return "close"
	default:
		return "unknown"
	}
}

// serveFanin reads one client's frames for the fanout server: it waits for
// whole frames (gnet keeps partial ones), unmasks them in place and turns
// each data message into one unmasked frame ready to relay. A fragmented
// message is reassembled in its own buffer (allocated then); a message in a
// single frame is relayed in place, with no copy. It is not safe for
// concurrent use.
type serveFanin struct {
	msg  []byte    // reassembly: serveFanoutRoom free bytes, then the payload so far
	op   ws.OpCode // opcode of the message being reassembled
	open bool      // a fragmented message is open
	need int       // after serveFanNeedMore: bytes p must hold for progress
}

// next consumes the whole frame at the start of p, if there is one, and says
// what it was. It unmasks the frame in p in place, so the caller must own p.
// out lives until the next call or until p is reused. A frame that is not a
// whole one (n == 0, serveFanNeedMore) is left untouched and f.need says how
// many bytes p must hold for it. An error is a *wsframe.Error carrying the
// close code. It does not allocate, except to reassemble fragments.
func (f *serveFanin) next(p []byte) (n int, ev serveFanEvent, out []byte, err error) {
	h, hn, err := wsframe.ParseHeader(p, true, serveFanoutMaxMessage)
	if err != nil {
		return 0, serveFanNeedMore, nil, err
	}
	if hn == 0 {
		f.need = len(p) + 1
		return 0, serveFanNeedMore, nil, nil
	}
	end := hn + int(h.Length)
	if len(p) < end {
		f.need = end
		return 0, serveFanNeedMore, nil, nil
	}
	f.need = 0
	payload := p[hn:end]
	mask := wsframe.Mask(p, hn)
	switch h.OpCode {
	case ws.OpPing:
		ws.Cipher(payload, mask, 0)
		return end, serveFanPing, payload, nil
	case ws.OpPong:
		return end, serveFanSkip, nil, nil
	case ws.OpClose:
		ws.Cipher(payload, mask, 0)
		return end, serveFanClose, payload, nil
	case ws.OpContinuation:
		if !f.open {
			return 0, serveFanNeedMore, nil, wsframe.ErrUnexpectedContinuation
		}
		if int64(len(f.msg)-serveFanoutRoom)+h.Length > serveFanoutMaxMessage {
			return 0, serveFanNeedMore, nil, wsframe.ErrTooLong
		}
		ws.Cipher(payload, mask, 0)
		f.msg = append(f.msg, payload...)
		if !h.Fin {
			return end, serveFanSkip, nil, nil
		}
		f.open = false
		return end, serveFanMessage, f.frame(), nil
	}
	if f.open {
		return 0, serveFanNeedMore, nil, wsframe.ErrExpectedContinuation
	}
	ws.Cipher(payload, mask, 0)
	if !h.Fin {
		if cap(f.msg) > serveFanoutKeepBytes {
			f.msg = nil
		}
		var room [serveFanoutRoom]byte
		f.msg = append(append(f.msg[:0], room[:]...), payload...)
		f.open, f.op = true, h.OpCode
		return end, serveFanSkip, nil, nil
	}
	// The unmasked header is at least 4 bytes shorter than the masked one
	// (the key): write it over the masked header's tail, before the payload.
	k := wsframe.HeaderSize(h.Length)
	wsframe.PutHeader(p[hn-k:hn-k], true, h.OpCode, h.Length)
	return end, serveFanMessage, p[hn-k : end], nil
}

// frame writes the header of the reassembled message before its payload and
// returns the whole frame.
func (f *serveFanin) frame() []byte {
	n := int64(len(f.msg) - serveFanoutRoom)
	k := wsframe.HeaderSize(n)
	wsframe.PutHeader(f.msg[serveFanoutRoom-k:serveFanoutRoom-k], true, f.op, n)
	return f.msg[serveFanoutRoom-k:]
}

// serveTopic is the connections open on one request path, in no order.
type serveTopic struct {
	path string
	subs []*serveConn
}

// serveFanoutConn is a fanout connection's state, allocated when it is
// upgraded. Touched on the loop only.
type serveFanoutConn struct {
	in    serveFanin
	conn  gnet.Conn   // the connection, while it is in topic
	topic *serveTopic // nil once it left
	idx   int         // its index in topic.subs
	ctrl  [2 + ws.MaxControlFramePayloadSize]byte
}

// serveFanout is the fanout server's state. It lives on the server's one
// event loop: no lock.
type serveFanout struct {
	limit  int                    // FanoutBufferLimit
	topics map[string]*serveTopic // by path
	log    *slog.Logger
}

// serveRequestPath returns the path of the request line at the start of
// head ("GET /path?query HTTP/1.1"), without the query. It does not
// allocate; the slice points into head.
func serveRequestPath(head []byte) []byte {
	line, _, _ := bytes.Cut(head, []byte("\r\n"))
	_, target, _ := bytes.Cut(line, []byte(" "))
	target, _, _ = bytes.Cut(target, []byte(" "))
	target, _, _ = bytes.Cut(target, []byte("?"))
	return target
}

// join adds the upgraded connection c, whose request head is head, to the
// topic of its path.
func (f *serveFanout) join(c gnet.Conn, s *serveConn, head []byte) {
	path := serveRequestPath(head)
	t := f.topics[string(path)]
	if t == nil {
		t = &serveTopic{path: string(path)}
		f.topics[t.path] = t
	}
	s.fan = &serveFanoutConn{conn: c, topic: t, idx: len(t.subs)}
	t.subs = append(t.subs, s)
}

// leave removes s from its topic, if it is in one, and drops an empty topic.
func (f *serveFanout) leave(s *serveConn) {
	if s.fan == nil || s.fan.topic == nil {
		return
	}
	t := s.fan.topic
	last := len(t.subs) - 1
	moved := t.subs[last]
	t.subs[s.fan.idx] = moved
	moved.fan.idx = s.fan.idx
	t.subs[last] = nil
	t.subs = t.subs[:last]
	s.fan.topic, s.fan.conn = nil, nil
	if len(t.subs) == 0 {
		delete(f.topics, t.path)
	}
}

// publish writes frame to every connection of sender's topic but sender. A
// subscriber whose gnet outbound buffer then holds more than the limit is
// dropped. A failed write closes the subscriber inside Write (its OnClose
// leaves the topic), so the list may shrink while it is walked.
func (f *serveFanout) publish(sender *serveConn, frame []byte) {
	t := sender.fan.topic
	for i := 0; i < len(t.subs); {
		sub := t.subs[i]
		if sub != sender {
			c := sub.fan.conn
			if _, err := c.Write(frame); err == nil && c.OutboundBuffered() > f.limit {
				f.dropSlow(sub)
			}
		}
		if i < len(t.subs) && t.subs[i] == sub {
			i++
		} // else sub left and another took its place
	}
}

// dropSlow removes a subscriber that does not keep up from its topic and
// sends it Close 1013 behind what is queued; its own OnTraffic (woken now,
// then by the ticker) closes it once that drained or after
// serveLingerTimeout, dropping the rest: memory stays bounded.
func (f *serveFanout) dropSlow(s *serveConn) {
	c := s.fan.conn
	queued := c.OutboundBuffered()
	path := s.fan.topic.path
	f.leave(s)
	s.state = serveStateClosing
	if _, err := c.Write(serveClose1013); err != nil {
		return // gnet closed c
	}
	_ = c.Wake(nil)
	f.log.LogAttrs(context.Background(), slog.LevelInfo, "slow subscriber dropped",
		slog.String("route", path), slog.Int("queued_bytes", queued))
}

// fanout serves an upgraded connection in fanout mode: data messages go to
// the rest of its topic, Pings are answered, a Close is answered and ends
// it, a protocol error is answered with Close 1002 (1009 for a message over
// 16 MiB).
func (srv *serveServer) fanout(c gnet.Conn, s *serveConn) gnet.Action {
	if c.InboundBuffered() < s.fan.in.need {
		return gnet.None // the frame is still incomplete: don't copy it again
	}
	p, err := c.Peek(-1)
	if err != nil || len(p) == 0 {
		return gnet.None
	}
	r := 0
	for r < len(p) {
		n, ev, out, err := s.fan.in.next(p[r:])
		r += n
		if err != nil {
			return srv.fanoutEnd(c, s, serveFanCloseFor(err))
		}
		switch ev {
		case serveFanNeedMore:
			if r > 0 { // Discard(0) would drop everything
				_, _ = c.Discard(r)
			}
			return gnet.None
		case serveFanMessage:
			srv.fan.publish(s, out)
		case serveFanPing:
			k := wsframe.PutHeader(s.fan.ctrl[:0], true, ws.OpPong, int64(len(out)))
			k += copy(s.fan.ctrl[k:], out)
			if _, err := c.Write(s.fan.ctrl[:k]); err != nil {
				return gnet.None // gnet closed c
			}
		case serveFanClose:
			return srv.fanoutEnd(c, s, s.fan.closeAnswer(out))
		}
	}
	_, _ = c.Discard(r)
	return gnet.None
}

// closeAnswer returns the Close that answers a client's Close payload: the
// same status code without the reason, none for none, 1002 for an invalid
// one (RFC 6455 §5.5.1, §7.4).
func (fc *serveFanoutConn) closeAnswer(payload []byte) []byte {
	switch {
	case len(payload) == 0:
		return append(fc.ctrl[:0], 0x80|byte(ws.OpClose), 0)
	case len(payload) == 1 || !serveValidClose(payload):
		return serveClose1002
	}
	return append(fc.ctrl[:0], 0x80|byte(ws.OpClose), 2, payload[0], payload[1])
}

// fanoutEnd leaves the topic, drops the rest of the input, sends close and
// lingers until it is delivered. answer is the Close frame to send.
func (srv *serveServer) fanoutEnd(c gnet.Conn, s *serveConn, answer []byte) gnet.Action {
	srv.fan.leave(s)
	_, _ = c.Discard(-1)
	s.state = serveStateClosing
	if _, err := c.Write(answer); err != nil {
		return gnet.None // gnet closed c
	}
	return srv.linger(c, s)
}
