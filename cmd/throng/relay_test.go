package main

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"net"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
)

func TestEchoPayloadSizes(t *testing.T) {
	th := setup(t, "")
	c := dialWS(t, th.addr, "/")
	defer c.Close()
	r := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{0, 1, 125, 126, 127, 65535, 65536, 1 << 20, 8 << 20} {
		for _, op := range []ws.OpCode{ws.OpText, ws.OpBinary} {
			t.Run(fmt.Sprintf("%s/%d", opName(op), n), func(t *testing.T) {
				p := make([]byte, n)
				for i := range p {
					p[i] = byte('a' + r.IntN(26)) // valid UTF-8 for text
				}
				echo(t, c, op, p)
			})
		}
	}
}

func opName(op ws.OpCode) string {
	if op == ws.OpText {
		return "text"
	}
	return "binary"
}

// TestOneByteAtATime sends the handshake and several frames one TCP byte per
// write: every parser must cope with any split.
func TestOneByteAtATime(t *testing.T) {
	th := setup(t, "")
	c, err := net.Dial("tcp", th.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetNoDelay(true)
	}
	var stream bytes.Buffer
	stream.WriteString(upgradeRequest(th.addr, "/"))
	msgs := [][]byte{[]byte("hello"), bytes.Repeat([]byte("x"), 300), {}}
	for _, m := range msgs {
		f := ws.MaskFrame(ws.NewTextFrame(m))
		if err := ws.WriteFrame(&stream, f); err != nil {
			t.Fatal(err)
		}
	}
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	go func() {
		b := stream.Bytes()
		for i := range b {
			if _, err := c.Write(b[i : i+1]); err != nil {
				return
			}
		}
	}()
	br := newReader(c)
	status := readStatus(t, br)
	if status != 101 {
		t.Fatalf("status %d, want 101", status)
	}
	for _, m := range msgs {
		got, op, err := wsutil.ReadServerData(rw{br, c})
		if err != nil {
			t.Fatal(err)
		}
		if op != ws.OpText || !bytes.Equal(got, m) {
			t.Fatalf("got %q op %v, want %q", got, op, m)
		}
	}
}

// TestManyFramesOneWrite puts the handshake and 200 frames in a single write.
func TestManyFramesOneWrite(t *testing.T) {
	th := setup(t, "")
	c, err := net.Dial("tcp", th.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var stream bytes.Buffer
	stream.WriteString(upgradeRequest(th.addr, "/"))
	for i := range 200 {
		f := ws.MaskFrame(ws.NewBinaryFrame([]byte(fmt.Sprintf("msg-%03d", i))))
		_ = ws.WriteFrame(&stream, f)
	}
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write(stream.Bytes()); err != nil {
		t.Fatal(err)
	}
	br := newReader(c)
	if st := readStatus(t, br); st != 101 {
		t.Fatalf("status %d", st)
	}
	for i := range 200 {
		got, _, err := wsutil.ReadServerData(rw{br, c})
		if err != nil {
			t.Fatal(err)
		}
		if want := fmt.Sprintf("msg-%03d", i); string(got) != want {
			t.Fatalf("frame %d: got %q want %q", i, got, want)
		}
	}
}

// TestFragmentedWithPings sends a message in fragments with pings between
// them; the pong and every fragment come back in order.
func TestFragmentedWithPings(t *testing.T) {
	th := setup(t, "")
	c := dialWS(t, th.addr, "/")
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	write := func(f ws.Frame) {
		t.Helper()
		if err := ws.WriteFrame(c, ws.MaskFrame(f)); err != nil {
			t.Fatal(err)
		}
	}
	write(ws.NewFrame(ws.OpText, false, []byte("frag-1 ")))
	write(ws.NewPingFrame([]byte("p1")))
	write(ws.NewFrame(ws.OpContinuation, false, []byte("frag-2 ")))
	write(ws.NewPingFrame([]byte("p2")))
	write(ws.NewFrame(ws.OpContinuation, true, []byte("frag-3")))

	var msg []byte
	pongs := 0
	for done := false; !done; {
		f := readFrame(t, c, 5*time.Second)
		switch f.Header.OpCode {
		case ws.OpPong:
			pongs++
		case ws.OpText, ws.OpContinuation:
			msg = append(msg, f.Payload...)
			done = f.Header.Fin
		default:
			t.Fatalf("unexpected opcode %v", f.Header.OpCode)
		}
	}
	if string(msg) != "frag-1 frag-2 frag-3" || pongs != 2 {
		t.Fatalf("got %q with %d pongs", msg, pongs)
	}
}

// TestCloseHandshake: a client Close comes back with the same code and the
// proxy then closes the TCP connection.
func TestCloseHandshake(t *testing.T) {
	th := setup(t, "")
	c := dialWS(t, th.addr, "/")
	defer c.Close()
	body := ws.NewCloseFrameBody(ws.StatusNormalClosure, "bye")
	if err := ws.WriteFrame(c, ws.MaskFrame(ws.NewCloseFrame(body))); err != nil {
		t.Fatal(err)
	}
	if code := expectClose(t, c, 5*time.Second); code != ws.StatusNormalClosure {
		t.Fatalf("close code %d, want 1000", code)
	}
	expectEOF(t, c, 5*time.Second)
}

// TestBackendVanishes: when the backend's TCP connection dies the client
// gets Close 1001.
func TestBackendVanishes(t *testing.T) {
	host := newHost()
	backend := net.JoinHostPort(host, "19001")
	be := startBackend(t, backend)
	addr := net.JoinHostPort(host, "18080")
	startThrong(t, addr, basicConfig(addr, []string{backend}, ""))
	c := dialWS(t, addr, "/")
	defer c.Close()
	echo(t, c, ws.OpText, []byte("before"))
	_ = be.cmd.Process.Kill()
	if code := expectClose(t, c, 5*time.Second); code != 1001 {
		t.Fatalf("close code %d, want 1001", code)
	}
	expectEOF(t, c, 5*time.Second)
}
