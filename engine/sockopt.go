package engine

import (
	"time"

	"golang.org/x/sys/unix"
)

// keepAliveCount is how many unanswered keepalive probes declare a peer dead.
const keepAliveCount = 4

// keepAliveInterval is the gap between probes once the idle time has passed.
func keepAliveInterval(idle time.Duration) time.Duration {
	iv := idle / 4
	if iv < time.Second {
		iv = time.Second
	}
	return iv
}

// setKeepAlive turns on TCP keepalive and TCP_USER_TIMEOUT for an accepted
// socket, so that a client that vanished behind a NAT does not hold two
// descriptors forever when idle = 0. idle <= 0 leaves the socket alone.
// Errors are ignored: the socket works without them.
func setKeepAlive(fd int, idle time.Duration) {
	if idle <= 0 {
		return
	}
	_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_KEEPALIVE, 1)
	_ = setKeepAliveTimings(fd, idle)
	_ = setUserTimeout(fd, idle)
}

// setKeepAliveTimings sets the idle time, probe interval and probe count
// of keepalive for idle > 0.
func setKeepAliveTimings(fd int, idle time.Duration) error {
	for _, o := range [...]struct{ opt, v int }{
		{unix.TCP_KEEPIDLE, max(int(idle/time.Second), 1)},
		{unix.TCP_KEEPINTVL, int(keepAliveInterval(idle) / time.Second)},
		{unix.TCP_KEEPCNT, keepAliveCount},
	} {
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_TCP, o.opt, o.v); err != nil {
			return err
		}
	}
	return nil
}

// setUserTimeout sets TCP_USER_TIMEOUT to the time keepalive needs to give
// up, so that unacknowledged data toward a dead peer is bounded the same way
// (RFC 5482).
func setUserTimeout(fd int, idle time.Duration) error {
	if idle <= 0 {
		return nil
	}
	ut := idle + keepAliveInterval(idle)*keepAliveCount
	return unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_USER_TIMEOUT, int(ut/time.Millisecond))
}

// restoreKeepAlive sets the configuration's keepalive on a socket that
// net.FileConn gave Go's default one (a connect made on the loop, flow
// control's attach): keepalive is on already, so only its timings and
// TCP_USER_TIMEOUT when idle > 0; off otherwise.
func restoreKeepAlive(fd int, idle time.Duration) {
	if idle <= 0 {
		_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_KEEPALIVE, 0)
		return
	}
	_ = setKeepAliveTimings(fd, idle)
	_ = setUserTimeout(fd, idle)
}

// resetKeepAlive sets the configuration's keepalive on a socket whose
// keepalive may be on or off, with other timings: setKeepAlive's, or off
// when idle <= 0.
func resetKeepAlive(fd int, idle time.Duration) {
	if idle <= 0 {
		_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_KEEPALIVE, 0)
		return
	}
	setKeepAlive(fd, idle)
}

// Accepted sockets inherit SO_KEEPALIVE, TCP_KEEPIDLE, TCP_KEEPINTVL and
// TCP_KEEPCNT from their listener (TCP_USER_TIMEOUT they do not: checked on
// Linux 6.18), so setting them once on gnet's listening sockets saves four
// setsockopt calls per accepted connection. gnet sets none of them on its
// listeners, so the engine finds the sockets itself (reuseport.Listeners).
//
// Each loop sets them, on every listener of every address, in its first
// OnOpen (meet), and only then marks its shard: a socket that loop accepts
// after that came from a listener that carries the values, and one it
// accepted before was admitted before (accept and OnOpen are one step of
// the loop), with the full set. A reload that changes tcp_keepalive does
// not touch the listeners; it makes every later accept set its own
// (Engine.keepAliveChanged).

// inheritKeepAlive sets the snapshot's keepalive on every listening socket
// of the engine and marks the shard. It runs on sh's loop. A socket it
// could not reach leaves the shard unmarked.
func (sh *shard) inheritKeepAlive() {
	idle := sh.e.snap.Load().keepAlive
	for _, a := range sh.e.addresses() {
		fds, err := listenerSockets(a)
		if err != nil || len(fds) == 0 {
			return
		}
		ok := true
		for _, fd := range fds {
			ok = setListenerKeepAlive(fd, idle) == nil && ok
			_ = unix.Close(fd)
		}
		if !ok {
			return
		}
	}
	sh.listenerKeepAlive, sh.keepAliveInherited = idle, true
}

// setListenerKeepAlive sets the keepalive options accepted sockets inherit
// on the listening socket fd: setKeepAlive's but TCP_USER_TIMEOUT, or
// keepalive off for idle <= 0.
func setListenerKeepAlive(fd int, idle time.Duration) error {
	if idle <= 0 {
		return unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_KEEPALIVE, 0)
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_KEEPALIVE, 1); err != nil {
		return err
	}
	return setKeepAliveTimings(fd, idle)
}
