package engine

import (
	"context"
	"fmt"
	"net"
	"os"
	"strconv"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/throngproxy/throng/config"
	"github.com/throngproxy/throng/engine/enginetest"
	"github.com/throngproxy/throng/reuseport"
)

// keepAlive is the keepalive of one socket as the kernel reports it.
type keepAlive struct{ on, idle, intvl, cnt, userTimeout int }

func readKeepAlive(t *testing.T, fd int) keepAlive {
	t.Helper()
	var k keepAlive
	for _, o := range []struct {
		level, opt int
		v          *int
	}{
		{unix.SOL_SOCKET, unix.SO_KEEPALIVE, &k.on}, {unix.IPPROTO_TCP, unix.TCP_KEEPIDLE, &k.idle},
		{unix.IPPROTO_TCP, unix.TCP_KEEPINTVL, &k.intvl}, {unix.IPPROTO_TCP, unix.TCP_KEEPCNT, &k.cnt},
		{unix.IPPROTO_TCP, unix.TCP_USER_TIMEOUT, &k.userTimeout},
	} {
		v, err := unix.GetsockoptInt(fd, o.level, o.opt)
		if err != nil {
			t.Fatal(err)
		}
		*o.v = v
	}
	return k
}

// acceptedKeepAlive reads the keepalive of the engine's socket for the
// client connection c: the socket of this process whose peer is c's local
// address.
func acceptedKeepAlive(t *testing.T, c net.Conn) keepAlive {
	t.Helper()
	want := c.LocalAddr().(*net.TCPAddr)
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	for _, ent := range ents {
		n, err := strconv.Atoi(ent.Name())
		if err != nil {
			continue
		}
		fd, err := unix.FcntlInt(uintptr(n), unix.F_DUPFD_CLOEXEC, 0)
		if err != nil {
			continue
		}
		sa, err := unix.Getpeername(fd)
		if in4, ok := sa.(*unix.SockaddrInet4); err == nil && ok && in4.Port == want.Port && net.IP(in4.Addr[:]).Equal(want.IP) {
			k := readKeepAlive(t, fd)
			unix.Close(fd)
			return k
		}
		unix.Close(fd)
	}
	t.Fatalf("no socket of the engine's has the peer %v", want)
	return keepAlive{}
}

// TestAcceptedKeepAlive: accepted sockets carry server.tcp_keepalive, set
// once on the listeners and inherited, and a reload that changes it
// reaches the sockets accepted after it although the listeners keep the
// old values.
func TestAcceptedKeepAlive(t *testing.T) {
	host := enginetest.Host()
	backend := net.JoinHostPort(host, "19001")
	startEcho(t, backend)
	addr := net.JoinHostPort(host, "18080")
	doc := func(keepalive string) string {
		return fmt.Sprintf("[server]\nlisten = [%q]\nloops = 2\ntcp_keepalive = %q\n[[route]]\nupstream = \"main\"\n[[upstream]]\nname = \"main\"\nbackends = [{ addr = %q }]\n",
			addr, keepalive, backend)
	}
	e, runErr := runEngine(t, doc("40s"))
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := e.Stop(ctx); err != nil {
			t.Errorf("stop: %v", err)
		}
		<-runErr
	}()
	// 40 s: probes every 10 s, 4 of them; the user timeout is 80 s.
	want40 := keepAlive{on: 1, idle: 40, intvl: 10, cnt: 4, userTimeout: 80_000}
	ta, _ := net.ResolveTCPAddr("tcp", addr)
	enginetest.WaitFor(t, "every loop's listener to carry the keepalive", func() bool {
		fds, err := reuseport.Listeners(ta)
		if err != nil {
			t.Fatal(err)
		}
		ok := len(fds) == 2
		for _, fd := range fds {
			k := readKeepAlive(t, fd)
			ok = ok && k.on == 1 && k.idle == 40 && k.intvl == 10 && k.cnt == 4
			unix.Close(fd)
		}
		return ok
	})
	check := func(want keepAlive) {
		t.Helper()
		for range 8 { // over both loops
			c := dial(t, addr)
			if got := acceptedKeepAlive(t, c); got != want {
				t.Errorf("accepted socket: keepalive %+v, want %+v", got, want)
			}
			c.Close()
		}
	}
	check(want40)

	cfg, err := config.Parse([]byte(doc("60s")), "test.toml")
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Reload(cfg); err != nil {
		t.Fatal(err)
	}
	check(keepAlive{on: 1, idle: 60, intvl: 15, cnt: 4, userTimeout: 120_000})

	if cfg, err = config.Parse([]byte(doc("0s")), "test.toml"); err != nil {
		t.Fatal(err)
	}
	if err := e.Reload(cfg); err != nil {
		t.Fatal(err)
	}
	check(keepAlive{on: 0, idle: 40, intvl: 10, cnt: 4}) // off; the inherited timings stay, unused
}
