package main

// Load and memory: a reader that never reads is held back by flow control
// and closed by timeouts.write instead of growing the proxy, and a
// thousand concurrent sessions echo correctly while another client keeps
// breaking the protocol.

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
	"github.com/throngproxy/throng/engine/enginetest"
)

// procStatusKB returns a "kB" field of /proc/PID/status, such as VmRSS or
// VmHWM (the peak RSS), in bytes.
func procStatusKB(t *testing.T, pid int, field string) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatalf("read status of %d: %v", pid, err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, field+":"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				t.Fatalf("%s of %d: %q: %v", field, pid, v, err)
			}
			return kb << 10
		}
	}
	t.Fatalf("no %s in /proc/%d/status", field, pid)
	return 0
}

// TestSlowReader: a client uploads 32 MiB to the echo backend and reads
// nothing back. The echoes pile up toward it, flow control holds the rest
// back, and once the client has accepted nothing for timeouts.write the
// proxy drops the session; its memory stays bounded and others still get
// through.
func TestSlowReader(t *testing.T) {
	host := newHost()
	backend, listen := net.JoinHostPort(host, "19001"), net.JoinHostPort(host, "18080")
	startBackend(t, backend)
	th := startThrong(t, listen, withTimeouts(basicConfig(listen, []string{backend},
		"[limits]\nwrite_buffer_limit = \"256KiB\"\n"), `write = "2s"`))
	pid := th.cmd.Process.Pid
	// Warm up, so the start figure includes the first session's buffers.
	warm := dialWS(t, th.addr, "/")
	echo(t, warm, ws.OpBinary, make([]byte, 64<<10))
	warm.Close()
	startRSS := procStatusKB(t, pid, "VmRSS")

	c := dialWS(t, th.addr, "/")
	defer c.Close()
	const total, chunk = 32 << 20, 64 << 10
	frame := wireFrame(true, 0, ws.OpBinary, true, bytes.Repeat([]byte("slow"), chunk/4))
	_ = c.SetWriteDeadline(time.Now().Add(15 * time.Second))
	sent := 0
	var werr error
	for sent < total && werr == nil {
		var n int
		n, werr = c.Write(frame)
		sent += n
	}
	var ne net.Error
	if errors.As(werr, &ne) && ne.Timeout() {
		t.Fatalf("upload stalled after %d bytes: the proxy neither read on nor closed the session", sent)
	}
	t.Logf("uploaded %d of %d bytes (write error: %v)", sent, total, werr)
	enginetest.WaitForWithin(t, 15*time.Second, "the session closed by timeouts.write", func() bool {
		return statOf(t, stats(t, th), "write_timeouts") == 1
	})

	// Whatever the kernel still holds for us is read away; then the
	// connection must be found closed, long before 32 MiB of echoes.
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	got, rerr := io.Copy(io.Discard, c)
	if errors.As(rerr, &ne) && ne.Timeout() {
		t.Fatalf("session still open 10s after the upload (%d bytes of echo read)", got)
	}
	if got >= total {
		t.Errorf("read %d bytes of echo, want the session cut off well before %d", got, total)
	}
	peak := procStatusKB(t, pid, "VmHWM")
	const budget = 16 << 20
	t.Logf("throng RSS at start %d KiB, peak %d KiB; %d bytes of echo reached the client", startRSS>>10, peak>>10, got)
	if peak-startRSS > budget {
		t.Errorf("throng's peak RSS grew by %d MiB, want under %d MiB", (peak-startRSS)>>20, budget>>20)
	}

	fresh := dialWS(t, th.addr, "/")
	defer fresh.Close()
	echo(t, fresh, ws.OpBinary, bytes.Repeat([]byte("ok"), 50<<10))
}

// dialWSFrom opens a WebSocket through the proxy from the local address src.
func dialWSFrom(ctx context.Context, src, addr, path string) (net.Conn, error) {
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
	wd := ws.Dialer{NetDial: d.DialContext}
	c, br, _, err := wd.Dial(ctx, "ws://"+addr+path)
	if err != nil {
		return nil, err
	}
	if br != nil {
		return &bufConn{Conn: c, r: br}, nil
	}
	return c, nil
}

// echoOnce sends one message and checks that it comes back byte-exact.
func echoOnce(c net.Conn, op ws.OpCode, p []byte) error {
	if err := wsutil.WriteClientMessage(c, op, p); err != nil {
		return fmt.Errorf("write: %w", err)
	}
	got, gotOp, err := wsutil.ReadServerData(c)
	if err != nil {
		return fmt.Errorf("read echo: %w", err)
	}
	if gotOp != op || !bytes.Equal(got, p) {
		return fmt.Errorf("echo of %d bytes op %v: got %d bytes op %v", len(p), op, len(got), gotOp)
	}
	return nil
}

// sessionMessage is message m of session i: distinct contents, sizes from
// 0 to ~70 KB so that some frames span several proxy reads.
func sessionMessage(i, m int) []byte {
	n := (i*131 + m*977) % 3000
	if (i+m)%97 == 0 {
		n = 70 << 10
	}
	p := make([]byte, n)
	tag := fmt.Sprintf("s%04d-m%02d|", i, m)
	for j := range p {
		p[j] = tag[j%len(tag)]
	}
	return p
}

// misbehaver connects again and again and breaks the protocol each time in
// one of three ways; it reports an unexpected answer as an error. It runs
// until stop is closed and returns the number of rounds.
func misbehaver(src, addr string, stop <-chan struct{}) (int, error) {
	unmasked := bytes.Repeat(wireFrame(true, 0, ws.OpText, false, []byte("no mask")), 50)
	garbage := bytes.Repeat([]byte{0xff}, 4096)
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 2 * time.Second}
	for round := 0; ; round++ {
		select {
		case <-stop:
			return round, nil
		default:
		}
		c, err := d.Dial("tcp", addr)
		if err != nil {
			return round, fmt.Errorf("round %d: dial: %w", round, err)
		}
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		err = misbehaveOnce(c, addr, round%3, unmasked, garbage)
		c.Close()
		if err != nil {
			return round, fmt.Errorf("round %d (kind %d): %w", round, round%3, err)
		}
	}
}

func misbehaveOnce(c net.Conn, addr string, kind int, unmasked, garbage []byte) error {
	br := bufio.NewReader(c)
	if kind == 0 {
		// Garbage instead of a request head.
		if _, err := c.Write(append(append([]byte(nil), garbage[:300]...), "\r\n\r\n"...)); err != nil {
			return err
		}
		line, err := br.ReadString('\n')
		if err != nil {
			return fmt.Errorf("no answer to garbage: %w", err)
		}
		if st := statusOf(line); st != 400 {
			return fmt.Errorf("garbage head: status line %q, want 400", line)
		}
		_, _ = io.Copy(io.Discard, br)
		return nil
	}
	if _, err := io.WriteString(c, upgradeRequest(addr, "/")); err != nil {
		return err
	}
	line, err := br.ReadString('\n')
	if err != nil || statusOf(line) != 101 {
		return fmt.Errorf("upgrade: %q, %v", line, err)
	}
	for {
		l, err := br.ReadString('\n')
		if err != nil {
			return err
		}
		if l == "\r\n" {
			break
		}
	}
	bad := unmasked
	if kind == 2 {
		bad = garbage
	}
	// Keep sending until the proxy gives up on us; write errors are
	// expected once it has.
	go func() {
		for range 4 {
			if _, err := c.Write(bad); err != nil {
				return
			}
		}
	}()
	for {
		f, err := ws.ReadFrame(br)
		if err != nil {
			return fmt.Errorf("waiting for close: %w", err)
		}
		if f.Header.OpCode == ws.OpClose {
			if code, _ := ws.ParseCloseFrameData(f.Payload); code != ws.StatusProtocolError {
				return fmt.Errorf("close code %d, want %d", code, ws.StatusProtocolError)
			}
			_, _ = io.Copy(io.Discard, br)
			return nil
		}
	}
}

// TestThousandSessions: 1,000 concurrent sessions from several source
// addresses each echo 10 messages while another client keeps misbehaving.
func TestThousandSessions(t *testing.T) {
	start := time.Now()
	th := setup(t, "")
	srcs := []string{newHost(), newHost(), newHost(), newHost()}
	const sessions, messages = 1000, 10

	stop := make(chan struct{})
	type result struct {
		rounds int
		err    error
	}
	misDone := make(chan result, 1)
	go func() {
		n, err := misbehaver(newHost(), th.addr, stop)
		misDone <- result{n, err}
	}()
	stopped := false
	stopMisbehaver := func() result {
		if !stopped {
			close(stop)
			stopped = true
		}
		select {
		case r := <-misDone:
			return r
		case <-time.After(10 * time.Second):
			return result{err: errors.New("misbehaver did not stop within 10s")}
		}
	}
	defer func() {
		if !stopped {
			stopMisbehaver()
		}
	}()

	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	conns := make([]net.Conn, sessions)
	defer func() {
		for _, c := range conns {
			if c != nil {
				c.Close()
			}
		}
	}()
	errs := make([]error, sessions)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 64) // dials in flight
	for i := range sessions {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			conns[i], errs[i] = dialWSFrom(ctx, srcs[i%len(srcs)], th.addr, "/")
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatalf("opening %d sessions: %v", sessions, firstLines(err, 5))
	}
	opened := time.Since(start)

	// All sessions are open at once; now every one echoes.
	deadline, _ := ctx.Deadline()
	for i := range sessions {
		wg.Go(func() {
			c := conns[i]
			_ = c.SetDeadline(deadline)
			for m := range messages {
				op := ws.OpBinary
				if m%2 == 0 {
					op = ws.OpText
				}
				if err := echoOnce(c, op, sessionMessage(i, m)); err != nil {
					errs[i] = fmt.Errorf("session %d message %d: %w", i, m, err)
					return
				}
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Errorf("echoing: %v", firstLines(err, 5))
	}
	mis := stopMisbehaver()
	if mis.err != nil {
		t.Errorf("misbehaving client: %v", mis.err)
	}
	if mis.rounds < 3 {
		t.Errorf("misbehaving client finished %d rounds during the test, want at least 3", mis.rounds)
	}
	elapsed := time.Since(start)
	t.Logf("%d sessions opened in %v, all echoed %d messages in %v; misbehaver rounds: %d", sessions, opened, messages, elapsed, mis.rounds)
	// No time limit here: speed claims belong in benchmarks, and the run
	// is bounded by its context.
}

// firstLines shortens a joined error to its first n lines.
func firstLines(err error, n int) string {
	lines := strings.Split(err.Error(), "\n")
	if len(lines) > n {
		return strings.Join(lines[:n], "\n") + fmt.Sprintf("\n... and %d more", len(lines)-n)
	}
	return err.Error()
}
