package reuseport

import (
	"context"
	"errors"
	"fmt"
	"net"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// ErrInUse is returned by Listen when another process already accepts
// connections on the address and sharing was not asked for.
var ErrInUse = errors.New("address already in use")

// InUse reports whether something accepts TCP connections on addr; a
// wildcard host is tried on loopback.
func InUse(addr string) (bool, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return false, fmt.Errorf("reuseport: %q: %w", addr, err)
	}
	switch host {
	case "", "0.0.0.0":
		host = "127.0.0.1"
	case "::":
		host = "::1"
	}
	c, err := net.DialTimeout("tcp", net.JoinHostPort(host, port), 300*time.Millisecond)
	if err != nil {
		return false, nil
	}
	_ = c.Close()
	return true, nil
}

// Listen listens on addr with SO_REUSEPORT, so that a successor can share
// the address later. Unless share is set it fails with ErrInUse when
// another process already serves addr; with share it joins that process's
// reuseport group (SteerListener then takes the group's new connections).
func Listen(ctx context.Context, addr string, share bool) (net.Listener, error) {
	if !share {
		used, err := InUse(addr)
		if err != nil {
			return nil, err
		}
		if used {
			return nil, fmt.Errorf("listen %s: %w", addr, ErrInUse)
		}
	}
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) {
			serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
		})
		return errors.Join(err, serr)
	}}
	// A sockarray takes TCP sockets only, and Go listens with MPTCP by
	// default where the kernel has it.
	lc.SetMultipathTCP(false)
	return lc.Listen(ctx, "tcp", addr)
}

// SteerListener steers the reuseport group of ln, a listener from Listen,
// to ln alone.
func SteerListener(ln net.Listener) error {
	tl, ok := ln.(*net.TCPListener)
	if !ok {
		return fmt.Errorf("reuseport: %T is not a TCP listener", ln)
	}
	rc, err := tl.SyscallConn()
	if err != nil {
		return fmt.Errorf("reuseport: %w", err)
	}
	var steerErr error
	if err := rc.Control(func(fd uintptr) { steerErr = Steer([]int{int(fd)}) }); err != nil {
		return fmt.Errorf("reuseport: %w", err)
	}
	return steerErr
}
