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
	secs := int(idle / time.Second)
	if secs < 1 {
		secs = 1
	}
	_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_KEEPALIVE, 1)
	_ = unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_KEEPIDLE, secs)
	_ = unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_KEEPINTVL, int(keepAliveInterval(idle)/time.Second))
	_ = unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_KEEPCNT, keepAliveCount)
	_ = setUserTimeout(fd, idle)
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
// net.FileConn gave Go's default one (flow control's attach): setKeepAlive's
// when idle > 0, none otherwise.
func restoreKeepAlive(fd int, idle time.Duration) {
	if idle <= 0 {
		_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_KEEPALIVE, 0)
		return
	}
	setKeepAlive(fd, idle)
}
