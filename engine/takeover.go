package engine

import (
	"context"
	"fmt"
	"log/slog"
	"net"

	"golang.org/x/sys/unix"

	"github.com/throngproxy/throng/reuseport"
)

// A process started with -takeover shares its listening addresses with an
// older throng through SO_REUSEPORT. Once every loop has bound its socket
// it steers each address's new connections to its own sockets
// (package reuseport): the older process, still listening, gets no new
// client from then on, and what is still queued on its listeners when it
// exits moves here instead of being reset. That is the restart with no
// failed handshake (docs/operations.md "Reload, drain, restart").

// steerListeners steers every listening address to this process's sockets.
// A failure is logged and leaves the kernel's hash in place: the takeover
// still works, but the older process keeps getting new connections (which
// it refuses with 503 while draining) until it exits.
func (e *Engine) steerListeners() {
	for _, a := range e.addresses() {
		n, err := steerAddress(a)
		if err != nil {
			e.log.LogAttrs(context.Background(), slog.LevelWarn,
				"takeover: new connections are not steered to this process; the older one keeps getting some until it exits",
				slog.String("listen", a), attrErr(err))
			continue
		}
		lvl := slog.LevelInfo
		if n != e.loops {
			lvl = slog.LevelWarn // another socket of ours, or a loop without one
		}
		e.log.LogAttrs(context.Background(), lvl, "takeover: new connections steered to this process",
			slog.String("listen", a), slog.Int("sockets", n), slog.Int("loops", e.loops))
	}
}

// steerAddress steers addr's reuseport group to this process's listening
// sockets on it and returns how many there are.
func steerAddress(addr string) (int, error) {
	fds, err := listenerSockets(addr)
	if err != nil {
		return 0, err
	}
	defer func() {
		for _, fd := range fds {
			_ = unix.Close(fd)
		}
	}()
	return len(fds), reuseport.Steer(fds)
}

// listenerSockets returns duplicates of this process's listening sockets
// on addr; the caller closes them.
func listenerSockets(addr string) ([]int, error) {
	ta, err := net.ResolveTCPAddr("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("engine: listen %q: %w", addr, err)
	}
	return reuseport.Listeners(ta)
}
