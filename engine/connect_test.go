package engine

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
	"golang.org/x/sys/unix"

	"github.com/throngproxy/throng/engine/enginetest"
)

// TestEngineConnectFinishedLate: a connect that the kernel has not
// finished when connect(2) returns on the loop (the backend's accept queue
// is full, so its SYN was dropped) is finished by a dial worker once a
// retransmitted SYN gets through, and the session opens and relays.
func TestEngineConnectFinishedLate(t *testing.T) {
	host := enginetest.Host()
	backlog := enginetest.Backlog(t, host, "19008")
	addr := net.JoinHostPort(host, "18080")
	e := startEngine(t, addr, backlog.Addr, `connect = "10s"`)
	type dialed struct {
		c   net.Conn
		err error
	}
	client := make(chan dialed, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		c, _, _, err := ws.Dial(ctx, "ws://"+addr+"/")
		client <- dialed{c, err}
	}()
	enginetest.WaitFor(t, "the dial to start", func() bool { return e.Stats().Dials == 1 })
	ln := backlog.Listener(t)
	defer ln.Close()
	served, release := make(chan error, 1), make(chan struct{})
	defer close(release)
	go func() {
		b, err := ln.Accept()
		if err != nil {
			served <- err
			return
		}
		defer b.Close()
		_ = b.SetDeadline(time.Now().Add(15 * time.Second))
		if _, err := ws.Upgrade(b); err != nil {
			served <- err
			return
		}
		msg, op, err := wsutil.ReadClientData(b)
		if err == nil {
			err = wsutil.WriteServerMessage(b, op, msg)
		}
		served <- err
		<-release // the session stays up until the test has counted sockets
	}()
	d := <-client
	if d.err != nil {
		t.Fatalf("handshake through a late connect: %v", d.err)
	}
	c := d.c
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(15 * time.Second))
	if err := wsutil.WriteClientMessage(c, ws.OpText, []byte("late")); err != nil {
		t.Fatal(err)
	}
	got, _, err := wsutil.ReadServerData(c)
	if err != nil || string(got) != "late" {
		t.Fatalf("echo: %q, %v", got, err)
	}
	if err := <-served; err != nil {
		t.Fatalf("backend: %v", err)
	}
	if st := e.Stats(); st.DialFailed != 0 || st.Retries != 0 {
		t.Fatalf("the connect was retried or failed: %+v", st)
	}
	// The worker finished the loop's connect rather than making another.
	if n := connectsTo(t, backlog.Addr); n != 1 {
		t.Fatalf("%d sockets connected or connecting to the backend, want 1", n)
	}
}

// connectsTo counts the TCP sockets on this host established or in
// SYN_SENT toward addr (an IPv4 host:port), from /proc/net/tcp.
func connectsTo(t *testing.T, addr string) int {
	t.Helper()
	ap := netip.MustParseAddrPort(addr)
	ip := ap.Addr().As4()
	// The kernel prints the address as a native-endian 32-bit word.
	want := fmt.Sprintf("%02X%02X%02X%02X:%04X", ip[3], ip[2], ip[1], ip[0], ap.Port())
	data, err := os.ReadFile("/proc/net/tcp")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, line := range strings.Split(string(data), "\n")[1:] {
		f := strings.Fields(line)
		if len(f) > 3 && f[2] == want && (f[3] == "01" || f[3] == "02") {
			n++
		}
	}
	return n
}

func TestSockaddr(t *testing.T) {
	for _, tc := range []struct {
		addr   string
		family int
		want   unix.Sockaddr
	}{
		{"127.0.0.1:9001", unix.AF_INET, &unix.SockaddrInet4{Port: 9001, Addr: [4]byte{127, 0, 0, 1}}},
		{"[::ffff:10.0.0.5]:443", unix.AF_INET, &unix.SockaddrInet4{Port: 443, Addr: [4]byte{10, 0, 0, 5}}},
		{"[::1]:80", unix.AF_INET6, &unix.SockaddrInet6{Port: 80, Addr: [16]byte{15: 1}}},
		{"[2001:db8::7]:8080", unix.AF_INET6, &unix.SockaddrInet6{Port: 8080, Addr: [16]byte{0x20, 0x01, 0x0d, 0xb8, 15: 7}}},
	} {
		family, sa := sockaddr(netip.MustParseAddrPort(tc.addr))
		if family != tc.family || !reflect.DeepEqual(sa, tc.want) {
			t.Errorf("sockaddr(%s) = %d, %+v; want %d, %+v", tc.addr, family, sa, tc.family, tc.want)
		}
	}
}
