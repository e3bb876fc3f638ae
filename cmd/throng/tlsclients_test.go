package main

// Drivers of the independent TLS clients: openssl s_client and Python's
// websockets (Debian's python3-websockets; `make test` installs it).

import (
	"bytes"
	"context"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// sClient is a running `openssl s_client`: what is sent goes to its stdin
// (its commands, such as K for a KeyUpdate, included), and its stdout and
// stderr are collected.
type sClient struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	mu    sync.Mutex
	out   bytes.Buffer
	grew  chan struct{} // signalled on every write to out
}

func (s *sClient) Write(p []byte) (int, error) {
	s.mu.Lock()
	s.out.Write(p)
	s.mu.Unlock()
	select {
	case s.grew <- struct{}{}:
	default:
	}
	return len(p), nil
}

// startSClient connects openssl s_client to addr with args.
func startSClient(t *testing.T, openssl, addr string, args ...string) *sClient {
	t.Helper()
	// -quiet turns -ign_eof on, which also turns the command letters off.
	argv := append([]string{"s_client", "-connect", addr, "-quiet", "-no_ign_eof"}, args...)
	s := &sClient{cmd: exec.Command(openssl, argv...), grew: make(chan struct{}, 1)}
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	s.cmd.Stdout, s.cmd.Stderr = s, s
	var err error
	if s.stdin, err = s.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	if err := s.cmd.Start(); err != nil {
		t.Fatalf("start openssl: %v", err)
	}
	t.Cleanup(func() {
		_ = s.stdin.Close()
		_ = s.cmd.Process.Kill()
		_ = s.cmd.Wait()
		if t.Failed() {
			t.Logf("openssl s_client %s output:\n%s", strings.Join(argv, " "), tail(s.output()))
		}
	})
	return s
}

func (s *sClient) output() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.out.String()
}

// send writes p to s_client's stdin in one write: one read of its, so
// that a command letter is seen as one.
func (s *sClient) send(t *testing.T, p []byte) {
	t.Helper()
	if _, err := s.stdin.Write(p); err != nil {
		t.Fatalf("s_client stdin: %v", err)
	}
}

// waitFor waits until s_client's output holds want, 10 s at most.
func (s *sClient) waitFor(t *testing.T, want []byte) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		s.mu.Lock()
		ok := bytes.Contains(s.out.Bytes(), want)
		s.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-s.grew:
		case <-deadline:
			t.Fatalf("s_client never printed %q", want)
		}
	}
}

// requirePythonWebsockets returns a python3 that can import websockets
// (Debian's, where the package goes, before whatever PATH finds first: a
// pyenv shim has its own site-packages), else skips, or fails under
// THRONG_REQUIRE_PYTHON=1 (make test).
func requirePythonWebsockets(t *testing.T) string {
	t.Helper()
	var err error
	for _, name := range []string{"/usr/bin/python3", "python3"} {
		var python string
		if python, err = exec.LookPath(name); err != nil {
			continue
		}
		if err = exec.Command(python, "-c", "import websockets").Run(); err == nil {
			return python
		}
	}
	if os.Getenv("THRONG_REQUIRE_PYTHON") == "1" {
		t.Fatalf("python3 with websockets: %v (THRONG_REQUIRE_PYTHON=1; run `make py-deps`)", err)
	}
	t.Skipf("python3 with websockets: %v; run `make py-deps`", err)
	return ""
}

// runPython runs a script and fails the test, with its output, when it
// exits non-zero or outlives timeout.
func runPython(t *testing.T, python string, timeout time.Duration, script string, args ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, python, append([]string{script}, args...)...)
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("python %s %s: %v\n%s", script, strings.Join(args, " "), err, tail(string(out)))
	}
	t.Logf("python %s: %s", script, strings.TrimSpace(string(out)))
}
