package main

// Operations: flags, config checking, listen addresses, idle timeout,
// SIGTERM drain and SIGHUP reload, each against the real binary.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"golang.org/x/sys/unix"

	"github.com/throngproxy/throng/engine/enginetest"
)

// writeConfig writes cfg to a fresh throng.toml and returns its path.
func writeConfig(t *testing.T, cfg string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "throng.toml")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// runThrongCmd runs throng with args to completion (10 s at most) and
// returns its combined output and exit code.
func runThrongCmd(t *testing.T, args ...string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, throngBin, args...).CombinedOutput()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return string(out), 0
	case ctx.Err() != nil:
		t.Fatalf("throng %v did not finish within 10s:\n%s", args, out)
	case errors.As(err, &ee):
		return string(out), ee.ExitCode()
	default:
		t.Fatalf("throng %v: %v", args, err)
	}
	return "", -1
}

// waitExit waits up to d for p to exit and returns its exit code.
func waitExit(t *testing.T, p *proc, d time.Duration) int {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(d):
		t.Fatalf("process still running after %v:\n%s", d, tail(p.Output()))
	}
	var ee *exec.ExitError
	switch {
	case p.err == nil:
		return 0
	case errors.As(p.err, &ee):
		return ee.ExitCode()
	default:
		t.Fatalf("wait: %v", p.err)
		return -1
	}
}

// logRecord is one JSON log line of throng.
type logRecord map[string]any

func (r logRecord) str(key string) string {
	switch v := r[key].(type) {
	case string:
		return v
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	}
	return ""
}

// logRecords parses throng's output so far; lines that are not JSON are
// skipped.
func logRecords(p *proc) []logRecord {
	var recs []logRecord
	for _, l := range strings.Split(p.Output(), "\n") {
		var r logRecord
		if json.Unmarshal([]byte(l), &r) == nil {
			recs = append(recs, r)
		}
	}
	return recs
}

// waitLog waits up to d for the n-th (1-based) log record matching match.
func waitLog(t *testing.T, p *proc, d time.Duration, n int, what string, match func(logRecord) bool) logRecord {
	t.Helper()
	var found logRecord
	enginetest.WaitForWithin(t, d, fmt.Sprintf("log record #%d for %s", n, what), func() bool {
		seen := 0
		for _, r := range logRecords(p) {
			if match(r) {
				if seen++; seen == n {
					found = r
					return true
				}
			}
		}
		return false
	})
	return found
}

// accessLine waits for the access-log line of the session whose client
// address is client.
func accessLine(t *testing.T, p *proc, client string) logRecord {
	t.Helper()
	return waitLog(t, p, 5*time.Second, 1, "session closed of "+client, func(r logRecord) bool {
		return r.str("msg") == "session closed" && r.str("client") == client
	})
}

// withTimeouts adds lines to the [timeouts] table of a basicConfig.
func withTimeouts(cfg, lines string) string {
	return strings.Replace(cfg, "close = \"1s\"\n", "close = \"1s\"\n"+lines, 1)
}

func TestVersionFlag(t *testing.T) {
	out, code := runThrongCmd(t, "-version")
	if code != 0 {
		t.Fatalf("exit code %d, want 0:\n%s", code, out)
	}
	f := strings.Fields(out)
	if len(f) != 2 || f[0] != "throng" || f[1] == "" {
		t.Fatalf("output %q, want \"throng <version>\"", out)
	}
}

func TestCheckConfig(t *testing.T) {
	good := basicConfig("127.0.0.1:8080", []string{"127.0.0.1:9001"}, "")
	tests := []struct {
		name string
		cfg  string
		code int
		want []string // each must appear in the output
	}{
		{"good", good, 0, []string{"throng.toml: ok"}},
		{"example file", "", 0, []string{"throng.toml: ok"}},
		{"sticky cookie without secret", strings.Replace(good, "name = \"main\"", "name = \"main\"\nsticky_cookie = \"sid\"", 1), 0,
			[]string{`warning: upstream "main": sticky_cookie without sticky_secret`, "throng.toml: ok"}},
		{
			"unknown key",
			"[server]\nlisten = [\"127.0.0.1:8080\"]\n\nbogus_key = 1\n\n[[route]]\nupstream = \"main\"\n\n[[upstream]]\nname = \"main\"\nbackends = [{ addr = \"127.0.0.1:9001\" }]\n",
			1,
			[]string{"throng.toml:4:", "bogus_key"},
		},
		{
			"unknown key in a backend",
			strings.Replace(good, "{ addr = ", "{ adr = ", 1),
			1,
			[]string{"throng.toml:" + strconv.Itoa(1+strings.Count(good[:strings.Index(good, "{ addr")], "\n")) + ":", "adr"},
		},
		{
			"several invalid values",
			"[server]\nlisten = [\"127.0.0.1:8080\"]\nloops = 9999\n\n[limits]\nmax_frame_bytes = \"10B\"\n\n[timeouts]\nclose = \"0s\"\n\n" +
				"[[route]]\nupstream = \"nope\"\n\n[[upstream]]\nname = \"main\"\nbackends = [{ addr = \"127.0.0.1:0\" }]\n",
			1,
			[]string{"server.loops", "limits.max_frame_bytes", "timeouts.close", "route[0].upstream", "upstream[0].backends[0].addr"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := tt.cfg
			if cfg == "" {
				b, err := os.ReadFile("../../examples/throng.toml")
				if err != nil {
					t.Fatal(err)
				}
				cfg = string(b)
			}
			out, code := runThrongCmd(t, "-check-config", "-config", writeConfig(t, cfg))
			if code != tt.code {
				t.Errorf("exit code %d, want %d; output:\n%s", code, tt.code, out)
			}
			for _, w := range tt.want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
		})
	}
}

// TestListenIPv6: a listener on [::1] serves clients that come over IPv6.
func TestListenIPv6(t *testing.T) {
	probe, err := net.Listen("tcp", "[::1]:0")
	if err != nil {
		t.Skipf("::1 unavailable: %v", err)
	}
	// The port the kernel just handed out is free; nothing else of ours
	// listens on ::1.
	addr := probe.Addr().String()
	probe.Close()
	backend := net.JoinHostPort(newHost(), "19001")
	startBackend(t, backend)
	th := startThrong(t, addr, basicConfig(addr, []string{backend}, ""))
	c := dialWS(t, addr, "/")
	echo(t, c, ws.OpText, []byte("over ipv6"))
	client := c.LocalAddr().String()
	c.Close()
	if !strings.HasPrefix(client, "[::1]:") {
		t.Fatalf("client address %s, want [::1]:port", client)
	}
	if r := accessLine(t, th.proc, client); r.str("backend") != backend {
		t.Errorf("access log backend %q, want %q", r.str("backend"), backend)
	}
}

// listenAccepting listens on addr (with SO_REUSEPORT when reusePort) and
// accepts and drops connections until the test ends.
func listenAccepting(t *testing.T, addr string, reusePort bool) net.Listener {
	t.Helper()
	var lc net.ListenConfig
	if reusePort {
		lc.Control = func(_, _ string, rc syscall.RawConn) error {
			var serr error
			err := rc.Control(func(fd uintptr) {
				serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
			})
			return errors.Join(err, serr)
		}
	}
	ln, err := lc.Listen(context.Background(), "tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	return ln
}

// TestAddressInUse: throng refuses an address another process serves,
// unless started with -takeover.
func TestAddressInUse(t *testing.T) {
	t.Run("refused", func(t *testing.T) {
		host := newHost()
		addr := net.JoinHostPort(host, "18080")
		listenAccepting(t, addr, false)
		p := launch(t, nil, throngBin, "-config", writeConfig(t, basicConfig(addr, []string{net.JoinHostPort(host, "19001")}, "")))
		t.Cleanup(func() { p.stop(t) })
		if code := waitExit(t, p, 10*time.Second); code == 0 {
			t.Fatalf("exit code 0, want non-zero; output:\n%s", p.Output())
		}
		out := p.Output()
		for _, w := range []string{addr, "already in use", "-takeover"} {
			if !strings.Contains(out, w) {
				t.Errorf("output lacks %q:\n%s", w, out)
			}
		}
	})
	t.Run("takeover", func(t *testing.T) {
		host := newHost()
		backend := net.JoinHostPort(host, "19001")
		startBackend(t, backend)
		addr := net.JoinHostPort(host, "18080")
		// The "old process": it shares the port through SO_REUSEPORT, as an
		// older throng does.
		old := listenAccepting(t, addr, true)
		p := launch(t, nil, throngBin, "-takeover", "-config", writeConfig(t, basicConfig(addr, []string{backend}, "")))
		t.Cleanup(func() { p.stop(t) })
		// Connections land on either listener; wait until one reaches throng.
		enginetest.WaitForWithin(t, 10*time.Second, "throng -takeover to answer on "+addr, func() bool {
			select {
			case <-p.done:
				t.Fatalf("throng exited: %v\n%s", p.err, p.Output())
			default:
			}
			return upgrades(addr)
		})
		// The old process leaves; throng serves alone.
		old.Close()
		for i := range 5 {
			c := dialWS(t, addr, "/")
			echo(t, c, ws.OpText, []byte("after takeover "+strconv.Itoa(i)))
			c.Close()
		}
	})
}

// TestShare: a throng started with -share runs beside another on the same
// address, and the kernel spreads new connections over both: neither takes
// them all, as -takeover would (several processes past one process's
// descriptor limit, BENCHMARKS.md "Scale").
func TestShare(t *testing.T) {
	host := newHost()
	backend := net.JoinHostPort(host, "19001")
	startBackend(t, backend)
	addr := net.JoinHostPort(host, "18080")
	cfg := basicConfig(addr, []string{backend}, "")
	first := startThrong(t, addr, cfg)
	path := writeConfig(t, cfg)
	p := launch(t, nil, throngBin, "-share", "-config", path)
	second := &throng{proc: p, addr: addr, cfg: path}
	t.Cleanup(func() { p.stop(t) })
	// It catches SIGUSR1 once gnet starts; connections then land on
	// either process.
	enginetest.WaitForWithin(t, 10*time.Second, "the second throng to start", func() bool {
		select {
		case <-p.done:
			t.Fatalf("throng -share exited: %v\n%s", p.err, p.Output())
		default:
		}
		return strings.Contains(p.Output(), "Launching gnet")
	})
	enginetest.WaitForWithin(t, 10*time.Second, "the second throng to accept", func() bool {
		return upgrades(addr) && statOf(t, stats(t, second), "accepted") > 0
	})
	a0, b0 := statOf(t, stats(t, first), "accepted"), statOf(t, stats(t, second), "accepted")
	const n = 200
	for i := range n {
		c := dialWS(t, addr, "/")
		echo(t, c, ws.OpText, []byte("shared "+strconv.Itoa(i)))
		c.Close()
	}
	a, b := statOf(t, stats(t, first), "accepted")-a0, statOf(t, stats(t, second), "accepted")-b0
	t.Logf("of %d connections, the first process accepted %d and the second %d", n, a, b)
	if a+b != n || a < n/10 || b < n/10 {
		t.Fatalf("accepted %d and %d of %d connections: not spread over both processes", a, b, n)
	}
}

// upgrades reports whether an upgrade request to addr gets a 101.
func upgrades(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return false
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := c.Write([]byte(upgradeRequest(addr, "/"))); err != nil {
		return false
	}
	line, err := newReader(c).ReadString('\n')
	return err == nil && statusOf(line) == 101
}

// TestIdleTimeout: a session with no traffic either way gets Close 1001
// once idle has passed, not before.
func TestIdleTimeout(t *testing.T) {
	host := newHost()
	backend := net.JoinHostPort(host, "19001")
	startBackend(t, backend)
	addr := net.JoinHostPort(host, "18080")
	startThrong(t, addr, withTimeouts(basicConfig(addr, []string{backend}, ""), "idle = \"1s\"\n"))
	c := dialWS(t, addr, "/")
	defer c.Close()
	echo(t, c, ws.OpText, []byte("then silence"))
	start := time.Now()
	if code := expectClose(t, c, 3*time.Second); code != ws.StatusGoingAway {
		t.Fatalf("close code %d, want %d", code, ws.StatusGoingAway)
	}
	if d := time.Since(start); d < 900*time.Millisecond {
		t.Fatalf("closed after %v of silence, before idle = 1s", d)
	}
	_ = ws.WriteFrame(c, ws.MaskFrame(ws.NewCloseFrame(ws.NewCloseFrameBody(ws.StatusGoingAway, ""))))
	expectEOF(t, c, 3*time.Second)
}

// TestDrainOnSIGTERM: SIGTERM sends Close 1001 to open sessions and throng
// exits 0 within the drain timeout, whether or not the client answers.
func TestDrainOnSIGTERM(t *testing.T) {
	const drain = 3 * time.Second
	tests := []struct {
		name    string
		answers bool // the client answers the proxy's Close
	}{
		{"client answers", true},
		{"client silent", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			host := newHost()
			backend := net.JoinHostPort(host, "19001")
			startBackend(t, backend)
			addr := net.JoinHostPort(host, "18080")
			th := startThrong(t, addr, withTimeouts(basicConfig(addr, []string{backend}, ""), "drain = \"3s\"\n"))
			c := dialWS(t, addr, "/")
			defer c.Close()
			echo(t, c, ws.OpText, []byte("before drain"))
			start := time.Now()
			if err := th.cmd.Process.Signal(syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			if code := expectClose(t, c, drain); code != ws.StatusGoingAway {
				t.Fatalf("close code %d, want %d", code, ws.StatusGoingAway)
			}
			if tt.answers {
				_ = ws.WriteFrame(c, ws.MaskFrame(ws.NewCloseFrame(ws.NewCloseFrameBody(ws.StatusGoingAway, ""))))
			}
			expectEOF(t, c, drain)
			if code := waitExit(t, th.proc, drain+2*time.Second); code != 0 {
				t.Fatalf("exit code %d, want 0; output:\n%s", code, tail(th.Output()))
			}
			d := time.Since(start)
			t.Logf("exited %v after SIGTERM", d)
			if d > drain+time.Second {
				t.Errorf("exited %v after SIGTERM, want within drain (%v) plus 1s", d, drain)
			}
			r := waitLog(t, th.proc, time.Second, 1, "drained", func(r logRecord) bool { return r.str("msg") == "drained" })
			if left := r.str("sessions_left"); left != "0" {
				t.Errorf("drained with sessions_left %s, want 0", left)
			}
		})
	}
}

// TestReloadOnSIGHUP: after SIGHUP new sessions use the new route's backend
// while an old session keeps its own; an invalid file is refused and the
// proxy keeps serving with the configuration it had.
func TestReloadOnSIGHUP(t *testing.T) {
	host := newHost()
	backendA := net.JoinHostPort(host, "19001")
	backendB := net.JoinHostPort(host, "19002")
	startBackend(t, backendA)
	startBackend(t, backendB)
	addr := net.JoinHostPort(host, "18080")
	th := startThrong(t, addr, basicConfig(addr, []string{backendA}, ""))

	// session opens one, echoes, closes it and returns its backend.
	session := func(msg string) string {
		t.Helper()
		c := dialWS(t, addr, "/")
		echo(t, c, ws.OpText, []byte(msg))
		client := c.LocalAddr().String()
		c.Close()
		return accessLine(t, th.proc, client).str("backend")
	}
	reload := func(cfg, wantMsg string, n int) {
		t.Helper()
		if err := os.WriteFile(th.cfg, []byte(cfg), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := th.cmd.Process.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		waitLog(t, th.proc, 5*time.Second, n, wantMsg, func(r logRecord) bool { return r.str("msg") == wantMsg })
	}

	if got := session("first"); got != backendA {
		t.Fatalf("before reload: backend %q, want %q", got, backendA)
	}
	old := dialWS(t, addr, "/")
	defer old.Close()
	echo(t, old, ws.OpText, []byte("old session"))

	reload(basicConfig(addr, []string{backendB}, ""), "configuration reloaded", 1)
	for i := range 3 {
		if got := session("after reload " + strconv.Itoa(i)); got != backendB {
			t.Fatalf("after reload: backend %q, want %q", got, backendB)
		}
	}
	echo(t, old, ws.OpText, []byte("old session after reload"))

	reload("[server]\nlisten = [\""+addr+"\"]\nno_such_key = true\n", "reload rejected, keeping the running configuration", 1)
	reload(strings.Replace(basicConfig(addr, []string{backendA}, ""), "loops = 2", "loops = 999", 1), "reload rejected, keeping the running configuration", 2)
	if got := session("after rejected reloads"); got != backendB {
		t.Fatalf("after rejected reloads: backend %q, want %q", got, backendB)
	}
	echo(t, old, ws.OpText, []byte("old session after rejected reloads"))
	oldClient := old.LocalAddr().String()
	old.Close()
	if got := accessLine(t, th.proc, oldClient).str("backend"); got != backendA {
		t.Errorf("old session: backend %q, want %q", got, backendA)
	}
}
