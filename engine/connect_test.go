package engine

import (
	"context"
	"net"
	"net/netip"
	"reflect"
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
	served := make(chan error, 1)
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
