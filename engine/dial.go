package engine

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"syscall"
	"time"

	"github.com/panjf2000/gnet/v2"
	"golang.org/x/sys/unix"

	"github.com/throngproxy/throng/tlslayer"
)

// dialJob asks a worker to connect a session to a backend. The worker reads
// only the job's own fields: the session belongs to its loop.
type dialJob struct {
	s      *session // the session to connect; nil for a warm-pool fill
	warm   *warmSet // the pool to fill when s is nil
	loop   gnet.EventLoop
	addr   string
	ap     netip.AddrPort // addr as an IP address and port; invalid for a host name
	dialer *net.Dialer    // from the session's snapshot: reloads reach new dials
	// tls, for a backend with tls = true, is the handshake the worker
	// makes before handing the socket over: the loop only ever sees a
	// backend socket whose handshake is done (warm ones included).
	tls *tls.Config
	// proxy is the PROXY protocol header the worker writes first, before
	// any TLS (send_proxy_protocol); nil for none.
	proxy []byte
	// keepAlive is the configuration's TCP keepalive idle time, for a
	// socket made outside dialer.
	keepAlive time.Duration
	// connecting says fd is a socket whose connect the loop started at
	// start and the kernel had not finished (connectOnLoop): the worker
	// waits for it instead of dialling.
	connecting bool
	fd         int
	start      time.Time
}

// dialer is the bounded pool of goroutines that connect to backends off the
// loops: backends named by host name, with TLS or a PROXY header, warm-pool
// fills, and connects the loop started that the kernel had not finished
// (connect.go). gnet's Register would dial without any deadline
// (docs/gnet.md §1), so workers dial with net.Dialer and hand the socket to
// the session's loop with EventLoop.Enroll.
type dialer struct {
	jobs     chan dialJob
	connects *histogram // the engine's, for connect durations
	// onLoop lets start connect on the loop (connect.go); false only in
	// tests that take the jobs from the queue themselves.
	onLoop bool
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// dialQueue is how many connect requests may wait for a worker. Past it new
// handshakes are refused with 503 rather than queued without bound.
const dialQueue = 4096

func newDialer(workers int, connects *histogram) *dialer {
	ctx, cancel := context.WithCancel(context.Background())
	d := &dialer{
		connects: connects,
		onLoop:   true,
		jobs:     make(chan dialJob, dialQueue),
		ctx:      ctx,
		cancel:   cancel,
	}
	for range workers {
		d.wg.Add(1)
		go d.work()
	}
	return d
}

// newNetDialer returns the dialer for backend connections: a connect
// deadline, and keepalive plus TCP_USER_TIMEOUT so that a backend that
// vanished does not hold a descriptor forever.
func newNetDialer(connectTimeout, keepAlive time.Duration) *net.Dialer {
	d := &net.Dialer{
		Timeout: connectTimeout,
		KeepAliveConfig: net.KeepAliveConfig{
			Enable:   keepAlive > 0,
			Idle:     keepAlive,
			Interval: keepAliveInterval(keepAlive),
			Count:    keepAliveCount,
		},
		Control: func(_, _ string, rc syscall.RawConn) error {
			var serr error
			err := rc.Control(func(fd uintptr) { serr = setUserTimeout(int(fd), keepAlive) })
			if err != nil {
				return err
			}
			return serr
		},
	}
	if keepAlive <= 0 {
		d.KeepAlive = -1
	}
	return d
}

// start begins a session's connect: on the loop for a plain TCP backend
// named by its address (connect.go), else on a worker. errDialQueueFull
// means no worker can take it; another error, that the connect failed at
// once.
func (d *dialer) start(j dialJob) error {
	if d.onLoop && j.ap.IsValid() && j.tls == nil && len(j.proxy) == 0 {
		return d.connectOnLoop(j)
	}
	if !d.submit(j) {
		return errDialQueueFull
	}
	return nil
}

// submit queues a job without blocking; false when the queue is full.
func (d *dialer) submit(j dialJob) bool {
	select {
	case d.jobs <- j:
		return true
	default:
		return false
	}
}

func (d *dialer) work() {
	defer d.wg.Done()
	for {
		select {
		case <-d.ctx.Done():
			return
		case j := <-d.jobs:
			d.dial(j)
		}
	}
}

func (d *dialer) dial(j dialJob) {
	if j.s != nil && j.s.dialAbandoned.Load() {
		// The session gave up waiting (timeout, client gone): nobody
		// wants this socket, and nobody waits for a report.
		if j.connecting {
			_ = unix.Close(j.fd)
		}
		return
	}
	if j.connecting {
		d.finishConnect(j)
		return
	}
	// The socket's gnet context tells OnOpen whose it is.
	var owner any = j.s
	if j.s == nil {
		owner = j.warm
	}
	start := time.Now()
	c, err := j.dialer.DialContext(d.ctx, "tcp", j.addr)
	if err == nil && (len(j.proxy) > 0 || j.tls != nil) {
		var x *dialedTLS
		if x, err = d.prepare(c, j, start); err != nil {
			_ = c.Close()
		} else if x != nil {
			owner = x
		}
	}
	d.connects.observe(time.Since(start))
	if err == nil {
		var ch <-chan gnet.RegisteredResult
		// Enroll dups the socket onto the session's loop and closes c; the
		// loop runs OnOpen (which attaches it to the session or the pool)
		// before the result arrives here.
		ch, err = j.loop.Enroll(gnet.NewContext(d.ctx, owner), c)
		if err == nil {
			select {
			case res := <-ch:
				err = res.Err
			case <-d.ctx.Done():
				// The engine stopped: a register task queued behind its
				// shutdown never runs, so the result would never come.
				return
			}
		} else {
			_ = c.Close()
		}
		if err == nil && j.s != nil {
			// The session learnt of its socket in OnOpen.
			return
		}
	}
	// Report back on the loop; the session's or pool's fields are not
	// ours to touch. A pool hears of successes too: gnet may report one
	// without ever running OnOpen (docs/gnet.md §1), and the pool must
	// not count that fill as pending forever.
	_ = j.loop.Execute(d.ctx, &dialResult{s: j.s, warm: j.warm, err: err})
}

// prepare writes the PROXY header and makes the TLS handshake a job asks
// for on its fresh socket c, within the connect timeout counted from
// start. It returns the context of a TLS socket, nil for a plain one.
func (d *dialer) prepare(c net.Conn, j dialJob, start time.Time) (*dialedTLS, error) {
	by := start.Add(j.dialer.Timeout)
	if j.dialer.Timeout <= 0 {
		by = start.Add(defaultTLSConnect)
	}
	_ = c.SetDeadline(by)
	defer c.SetDeadline(time.Time{})
	if len(j.proxy) > 0 {
		if _, err := c.Write(j.proxy); err != nil {
			return nil, fmt.Errorf("engine: PROXY header: %w", err)
		}
	}
	if j.tls == nil {
		return nil, nil
	}
	ctx, cancel := context.WithDeadline(d.ctx, by)
	defer cancel()
	layer, _, err := tlslayer.ClientHandshake(ctx, c, j.tls)
	if err != nil {
		return nil, fmt.Errorf("engine: backend TLS: %w", err)
	}
	return &dialedTLS{s: j.s, warm: j.warm, layer: layer}, nil
}

// defaultTLSConnect bounds a backend's connect and handshake when the
// config sets no connect timeout.
const defaultTLSConnect = 10 * time.Second

// dialResult reports a failed connect to the session's loop, or any
// outcome of a fill to its pool's loop.
type dialResult struct {
	s    *session
	warm *warmSet
	err  error
}

func (f *dialResult) Run(context.Context) error {
	if f.s == nil {
		f.warm.onDialDone(f.err)
		return nil
	}
	f.s.onDialFailed(f.err)
	return nil
}

// stop ends the workers and waits for them.
func (d *dialer) stop() {
	d.cancel()
	d.wg.Wait()
}
