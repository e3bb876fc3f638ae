package main

// The integration tests build the real binaries once, then start throng and
// real backends on loopback, each test on its own address from
// enginetest.Host, so that packages and tests never collide (SO_REUSEPORT
// would let two listeners share a port silently).

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"

	"github.com/throngproxy/throng/engine/enginetest"
)

var (
	throngBin string
	benchBin  string
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "throng-it-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bins, err := enginetest.Build(dir, ".", "../throng-bench")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	throngBin, benchBin = bins["throng"], bins["throng-bench"]
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// newHost hands out a loopback address no other test, of this package or
// another running beside it, uses.
func newHost() string { return enginetest.Host() }

// proc is a started child process whose output is captured.
type proc struct {
	cmd  *exec.Cmd
	mu   sync.Mutex
	out  bytes.Buffer
	done chan struct{}
	err  error
}

func (p *proc) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.Write(b)
}

// Output returns what the process has written so far.
func (p *proc) Output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

func launch(t testing.TB, prefix []string, bin string, args ...string) *proc {
	t.Helper()
	argv := append(append(append([]string(nil), prefix...), bin), args...)
	p := &proc{cmd: exec.Command(argv[0], argv[1:]...), done: make(chan struct{})}
	// Killed with the test process, whatever ends it: an orphan would keep
	// its listeners on an address the next run's enginetest.Host hands out.
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	p.cmd.Stdout, p.cmd.Stderr = p, p
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", bin, err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	return p
}

// stop sends SIGTERM and waits for the exit (SIGKILL after 15 s).
func (p *proc) stop(t testing.TB) {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(15 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
		t.Errorf("process %d did not exit on SIGTERM; output:\n%s", p.cmd.Process.Pid, tail(p.Output()))
	}
}

func tail(s string) string {
	if len(s) > 4000 {
		return "..." + s[len(s)-4000:]
	}
	return s
}

// waitAccepting waits until addr accepts TCP connections or p exits.
func waitAccepting(t testing.TB, p *proc, addr string) {
	t.Helper()
	enginetest.WaitForWithin(t, 10*time.Second, addr+" accepting", func() bool {
		select {
		case <-p.done:
			t.Fatalf("process exited before listening on %s: %v\n%s", addr, p.err, tail(p.Output()))
		default:
		}
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err != nil {
			return false
		}
		c.Close()
		return true
	})
}

// startBackend runs the bundled echo server on addr.
func startBackend(t testing.TB, addr string, extra ...string) *proc {
	t.Helper()
	p := launch(t, nil, benchBin, append([]string{"serve", "-listen", addr, "-loops", "1"}, extra...)...)
	t.Cleanup(func() { p.stop(t) })
	waitAccepting(t, p, addr)
	return p
}

// throng is a running proxy under test.
type throng struct {
	*proc
	addr string
	cfg  string
}

// startThrong runs throng with cfg (a TOML document) whose listen address is addr.
func startThrong(t testing.TB, addr, cfg string, prefix ...string) *throng {
	t.Helper()
	path := filepath.Join(t.TempDir(), "throng.toml")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	p := launch(t, prefix, throngBin, "-config", path)
	th := &throng{proc: p, addr: addr, cfg: path}
	t.Cleanup(func() {
		p.stop(t)
		if t.Failed() {
			t.Logf("throng output:\n%s", tail(p.Output()))
		}
	})
	waitAccepting(t, p, addr)
	return th
}

// basicConfig is a proxy on listen in front of backends with short timeouts.
// extra is appended; keys of a "[server]" table at its start join the
// server table instead.
func basicConfig(listen string, backends []string, extra string) string {
	var b strings.Builder
	var server string
	if rest, ok := strings.CutPrefix(extra, "[server]\n"); ok {
		server, extra = rest, ""
		if i := strings.Index(rest, "\n["); i >= 0 {
			server, extra = rest[:i+1], rest[i+1:]
		}
	}
	fmt.Fprintf(&b, "[server]\nlisten = [%q]\nloops = 2\n%s\n", listen, server)
	fmt.Fprintf(&b, "[timeouts]\nhandshake = \"3s\"\nconnect = \"1s\"\nupstream_handshake = \"2s\"\nclose = \"1s\"\n\n")
	b.WriteString("[[route]]\nhost = \"*\"\npath_prefix = \"/\"\nupstream = \"main\"\n\n")
	b.WriteString("[[upstream]]\nname = \"main\"\nbalance = \"round_robin\"\nbackends = [")
	for i, a := range backends {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "{ addr = %q }", a)
	}
	b.WriteString("]\n\n")
	b.WriteString(extra)
	return b.String()
}

// throngBefore starts a throng on host:18080 in front of backend; extra
// joins the config as in basicConfig.
func throngBefore(t testing.TB, host, backend, extra string) *throng {
	t.Helper()
	addr := net.JoinHostPort(host, "18080")
	return startThrong(t, addr, basicConfig(addr, []string{backend}, extra))
}

// setup starts an echo backend and a throng in front of it.
func setup(t testing.TB, extra string) *throng {
	t.Helper()
	host := newHost()
	backend := net.JoinHostPort(host, "19001")
	startBackend(t, backend)
	return startThrong(t, net.JoinHostPort(host, "18080"), basicConfig(net.JoinHostPort(host, "18080"), []string{backend}, extra))
}

// dialWS opens a WebSocket through the proxy.
func dialWS(t testing.TB, addr, path string) net.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, br, _, err := ws.Dialer{}.Dial(ctx, "ws://"+addr+path)
	if err != nil {
		t.Fatalf("dial ws://%s%s: %v", addr, path, err)
	}
	if br != nil {
		// Frames the backend sent right behind its 101: keep them.
		return &bufConn{Conn: c, r: br}
	}
	return c
}

type bufConn struct {
	net.Conn
	r *bufio.Reader
}

func (b *bufConn) Read(p []byte) (int, error) { return b.r.Read(p) }

// rawRequest sends req on a fresh TCP connection and returns the response
// status and the whole answer, reading until the proxy closes.
func rawRequest(t testing.TB, addr, req string) (int, string) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(8 * time.Second))
	if _, err := io.WriteString(c, req); err != nil {
		t.Fatal(err)
	}
	all, err := io.ReadAll(c)
	if err != nil && len(all) == 0 {
		t.Fatalf("read answer: %v", err)
	}
	return statusOf(string(all)), string(all)
}

func statusOf(resp string) int {
	if !strings.HasPrefix(resp, "HTTP/1.1 ") || len(resp) < 12 {
		return 0
	}
	n, _ := strconv.Atoi(resp[9:12])
	return n
}

// upgradeRequest is a valid client handshake for host.
func upgradeRequest(host, path string, extra ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n", path, host)
	b.WriteString("Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n")
	for _, h := range extra {
		b.WriteString(h)
		b.WriteString("\r\n")
	}
	b.WriteString("\r\n")
	return b.String()
}

// readFrameTimeout reads one whole frame (server role: unmasked) with a deadline.
func readFrame(t testing.TB, c net.Conn, d time.Duration) ws.Frame {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(d))
	defer c.SetReadDeadline(time.Time{})
	f, err := ws.ReadFrame(c)
	if err != nil {
		t.Fatalf("read frame: %v", err)
	}
	return f
}

// expectClose reads until a Close frame and returns its code.
func expectClose(t testing.TB, c net.Conn, d time.Duration) ws.StatusCode {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		_ = c.SetReadDeadline(deadline)
		f, err := ws.ReadFrame(c)
		if err != nil {
			t.Fatalf("waiting for close: %v", err)
		}
		if f.Header.OpCode == ws.OpClose {
			code, _ := ws.ParseCloseFrameData(f.Payload)
			return code
		}
	}
}

// expectEOF waits for the peer to close the TCP connection.
func expectEOF(t testing.TB, c net.Conn, d time.Duration) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(d))
	buf := make([]byte, 4096)
	for {
		_, err := c.Read(buf)
		if err == nil {
			continue
		}
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			t.Fatalf("connection still open after %v", d)
		}
		return
	}
}

// echo sends a message and checks it comes back byte-exact. It reads while
// it writes, as a real client does: a client that stops reading while it
// uploads megabytes is held back by flow control, and closed once it has
// accepted nothing for timeouts.write.
func echo(t testing.TB, c net.Conn, op ws.OpCode, payload []byte) {
	t.Helper()
	_ = c.SetDeadline(time.Now().Add(20 * time.Second))
	defer c.SetDeadline(time.Time{})
	werr := make(chan error, 1)
	go func() { werr <- wsutil.WriteClientMessage(c, op, payload) }()
	got, gotOp, err := wsutil.ReadServerData(c)
	if err := <-werr; err != nil {
		t.Fatalf("write: %v", err)
	}
	if err != nil {
		t.Fatalf("read echo of %d bytes: %v", len(payload), err)
	}
	if gotOp != op || !bytes.Equal(got, payload) {
		t.Fatalf("echo of %d bytes op %v: got %d bytes op %v", len(payload), op, len(got), gotOp)
	}
}

func newReader(c net.Conn) *bufio.Reader { return bufio.NewReaderSize(c, 64<<10) }

// readStatus reads an HTTP response head from br and returns its status.
func readStatus(t testing.TB, br *bufio.Reader) int {
	t.Helper()
	line, err := br.ReadString('\n')
	if err != nil {
		t.Fatalf("read status line: %v", err)
	}
	st := statusOf(line)
	for {
		l, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("read head: %v", err)
		}
		if l == "\r\n" || l == "\n" {
			return st
		}
	}
}

// rw reads from a buffered reader and writes to the connection under it.
type rw struct {
	io.Reader
	io.Writer
}
