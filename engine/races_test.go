package engine

// Races between a session's events on real sockets, the ones the in-memory
// machine table (machine_test.go) cannot show: frames racing a Close past
// the 101, Stop while dials are in flight, a client leaving while its
// connect hangs. Each failed before its fix.

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gobwas/ws"

	"github.com/throngproxy/throng/codec"
	"github.com/throngproxy/throng/engine/enginetest"
)

// acceptFor computes Sec-WebSocket-Accept (RFC 6455 §4.2.2).
func acceptFor(key string) string { return string(codec.AppendAcceptKey(nil, []byte(key))) }

// TestEngineBackendFramesAfterEarlyClose: the client's Close, sent before the
// 101, moves the session to closing as soon as it is relayed; the frames the
// backend sent with its 101 must still reach the client, whole and in order.
func TestEngineBackendFramesAfterEarlyClose(t *testing.T) {
	host := enginetest.Host()
	backend := net.JoinHostPort(host, "19001")
	ln, err := net.Listen("tcp", backend)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		br := bufio.NewReader(c)
		key := ""
		for {
			l, err := br.ReadString('\n')
			if err != nil {
				return
			}
			if k, ok := strings.CutPrefix(l, "Sec-WebSocket-Key: "); ok {
				key = strings.TrimSpace(k)
			}
			if l == "\r\n" {
				break
			}
		}
		out := []byte("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " + acceptFor(key) + "\r\n\r\n")
		out = append(out, 0x82, 0x7e, 0x10, 0x00) // binary, 4096 bytes
		out = append(out, make([]byte, 100)...)   // of which 100 now
		_, _ = c.Write(out)
		_, _ = c.Write(bytes.Repeat([]byte{0x89}, 3996)) // would parse as pings if misread
		_, _ = c.Write([]byte{0x88, 0x02, 0x03, 0xe8})   // Close 1000
		_, _ = io.Copy(io.Discard, c)
	}()
	addr := net.JoinHostPort(host, "18080")
	startEngine(t, addr, backend, "")
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	req := "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
	closeFrame := []byte{0x88, 0x82, 1, 2, 3, 4, 0x03 ^ 1, 0xe8 ^ 2} // masked Close 1000
	if _, err := c.Write(append([]byte(req), closeFrame...)); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	br := bufio.NewReader(c)
	for {
		l, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("reading the 101: %v", err)
		}
		if l == "\r\n" {
			break
		}
	}
	f, err := ws.ReadFrame(br)
	if err != nil || f.Header.OpCode != ws.OpBinary || len(f.Payload) != 4096 {
		t.Fatalf("first frame: op %v, %d bytes, %v; want a 4096-byte binary frame", f.Header.OpCode, len(f.Payload), err)
	}
	f, err = ws.ReadFrame(br)
	if err != nil || f.Header.OpCode != ws.OpClose {
		t.Fatalf("second frame: op %v, %v; want the backend's Close", f.Header.OpCode, err)
	}
}

// TestEngineStopUnderHandshakeLoad: Stop while dials are in flight must let
// Run return; a worker waiting for an enrol that gnet's shutdown will never
// run used to block Run forever.
func TestEngineStopUnderHandshakeLoad(t *testing.T) {
	for iter := range 3 {
		host := enginetest.Host()
		backend := net.JoinHostPort(host, "19001")
		ln, err := net.Listen("tcp", backend) // accepts, never answers
		if err != nil {
			t.Fatal(err)
		}
		var held []net.Conn
		var mu sync.Mutex
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				mu.Lock()
				held = append(held, c)
				mu.Unlock()
			}
		}()
		addr := net.JoinHostPort(host, "18080")
		doc := fmt.Sprintf("[server]\nlisten = [%q]\nloops = 2\ndial_workers = 64\n[timeouts]\nhandshake = \"3s\"\nclose = \"1s\"\n"+
			"[[route]]\nupstream = \"main\"\n[[upstream]]\nname = \"main\"\nbackends = [{ addr = %q }]\n", addr, backend)
		e, runErr := runEngine(t, doc)
		var stop atomic.Bool
		var wg sync.WaitGroup
		req := []byte("GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
		for range 32 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for !stop.Load() {
					c, err := net.DialTimeout("tcp", addr, time.Second)
					if err != nil {
						continue
					}
					_, _ = c.Write(req)
					c.Close()
				}
			}()
		}
		enginetest.WaitFor(t, "handshakes under way", func() bool { return e.Stats().Accepted > 200 })
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		serr := e.Stop(ctx)
		cancel()
		select {
		case <-runErr:
		case <-time.After(5 * time.Second):
			t.Fatalf("iteration %d: Run did not return 5 s after Stop (%v)", iter, serr)
		}
		stop.Store(true)
		wg.Wait()
		ln.Close()
		mu.Lock()
		for _, c := range held {
			c.Close()
		}
		mu.Unlock()
	}
}

// TestEngineClientGoneWhileConnecting: a client that leaves while its
// backend connect hangs frees its session slot at once, not when the
// connect times out.
func TestEngineClientGoneWhileConnecting(t *testing.T) {
	host := enginetest.Host()
	backend := enginetest.Blackhole(t, host)
	addr := net.JoinHostPort(host, "18080")
	e := startEngine(t, addr, backend, `connect = "5s"`)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	req := "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
	if _, err := c.Write([]byte(req)); err != nil {
		t.Fatal(err)
	}
	enginetest.WaitFor(t, "the dial to start", func() bool { return e.Stats().Dials == 1 })
	c.Close()
	start := time.Now()
	enginetest.WaitFor(t, "the session to finish", func() bool { return e.Active() == 0 })
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("slot freed after %v: the session waited for the 5s connect", d)
	}
}

// TestEngineStoppedByGnet: when gnet stops the engine on its own (as after
// accept fails with EMFILE), Run reports it instead of a clean nil, so
// that the process exits non-zero and its supervisor restarts it.
func TestEngineStoppedByGnet(t *testing.T) {
	host := enginetest.Host()
	backend := net.JoinHostPort(host, "19001")
	startEcho(t, backend)
	addr := net.JoinHostPort(host, "18080")
	doc := fmt.Sprintf("[server]\nlisten = [%q]\nloops = 1\n[[route]]\nupstream = \"main\"\n[[upstream]]\nname = \"main\"\nbackends = [{ addr = %q }]\n", addr, backend)
	e, runErr := runEngine(t, doc)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	// gnet's own engine, stopped behind the Engine's back.
	if err := e.gnet.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-runErr:
		if !errors.Is(err, ErrStoppedByItself) {
			t.Fatalf("Run returned %v, want ErrStoppedByItself", err)
		}
	case <-ctx.Done():
		t.Fatal("Run did not return after gnet stopped")
	}
	// A Stop-ed engine's nil is checked by every startEngine cleanup.
}
