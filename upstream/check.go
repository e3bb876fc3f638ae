package upstream

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/netip"
	"net/url"
	"sync"
	"time"

	"github.com/gobwas/ws"

	"github.com/throngproxy/throng/codec"
	"github.com/throngproxy/throng/config"
)

// Active health checks, after HAProxy's check/rise/fall and Envoy's
// active health checking.
//
// StartHealthChecks runs one goroutine per backend of every upstream whose
// Health.Type is set. Each checks its backend every Health.Interval, each
// check bounded by Health.Timeout, connect included. So that backends and
// upstreams do not check in lock-step, the first check comes at a random
// time within a tenth of the interval (at most 1s) and each interval is
// jittered by ±5%. Fall failed
// checks in a row take an up backend down; rise passed checks in a row
// bring a down backend up and close its breaker. Each flip is logged once
// and counted. The checkers publish state with atomics only; the event
// loops never wait for them.

// Sentinel errors of active health checks. Check wraps them with detail;
// test with errors.Is.
var (
	// ErrUnexpectedStatus: an http check's status was outside
	// expect_status, or a websocket check's answer was not 101.
	ErrUnexpectedStatus = errors.New("upstream: health check: unexpected status")
	// ErrMalformedAnswer: the answer did not start with an HTTP/1.x status
	// line.
	ErrMalformedAnswer = errors.New("upstream: health check: malformed answer")
	// ErrBadUpgrade: a websocket check's 101 failed RFC 6455 §4.1's client
	// checks (Upgrade, Connection or Sec-WebSocket-Accept).
	ErrBadUpgrade = errors.New("upstream: health check: bad websocket upgrade")
	// ErrCheckTimeout: the check did not finish within health.timeout.
	ErrCheckTimeout = errors.New("upstream: health check: timed out")
	// ErrUnknownCheck: the check type is not tcp, http or websocket.
	ErrUnknownCheck = errors.New("upstream: unknown health check type")
	// ErrBadExpectStatus: an http check's expect_status is not a status
	// range (config.Load rejects such a file).
	ErrBadExpectStatus = errors.New("upstream: expect_status is not a status range")
)

const (
	// checkUserAgent is the User-Agent of http and websocket checks.
	checkUserAgent = "throng-health"
	// maxCheckAnswer bounds what a websocket check reads of the answer
	// head; an http check reads only its status line's first 13 bytes.
	maxCheckAnswer = 16 << 10
	// maxRun caps the consecutive-check counters.
	maxRun = 1 << 20
)

// checkRun is the running active checks of one upstream.
type checkRun struct {
	cancel context.CancelFunc // stops the checkers and aborts checks in flight
	wg     sync.WaitGroup     // the checkers
}

// checkPolicy is an upstream's Health with defaults filled in.
type checkPolicy struct {
	hc         config.HealthCheck
	interval   time.Duration
	rise, fall int32
}

// StartHealthChecks starts the active health checks of t: for every
// upstream whose Health.Type is set, one goroutine per backend (see the
// comment at the top of check.go). Flips are logged on log (nil: not
// logged): Warn "backend down" with upstream, backend, check and err, and
// Info "backend up" with upstream, backend and check.
//
// A backend starts up, unless prev (the table t replaces; nil for none)
// has a backend of an upstream of the same name with the same Addr and
// the same Health.Type: then it takes that backend's up or down state and
// consecutive-check counts, so a reload neither brings back a dead
// backend nor forgets a healthy one. prev's checks may still run (stop
// them after t is published); a flip of prev's backend after this call is
// not copied, and t's own checks see it within rise or fall checks.
//
// Call it once t is built, before or after publishing it; a second call
// while t's checks run does nothing, and StopHealthChecks then
// StartHealthChecks starts them again. Upstream.Health is read here, not
// later. An unknown Health.Type is logged (Error "unknown health check
// type") and not checked. It allocates and is safe for concurrent use
// with picks.
func (t *Table) StartHealthChecks(log *slog.Logger, prev *Table) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var prevUps map[string]*Upstream
	if prev != nil {
		prevUps = make(map[string]*Upstream, len(prev.Upstreams))
		for _, u := range prev.Upstreams {
			if _, dup := prevUps[u.Name]; !dup {
				prevUps[u.Name] = u
			}
		}
	}
	for _, u := range t.Upstreams {
		p := passiveOf(u.Backends)
		if u.Health.Type == "" || p == nil {
			continue
		}
		switch u.Health.Type {
		case config.HealthTCP, config.HealthHTTP, config.HealthWebSocket:
		default:
			log.LogAttrs(context.Background(), slog.LevelError, "unknown health check type",
				slog.String("upstream", u.Name), slog.String("check", u.Health.Type))
			continue
		}
		p.mu.Lock()
		if p.run != nil {
			p.mu.Unlock()
			continue
		}
		inherit(u, prevUps[u.Name])
		pol := policyOf(u.Health)
		ctx, cancel := context.WithCancel(context.Background())
		run := &checkRun{cancel: cancel}
		for _, b := range u.Backends {
			run.wg.Go(func() { b.checkLoop(ctx, log, pol) })
		}
		p.run = run
		p.mu.Unlock()
	}
}

// StopHealthChecks stops t's active health checks, aborting checks in
// flight, and returns once every checker goroutine has returned. An
// aborted check changes nothing. Backends keep their last state. It is
// idempotent and does nothing when the checks never started. The engine
// calls it on the old table after a reload, and at shutdown.
func (t *Table) StopHealthChecks() {
	for _, u := range t.Upstreams {
		p := passiveOf(u.Backends)
		if p == nil {
			continue
		}
		p.mu.Lock()
		run := p.run
		p.run = nil
		p.mu.Unlock()
		if run != nil {
			run.cancel()
			run.wg.Wait()
		}
	}
}

// HealthFlips returns how many times active checks took a backend of u
// down or brought one up since u's Table was built (inherited states are
// not flips). It reads one atomic and is safe for concurrent use.
func (u *Upstream) HealthFlips() uint64 {
	if p := passiveOf(u.Backends); p != nil {
		return p.flips.Load()
	}
	return 0
}

// HealthFlips returns the sum of HealthFlips over t's upstreams. Each
// Table counts from 0: to report a counter that survives reloads, add the
// old table's HealthFlips to a running total once StopHealthChecks on it
// has returned (its count is then final). It does not allocate and is
// safe for concurrent use.
func (t *Table) HealthFlips() uint64 {
	var n uint64
	for _, u := range t.Upstreams {
		n += u.HealthFlips()
	}
	return n
}

// inherit copies the active state of prev's backends with the same Addr
// into u's, when prev checks the same way. u's checks are not running.
func inherit(u, prev *Upstream) {
	if prev == nil || prev.Health.Type != u.Health.Type {
		return
	}
	for _, b := range u.Backends {
		for _, o := range prev.Backends {
			if o.Addr != b.Addr {
				continue
			}
			b.h.okRun.Store(o.h.okRun.Load())
			b.h.failRun.Store(o.h.failRun.Load())
			b.setDown(o.h.down.Load())
			break
		}
	}
}

// policyOf is hc in the units the checker uses. hc is complete and valid,
// as config.Load leaves it: defaults live in config alone.
func policyOf(hc config.HealthCheck) checkPolicy {
	return checkPolicy{hc: hc, interval: hc.Interval.D(), rise: int32(hc.Rise), fall: int32(hc.Fall)}
}

// checkLoop checks b until ctx is done.
func (b *Backend) checkLoop(ctx context.Context, log *slog.Logger, pol checkPolicy) {
	t := time.NewTimer(jitter(min(pol.interval/10, time.Second)))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		start := time.Now()
		err := check(ctx, &pol.hc, b.Addr, b.TLS, b.checkProxyHeader())
		if ctx.Err() != nil {
			return // stopped: the check was aborted and tells nothing
		}
		b.recordCheck(err, log, &pol)
		next := pol.interval - pol.interval/20 + jitter(pol.interval/10)
		t.Reset(max(next-time.Since(start), 0))
	}
}

// jitter returns a random duration in [0, d), or 0 when d ≤ 0.
func jitter(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	return rand.N(d)
}

// recordCheck counts one check's outcome (err == nil: passed) and flips b
// when a run reaches fall or rise, logging the flip. Only b's checker
// calls it.
func (b *Backend) recordCheck(err error, log *slog.Logger, pol *checkPolicy) {
	h := &b.h
	if err == nil {
		h.failRun.Store(0)
		n := min(h.okRun.Load()+1, maxRun)
		h.okRun.Store(n)
		if !h.down.Load() || n < pol.rise {
			return
		}
		b.clearEjection()
		b.setDown(false)
		h.p.flips.Add(1)
		log.LogAttrs(context.Background(), slog.LevelInfo, "backend up",
			slog.String("upstream", b.upstreamName()), slog.String("backend", b.Addr),
			slog.String("check", pol.hc.Type))
		return
	}
	h.okRun.Store(0)
	n := min(h.failRun.Load()+1, maxRun)
	h.failRun.Store(n)
	if h.down.Load() || n < pol.fall {
		return
	}
	b.setDown(true)
	h.p.flips.Add(1)
	log.LogAttrs(context.Background(), slog.LevelWarn, "backend down",
		slog.String("upstream", b.upstreamName()), slog.String("backend", b.Addr),
		slog.String("check", pol.hc.Type), slog.String("err", err.Error()))
}

// setDown sets b's active state. The upstream's unavailable count is
// raised before b turns down and lowered after it turns up, so a pick that
// sees the count at 0 never meets a down backend it should have skipped
// for longer than that race. Only one goroutine at a time may call it for
// b (its checker, or StartHealthChecks before starting it).
func (b *Backend) setDown(down bool) {
	h := &b.h
	if h.down.Load() == down {
		return
	}
	if down {
		h.p.unavailable.Add(downUnit)
		h.down.Store(true)
		return
	}
	h.down.Store(false)
	h.p.unavailable.Add(-downUnit)
}

// upstreamName returns the name of b's upstream, or "".
func (b *Backend) upstreamName() string {
	if b.Upstream == nil {
		return ""
	}
	return b.Upstream.Name
}

// Check runs one active health check of type hc.Type against addr
// ("host:port") and returns nil when it passes:
//
//   - tcp: the connect succeeds; the socket is closed at once.
//   - http: "GET hc.Path HTTP/1.1" with Host hc.Host (or addr),
//     User-Agent throng-health and Connection: close; the status line's
//     status is within hc.ExpectStatus. Only the first 13 bytes of the
//     answer are read.
//   - websocket: an RFC 6455 §4.1 opening handshake to hc.Path with a
//     random Sec-WebSocket-Key; the answer is 101 with the matching
//     Sec-WebSocket-Accept, Upgrade and Connection; then a masked Close
//     1000 (§5.5.1) is sent and the socket closed.
//
// hc is complete and valid, as config.Load leaves it (start from
// config.DefaultHealthCheck to build one): defaults live in config alone.
// hc.Timeout and ctx bound the check, connect included. A failure wraps
// ErrUnexpectedStatus, ErrMalformedAnswer, ErrBadUpgrade, ErrCheckTimeout or
// ErrUnknownCheck, or is the network error (connection refused, reset). It
// allocates; it is meant for checker goroutines, never an event loop. Safe
// for concurrent use.
func Check(ctx context.Context, hc *config.HealthCheck, addr string) error {
	return check(ctx, hc, addr, nil, nil)
}

// checkProxyHeader is what a check sends first to a backend of an upstream
// with send_proxy_protocol: a header without addresses (v1 UNKNOWN, v2
// LOCAL), which says "the balancer's own connection", so that a backend
// that requires one does not refuse every check. nil without.
func (b *Backend) checkProxyHeader() []byte {
	if b.Upstream == nil {
		return nil
	}
	switch b.Upstream.SendProxy {
	case codec.ProxyV1:
		return codec.AppendProxyV1(nil, netip.AddrPort{}, netip.AddrPort{})
	case codec.ProxyV2:
		return codec.AppendProxyV2(nil, netip.AddrPort{}, netip.AddrPort{})
	}
	return nil
}

// check is Check over TLS when cfg is not nil, after proxy (a PROXY
// header) when it is not empty.
func check(ctx context.Context, hc *config.HealthCheck, addr string, cfg *tls.Config, proxy []byte) error {
	timeout := hc.Timeout.D()
	switch hc.Type {
	case config.HealthTCP, config.HealthHTTP, config.HealthWebSocket:
	default:
		return fmt.Errorf("%w %q", ErrUnknownCheck, hc.Type)
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err == nil && len(proxy) > 0 {
		if dl, ok := ctx.Deadline(); ok {
			_ = conn.SetWriteDeadline(dl)
		}
		if _, err = conn.Write(proxy); err != nil {
			_ = conn.Close()
		}
	}
	if err == nil && cfg != nil {
		tc := tls.Client(conn, cfg)
		if err = tc.HandshakeContext(ctx); err != nil {
			_ = conn.Close()
		}
		conn = tc
	}
	if err == nil {
		err = checkConn(ctx, conn, hc, addr)
	}
	if err != nil && isTimeout(err) {
		return fmt.Errorf("%w: %w", ErrCheckTimeout, err)
	}
	return err
}

// checkConn runs the part of the check after the connect and closes conn.
func checkConn(ctx context.Context, conn net.Conn, hc *config.HealthCheck, addr string) error {
	defer conn.Close()
	if hc.Type == config.HealthTCP {
		return nil
	}
	if dl, ok := ctx.Deadline(); ok {
		if err := conn.SetDeadline(dl); err != nil {
			return err
		}
	}
	// Cancelling ctx (StopHealthChecks) aborts the I/O at once.
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	host := hc.Host
	if host == "" {
		host = addr
	}
	if hc.Type == config.HealthHTTP {
		return checkHTTP(conn, host, hc.Path, hc.ExpectStatus)
	}
	return checkWebSocket(conn, host, hc.Path)
}

// checkHTTP sends the http check's request on conn and reads the status.
func checkHTTP(conn net.Conn, host, path, expect string) error {
	lo, hi, ok := config.ParseStatusRange(expect)
	if !ok {
		return fmt.Errorf("%w: %q", ErrBadExpectStatus, expect)
	}
	req := make([]byte, 0, 96+len(path)+len(host))
	req = append(req, "GET "...)
	req = append(req, path...)
	req = append(req, " HTTP/1.1\r\nHost: "...)
	req = append(req, host...)
	req = append(req, "\r\nUser-Agent: "+checkUserAgent+"\r\nConnection: close\r\n\r\n"...)
	if _, err := conn.Write(req); err != nil {
		return err
	}
	// "HTTP/1.1 200" and the byte after it: SP, CR or LF.
	var buf [13]byte
	n, err := io.ReadFull(conn, buf[:])
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
		return err
	}
	status, ok := parseStatus(buf[:n])
	if !ok {
		return fmt.Errorf("%w: %q", ErrMalformedAnswer, buf[:n])
	}
	if status < lo || status > hi {
		return fmt.Errorf("%w: %d", ErrUnexpectedStatus, status)
	}
	return nil
}

// parseStatus parses the start of a status line, "HTTP/1.x NNN" and one
// more byte: SP, CR or LF (RFC 9112 §4).
func parseStatus(p []byte) (status int, ok bool) {
	if len(p) < 13 || string(p[:7]) != "HTTP/1." || p[7] < '0' || p[7] > '9' || p[8] != ' ' {
		return 0, false
	}
	if c := p[12]; c != ' ' && c != '\r' && c != '\n' {
		return 0, false
	}
	for i, c := range p[9:12] {
		if c < '0' || c > '9' || i == 0 && c == '0' {
			return 0, false
		}
		status = status*10 + int(c-'0')
	}
	return status, true
}

// limitedConn reads at most a bounded number of bytes from a conn and
// writes to it freely.
type limitedConn struct {
	io.Reader
	io.Writer
}

// checkWebSocket runs the opening handshake on conn, then sends a Close.
func checkWebSocket(conn net.Conn, host, path string) error {
	u, err := url.ParseRequestURI(path)
	if err != nil {
		return fmt.Errorf("upstream: health check path %q: %w", path, err)
	}
	u.Scheme, u.Host = "ws", host
	d := ws.Dialer{Header: ws.HandshakeHeaderString("User-Agent: " + checkUserAgent + "\r\n")}
	br, _, err := d.Upgrade(limitedConn{io.LimitReader(conn, maxCheckAnswer), conn}, u)
	if br != nil {
		ws.PutReader(br)
	}
	var status ws.StatusError
	var rejected *ws.ConnectionRejectedError
	switch {
	case errors.As(err, &status):
		return fmt.Errorf("%w: %d", ErrUnexpectedStatus, int(status))
	case errors.As(err, &rejected), errors.Is(err, ws.ErrMalformedResponse):
		return fmt.Errorf("%w: %w", ErrBadUpgrade, err)
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return fmt.Errorf("%w: %w", ErrMalformedAnswer, err)
	case err != nil:
		return err
	}
	var mask [4]byte
	m := rand.Uint32()
	mask[0], mask[1], mask[2], mask[3] = byte(m), byte(m>>8), byte(m>>16), byte(m>>24)
	_, err = conn.Write(codec.AppendMaskedClose(nil, ws.StatusNormalClosure, "", mask))
	return err
}

// isTimeout reports whether err is a deadline passing.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout()
}
