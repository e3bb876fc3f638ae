package engine

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"

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
