package engine

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"syscall"
	"time"

	"github.com/panjf2000/gnet/v2"
	"golang.org/x/sys/unix"
)

// A plain TCP connect to a backend named by its IP address starts on the
// session's loop: a non-blocking connect(2), and when the kernel has
// already established the connection (a local backend: loopback finishes
// the three-way handshake inside the call) the socket is enrolled at once,
// from the loop. Only a connect still in progress goes to a dial worker,
// which waits for it in Go's poller. Handing every connect to a worker
// cost about four thread switches per handshake (loop to worker, the
// poller's wake-up, gnet's pool, back), each one a context switch on a
// loop's CPU; on the loop the handshake takes less than one
// (BENCHMARKS.md, "Where the CPU goes"; docs/gnet.md §1).

// errDialQueueFull: every dial worker is busy and the queue is full.
var errDialQueueFull = errors.New("engine: dial queue full")

// connectOnLoop starts j's connect to j.ap. It returns nil once the socket is
// enrolled on j.loop or handed to a worker; an error means no connect is
// under way (the socket is closed), and the caller reports it.
func (d *dialer) connectOnLoop(j dialJob) error {
	start := time.Now()
	family, sa := sockaddr(j.ap)
	fd, err := unix.Socket(family, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return dialError(j.addr, "socket", err)
	}
	if err := unix.Connect(fd, sa); err != nil && err != unix.EINPROGRESS {
		_ = unix.Close(fd)
		return dialError(j.addr, "connect", err)
	}
	switch connected, err := connectDone(fd); {
	case err != nil:
		_ = unix.Close(fd)
		return dialError(j.addr, "connect", err)
	case connected:
		d.connects.observe(time.Since(start))
		return d.enrollFD(j, fd)
	}
	j.connecting, j.fd, j.start = true, fd, start
	if !d.submit(j) {
		_ = unix.Close(fd)
		return errDialQueueFull
	}
	return nil
}

// sockaddr is ap as connect(2) takes it.
func sockaddr(ap netip.AddrPort) (int, unix.Sockaddr) {
	if a := ap.Addr(); a.Is4() || a.Is4In6() {
		return unix.AF_INET, &unix.SockaddrInet4{Port: int(ap.Port()), Addr: a.Unmap().As4()}
	}
	return unix.AF_INET6, &unix.SockaddrInet6{Port: int(ap.Port()), Addr: ap.Addr().As16()}
}

// connectDone reports whether the non-blocking connect on fd has
// finished: connected, failed (the error), or neither.
func connectDone(fd int) (bool, error) {
	if _, err := syscall.Getpeername(fd); err == nil { // unix.Getpeername adds a getsockopt(SO_PROTOCOL)
		return true, nil
	}
	v, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ERROR)
	if err != nil {
		return false, err
	}
	if v != 0 {
		return false, syscall.Errno(v)
	}
	return false, nil
}

// dialError words a failed connect to addr the way net.Dialer does.
func dialError(addr, call string, err error) error {
	return fmt.Errorf("dial tcp %s: %w", addr, os.NewSyscallError(call, err))
}

// enrollFD hands the connected socket fd to j's loop; fd is closed in
// every case (Enroll takes a duplicate). Called on the loop or by a
// worker. gnet enrols only a *net.TCPConn, which net.FileConn makes.
func (d *dialer) enrollFD(j dialJob, fd int) error {
	// os.NewFile would register a non-blocking descriptor with Go's
	// poller, and the Close below take it out again: made blocking, it
	// skips both. net.FileConn makes its duplicate, and so the socket,
	// non-blocking again.
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_SETFL, unix.O_RDWR); err != nil {
		_ = unix.Close(fd)
		return fmt.Errorf("engine: backend socket: %w", err)
	}
	f := os.NewFile(uintptr(fd), "backend")
	nc, err := net.FileConn(f) // a descriptor of its own
	_ = f.Close()
	if err != nil {
		return fmt.Errorf("engine: backend socket: %w", err)
	}
	if sc, ok := nc.(syscall.Conn); ok {
		// net.FileConn turned on Go's default keepalive: put back the
		// configuration's.
		if rc, err := sc.SyscallConn(); err == nil {
			_ = rc.Control(func(fd uintptr) { restoreKeepAlive(int(fd), j.keepAlive) })
		}
	}
	// OnOpen attaches the socket to the session, as for a worker's dial.
	// The result channel tells no more than OnOpen does (gnet sends a
	// result whether or not its registration ran, docs/gnet.md §1), so
	// the loop does not wait for it.
	if _, err := j.loop.Enroll(gnet.NewContext(d.ctx, j.s), nc); err != nil {
		_ = nc.Close()
		return fmt.Errorf("engine: enroll backend socket: %w", err)
	}
	return nil
}

// finishConnect runs on a worker for a connect the loop started and the
// kernel had not finished: it waits in Go's poller until the socket is
// writable, within the connect timeout, then enrolls it like the loop
// would have. It reports a failure to the loop.
func (d *dialer) finishConnect(j dialJob) {
	err := d.waitConnected(j)
	if err == nil {
		d.connects.observe(time.Since(j.start))
		err = d.enrollFD(j, j.fd)
	} else {
		_ = unix.Close(j.fd)
	}
	if err != nil {
		_ = j.loop.Execute(d.ctx, &dialResult{s: j.s, err: err})
	}
}

// waitConnected waits until the connect on j.fd ends, the connect timeout
// passes or the engine stops. j.fd stays open: os.File works on a
// duplicate so that closing it leaves j.fd alone.
func (d *dialer) waitConnected(j dialJob) error {
	dup, err := unix.FcntlInt(uintptr(j.fd), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return dialError(j.addr, "fcntl", err)
	}
	f := os.NewFile(uintptr(dup), "connecting") // non-blocking: Go polls it
	defer f.Close()
	if t := j.dialer.Timeout; t > 0 {
		_ = f.SetWriteDeadline(j.start.Add(t))
	}
	stop := context.AfterFunc(d.ctx, func() { _ = f.SetWriteDeadline(time.Unix(1, 0)) })
	defer stop()
	rc, err := f.SyscallConn()
	if err != nil {
		return dialError(j.addr, "connect", err)
	}
	var cerr error
	werr := rc.Write(func(fd uintptr) bool {
		var done bool
		done, cerr = connectDone(int(fd))
		return done || cerr != nil
	})
	switch {
	case cerr != nil:
		return dialError(j.addr, "connect", cerr)
	case errors.Is(werr, os.ErrDeadlineExceeded):
		if d.ctx.Err() != nil {
			return fmt.Errorf("dial tcp %s: %w", j.addr, d.ctx.Err())
		}
		return fmt.Errorf("dial tcp %s: i/o timeout: %w", j.addr, werr)
	case werr != nil:
		return dialError(j.addr, "connect", werr)
	}
	return nil
}
