package backend

import (
	"sync/atomic"
	"time"

	"github.com/panjf2000/gnet/v2"
	"golang.org/x/sys/unix"

	"github.com/throngproxy/throng/codec"
)

// serveState is where a served connection is in its life.
type serveState uint8

const (
	serveStateHead    serveState = iota // reading the upgrade request
	serveStateOpen                      // upgraded: serving frames
	serveStateClosing                   // Close sent: close once it drained
	serveStateRefused                   // HTTP refusal sent: drain, shut writes, wait for FIN
)

// String returns the state's name.
func (s serveState) String() string {
	switch s {
	case serveStateHead:
		return "head"
	case serveStateOpen:
		return "open"
	case serveStateClosing:
		return "closing"
	case serveStateRefused:
		return "refused"
	default:
		return "unknown"
	}
}

// serveConn is the state of one served connection, touched on its loop only
// (released excepted).
type serveConn struct {
	echo     serveEcho
	iov      [3][]byte         // send's Writev scratch
	timer    *time.Timer       // Delay timer, or nil
	deadline time.Time         // lingering: close by then
	scan     codec.HeadScanner // finds the end of the request head
	scanned  int               // head bytes scanned so far
	released atomic.Bool       // Delay elapsed; set by the timer goroutine
	state    serveState
	queued   bool // in serveServer.lingering
	shut     bool // writes shut down

	fan *serveFanoutConn // fanout mode, once upgraded (serve_fanout.go)
}

// send writes out in one call: Write for a bare body, Writev otherwise. An
// error means gnet closed c.
func (s *serveConn) send(c gnet.Conn, out *serveEchoOut) error {
	if len(out.lead) == 0 && len(out.tail) == 0 {
		_, err := c.Write(out.body)
		return err
	}
	iov := s.iov[:0]
	for _, b := range [...][]byte{out.lead, out.body, out.tail} {
		if len(b) > 0 {
			iov = append(iov, b)
		}
	}
	_, err := c.Writev(iov)
	clear(s.iov[:])
	return err
}

// serveShutdownWrite sends FIN on c after what is queued in the kernel.
func serveShutdownWrite(c gnet.Conn) error {
	return unix.Shutdown(c.Fd(), unix.SHUT_WR)
}
