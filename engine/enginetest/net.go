package enginetest

import (
	"fmt"
	"net"
	"os"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"
)

// reservePort is the port on which Host holds each address it hands out.
// No test listens on it.
const reservePort = "19999"

var hosts struct {
	mu   sync.Mutex // guards next and held
	next int
	held []net.Listener // kept open until the process exits
}

// Host returns a loopback address of 127.100.0.0/16 that no other process
// on this machine holds: test packages run in parallel as separate
// processes, and under SO_REUSEPORT two listeners on one address would
// share it silently. Host reserves the address for the life of the test
// process by listening on it (port 19999, never accepting); an address
// another process reserved fails that bind and is skipped, and the kernel
// releases every reservation when the process exits. Each call returns a
// new address. It panics when the range is exhausted. Safe for concurrent
// use.
func Host() string {
	hosts.mu.Lock()
	defer hosts.mu.Unlock()
	for hosts.next < 254*254 {
		n := hosts.next
		hosts.next++
		host := fmt.Sprintf("127.100.%d.%d", 1+n/254, 1+n%254)
		ln, err := net.Listen("tcp", net.JoinHostPort(host, reservePort))
		if err != nil {
			continue // another test process holds it
		}
		hosts.held = append(hosts.held, ln)
		return host
	}
	panic("enginetest: no loopback address left in 127.100.0.0/16")
}

// Blackhole returns an address on host (port 19007) that takes TCP
// connects but never completes them: a listener with a backlog of one
// that never accepts, its queue filled first, so that the kernel drops
// further SYNs and a connect hangs until the dialer's own timeout. The
// test is skipped on a kernel that completes such connects anyway.
func Blackhole(t testing.TB, host string) string {
	t.Helper()
	return Backlog(t, host, "19007").Addr
}

// Backlogged is a listener whose accept queue is full (Backlog).
type Backlogged struct {
	// Addr is where it listens.
	Addr    string
	fd      int
	fillers []net.Conn // the connections that filled the queue
}

// Backlog listens on host:port with a backlog of one and fills the queue,
// so that the kernel drops the SYNs of further connects: they stay in
// progress, retransmitting. Listener later makes room. The test is skipped
// on a kernel that completes such connects anyway.
func Backlog(t testing.TB, host, port string) *Backlogged {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	b := &Backlogged{Addr: net.JoinHostPort(host, port), fd: fd}
	t.Cleanup(func() {
		if b.fd >= 0 {
			syscall.Close(b.fd)
		}
		for _, c := range b.fillers {
			c.Close()
		}
	})
	// A previous run's connections may linger in TIME_WAIT on this port.
	if err := syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_REUSEADDR, 1); err != nil {
		t.Fatal(err)
	}
	p, err := strconv.Atoi(port)
	if err != nil {
		t.Fatal(err)
	}
	sa := &syscall.SockaddrInet4{Port: p}
	copy(sa.Addr[:], net.ParseIP(host).To4())
	if err := syscall.Bind(fd, sa); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Listen(fd, 0); err != nil {
		t.Fatal(err)
	}
	// Fill the accept queue; these connects complete (or hang) in the kernel.
	for range 4 {
		c, err := net.DialTimeout("tcp", b.Addr, 300*time.Millisecond)
		if err != nil {
			break // the queue is full: SYNs are being dropped
		}
		b.fillers = append(b.fillers, c)
	}
	if c, err := net.DialTimeout("tcp", b.Addr, 300*time.Millisecond); err == nil {
		c.Close()
		t.Skip("the kernel still completes connects to a full listener here")
	}
	return b
}

// Listener accepts and closes the connections that filled the queue and
// returns the listener, which the caller then owns: the connects that
// were left in progress get through on their next SYN (about a second
// later) and wait in its queue.
func (b *Backlogged) Listener(t testing.TB) net.Listener {
	t.Helper()
	for range b.fillers {
		nfd, _, err := syscall.Accept(b.fd)
		if err != nil {
			t.Fatal(err)
		}
		syscall.Close(nfd)
	}
	f := os.NewFile(uintptr(b.fd), "backlogged")
	b.fd = -1
	ln, err := net.FileListener(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	return ln
}
