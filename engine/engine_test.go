package engine

// In-process tests: the real engine on loopback in front of the real echo
// backend (backend.Serve), under -race in CI. The binary's own behaviour is
// tested end to end in cmd/throng.

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"

	"github.com/throngproxy/throng/bench/backend"
	"github.com/throngproxy/throng/config"
	"github.com/throngproxy/throng/engine/enginetest"
)

func startEcho(t *testing.T, addr string) { startEchoDelayed(t, addr, 0) }

// startEchoDelayed runs the echo backend answering each upgrade after delay.
func startEchoDelayed(t *testing.T, addr string, delay time.Duration) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	wait, err := backend.Start(ctx, backend.Config{Addr: addr, Loops: 1, Delay: delay, Logger: slog.New(slog.NewJSONHandler(io.Discard, nil))})
	if err != nil {
		cancel()
		t.Fatalf("echo backend: %v", err)
	}
	t.Cleanup(func() {
		cancel()
		_ = wait()
	})
}

func startEngine(t *testing.T, listen, backend, extra string) *Engine {
	t.Helper()
	doc := fmt.Sprintf(`
[server]
listen = [%q]
loops = 2
[timeouts]
handshake = "3s"
close = "1s"
%s
[[route]]
upstream = "main"
[[upstream]]
name = "main"
backends = [{ addr = %q }]
`, listen, extra, backend)
	e, runErr := runEngine(t, doc)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := e.Stop(ctx); err != nil {
			t.Errorf("stop: %v", err)
		}
		if err := <-runErr; err != nil {
			t.Errorf("run: %v", err)
		}
		// Whatever the test did, the machine made only moves of its table.
		if n := e.Stats().BadTransitions; n != 0 {
			t.Errorf("%d state changes outside allowedNext", n)
		}
	})
	return e
}

// runEngine starts an engine from the TOML document doc and returns it,
// serving, with the channel Run's result comes on. The caller stops it.
func runEngine(t *testing.T, doc string) (*Engine, <-chan error) {
	t.Helper()
	cfg, err := config.Parse([]byte(doc), "test.toml")
	if err != nil {
		t.Fatal(err)
	}
	e, err := New(Options{Config: cfg, Logger: slog.New(slog.NewJSONHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	runErr := make(chan error, 1)
	go func() { runErr <- e.Run() }()
	<-e.Ready()
	return e, runErr
}

func dial(t *testing.T, addr string) net.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, br, _, err := ws.Dialer{}.Dial(ctx, "ws://"+addr+"/")
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	if br != nil {
		t.Fatal("unexpected bytes after the 101")
	}
	return c
}

func TestEngineConcurrentEcho(t *testing.T) {
	e, addr := echoEngine(t, "")

	const clients, msgs = 40, 25
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := dial(t, addr)
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(20 * time.Second))
			r := rand.New(rand.NewPCG(uint64(i), 7))
			for range msgs {
				p := make([]byte, r.IntN(70000))
				for k := range p {
					p[k] = byte(r.Uint32())
				}
				if err := wsutil.WriteClientBinary(c, p); err != nil {
					errs <- err
					return
				}
				got, err := wsutil.ReadServerBinary(c)
				if err != nil {
					errs <- err
					return
				}
				if !bytes.Equal(got, p) {
					errs <- fmt.Errorf("client %d: echo of %d bytes differs", i, len(p))
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	// Counters are added after each write: wait for every session to end
	// before reading them.
	enginetest.WaitFor(t, "every session to finish", func() bool { return e.Active() == 0 })
	st := e.Stats()
	// Echoed frames differ only by the client's 4-byte masking key.
	if st.Opened != clients || st.Accepted != clients || st.BytesIn == 0 || st.BytesIn-st.BytesOut != 4*clients*msgs {
		t.Errorf("stats %+v: want %d opened and accepted, bytes in = bytes out + 4 per message", st, clients)
	}
	if got := st.Transitions["open"]; got != clients {
		t.Errorf("%d transitions into open, want %d", got, clients)
	}
}

func TestEngineProtocolErrorIsolated(t *testing.T) {
	_, addr := echoEngine(t, "")

	good := dial(t, addr)
	defer good.Close()
	bad := dial(t, addr)
	defer bad.Close()
	// An unmasked client frame breaks RFC 6455 §5.1.
	if err := ws.WriteFrame(bad, ws.NewTextFrame([]byte("unmasked"))); err != nil {
		t.Fatal(err)
	}
	f := readClose(t, bad)
	if code, _ := ws.ParseCloseFrameData(f.Payload); code != ws.StatusProtocolError {
		t.Fatalf("close code %d, want 1002", code)
	}
	_ = good.SetDeadline(time.Now().Add(5 * time.Second))
	if err := wsutil.WriteClientText(good, []byte("fine")); err != nil {
		t.Fatal(err)
	}
	if got, err := wsutil.ReadServerText(good); err != nil || string(got) != "fine" {
		t.Fatalf("other session: %q %v", got, err)
	}
}

func TestEngineDrain(t *testing.T) {
	e, addr := echoEngine(t, "")
	c := dial(t, addr)
	defer c.Close()
	go e.Drain(context.Background())
	f := readClose(t, c)
	if code, _ := ws.ParseCloseFrameData(f.Payload); code != ws.StatusGoingAway {
		t.Fatalf("close code %d, want 1001", code)
	}
	// Answer the Close as a client should; the session then ends.
	_ = ws.WriteFrame(c, ws.MaskFrame(ws.NewCloseFrame(f.Payload)))
	enginetest.WaitFor(t, "every session to end after the drain", func() bool { return e.Active() == 0 })
}

func TestEngineIdleTimeout(t *testing.T) {
	_, addr := echoEngine(t, `idle = "500ms"`)
	c := dial(t, addr)
	defer c.Close()
	start := time.Now()
	readClose(t, c)
	if d := time.Since(start); d < 400*time.Millisecond {
		t.Fatalf("idle close after %v, before the 500ms idle timeout", d)
	}
}

// TestEngineRejectedClientReleased: a refused client that keeps its socket
// open is closed at the linger deadline and its session slot freed (a
// client cannot hold slots by sending bad requests and never closing).
func TestEngineRejectedClientReleased(t *testing.T) {
	e, addr := echoEngine(t, "")
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte("POST / HTTP/1.1\r\nHost: x\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	enginetest.WaitFor(t, "the refusal", func() bool { return e.Stats().Rejected == 1 })
	enginetest.WaitFor(t, "the refused session to finish", func() bool { return e.Active() == 0 })
	// The proxy closed the socket: reads end.
	_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
	if _, err := io.ReadAll(c); err != nil {
		t.Fatalf("read after refusal: %v", err)
	}
}

// TestEngineDrainReachesLateOpeners: a session still in its upstream
// handshake when the drain starts gets Close 1001 as soon as it opens, and
// the drain does not wait for its deadline.
func TestEngineDrainReachesLateOpeners(t *testing.T) {
	host := enginetest.Host()
	backend := net.JoinHostPort(host, "19001")
	startEchoDelayed(t, backend, 500*time.Millisecond)
	addr := net.JoinHostPort(host, "18080")
	e := startEngine(t, addr, backend, "")
	code := make(chan ws.StatusCode, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		c, br, _, err := ws.Dialer{}.Dial(ctx, "ws://"+addr+"/")
		if err != nil {
			code <- 0
			return
		}
		defer c.Close()
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		var r io.Reader = c
		if br != nil {
			r = br // the Close may have come in the same read as the 101
		}
		f, err := ws.ReadFrame(r)
		if err != nil || f.Header.OpCode != ws.OpClose {
			code <- 0
			return
		}
		cc, _ := ws.ParseCloseFrameData(f.Payload)
		_ = ws.WriteFrame(c, ws.MaskFrame(ws.NewCloseFrame(f.Payload)))
		code <- cc
	}()
	// Past the request (a drain refuses requests it has not parsed yet).
	enginetest.WaitFor(t, "the backend dial", func() bool { return e.Stats().Dials == 1 })
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Second)
	defer cancel()
	start := time.Now()
	e.Drain(ctx)
	if d := time.Since(start); d > 3*time.Second || e.Active() != 0 {
		t.Fatalf("drain took %v and left %d sessions", d, e.Active())
	}
	if got := <-code; got != ws.StatusGoingAway {
		t.Fatalf("client got close code %d, want 1001", got)
	}
}

// echoEngine starts an echo backend and an engine in front of it, with
// extra lines in its [timeouts], and returns the engine and its address.
func echoEngine(t *testing.T, extra string) (*Engine, string) {
	t.Helper()
	host := enginetest.Host()
	backend := net.JoinHostPort(host, "19001")
	startEcho(t, backend)
	addr := net.JoinHostPort(host, "18080")
	return startEngine(t, addr, backend, extra), addr
}

// readClose reads the next frame from c within 5 s and fails unless it is
// a Close.
func readClose(t *testing.T, c net.Conn) ws.Frame {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	f, err := ws.ReadFrame(c)
	if err != nil || f.Header.OpCode != ws.OpClose {
		t.Fatalf("got %v %v, want a Close", f.Header.OpCode, err)
	}
	return f
}
