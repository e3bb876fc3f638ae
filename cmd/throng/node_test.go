package main

// The independent-client suite: Node's `ws` package (testdata/node, pinned in
// package-lock.json, installed with `npm ci`) as client, and as backend for
// permessage-deflate, against the real throng. Each script checks its own
// expectations and exits non-zero with a message; these tests run it with a
// deadline and show its output on failure.

import (
	"context"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gobwas/ws"
)

// nodeDir holds the scripts, package.json and node_modules.
const nodeDir = "testdata/node"

// requireNode returns the path of node, or skips the test when node or the
// ws package is missing. With THRONG_REQUIRE_NODE=1 (make test) a missing
// dependency fails the test instead.
func requireNode(t *testing.T) string {
	t.Helper()
	missing := func(what string) {
		t.Helper()
		if os.Getenv("THRONG_REQUIRE_NODE") == "1" {
			t.Fatalf("%s (THRONG_REQUIRE_NODE=1; run `make node-deps`)", what)
		}
		t.Skipf("%s; run `make node-deps` to enable the Node suite", what)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		missing("node not found in PATH")
	}
	if _, err := os.Stat(filepath.Join(nodeDir, "node_modules", "ws", "package.json")); err != nil {
		missing(nodeDir + "/node_modules/ws is missing")
	}
	return node
}

// runNode runs `node script args...` in nodeDir and fails the test, showing
// the script's output, if it exits non-zero or outlives timeout.
func runNode(t *testing.T, node string, timeout time.Duration, script string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, append([]string{script}, args...)...)
	cmd.Dir = nodeDir
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("node %s %s: killed after %v\n%s", script, strings.Join(args, " "), timeout, tail(string(out)))
	}
	if err != nil {
		t.Fatalf("node %s %s: %v\n%s", script, strings.Join(args, " "), err, tail(string(out)))
	}
	t.Logf("node %s: %s", script, strings.TrimSpace(string(out)))
	return string(out)
}

// startNodeBackend runs `node script addr` in nodeDir until the test ends and
// waits until it accepts connections on addr.
func startNodeBackend(t *testing.T, node, script, addr string) *proc {
	t.Helper()
	p := &proc{cmd: exec.Command(node, script, addr), done: make(chan struct{})}
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL} // as launch does
	p.cmd.Dir = nodeDir
	p.cmd.Stdout, p.cmd.Stderr = p, p
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start node %s: %v", script, err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.stop(t)
		if t.Failed() {
			t.Logf("node %s output:\n%s", script, tail(p.Output()))
		}
	})
	waitAccepting(t, p, addr)
	return p
}

// TestNodeClient: Node's ws client through throng to the echo backend.
func TestNodeClient(t *testing.T) {
	node := requireNode(t)
	th := setup(t, "")
	runNode(t, node, 90*time.Second, "client.js", "ws://"+th.addr+"/")
}

// TestNodeDeflate: a Node ws backend that accepts permessage-deflate behind
// throng; compressed (RSV1) frames pass both ways when it was negotiated,
// and a client that does not offer it gets plain frames.
func TestNodeDeflate(t *testing.T) {
	node := requireNode(t)
	host := newHost()
	backend := net.JoinHostPort(host, "19001")
	startNodeBackend(t, node, "deflate-backend.js", backend)
	addr := net.JoinHostPort(host, "18080")
	startThrong(t, addr, basicConfig(addr, []string{backend}, ""))
	runNode(t, node, 90*time.Second, "deflate-client.js", "ws://"+addr+"/")
}

// TestNodeErrors: refusals and protocol errors as a Node client sees them.
// /dead routes to a port where nothing listens.
func TestNodeErrors(t *testing.T) {
	node := requireNode(t)
	host := newHost()
	backend := net.JoinHostPort(host, "19001")
	startBackend(t, backend)
	addr := net.JoinHostPort(host, "18080")
	dead := net.JoinHostPort(host, "19009")
	extra := "[[route]]\nhost = \"*\"\npath_prefix = \"/dead\"\nupstream = \"dead\"\n\n" +
		"[[upstream]]\nname = \"dead\"\nbackends = [{ addr = \"" + dead + "\" }]\n"
	startThrong(t, addr, basicConfig(addr, []string{backend}, extra))
	runNode(t, node, 60*time.Second, "errors.js", addr)
}

// TestNodeManyClients: 200 concurrent Node clients, 20 echoes each.
func TestNodeManyClients(t *testing.T) {
	node := requireNode(t)
	th := setup(t, "")
	runNode(t, node, 90*time.Second, "many.js", "ws://"+th.addr+"/", "200", "20")
}

// TestNodeStickyCookie: Node's ws client reads the sticky cookie from the
// 101 and, sending it back, keeps landing on the same one of three backends.
func TestNodeStickyCookie(t *testing.T) {
	node := requireNode(t)
	host := newHost()
	var backends []string
	for _, port := range []string{"19001", "19002", "19003"} {
		b := net.JoinHostPort(host, port)
		taggedBackend(t, b)
		backends = append(backends, b)
	}
	addr := net.JoinHostPort(host, "18080")
	startThrong(t, addr, upstreamConfig(addr, backends, "sticky_cookie = \"throng_backend\""))
	runNode(t, node, 40*time.Second, "sticky.js", "ws://"+addr+"/")
}

// TestNodeHardening: issue 9's defects as Node's ws client and HTTP parser
// see them (testdata/node/hardening.js says what each path checks).
func TestNodeHardening(t *testing.T) {
	node := requireNode(t)
	host := newHost()
	backend := net.JoinHostPort(host, "19001")
	fakeBackend(t, backend, func(c net.Conn) {
		head, err := readHead(c)
		if err != nil {
			return
		}
		accept := "Sec-WebSocket-Accept: " + wsAcceptKey(headValue(head, "Sec-WebSocket-Key")) + "\r\n"
		switch path := strings.Fields(head)[1]; path {
		case "/spoof":
			seen := "none"
			for _, h := range []string{"X-Real-IP", "Forwarded", "True-Client-IP"} {
				if v := headValue(head, h); v != "" {
					seen = h + ": " + v
				}
			}
			_, _ = io.WriteString(c, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+accept+"X-Seen: "+seen+"\r\n\r\n")
			_, _ = io.Copy(io.Discard, c)
		case "/chunked":
			_, _ = io.WriteString(c, "HTTP/1.1 403 Forbidden\r\nTransfer-Encoding: chunked\r\n\r\n3\r\ngo \r\n4\r\naway\r\n0\r\n\r\n")
		case "/cut":
			_, _ = io.WriteString(c, "HTTP/1.1 403 Forbidden\r\nContent-Length: 99999999\r\n\r\n"+strings.Repeat("x", 1000))
		case "/bad-close":
			_, _ = io.WriteString(c, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+accept+"\r\n")
			_, _ = c.Write(wireFrame(true, 0, ws.OpClose, false, []byte{0x03, 0xed}))
			_, _ = io.Copy(io.Discard, c)
		}
	})
	addr := net.JoinHostPort(host, "18080")
	startThrong(t, addr, basicConfig(addr, []string{backend}, ""))
	runNode(t, node, 40*time.Second, "hardening.js", addr)
}

// TestNodeFlowControl: flow control as Node's ws sees it, as client and as
// backend (testdata/node/flow.js says what it checks).
func TestNodeFlowControl(t *testing.T) {
	node := requireNode(t)
	host := newHost()
	backend, addr := net.JoinHostPort(host, "19001"), net.JoinHostPort(host, "18080")
	th := startThrong(t, addr, basicConfig(addr, []string{backend}, ""))
	runNode(t, node, 100*time.Second, "flow.js", addr, backend)
	if n := statOf(t, stats(t, th), "slow_consumer"); n != 0 {
		t.Errorf("slow_consumer %d, want 0", n)
	}
}
