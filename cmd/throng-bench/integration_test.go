package main

// Short real runs: every load scenario of the built throng-bench, through
// the built throng, in front of throng-bench serve, on 127.0.75.0/24
// (servers on .1, client sources from .10).

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/throngproxy/throng/bench"
	"github.com/throngproxy/throng/bench/sysstat"
	"github.com/throngproxy/throng/engine/enginetest"
)

const (
	itEcho   = "127.0.75.1:19701"
	itFanout = "127.0.75.1:19702"
	itThrong = "127.0.75.1:19780"
	// itThrongIdle is a second throng that closes sessions idle for 1s.
	itThrongIdle = "127.0.75.1:19781"
	itSources    = "127.0.75.10-127.0.75.19"
	// itRunTimeout bounds each throng-bench run.
	itRunTimeout = 60 * time.Second
)

// itProc is a process the test started; it is stopped by PID at cleanup.
type itProc struct {
	cmd  *exec.Cmd
	out  bytes.Buffer // stdout and stderr; read after done
	done chan struct{}
	err  error
}

// itStart starts bin with args and stops it (SIGTERM, then SIGKILL after
// 10 s) when t ends.
func itStart(t *testing.T, bin string, args ...string) *itProc {
	t.Helper()
	p := &itProc{cmd: exec.Command(bin, args...), done: make(chan struct{})}
	// Killed with the test process, whatever ends it: an orphan would keep
	// the fixed addresses the next run needs.
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	p.cmd.Stdout, p.cmd.Stderr = &p.out, &p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", bin, err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(10 * time.Second):
			_ = p.cmd.Process.Kill()
			<-p.done
			t.Errorf("%s (pid %d) ignored SIGTERM", bin, p.cmd.Process.Pid)
		}
		if t.Failed() {
			t.Logf("%s %v output:\n%s", bin, args, p.out.String())
		}
	})
	return p
}

// itWaitAccepting waits until addr accepts TCP connections, p exits, or
// 10 s pass.
func itWaitAccepting(t *testing.T, p *itProc, addr string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for time.Now().Before(deadline) {
		if c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond); err == nil {
			c.Close()
			return
		}
		select {
		case <-p.done:
			t.Fatalf("%v exited before listening on %s: %v\n%s", p.cmd.Args, addr, p.err, p.out.String())
		case <-tick.C:
		}
	}
	t.Fatalf("%s not accepting after 10s", addr)
}

// itBuild builds throng and throng-bench into dir, both at once.
func itBuild(t *testing.T, dir string) (throng, tb string) {
	t.Helper()
	bins, err := enginetest.Build(dir, "../throng", ".")
	if err != nil {
		t.Fatal(err)
	}
	return bins["throng"], bins["throng-bench"]
}

// itRun runs throng-bench with args and -json, and decodes its report
// into rep. It fails the test on a non-zero exit.
func itRun(t *testing.T, tb string, rep any, args ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), itRunTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, tb, append(args, "-json")...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Run(); err != nil {
		t.Fatalf("throng-bench %s: %v\nstderr: %s\nstdout: %s", strings.Join(args, " "), err, stderr.String(), stdout.String())
	}
	if err := json.Unmarshal(stdout.Bytes(), rep); err != nil {
		t.Fatalf("throng-bench %s: %v in %q", strings.Join(args, " "), err, stdout.String())
	}
}

// itConfig writes a throng config into dir/name: one loop listening on
// listen, no keepalive, quiet logs, then body (routes, upstreams and any
// other section). It returns the file's path.
func itConfig(t *testing.T, dir, name, listen, body string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	cfg := `[server]
listen = ["` + listen + `"]
loops = 1
tcp_keepalive = "0s"

[log]
level = "warn"
access = false
` + body
	if err := os.WriteFile(p, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestScenariosThroughThrong(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binaries")
	}
	dir := t.TempDir()
	throngBin, tb := itBuild(t, dir)
	itWaitAccepting(t, itStart(t, tb, "serve", "-listen", itEcho, "-loops", "1"), itEcho)
	itWaitAccepting(t, itStart(t, tb, "serve", "-listen", itFanout, "-mode", "fanout"), itFanout)
	echoUpstream := `
[[route]]
upstream = "echo"

[[upstream]]
name = "echo"
backends = [{ addr = "` + itEcho + `" }]
`
	throng := itStart(t, throngBin, "-config", itConfig(t, dir, "throng.toml", itThrong, echoUpstream+`
[[route]]
path_prefix = "/fanout/"
upstream = "fanout"

[[upstream]]
name = "fanout"
backends = [{ addr = "`+itFanout+`" }]
`))
	itWaitAccepting(t, throng, itThrong)
	throngIdle := itStart(t, throngBin, "-config", itConfig(t, dir, "throng-idle.toml", itThrongIdle, `
[timeouts]
idle = "1s"
`+echoUpstream))
	itWaitAccepting(t, throngIdle, itThrongIdle)
	pid := strconv.Itoa(throng.cmd.Process.Pid)
	url := "ws://" + itThrong + "/"

	t.Run("idle", func(t *testing.T) {
		var rep bench.IdleReport
		itRun(t, tb, &rep, "idle", "-url", url, "-n", "200", "-hold", "1s", "-settle", "100ms",
			"-source", itSources, "-pid", pid)
		if rep.Connected != 200 || rep.Alive != 200 || len(rep.Failed) != 0 || rep.Mismatches != 0 || rep.ConnectRate <= 0 {
			t.Errorf("got connected %d, alive %d, failed %v, mismatches %d, rate %v; want 200, 200, none, 0, > 0",
				rep.Connected, rep.Alive, rep.Failed, rep.Mismatches, rep.ConnectRate)
		}
		// A few more sockets may be counted (heldAbout).
		if len(rep.Targets) != 1 || !heldAbout(rep.Targets[0].SessionsHeld, 200) || rep.Targets[0].Connected.RSSBytes <= 0 {
			t.Errorf("got targets %+v; want throng holding the 200 sessions", rep.Targets)
		}
	})
	t.Run("idle timeout defeated by ping", func(t *testing.T) {
		// Held 2.5s, silent, through a proxy that closes sessions idle
		// for 1s: every one dies. A Ping every 100ms, from each upgrade
		// on, keeps them alive with 900ms to spare.
		idleURL := "ws://" + itThrongIdle + "/"
		var silent, pinged bench.IdleReport
		itRun(t, tb, &silent, "idle", "-url", idleURL, "-n", "20", "-hold", "2500ms", "-source", itSources)
		if silent.Connected != 20 || silent.Alive != 0 || silent.Failed["closed_by_peer"] != 20 || silent.PingsSent != 0 {
			t.Errorf("silent: got connected %d, alive %d, failed %v, pings %d; want 20, 0, closed_by_peer=20, 0",
				silent.Connected, silent.Alive, silent.Failed, silent.PingsSent)
		}
		itRun(t, tb, &pinged, "idle", "-url", idleURL, "-n", "20", "-hold", "2500ms", "-ping", "100ms", "-source", itSources)
		if pinged.Connected != 20 || pinged.Alive != 20 || len(pinged.Failed) != 0 || pinged.PingsSent < 20*20 ||
			pinged.PongsReceived != pinged.PingsSent {
			t.Errorf("ping 100ms: got connected %d, alive %d, failed %v, pings %d, pongs %d; want 20, 20, none, >= 400, all answered",
				pinged.Connected, pinged.Alive, pinged.Failed, pinged.PingsSent, pinged.PongsReceived)
		}
		t.Logf("silent: alive %d of %d, failed %v; ping 100ms: alive %d of %d, %d pings, %d pongs",
			silent.Alive, silent.Connected, silent.Failed, pinged.Alive, pinged.Connected, pinged.PingsSent, pinged.PongsReceived)
	})
	t.Run("idle procs", func(t *testing.T) {
		// The sessions of "idle" must be gone, or they are counted here
		// too: throng sees their clients leave a moment after they do.
		local := netip.MustParseAddrPort(itThrong)
		enginetest.WaitFor(t, "throng to hold no session", func() bool {
			s, err := sysstat.ReadSockets(throng.cmd.Process.Pid, local)
			return err == nil && s.Local == 0
		})
		var rep bench.IdleReport
		itRun(t, tb, &rep, "idle", "-url", url, "-n", "200", "-hold", "1s", "-settle", "100ms", "-procs", "2",
			"-source", itSources, "-pid", pid)
		if rep.Procs != 2 || rep.Connected != 200 || rep.Alive != 200 || len(rep.Failed) != 0 || rep.Mismatches != 0 {
			t.Errorf("got procs %d, connected %d, alive %d, failed %v, mismatches %d; want 2, 200, 200, none, 0",
				rep.Procs, rep.Connected, rep.Alive, rep.Failed, rep.Mismatches)
		}
		if len(rep.Targets) != 1 || !heldAbout(rep.Targets[0].SessionsHeld, 200) {
			t.Errorf("got targets %+v; want throng holding the 200 sessions", rep.Targets)
		}
	})
	t.Run("echo", func(t *testing.T) {
		var rep bench.EchoReport
		itRun(t, tb, &rep, "echo", "-url", url, "-c", "50", "-d", "1s", "-warmup", "200ms", "-source", itSources, "-pid", pid)
		l := rep.Latency
		if rep.Connected != 50 || rep.Messages == 0 || rep.MsgsPerSec <= 0 || rep.Errors != 0 || len(rep.Failed) != 0 ||
			rep.Sent != rep.Received || l.P50 <= 0 || l.P99 < l.P50 || l.Max < l.P99 {
			t.Errorf("got connected %d, messages %d (%v/s), errors %d, failed %v, sent %d, received %d, latency %+v; "+
				"want 50, > 0, 0, none, equal, ordered percentiles", rep.Connected, rep.Messages, rep.MsgsPerSec,
				rep.Errors, rep.Failed, rep.Sent, rep.Received, l)
		}
		if len(rep.Targets) != 1 || rep.Targets[0].CPUSeconds <= 0 || rep.Targets[0].MsgsPerCPUSecond <= 0 {
			t.Errorf("got targets %+v; want throng's CPU", rep.Targets)
		}
	})
	t.Run("handshake", func(t *testing.T) {
		var rep bench.HandshakeReport
		itRun(t, tb, &rep, "handshake", "-url", url, "-c", "8", "-d", "1s", "-warmup", "200ms", "-source", itSources)
		if rep.Handshakes == 0 || rep.HandshakesPerSec <= 0 || len(rep.Failed) != 0 || rep.Latency.P50 <= 0 ||
			rep.Closes.CloseEchoed != rep.Total {
			t.Errorf("got handshakes %d (%v/s), failed %v, latency %+v, closes %+v of %d; want > 0, none, p50 > 0, every close echoed",
				rep.Handshakes, rep.HandshakesPerSec, rep.Failed, rep.Latency, rep.Closes, rep.Total)
		}
	})
	t.Run("fanout", func(t *testing.T) {
		var rep bench.FanoutReport
		itRun(t, tb, &rep, "fanout", "-url", url+"fanout/it", "-subs", "100", "-rate", "50", "-d", "1s", "-warmup", "200ms",
			"-source", itSources)
		if rep.Connected != 100 || rep.Published == 0 || rep.Delivered != rep.Expected || rep.Errors != 0 ||
			len(rep.Failed) != 0 || rep.Latency.P50 <= 0 {
			t.Errorf("got subscribers %d, published %d, delivered %d of %d, errors %d, failed %v, latency %+v; "+
				"want 100, > 0, all, 0, none, p50 > 0", rep.Connected, rep.Published, rep.Delivered, rep.Expected,
				rep.Errors, rep.Failed, rep.Latency)
		}
	})
	t.Run("fanout-channels-procs", func(t *testing.T) {
		var rep bench.FanoutReport
		itRun(t, tb, &rep, "fanout", "-url", url+"fanout/many", "-channels", "4", "-procs", "2", "-subs", "80",
			"-rate", "20", "-d", "1s", "-warmup", "200ms", "-source", itSources)
		if rep.Procs != 2 || rep.Channels != 4 || rep.Connected != 80 || rep.Published == 0 ||
			rep.Delivered != rep.Expected || rep.Errors != 0 || len(rep.Failed) != 0 || rep.Latency.P50 <= 0 {
			t.Errorf("got procs %d, channels %d, subscribers %d, published %d, delivered %d of %d, errors %d, "+
				"failed %v, latency %+v; want 2, 4, 80, > 0, all, 0, none, p50 > 0", rep.Procs, rep.Channels,
				rep.Connected, rep.Published, rep.Delivered, rep.Expected, rep.Errors, rep.Failed, rep.Latency)
		}
	})
}

// heldAbout reports whether held, established sockets counted on throng's
// side, is want give or take what a loaded machine adds: connections
// throng accepted but has not yet seen closed (a readiness probe, a
// client's connect abandoned at its timeout and retried) are established
// there for a moment. A tenth more at most.
func heldAbout(held, want int) bool { return held >= want && held <= want+max(1, want/10) }
