package reuseport

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// ErrNoListener is returned by Listeners when this process has no
// listening socket bound to the address.
var ErrNoListener = errors.New("reuseport: no listening socket bound to the address")

// Listeners returns duplicates of this process's listening TCP sockets
// bound to addr, one per socket however many descriptors share it. The
// caller closes them. It finds them through /proc/self/fd: the event loops
// bind one socket per loop and name only the first (docs/gnet.md §8).
func Listeners(addr *net.TCPAddr) ([]int, error) {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return nil, fmt.Errorf("reuseport: %w", err)
	}
	var (
		fds  []int
		seen = map[uint64]bool{}
	)
	for _, ent := range ents {
		n, err := strconv.Atoi(ent.Name())
		if err != nil {
			continue
		}
		// Duplicate first: the descriptor may be closed and its number
		// reused while it is looked at; the duplicate pins the socket.
		fd, err := unix.FcntlInt(uintptr(n), unix.F_DUPFD_CLOEXEC, 0)
		if err != nil {
			continue
		}
		ino, ok := listenerOn(fd, addr)
		if !ok || seen[ino] {
			_ = unix.Close(fd)
			continue
		}
		seen[ino] = true
		fds = append(fds, fd)
	}
	if len(fds) == 0 {
		return nil, fmt.Errorf("%w %s", ErrNoListener, addr)
	}
	return fds, nil
}

// listenerOn reports whether fd is a listening TCP socket bound to addr,
// and the socket's inode, which tells duplicates apart.
func listenerOn(fd int, addr *net.TCPAddr) (uint64, bool) {
	var st unix.Stat_t
	if unix.Fstat(fd, &st) != nil || st.Mode&unix.S_IFMT != unix.S_IFSOCK {
		return 0, false
	}
	if v, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ACCEPTCONN); err != nil || v != 1 {
		return 0, false
	}
	if v, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_PROTOCOL); err != nil || v != unix.IPPROTO_TCP {
		return 0, false
	}
	sa, err := unix.Getsockname(fd)
	if err != nil {
		return 0, false
	}
	var (
		ip   net.IP
		port int
	)
	switch sa := sa.(type) {
	case *unix.SockaddrInet4:
		ip, port = net.IP(sa.Addr[:]), sa.Port
	case *unix.SockaddrInet6:
		ip, port = net.IP(sa.Addr[:]), sa.Port
	default:
		return 0, false
	}
	if port != addr.Port || !sameIP(ip, addr.IP, sa) {
		return 0, false
	}
	return st.Ino, true
}

// sameIP compares a bound address with a configured one. An empty
// configured host means the wildcard of the socket's family.
func sameIP(bound, want net.IP, sa unix.Sockaddr) bool {
	if len(want) == 0 {
		return bound.IsUnspecified()
	}
	if _, v6 := sa.(*unix.SockaddrInet6); v6 != (want.To4() == nil) {
		return false
	}
	return bound.Equal(want)
}
