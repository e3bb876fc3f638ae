package reuseport

import (
	"context"
	"errors"
	"io"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/throngproxy/throng/engine/enginetest"
)

// group is a set of SO_REUSEPORT listeners on one address: one process's
// share of a reuseport group.
type group struct {
	lns []*net.TCPListener
	fds []int // a duplicate of each listener's descriptor
}

func listenGroup(t *testing.T, addr string, n int) *group {
	t.Helper()
	g := &group{}
	for range n {
		ln, err := Listen(context.Background(), addr, true)
		if err != nil {
			t.Fatal(err)
		}
		// Not File(): its Fd() would make the shared descriptor blocking.
		rc, err := ln.(*net.TCPListener).SyscallConn()
		if err != nil {
			t.Fatal(err)
		}
		fd := -1
		if cerr := rc.Control(func(s uintptr) { fd, err = unix.Dup(int(s)) }); cerr != nil || err != nil {
			t.Fatal(cerr, err)
		}
		g.lns = append(g.lns, ln.(*net.TCPListener))
		g.fds = append(g.fds, fd)
		addr = ln.Addr().String() // the others share its port
	}
	t.Cleanup(g.close)
	return g
}

// close closes every listener and duplicate, so that the sockets leave the
// group.
func (g *group) close() {
	for i, ln := range g.lns {
		_ = ln.Close()
		if g.fds[i] >= 0 {
			_ = unix.Close(g.fds[i])
			g.fds[i] = -1
		}
	}
}

func (g *group) addr() string { return g.lns[0].Addr().String() }

// accepted counts, per listener, the connections it accepts until the
// listener closes; each accepted conn gets what it read echoed.
type accepted struct {
	mu    sync.Mutex
	count []int
	wg    sync.WaitGroup
}

func (g *group) serve(t *testing.T) *accepted {
	a := &accepted{count: make([]int, len(g.lns))}
	for i, ln := range g.lns {
		a.wg.Add(1)
		go func() {
			defer a.wg.Done()
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				a.mu.Lock()
				a.count[i]++
				a.mu.Unlock()
				go func() {
					defer c.Close()
					_, _ = io.Copy(c, c)
				}()
			}
		}()
	}
	t.Cleanup(func() {
		g.close()
		a.wg.Wait()
	})
	return a
}

func (a *accepted) total() (n int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, c := range a.count {
		n += c
	}
	return n
}

func steer(t *testing.T, fds []int) {
	t.Helper()
	if err := Steer(fds); err != nil {
		if errors.Is(err, ErrNotPermitted) {
			t.Skip(err)
		}
		t.Fatal(err)
	}
}

// roundTrip checks that c is a working connection: what it sends comes back.
func roundTrip(t *testing.T, c net.Conn, msg string) {
	t.Helper()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write([]byte(msg)); err != nil {
		t.Fatalf("write: %v", err)
	}
	buf := make([]byte, len(msg))
	if _, err := io.ReadFull(c, buf); err != nil {
		t.Fatalf("read %q: %v", msg, err)
	}
}

// TestSteerTakesNewConnections: once the new group steers, the old one,
// still listening and accepting, gets no new connection, and the new one's
// sockets share them.
func TestSteerTakesNewConnections(t *testing.T) {
	host := enginetest.Host()
	old := listenGroup(t, net.JoinHostPort(host, "0"), 2)
	successor := listenGroup(t, old.addr(), 2)
	oldAcc, newAcc := old.serve(t), successor.serve(t)
	steer(t, successor.fds)

	const conns = 200
	for i := range conns {
		c, err := net.DialTimeout("tcp", old.addr(), 2*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		roundTrip(t, c, strconv.Itoa(i))
		c.Close()
	}
	if n := oldAcc.total(); n != 0 {
		t.Errorf("the old listeners accepted %d connections after steering, want 0", n)
	}
	newAcc.mu.Lock()
	defer newAcc.mu.Unlock()
	for i, n := range newAcc.count {
		if n == 0 {
			t.Errorf("new listener %d got none of %d connections: steering does not spread (%v)", i, conns, newAcc.count)
		}
	}
}

// TestSteerMigratesQueued: connections queued on a listener that nobody
// accepts from move to the steered sockets when it closes, instead of being
// reset.
func TestSteerMigratesQueued(t *testing.T) {
	host := enginetest.Host()
	old := listenGroup(t, net.JoinHostPort(host, "0"), 1)
	var queued []net.Conn
	for range 20 {
		c, err := net.DialTimeout("tcp", old.addr(), 2*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		queued = append(queued, c)
	}
	successor := listenGroup(t, old.addr(), 2)
	newAcc := successor.serve(t)
	steer(t, successor.fds)
	old.close() // never accepted from: its queue holds all 20
	for i, c := range queued {
		roundTrip(t, c, "queued "+strconv.Itoa(i))
	}
	if n := newAcc.total(); n != len(queued) {
		t.Errorf("the successor accepted %d connections, want the %d queued", n, len(queued))
	}
}

// TestSteerNobodyLeft: when every steered socket has closed, the group
// falls back to the kernel's hash over the sockets still there.
func TestSteerNobodyLeft(t *testing.T) {
	host := enginetest.Host()
	first := listenGroup(t, net.JoinHostPort(host, "0"), 1)
	firstAcc := first.serve(t)
	gone := listenGroup(t, first.addr(), 1)
	steer(t, gone.fds)
	gone.close()
	for i := range 10 {
		c, err := net.DialTimeout("tcp", first.addr(), 2*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		roundTrip(t, c, strconv.Itoa(i))
		c.Close()
	}
	if n := firstAcc.total(); n != 10 {
		t.Errorf("the remaining listener accepted %d, want 10", n)
	}
}

// TestListeners finds each listening socket on an address once, whatever
// duplicates exist, and nothing bound elsewhere.
func TestListeners(t *testing.T) {
	host := enginetest.Host()
	g := listenGroup(t, net.JoinHostPort(host, "0"), 3)
	other := listenGroup(t, net.JoinHostPort(host, "0"), 1)
	c, err := net.Dial("tcp", g.addr()) // a connected socket on the same port
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	addr := g.lns[0].Addr().(*net.TCPAddr)
	fds, err := Listeners(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		for _, fd := range fds {
			_ = unix.Close(fd)
		}
	}()
	// Each listener is reachable through two descriptors (the listener's
	// and the group's duplicate): one each is expected.
	if len(fds) != len(g.lns) {
		t.Fatalf("found %d listeners on %s, want %d", len(fds), addr, len(g.lns))
	}
	if o, err := Listeners(other.lns[0].Addr().(*net.TCPAddr)); err != nil || len(o) != 1 {
		t.Errorf("the other address: %d sockets, %v; want 1", len(o), err)
	} else {
		_ = unix.Close(o[0])
	}
	wild, err := Listeners(&net.TCPAddr{Port: addr.Port})
	if err == nil {
		t.Errorf("wildcard on port %d found %d sockets bound to %s", addr.Port, len(wild), host)
	}
}
