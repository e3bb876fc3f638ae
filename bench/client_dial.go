package bench

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Config errors shared by Idle and Echo.
var (
	ErrBadURL      = errors.New("bench: url must be ws://host:port/path or wss://host:port/path")
	ErrBadSessions = errors.New("bench: number of sessions must be at least 1")
	ErrBadRate     = errors.New("bench: connect rate must not be negative")
	ErrBadSource   = errors.New("bench: source must be an IPv4 range a.b.c.d-a.b.c.e or a single address")
	ErrBadLoops    = errors.New("bench: loops must be between 0 and 256")
	ErrBadTimeout  = errors.New("bench: timeouts and durations must be positive")
	ErrBadSize     = errors.New("bench: message size must be between 16 B and 16 MiB")
	ErrBadWindow   = errors.New("bench: window must be between 1 and 1024")
	ErrBadPID      = errors.New("bench: pid must be positive")
	ErrNoneOpened  = errors.New("bench: no session could be opened")
)

// clientDialWorkers is the number of goroutines that dial and enroll.
const clientDialWorkers = 16

// clientTarget is where sessions connect.
type clientTarget struct {
	addr string // host:port to dial
	host string // Host header
	path string // request target (path and query)
	tls  bool   // wss://: the TLS client path (tls_client.go)
}

// local returns the address the sessions reach, as a listener sees it:
// the port with the host's IP, or with the unspecified address when the
// host is a name.
func (t clientTarget) local() netip.AddrPort {
	host, port, err := net.SplitHostPort(t.addr)
	if err != nil {
		return netip.AddrPort{}
	}
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil {
		return netip.AddrPort{}
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		ip = netip.IPv6Unspecified()
	}
	return netip.AddrPortFrom(ip, uint16(p))
}

// parseClientTarget parses a ws:// URL (default port 80) or a wss:// URL
// (default port 443).
func parseClientTarget(raw string) (clientTarget, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "ws" && u.Scheme != "wss") || u.Host == "" || u.User != nil || u.Fragment != "" {
		return clientTarget{}, fmt.Errorf("%w: %q", ErrBadURL, raw)
	}
	secure := u.Scheme == "wss"
	addr := u.Host
	if u.Port() == "" {
		port := "80"
		if secure {
			port = "443"
		}
		addr = net.JoinHostPort(u.Hostname(), port)
	}
	if h, _, err := net.SplitHostPort(addr); err != nil || h == "" {
		return clientTarget{}, fmt.Errorf("%w: %q", ErrBadURL, raw)
	}
	return clientTarget{addr: addr, host: u.Host, path: u.RequestURI(), tls: secure}, nil
}

// ParseSources parses a -source value: "127.0.0.2-127.0.0.20" (an inclusive
// IPv4 range, at most 65,536 addresses), "127.0.0.2-20" (last octet), a
// single address, or several of these separated by commas. It allocates.
func ParseSources(s string) ([]netip.Addr, error) {
	var out []netip.Addr
	for part := range strings.SplitSeq(s, ",") {
		part = strings.TrimSpace(part)
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := netip.ParseAddr(lo)
		if err != nil || !a.Is4() {
			return nil, fmt.Errorf("%w: %q", ErrBadSource, part)
		}
		if !isRange {
			out = append(out, a)
			continue
		}
		b, err := netip.ParseAddr(hi)
		if err != nil {
			n, nerr := strconv.Atoi(hi)
			if nerr != nil || n < 0 || n > 255 {
				return nil, fmt.Errorf("%w: %q", ErrBadSource, part)
			}
			a4 := a.As4()
			a4[3] = byte(n)
			b = netip.AddrFrom4(a4)
		}
		if !b.Is4() || b.Less(a) {
			return nil, fmt.Errorf("%w: %q", ErrBadSource, part)
		}
		for x := a; ; x = x.Next() {
			out = append(out, x)
			if len(out) > 1<<16 {
				return nil, fmt.Errorf("%w: %q is too large", ErrBadSource, part)
			}
			if x == b {
				break
			}
		}
	}
	return out, nil
}

// DefaultSources returns the source addresses used when none are given:
// 127.0.0.2–127.0.0.9 for a loopback IPv4 target (8 × ~28,000 ephemeral
// ports), none otherwise (the kernel chooses).
func DefaultSources(rawURL string) []netip.Addr {
	t, err := parseClientTarget(rawURL)
	if err != nil {
		return nil
	}
	host, _, err := net.SplitHostPort(t.addr)
	if err != nil {
		return nil
	}
	a, err := netip.ParseAddr(host)
	if err != nil || !a.Is4() || !a.IsLoopback() {
		return nil
	}
	out, _ := ParseSources("127.0.0.2-127.0.0.9")
	return out
}

// clientDialers returns one dialer per source (or one with no source).
// Keep-alive is off so that idle sessions stay silent.
func clientDialers(sources []netip.Addr, timeout time.Duration) []*net.Dialer {
	if len(sources) == 0 {
		return []*net.Dialer{{Timeout: timeout, KeepAlive: -1}}
	}
	ds := make([]*net.Dialer, len(sources))
	for i, a := range sources {
		ds[i] = &net.Dialer{
			Timeout:   timeout,
			KeepAlive: -1,
			LocalAddr: &net.TCPAddr{IP: a.AsSlice()},
			Control:   clientBindNoPort,
		}
	}
	return ds
}

// clientBindNoPort sets IP_BIND_ADDRESS_NO_PORT, so that binding a source
// address leaves the port choice to connect(2), which can reuse a port for
// different destinations.
func clientBindNoPort(_, _ string, rc syscall.RawConn) error {
	var serr error
	err := rc.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_BIND_ADDRESS_NO_PORT, 1)
	})
	return errors.Join(err, serr)
}

// classifyDial maps a dial error to a failure kind.
func classifyDial(err error) clientFail {
	var ne net.Error
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return clientFailRefused
	case errors.Is(err, syscall.EADDRNOTAVAIL), errors.Is(err, syscall.EADDRINUSE):
		return clientFailNoPort
	case errors.Is(err, syscall.EMFILE), errors.Is(err, syscall.ENFILE):
		return clientFailFDLimit
	case errors.Is(err, syscall.ETIMEDOUT), errors.As(err, &ne) && ne.Timeout():
		return clientFailConnectTimeout
	default:
		return clientFailDial
	}
}

// newSession prepares session i: random key and mask.
func (r *clientCore) newSession(i int) *clientSession {
	var nonce [16]byte
	var mask [4]byte
	_, _ = rand.Read(nonce[:]) // crypto/rand.Read never fails
	_, _ = rand.Read(mask[:])
	s := &clientSession{run: r, key: newClientKey(nonce), path: r.spec.target.path}
	if f := r.spec.fan; f != nil {
		s.path, s.publisher = f.role(i)
	}
	s.rd = clientReader{pattern: r.pattern, size: uint64(r.spec.size)}
	s.frame = newClientFrame(r.pattern, mask)
	return s
}

// connect opens the run's sessions at the spec's rate with a pool of dial
// workers, then waits until every handshake has ended or, for the stuck
// ones, the handshake timeout after the last connect. It returns early,
// leaving the rest undialled, when ctx is done. It returns how many
// sessions were attempted.
func (r *clientRun) connect(ctx context.Context, sources []*net.Dialer) int {
	attempted := dialAll(ctx, r.spec.sessions, r.spec.rate, sources, func(i int, d *net.Dialer) { r.dialOne(ctx, i, d) })
	r.settle.done() // the driver's token
	r.awaitHandshakes(ctx)
	return attempted
}

// dialOne dials session i and enrolls it with the gnet client.
func (r *clientRun) dialOne(ctx context.Context, i int, d *net.Dialer) {
	s := r.newSession(i)
	r.sessions[i] = s
	r.settle.add()
	nc, err := d.DialContext(ctx, "tcp", r.spec.target.addr)
	if err != nil {
		s.state.Store(uint32(clientStateFailed))
		r.fail(classifyDial(err))
		r.settle.done()
		return
	}
	gc, err := r.cli.EnrollContext(nc, s) // closes nc; OnOpen has run when it returns
	if err != nil {
		if s.state.CompareAndSwap(uint32(clientStateDialing), uint32(clientStateFailed)) {
			r.fail(clientFailEnroll)
			r.settle.done()
		}
		return
	}
	s.conn = gc
	s.wake = s.wakeConn
}

// wakeConn wakes s's conn (gnet path): its OnTraffic runs. Safe off the
// loop.
func (s *clientSession) wakeConn() error { return s.conn.Wake(nil) }

// awaitHandshakes waits for the settle countdown; at the handshake timeout
// it closes the stuck sessions (counted as timeouts by OnClose) and counts
// those never opened by gnet.
func (r *clientRun) awaitHandshakes(ctx context.Context) {
	if waitClient(ctx, r.settle.zero, r.spec.handTO) {
		return
	}
	for _, s := range r.sessions {
		if s == nil {
			continue
		}
		if s.state.CompareAndSwap(uint32(clientStateDialing), uint32(clientStateFailed)) {
			r.fail(clientFailEnroll)
			r.settle.done()
			continue
		}
		if clientState(s.state.Load()) == clientStateHandshake && s.conn != nil {
			s.timedOut.Store(true)
			_ = s.conn.Close() // guarded; OnClose counts it
		}
	}
	waitClient(context.Background(), r.settle.zero, clientCloseTimeout)
}

// clientCloseTimeout bounds the closing handshake of a whole run, and the
// wait for stuck handshakes to be closed.
const clientCloseTimeout = 5 * time.Second

// closeAll sends Close on every open session and waits (bounded) for the
// servers' Close, then stops the engine, which closes whatever is left.
func (r *clientRun) closeAll() {
	r.setPhase(clientPhaseClose)
	cd := r.arm(&r.closing, clientCloseFlag)
	waitClient(context.Background(), cd.zero, clientCloseTimeout)
	r.stopEngine()
}

func clientVerifyFlag(s *clientSession) *atomic.Bool { return &s.verifyArmed }
func clientDrainFlag(s *clientSession) *atomic.Bool  { return &s.drainArmed }
func clientCloseFlag(s *clientSession) *atomic.Bool  { return &s.closeArmed }

// waitClient waits until ch is closed, ctx is done or d has passed; it
// reports whether ch was closed.
func waitClient(ctx context.Context, ch <-chan struct{}, d time.Duration) bool {
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ch:
		return true
	case <-ctx.Done():
		return false
	case <-timer.C:
		return false
	}
}

// sleepClient waits d or until ctx is done; it reports whether d passed.
func sleepClient(ctx context.Context, d time.Duration) bool {
	return !waitClient(ctx, nil, d) && ctx.Err() == nil
}

// failures returns the nonzero failure counts by kind.
func (r *clientCore) failures() map[string]uint64 { return clientFailures(&r.fails) }
