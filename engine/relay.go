package engine

import (
	"errors"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/gobwas/ws"
	"github.com/panjf2000/gnet/v2"

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
	src, failed, closedTo := &s.u2c, flagUpstreamFailed, flagClosedToClient
	count, total, since := &s.bytesU2C, &s.sh.stats.bytesU2C, &s.u2cSince
	if fromClient {
		src, failed, closedTo = &s.c2u, flagClientFailed, flagClosedToUpstream
		count, total, since = &s.bytesC2U, &s.sh.stats.bytesC2U, &s.c2uSince
	}
	if s.flags&failed != 0 || src.CloseSeen() {
		return 0
	}
	s.lastActive = s.sh.now()
	before := frameAt(src)
	held, n, err := src.Scan(p)
	if src.ClosePending() {
		// A Close goes out only whole and checked: gnet keeps its bytes.
		keep = len(p) - n
	}
	s.trackMidFrame(since, src, before)
	if dst := s.peer(fromClient); dst != nil && s.flags&closedTo == 0 {
		s.write(dst, held, p[:n])
		sent := uint64(len(held) + n)
		*count += sent
		// The loop is the counter's only writer: a plain store of the sum
		// is enough for scrapers and avoids a locked add per read.
		total.Store(total.Load() + sent)
	}
	if err != nil {
		s.protocolError(fromClient, err)
		return 0
	}
	if src.CloseSeen() {
		s.flags |= closedTo
		s.beginClosing()
	}
	// Read the peer again: a failed write closes it inside Write. Once a
	// Close went that way the queue is the peer's last words: let it drain.
	if dst := s.peer(fromClient); dst != nil && s.flags&closedTo == 0 &&
		dst.OutboundBuffered() > int(s.snap.writeBufferLimit) {
		s.slowConsumer(fromClient)
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

// peer returns the socket that bytes from the client (fromClient) or from
// the backend go to, nil once it is closed.
func (s *session) peer(fromClient bool) gnet.Conn {
	if fromClient {
		return s.upstream
	}
	return s.client
}

// write sends held (a frame header completed across reads) and then p, in
// one system call when both are present.
func (s *session) write(dst gnet.Conn, held, p []byte) {
	if len(held) > 0 {
		iov := &s.sh.iov
		iov[0], iov[1] = held, p
		_, _ = dst.Writev(iov[:])
		iov[0], iov[1] = nil, nil
		return
	}
	if len(p) > 0 {
		writeFast(dst, p)
	}
}

// writeFast writes p to a peer on this loop. When nothing is queued it
// sends straight to the socket: send(2) rather than gnet's write(2), which
// takes the VFS path (fdget_pos, rw_verify_area, vfs_write) before reaching
// the socket, and as a raw system call, because the socket is non-blocking
// and the runtime's bookkeeping for calls that may block is pure overhead
// on the relay's hottest path. MSG_NOSIGNAL spares a SIGPIPE on a peer that
// reset. Whatever the kernel did not take, and every error, goes through
// gnet's Write, which queues the rest behind EPOLLOUT or closes the conn
// exactly as it would have.
func writeFast(dst gnet.Conn, p []byte) {
	if dst.OutboundBuffered() == 0 {
		n, _, errno := unix.RawSyscall6(unix.SYS_SENDTO, uintptr(dst.Fd()), uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)),
			unix.MSG_NOSIGNAL, 0, 0)
		if errno == 0 {
			if int(n) == len(p) {
				return
			}
			p = p[n:]
		}
	}
	_, _ = dst.Write(p)
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
		s.sendClose(false, code, s.u2c.AtBoundary())
		// The client's stream stopped before the offending header, so the
		// backend's input ends at a frame boundary.
		s.sendClose(true, statusGoingAway, true)
	} else {
		s.flags |= flagUpstreamFailed
		s.sendClose(true, code, s.c2u.AtBoundary())
		s.sendClose(false, statusGoingAway, true)
	}
	s.beginClosing()
	s.pollClosing()
}

// slowConsumer ends a session whose receiver (the backend when toUpstream)
// did not keep up: its queue passed write_buffer_limit. gnet cannot pause
// reads, so the alternative would be unbounded memory.
func (s *session) slowConsumer(toUpstream bool) {
	s.sh.stats.slowConsumer.Add(1)
	if toUpstream {
		s.flags |= flagUpstreamDrop | flagClosedToUpstream
		s.sendClose(false, codec.StatusTryAgainLater, s.u2c.AtBoundary())
	} else {
		s.flags |= flagClientDrop | flagClosedToClient
		s.sendClose(true, codec.StatusTryAgainLater, s.c2u.AtBoundary())
	}
	s.beginClosing()
	s.pollClosing()
}

// goAway closes an open session on the proxy's initiative (idle timeout,
// drain): code toward the client, 1001 toward the backend.
func (s *session) goAway(code ws.StatusCode) {
	s.sendClose(false, code, s.u2c.AtBoundary())
	s.sendClose(true, statusGoingAway, s.c2u.AtBoundary())
	s.beginClosing()
	s.pollClosing()
}

// sendClose injects a Close frame toward the client or the backend, once.
// A Close may only start at a frame boundary of what the receiver has been
// sent so far; when the receiver is mid-frame its connection is dropped
// instead.
func (s *session) sendClose(toUpstream bool, code ws.StatusCode, atBoundary bool) {
	if toUpstream {
		c := s.upstream
		if c == nil || s.flags&flagClosedToUpstream != 0 {
			return
		}
		s.flags |= flagClosedToUpstream
		if !atBoundary {
			s.flags |= flagUpstreamDrop
			return
		}
		_, _ = c.Write(s.sh.closeFrame(true, code))
		return
	}
	c := s.client
	if c == nil || s.flags&flagClosedToClient != 0 {
		return
	}
	s.flags |= flagClosedToClient
	s.closeCode = uint16(code)
	if !atBoundary {
		s.flags |= flagClientDrop
		return
	}
	_, _ = c.Write(s.sh.closeFrame(false, code))
}
