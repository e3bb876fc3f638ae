package main

// Flow control through the real binary (docs/protocol.md, "Flow control"):
// a reader slower than its sender slows the sender down through TCP instead
// of being cut off; nothing is lost or reordered; the proxy's memory stays
// bounded; a peer that accepts nothing for timeouts.write is closed.

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"

	"github.com/throngproxy/throng/bench/sysstat"
	"github.com/throngproxy/throng/engine/enginetest"
)

// wsBackend accepts WebSocket upgrades on addr and runs serve on each
// connection, after the 101.
func wsBackend(t *testing.T, addr string, serve func(net.Conn)) {
	t.Helper()
	fakeBackend(t, addr, func(c net.Conn) {
		if _, err := ws.Upgrade(c); err != nil {
			return
		}
		serve(c)
	})
}

// readUntilClose reads a client's frames on the backend side until its
// Close and returns the code; 0 when the connection ended without one.
func readUntilClose(c net.Conn) ws.StatusCode {
	for {
		h, err := ws.ReadHeader(c)
		if err != nil {
			return 0
		}
		p := make([]byte, h.Length)
		if _, err := io.ReadFull(c, p); err != nil {
			return 0
		}
		if h.OpCode == ws.OpClose {
			ws.Cipher(p, h.Mask, 0)
			code, _ := ws.ParseCloseFrameData(p)
			return code
		}
	}
}

// seqMessage is message i of a numbered stream: its number, then filler.
func seqMessage(i, size int) []byte {
	p := bytes.Repeat([]byte{byte(i)}, size)
	binary.BigEndian.PutUint32(p, uint32(i))
	return p
}

// checkSeq reports whether p is seqMessage(i, size).
func checkSeq(p []byte, i, size int) error {
	if len(p) != size || binary.BigEndian.Uint32(p) != uint32(i) || p[size-1] != byte(i) {
		n := -1
		if len(p) >= 4 {
			n = int(binary.BigEndian.Uint32(p))
		}
		return fmt.Errorf("message %d: got %d bytes numbered %d", i, len(p), n)
	}
	return nil
}

// TestBigMessageReadAfterWrite: a client writes one 8 MiB (then 16 MiB)
// binary message and only then reads the echo. The echo piles up toward a
// client that does not read yet; the proxy stops reading the backend
// instead of cutting the session off.
func TestBigMessageReadAfterWrite(t *testing.T) {
	th := setup(t, "")
	for _, size := range []int{8 << 20, 16 << 20} {
		t.Run(fmt.Sprintf("%dMiB", size>>20), func(t *testing.T) {
			c := dialWS(t, th.addr, "/")
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(30 * time.Second))
			msg := bytes.Repeat([]byte("flow-control"), size/12+1)[:size]
			if err := wsutil.WriteClientMessage(c, ws.OpBinary, msg); err != nil {
				t.Fatalf("write %d bytes: %v", size, err)
			}
			got, op, err := wsutil.ReadServerData(c)
			if err != nil {
				t.Fatalf("read the echo: %v", err)
			}
			if op != ws.OpBinary || !bytes.Equal(got, msg) {
				t.Fatalf("echo: %d bytes op %v, want the %d bytes sent", len(got), op, size)
			}
		})
	}
	line := stats(t, th)
	if n := statOf(t, line, "slow_consumer"); n != 0 {
		t.Errorf("slow_consumer %d, want 0: %s", n, line)
	}
	t.Logf("pauses %d, resumes %d", statOf(t, line, "pauses"), statOf(t, line, "resumes"))
}

// TestBackendStopsReading: the backend reads nothing for several seconds
// while the client sends 40 MiB in 64 KiB messages: more than the kernel's
// buffers on the way can hold (up to ~20 MiB on loopback), so the client
// blocks. Every message arrives, in order, once the backend reads again,
// and the proxy's memory grows by a few MiB at most.
func TestBackendStopsReading(t *testing.T) {
	host := newHost()
	backend := net.JoinHostPort(host, "19001")
	const msgs, size = 640, 64 << 10
	const pause = 4 * time.Second
	result := make(chan error, 1)
	reading := make(chan struct{})
	wsBackend(t, backend, func(c net.Conn) {
		time.Sleep(pause) // the backend is busy: it reads nothing
		close(reading)
		_ = c.SetReadDeadline(time.Now().Add(30 * time.Second))
		for i := range msgs {
			p, _, err := wsutil.ReadClientData(c)
			if err == nil {
				err = checkSeq(p, i, size)
			}
			if err != nil {
				result <- err
				return
			}
		}
		result <- wsutil.WriteServerMessage(c, ws.OpText, []byte("all in order"))
	})
	th := throngBefore(t, host, backend, "")
	pid := th.cmd.Process.Pid
	startRSS := procStatusKB(t, pid, "VmRSS")

	c := dialWS(t, th.addr, "/")
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(40 * time.Second))
	wrote := make(chan error, 1)
	go func() {
		for i := range msgs {
			if err := wsutil.WriteClientMessage(c, ws.OpBinary, seqMessage(i, size)); err != nil {
				wrote <- fmt.Errorf("message %d: %w", i, err)
				return
			}
		}
		wrote <- nil
	}()
	select {
	case err := <-wrote:
		t.Fatalf("the client wrote all 40 MiB while the backend read nothing (%v): nothing slowed it down; %s", err, stats(t, th))
	case <-reading:
	}
	during := procStatusKB(t, pid, "VmRSS")
	if err := <-wrote; err != nil {
		t.Fatal(err)
	}
	if err := <-result; err != nil {
		t.Fatalf("backend: %v", err)
	}
	reply, _, err := wsutil.ReadServerData(c)
	if err != nil || string(reply) != "all in order" {
		t.Fatalf("reply %q, %v", reply, err)
	}
	peak := procStatusKB(t, pid, "VmHWM")
	t.Logf("throng RSS at start %d KiB, while the backend stalled %d KiB, peak %d KiB", startRSS>>10, during>>10, peak>>10)
	if grew := peak - startRSS; grew > 8<<20 {
		t.Errorf("throng's RSS grew by %d KiB, want a few MiB at most", grew>>10)
	}
	line := stats(t, th)
	if statOf(t, line, "pauses") == 0 {
		t.Errorf("no pause counted: %s", line)
	}
	if n := statOf(t, line, "slow_consumer"); n != 0 {
		t.Errorf("slow_consumer %d, want 0", n)
	}
}

// TestSlowReaderPaced: a client takes 50 MiB at about 1 MiB/s. The proxy
// holds the backend back instead of buffering what it sends, and every
// byte arrives.
func TestSlowReaderPaced(t *testing.T) {
	t.Parallel()
	host := newHost()
	backend := net.JoinHostPort(host, "19001")
	const msgs, size = 800, 64 << 10 // 50 MiB
	sent := make(chan error, 1)
	wsBackend(t, backend, func(c net.Conn) {
		_ = c.SetWriteDeadline(time.Now().Add(120 * time.Second))
		for i := range msgs {
			if err := wsutil.WriteServerMessage(c, ws.OpBinary, seqMessage(i, size)); err != nil {
				sent <- fmt.Errorf("message %d: %w", i, err)
				return
			}
		}
		sent <- nil
		_, _, _ = wsutil.ReadClientData(c) // until the client closes
	})
	th := throngBefore(t, host, backend, "")
	pid := th.cmd.Process.Pid
	startRSS := procStatusKB(t, pid, "VmRSS")

	c := dialWS(t, th.addr, "/")
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(120 * time.Second))
	// Read in 16 KiB steps paced to 1 MiB/s.
	r := wsutil.NewReader(c, ws.StateClientSide)
	buf := make([]byte, 16<<10)
	start := time.Now()
	var total int64
	var maxRSS int64
	msg := make([]byte, 0, size)
	for i := 0; i < msgs; {
		hdr, err := r.NextFrame()
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		if hdr.OpCode != ws.OpBinary {
			t.Fatalf("message %d: opcode %v", i, hdr.OpCode)
		}
		msg = msg[:0]
		for {
			n, err := r.Read(buf)
			msg = append(msg, buf[:n]...)
			total += int64(n)
			if want := start.Add(time.Duration(total) * time.Second / (1 << 20)); time.Until(want) > 0 {
				time.Sleep(time.Until(want)) // pacing the reader is the test's point
			}
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("message %d: %v", i, err)
			}
		}
		if err := checkSeq(msg, i, size); err != nil {
			t.Fatal(err)
		}
		i++
		if i%100 == 0 {
			maxRSS = max(maxRSS, procStatusKB(t, pid, "VmRSS"))
		}
	}
	if err := <-sent; err != nil {
		t.Fatalf("backend: %v", err)
	}
	t.Logf("50 MiB read in %v; throng RSS at start %d KiB, highest seen %d KiB, peak %d KiB",
		time.Since(start).Round(time.Second), startRSS>>10, maxRSS>>10, procStatusKB(t, pid, "VmHWM")>>10)
	if grew := maxRSS - startRSS; grew > 8<<20 {
		t.Errorf("throng's RSS grew by %d KiB while the reader lagged, want a few MiB at most", grew>>10)
	}
	if n := statOf(t, stats(t, th), "slow_consumer"); n != 0 {
		t.Errorf("slow_consumer %d, want 0", n)
	}
}

// TestWriteTimeout: a client that reads nothing while the backend sends is
// closed once it has accepted no byte for timeouts.write; the backend is
// told 1001, and the session is counted as a slow consumer.
func TestWriteTimeout(t *testing.T) {
	host := newHost()
	backend := net.JoinHostPort(host, "19001")
	closed := make(chan ws.StatusCode, 1)
	wsBackend(t, backend, func(c net.Conn) {
		_ = c.SetDeadline(time.Now().Add(30 * time.Second))
		go func() { closed <- readUntilClose(c) }()
		chunk := bytes.Repeat([]byte("x"), 64<<10)
		for wsutil.WriteServerMessage(c, ws.OpBinary, chunk) == nil {
		}
	})
	th := startThrong(t, net.JoinHostPort(host, "18080"), withTimeouts(basicConfig(net.JoinHostPort(host, "18080"),
		[]string{backend}, ""), `write = "2s"`))
	c := dialWS(t, th.addr, "/")
	defer c.Close()
	start := time.Now()
	select {
	case code := <-closed:
		if code != 1001 {
			t.Errorf("backend got Close %d, want 1001", code)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("backend not told after 15s that the client stopped reading")
	}
	t.Logf("closed after %v", time.Since(start).Round(100*time.Millisecond))
	if el := time.Since(start); el < 2*time.Second {
		t.Errorf("closed after %v, before timeouts.write", el)
	}
	// The client's connection is closed: reading away what the kernel
	// holds ends in EOF or a reset.
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, err := io.Copy(io.Discard, c)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatal("client connection still open")
	}
	line := stats(t, th)
	if statOf(t, line, "write_timeouts") != 1 || statOf(t, line, "slow_consumer") != 1 {
		t.Errorf("want write_timeouts 1 and slow_consumer 1: %s", line)
	}
	fresh := dialWS(t, th.addr, "/")
	defer fresh.Close()
	wsutil.WriteClientMessage(fresh, ws.OpText, []byte("still here"))
}

// TestStalledMinority: of 1,000 echo sessions, 100 send 8 MiB each and stop
// reading (with small receive buffers, so that the kernel cannot absorb
// their echo). The other 900 keep echoing (their latency is logged); the
// stalled ones lose nothing and finish once they read again.
func TestStalledMinority(t *testing.T) {
	th := setup(t, "")
	const n, stalled = 1000, 100
	const big = 8 << 20
	conns := make([]net.Conn, n)
	for i := range conns {
		conns[i] = dialWS(t, th.addr, "/")
		defer conns[i].Close()
		if i < stalled {
			setReadBuffer(t, conns[i], 32<<10)
		}
	}
	// The stalled ones write their 4 MiB without reading.
	var wg sync.WaitGroup
	errs := make(chan error, n)
	bigMsg := bytes.Repeat([]byte("stall"), big/5+1)[:big]
	for i := range stalled {
		wg.Go(func() {
			c := conns[i]
			_ = c.SetWriteDeadline(time.Now().Add(60 * time.Second))
			if err := wsutil.WriteClientMessage(c, ws.OpBinary, bigMsg); err != nil {
				errs <- fmt.Errorf("stalled %d: write: %w", i, err)
			}
		})
	}
	var last string
	defer func() {
		if t.Failed() {
			t.Logf("last stats: %s", last)
		}
	}()
	enginetest.WaitForWithin(t, 60*time.Second, "flow control pausing the stalled sessions", func() bool {
		last = stats(t, th)
		return statOf(t, last, "pauses") >= stalled*9/10 // most: one may be absorbed by kernel buffers
	})
	// The others echo, 20 rounds each, while the stalled ones stay stalled.
	lat := make([]time.Duration, 0, (n-stalled)*20)
	var mu sync.Mutex
	var ewg sync.WaitGroup
	for i := stalled; i < n; i++ {
		ewg.Go(func() {
			c := conns[i]
			_ = c.SetDeadline(time.Now().Add(60 * time.Second))
			for m := range 20 {
				p := sessionMessage(i, m)
				t0 := time.Now()
				if err := echoOnce(c, ws.OpBinary, p); err != nil {
					errs <- fmt.Errorf("session %d message %d: %w", i, m, err)
					return
				}
				mu.Lock()
				lat = append(lat, time.Since(t0))
				mu.Unlock()
			}
		})
	}
	ewg.Wait()
	slices.Sort(lat)
	if len(lat) > 0 {
		t.Logf("900 sessions echoing beside 100 stalled: %d echoes, p50 %v, p99 %v, max %v",
			len(lat), lat[len(lat)/2], lat[len(lat)*99/100], lat[len(lat)-1])
	}
	line := stats(t, th)
	t.Logf("while stalled: %s", line)
	if statOf(t, line, "slow_consumer") != 0 {
		t.Errorf("a stalled session was cut off: %s", line)
	}
	// Now the stalled ones read: every echo arrives whole.
	for i := range stalled {
		wg.Go(func() {
			c := conns[i]
			_ = c.SetReadDeadline(time.Now().Add(60 * time.Second))
			got, _, err := wsutil.ReadServerData(c)
			if err != nil || !bytes.Equal(got, bigMsg) {
				errs <- fmt.Errorf("stalled %d: echo of %d bytes, %v", i, len(got), err)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// setReadBuffer sets SO_RCVBUF of the TCP connection under c.
func setReadBuffer(t testing.TB, c net.Conn, n int) {
	t.Helper()
	if b, ok := c.(*bufConn); ok {
		c = b.Conn
	}
	if err := c.(*net.TCPConn).SetReadBuffer(n); err != nil {
		t.Fatal(err)
	}
}

// procCPU is the user plus system CPU time process pid has used (clock
// ticks of 10 ms).
func procCPU(t testing.TB, pid int) time.Duration {
	t.Helper()
	p, err := sysstat.ReadProc(pid)
	if err != nil {
		t.Fatal(err)
	}
	return time.Duration(p.CPUSeconds * float64(time.Second))
}

// BenchmarkPauseResume measures what flow control costs the proxy. An op
// is one 16 MiB message echoed to a client that reads only after writing it
// whole, through a receive buffer of 64 KiB (more than the kernel buffers
// hold on loopback): with the default
// write_buffer_limit the echo pauses and resumes the backend, with a limit
// of 1 GiB it is queued whole and nothing pauses. The difference in
// throng's CPU per op, over the pauses per op, is the cost of a pause and
// its resume (BENCHMARKS.md, "Flow control"). Run with -benchtime=50x.
func BenchmarkPauseResume(b *testing.B) {
	for _, limit := range []string{"4MiB", "1GiB"} {
		b.Run("write_buffer_limit="+limit, func(b *testing.B) {
			host := newHost()
			backend, listen := net.JoinHostPort(host, "19001"), net.JoinHostPort(host, "18080")
			startBackend(b, backend)
			th := startThrong(b, listen, basicConfig(listen, []string{backend},
				fmt.Sprintf("[limits]\nwrite_buffer_limit = %q\n", limit)))
			c := dialWS(b, th.addr, "/")
			defer c.Close()
			setReadBuffer(b, c, 64<<10)
			msg := bytes.Repeat([]byte("pause"), (16<<20)/5)
			before := statOf(b, stats(b, th), "pauses")
			cpu := procCPU(b, th.cmd.Process.Pid)
			b.ResetTimer()
			for range b.N {
				if err := wsutil.WriteClientMessage(c, ws.OpBinary, msg); err != nil {
					b.Fatal(err)
				}
				got, _, err := wsutil.ReadServerData(c)
				if err != nil || len(got) != len(msg) {
					b.Fatalf("echo: %d bytes, %v", len(got), err)
				}
			}
			b.StopTimer()
			used := procCPU(b, th.cmd.Process.Pid) - cpu
			pauses := statOf(b, stats(b, th), "pauses") - before
			b.ReportMetric(float64(used.Microseconds())/float64(b.N), "proxy-cpu-µs/op")
			b.ReportMetric(float64(pauses)/float64(b.N), "pauses/op")
		})
	}
}

// TestClientLeavesWhilePaused: a client that stopped reading, with its
// backend paused because of it, disconnects. The session still ends: the
// paused backend is attached again, told 1001 and closed, and no socket is
// left detached.
func TestClientLeavesWhilePaused(t *testing.T) {
	host := newHost()
	backend := net.JoinHostPort(host, "19001")
	gotClose := make(chan ws.StatusCode, 1)
	wsBackend(t, backend, func(c net.Conn) {
		_ = c.SetReadDeadline(time.Now().Add(30 * time.Second))
		go func() { gotClose <- readUntilClose(c) }()
		_ = c.SetWriteDeadline(time.Now().Add(30 * time.Second))
		chunk := bytes.Repeat([]byte("y"), 64<<10)
		for wsutil.WriteServerMessage(c, ws.OpBinary, chunk) == nil {
		}
	})
	addr := net.JoinHostPort(host, "18080")
	th := startThrong(t, addr, basicConfig(addr, []string{backend}, ""))
	c := dialWS(t, th.addr, "/")
	setReadBuffer(t, c, 32<<10)
	enginetest.WaitForWithin(t, 10*time.Second, "the backend paused", func() bool {
		return statOf(t, stats(t, th), "detached") == 1
	})
	c.Close()
	select {
	case code := <-gotClose:
		if code != 1001 {
			t.Errorf("backend got Close %d, want 1001", code)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the paused backend never heard that the client left")
	}
	enginetest.WaitFor(t, "the session to end with nothing detached", func() bool {
		line := stats(t, th)
		return statOf(t, line, "sessions") == 0 && statOf(t, line, "detached") == 0
	})
}
