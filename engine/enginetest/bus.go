package enginetest

// Real redis-server and nats-server processes for the tests, on loopback
// ports, each started and killed by PID by the test that owns it: the bus
// package's tests and the fan-out tests through the binary.

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// BusKind is one of the two buses: how to run its server.
type BusKind struct {
	Name   string // redis or nats
	binary string // Debian package and executable
	scheme string
	args   func(port int, dir string) []string
}

// Redis and NATS are the two bus servers.
var (
	Redis = BusKind{
		Name: "redis", binary: "redis-server", scheme: "redis",
		args: func(port int, dir string) []string {
			return []string{"--port", strconv.Itoa(port), "--bind", "127.0.0.1",
				"--save", "", "--appendonly", "no", "--dir", dir, "--daemonize", "no"}
		},
	}
	NATS = BusKind{
		Name: "nats", binary: "nats-server", scheme: "nats",
		args: func(port int, _ string) []string {
			return []string{"-a", "127.0.0.1", "-p", strconv.Itoa(port)}
		},
	}
)

// findBinary is the path of bk's server, or skips the test, or fails it
// with THRONG_REQUIRE_BUS=1 (make test, which installs them: make bus-deps).
func findBinary(t testing.TB, bk BusKind) string {
	t.Helper()
	if p, err := exec.LookPath(bk.binary); err == nil {
		return p
	}
	// Debian puts nats-server in /usr/sbin, which a CI PATH may lack.
	for _, dir := range []string{"/usr/sbin", "/usr/bin", "/usr/local/bin"} {
		p := filepath.Join(dir, bk.binary)
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() {
			return p
		}
	}
	if os.Getenv("THRONG_REQUIRE_BUS") == "1" {
		t.Fatalf("%s not found (THRONG_REQUIRE_BUS=1; run `make bus-deps`)", bk.binary)
	}
	t.Skipf("%s not found; `make bus-deps` installs it", bk.binary)
	return ""
}

// freePort is a loopback port nobody listened on a moment ago.
func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	_ = l.Close()
	return port
}

// BusServer is one bus server process, restartable on its port.
type BusServer struct {
	t      testing.TB
	bk     BusKind
	bin    string
	port   int
	dir    string
	cmd    *exec.Cmd
	exited chan error // receives cmd.Wait's result
}

// NewBusServer prepares bk's server on a free port without starting it;
// it is killed when the test ends. A missing binary skips the test, or
// fails it with THRONG_REQUIRE_BUS=1 (make test, after make bus-deps).
func NewBusServer(t testing.TB, bk BusKind) *BusServer {
	t.Helper()
	s := &BusServer{t: t, bk: bk, bin: findBinary(t, bk), port: freePort(t), dir: t.TempDir()}
	t.Cleanup(s.Kill)
	return s
}

// StartBusServer is NewBusServer and Start.
func StartBusServer(t testing.TB, bk BusKind) *BusServer {
	t.Helper()
	s := NewBusServer(t, bk)
	s.Start()
	return s
}

// URL is the server's redis:// or nats:// URL.
func (s *BusServer) URL() string { return fmt.Sprintf("%s://127.0.0.1:%d", s.bk.scheme, s.port) }

// PID is the running server's process id (0 when stopped).
func (s *BusServer) PID() int {
	if s.cmd == nil {
		return 0
	}
	return s.cmd.Process.Pid
}

// Start runs the server and waits until it accepts connections.
func (s *BusServer) Start() {
	s.t.Helper()
	if s.cmd != nil {
		s.t.Fatal("server already running")
	}
	logf, err := os.OpenFile(filepath.Join(s.dir, s.bk.Name+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		s.t.Fatal(err)
	}
	defer logf.Close()
	// An *os.File as output: exec copies nothing, so no goroutine of its
	// own that the leak check would see.
	cmd := exec.Command(s.bin, s.bk.args(s.port, s.dir)...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		s.t.Fatalf("start %s: %v", s.bk.binary, err)
	}
	s.cmd, s.exited = cmd, make(chan error, 1)
	go func(exited chan<- error) { exited <- cmd.Wait() }(s.exited)

	deadline := time.Now().Add(10 * time.Second)
	for {
		select {
		case err := <-s.exited:
			s.cmd = nil
			log, _ := os.ReadFile(logf.Name())
			s.t.Fatalf("%s exited at start: %v\n%s", s.bk.binary, err, log)
		default:
		}
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", s.port), time.Second)
		if err == nil {
			_ = c.Close()
			return
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("%s not listening on %d after 10s: %v", s.bk.binary, s.port, err)
		}
		time.Sleep(10 * time.Millisecond) // poll interval inside a deadline loop
	}
}

// Kill stops the server with SIGKILL, as a crash would, and reaps it.
func (s *BusServer) Kill() {
	s.t.Helper()
	if s.cmd == nil {
		return
	}
	if err := s.cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		s.t.Errorf("kill %s: %v", s.bk.binary, err)
	}
	select {
	case <-s.exited:
	case <-time.After(10 * time.Second):
		s.t.Errorf("%s pid %d did not exit after SIGKILL", s.bk.binary, s.cmd.Process.Pid)
	}
	s.cmd = nil
}

// Freeze stops the server with SIGSTOP: its kernel still accepts
// connections and takes data, but nothing answers, as with a hung host.
func (s *BusServer) Freeze() { s.signal(syscall.SIGSTOP) }

// Thaw resumes a frozen server.
func (s *BusServer) Thaw() { s.signal(syscall.SIGCONT) }

func (s *BusServer) signal(sig os.Signal) {
	s.t.Helper()
	if err := s.cmd.Process.Signal(sig); err != nil {
		s.t.Fatalf("signal %v to %s: %v", sig, s.bk.binary, err)
	}
}
