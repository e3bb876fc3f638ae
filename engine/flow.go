package engine

// Flow control: a slow reader slows its sender down instead of costing the
// proxy memory or the session (docs/protocol.md, "Flow control";
// docs/gnet.md §3).
//
// Bytes toward a peer go straight to its socket with send(2). What the
// kernel does not take waits in the session's own queue (outQueue), never in
// gnet's: gnet drops a conn's queued output when the conn closes, and
// pausing a socket closes its gnet conn.
//
// Pausing: when the queue toward a peer passes the high watermark (half of
// limits.write_buffer_limit), the socket that feeds it is detached from its
// loop. Its descriptor is duplicated and OnTraffic returns gnet.Close, which
// gnet carries out at once: epoll_ctl(DEL) and close(2) of its own
// descriptor, no shutdown(2). The socket stays open and unpolled; the
// kernel's buffers fill and TCP's window stops the sender. Below the low
// watermark (a quarter) the socket is attached again: a dial worker wraps
// the descriptor in a net.Conn and EventLoop.Enroll puts it back on the
// session's loop, whose OnOpen hands it to the session. gnet can neither
// pause a socket's reads (gnet#712) nor say when a queue drained, so queues
// are flushed, watermarks checked and timeouts.write enforced by a poll
// every flowPollInterval, which runs only while some session has a backlog.

import (
	"time"
	"unsafe"

	"github.com/panjf2000/gnet/v2"
	"golang.org/x/sys/unix"
)

// side names one of a session's two sockets: the peer bytes go to.
type side uint8

const (
	toClient side = iota
	toUpstream
)

// other is the opposite side: the one feeding the bytes that go to d.
func (d side) other() side { return d ^ 1 }

// flowPollInterval is how often backlogged queues are flushed and their
// watermarks checked. A resumed socket refills the queue long before the
// quarter of write_buffer_limit left at the low watermark drains, so the
// poll's latency costs no throughput below about 1 GB/s per session.
const flowPollInterval = 2 * time.Millisecond

// maxFlowBackoff bounds how many polls a session whose peers accept nothing
// is skipped (about 64 ms): a stalled reader costs one send(2) per backoff,
// not one per poll.
const maxFlowBackoff = 32

// chunkSize is the unit queued bytes are kept in, so that a queue costs
// what it holds and not a doubling slice's spare capacity.
const chunkSize = 64 << 10

// maxFreeChunks bounds the chunks a shard keeps for reuse (2 MiB).
const maxFreeChunks = 32

// maxFreeFlows bounds a shard's free list of flow states.
const maxFreeFlows = 64

// maxIov bounds the chunks sent in one sendmsg(2).
const maxIov = 16

// flowState is the flow control of one session while it has a backlog or a
// detached socket. Shards recycle them.
type flowState struct {
	s     *session
	index int // place in the shard's flows

	q [2]outQueue // bytes waiting toward each side, behind gnet's queue
	// since is the tick at which each side last accepted a byte, or at
	// which its queue began: timeouts.write counts from it.
	since [2]int64

	// A side is attached (its gnet conn is the session's), detaching (its
	// conn is being closed by OnTraffic: detaching holds it), detached
	// (fd is its descriptor, unpolled) or attaching (attach holds the
	// worker's ticket).
	detaching [2]gnet.Conn
	detached  [2]bool
	fd        [2]int
	attach    [2]*attachTicket

	skip, backoff uint8 // polls to skip while nothing moves
}

// holds reports whether the side's socket is open but has no gnet conn of
// the session's: detached or being attached.
func (fs *flowState) holds(d side) bool { return fs.detached[d] || fs.attach[d] != nil }

// idle reports whether fs has nothing left to do.
func (fs *flowState) idle() bool {
	return fs.q[0].n == 0 && fs.q[1].n == 0 && !fs.holds(0) && !fs.holds(1) &&
		fs.detaching[0] == nil && fs.detaching[1] == nil
}

// outQueue is a FIFO of bytes in chunks of chunkSize.
type outQueue struct {
	chunks [][]byte // chunks[0][off:] goes next; only the last is partly filled
	off    int
	n      int // bytes queued
}

// push appends p.
func (q *outQueue) push(sh *shard, p []byte) {
	for len(p) > 0 {
		k := len(q.chunks) - 1
		if k < 0 || len(q.chunks[k]) == cap(q.chunks[k]) {
			q.chunks = append(q.chunks, sh.chunk())
			k++
		}
		c := q.chunks[k]
		m := copy(c[len(c):cap(c)], p)
		q.chunks[k] = c[:len(c)+m]
		q.n += m
		p = p[m:]
	}
}

// consume drops the first m queued bytes, returning emptied chunks to sh.
func (q *outQueue) consume(sh *shard, m int) {
	q.n -= m
	for m > 0 {
		c := q.chunks[0][q.off:]
		if m < len(c) {
			q.off += m
			return
		}
		m -= len(c)
		sh.putChunk(q.chunks[0])
		copy(q.chunks, q.chunks[1:])
		q.chunks[len(q.chunks)-1] = nil
		q.chunks = q.chunks[:len(q.chunks)-1]
		q.off = 0
	}
	if q.n == 0 && len(q.chunks) == 1 {
		sh.putChunk(q.chunks[0])
		q.chunks[0] = nil
		q.chunks = q.chunks[:0]
	}
}

// reset drops everything queued.
func (q *outQueue) reset(sh *shard) {
	for i, c := range q.chunks {
		sh.putChunk(c)
		q.chunks[i] = nil
	}
	q.chunks, q.off, q.n = q.chunks[:0], 0, 0
}

// chunk returns an empty chunk.
func (sh *shard) chunk() []byte {
	if n := len(sh.chunks); n > 0 {
		c := sh.chunks[n-1]
		sh.chunks[n-1] = nil
		sh.chunks = sh.chunks[:n-1]
		return c
	}
	return make([]byte, 0, chunkSize)
}

// putChunk keeps c for reuse while the free list has room.
func (sh *shard) putChunk(c []byte) {
	if len(sh.chunks) < maxFreeChunks {
		sh.chunks = append(sh.chunks, c[:0])
	}
}

// conn returns the session's gnet conn for d, nil when it has none.
func (s *session) conn(d side) gnet.Conn {
	if d == toClient {
		return s.client
	}
	return s.upstream
}

// setConn sets the session's gnet conn for d.
func (s *session) setConn(d side, c gnet.Conn) {
	if d == toClient {
		s.client = c
	} else {
		s.upstream = c
	}
}

// present reports whether d's socket is open: attached, or held by flow
// control.
func (s *session) present(d side) bool {
	return s.conn(d) != nil || s.flow != nil && s.flow.holds(d)
}

// queued counts the bytes waiting toward d: gnet's queue and the session's.
func (s *session) queued(d side) int {
	n := 0
	if c := s.conn(d); c != nil {
		n = c.OutboundBuffered()
	}
	if s.flow != nil {
		n += s.flow.q[d].n
	}
	return n
}

// send writes held (a frame header completed across reads) and then p
// toward d, in order behind whatever waits for it. The kernel gets them at
// once when nothing waits; what it does not take is queued. The test for
// the common case, no flow state and nothing in gnet's queue, is kept
// small enough to inline into the relay.
func (s *session) send(d side, held, p []byte) {
	if len(held)+len(p) == 0 {
		return
	}
	if s.flow == nil {
		if c := s.conn(d); c != nil && c.OutboundBuffered() == 0 {
			if n, errno := s.sh.sendPair(c.Fd(), held, p); errno != 0 || n < len(held)+len(p) {
				s.sendRest(d, held, p, n, errno)
			}
			return
		}
	}
	s.sendQueued(d, held, p)
}

// sendFrames writes frames toward d in order: in one sendmsg(2) when
// nothing waits for d, so that a fan-out loop that fell behind hands a
// subscriber every frame it has for it in one system call rather than one
// per frame. At most maxIov frames; otherwise as send for each.
func (s *session) sendFrames(d side, frames [][]byte) {
	c := s.conn(d)
	if len(frames) == 1 || len(frames) > maxIov || s.flow != nil || c == nil || c.OutboundBuffered() != 0 {
		for _, f := range frames {
			s.send(d, nil, f)
		}
		return
	}
	n, errno := s.sh.sendSlices(c.Fd(), frames, 0)
	if errno != 0 && errno != unix.EAGAIN {
		// Each frame to gnet's Write, as send would: the first meets the
		// error and closes the conn. Not Writev: on a partial write gnet
		// reslices the caller's slices, which are every subscriber's.
		for _, f := range frames {
			if s.conn(d) != c {
				break
			}
			s.sendFailed(d, nil, f)
		}
		return
	}
	for _, f := range frames {
		if n >= len(f) {
			n -= len(f)
			continue
		}
		s.enqueue(d, nil, f[n:])
		n = 0
	}
}

// sendTo writes held and p to fd, d's socket with nothing waiting for it,
// and queues what the kernel does not take.
func (s *session) sendTo(d side, fd int, held, p []byte) {
	n, errno := s.sh.sendPair(fd, held, p)
	s.sendRest(d, held, p, n, errno)
}

// sendRest handles the end of a send of held and p of which the kernel
// took n bytes: the rest is queued, or on a hard error handed to
// sendFailed.
func (s *session) sendRest(d side, held, p []byte, n int, errno unix.Errno) {
	if errno != 0 && errno != unix.EAGAIN {
		s.sendFailed(d, held, p)
		return
	}
	if held, p = advance(held, p, n); len(held)+len(p) > 0 {
		s.enqueue(d, held, p)
	}
}

// sendQueued is send when d has a flow state or gnet holds bytes for it.
func (s *session) sendQueued(d side, held, p []byte) {
	if !s.present(d) {
		return
	}
	if s.flow == nil || s.flow.q[d].n == 0 {
		if fd, ok := s.directFD(d); ok {
			s.sendTo(d, fd, held, p)
			return
		}
	}
	s.enqueue(d, held, p)
}

// enqueue queues held and p toward d, behind what waits already.
func (s *session) enqueue(d side, held, p []byte) {
	fs := s.startFlow()
	q := &fs.q[d]
	if q.n == 0 {
		fs.since[d] = s.sh.now()
	}
	q.push(s.sh, held)
	q.push(s.sh, p)
	fs.skip, fs.backoff = 0, 0
}

// advance drops the first n bytes of held then p.
func advance(held, p []byte, n int) ([]byte, []byte) {
	if n >= len(held) {
		return nil, p[n-len(held):]
	}
	return held[n:], p
}

// directFD returns the descriptor bytes toward d may be written to now:
// the attached conn's while gnet queues nothing for it (whatever it holds,
// from the handshake, goes first), or the detached socket's.
func (s *session) directFD(d side) (int, bool) {
	if c := s.conn(d); c != nil {
		if s.flow != nil && s.flow.detaching[d] == c {
			return s.flow.fd[d], true
		}
		return c.Fd(), c.OutboundBuffered() == 0
	}
	if s.flow != nil && s.flow.detached[d] {
		return s.flow.fd[d], true
	}
	return 0, false
}

// sendFailed handles a write toward d that the kernel refused (the peer
// reset or went away). An attached conn gets the bytes through gnet's
// Write, which meets the same error and closes the conn as it always has,
// OnClose included. A detached socket is closed here, with the same
// consequence.
func (s *session) sendFailed(d side, held, p []byte) {
	if c := s.conn(d); c != nil && (s.flow == nil || s.flow.detaching[d] != c) {
		if len(held) == 0 {
			_, _ = c.Write(p)
			return
		}
		iov := &s.sh.iov
		iov[0], iov[1] = held, p
		_, _ = c.Writev(iov[:])
		iov[0], iov[1] = nil, nil
		return
	}
	s.dropHeld(d)
}

// sendPair writes held and p to fd in one system call: send(2), or
// sendmsg(2) when both are present. It is raw (the socket is non-blocking,
// and the runtime's bookkeeping for calls that may block is overhead on
// the relay's hottest path) and uses MSG_NOSIGNAL, so that a peer that
// reset costs no SIGPIPE. send(2) rather than gnet's write(2) skips the
// VFS path (fdget_pos, rw_verify_area, vfs_write).
func (sh *shard) sendPair(fd int, held, p []byte) (int, unix.Errno) {
	if len(held) == 0 {
		n, _, errno := unix.RawSyscall6(unix.SYS_SENDTO, uintptr(fd), uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)),
			unix.MSG_NOSIGNAL, 0, 0)
		if errno != 0 {
			return 0, errno
		}
		return int(n), 0
	}
	sh.iovs[0].Base, sh.iovs[0].Len = &held[0], uint64(len(held))
	k := 1
	if len(p) > 0 {
		sh.iovs[1].Base, sh.iovs[1].Len = &p[0], uint64(len(p))
		k = 2
	}
	return sh.sendIovs(fd, k)
}

// sendQueue writes the head of q to fd in one sendmsg(2).
func (sh *shard) sendQueue(fd int, q *outQueue) (int, unix.Errno) {
	return sh.sendSlices(fd, q.chunks, q.off)
}

// sendSlices writes bufs (the first from off on) to fd in one sendmsg(2),
// as many of them as maxIov allows; empty ones are skipped.
func (sh *shard) sendSlices(fd int, bufs [][]byte, off int) (int, unix.Errno) {
	k := 0
	for i, c := range bufs {
		if k == maxIov {
			break
		}
		if i == 0 {
			c = c[off:]
		}
		if len(c) == 0 {
			continue
		}
		sh.iovs[k].Base, sh.iovs[k].Len = &c[0], uint64(len(c))
		k++
	}
	if k == 0 {
		return 0, 0
	}
	return sh.sendIovs(fd, k)
}

// sendIovs sends the shard's first k iovecs to fd, then forgets them.
func (sh *shard) sendIovs(fd, k int) (int, unix.Errno) {
	sh.msg.Iov, sh.msg.Iovlen = &sh.iovs[0], uint64(k)
	n, _, errno := unix.RawSyscall(unix.SYS_SENDMSG, uintptr(fd), uintptr(unsafe.Pointer(&sh.msg)), unix.MSG_NOSIGNAL)
	for i := range k {
		sh.iovs[i].Base = nil
	}
	sh.msg.Iov = nil
	if errno != 0 {
		return 0, errno
	}
	return int(n), 0
}
