package engine

import (
	"context"
	"encoding/binary"
	"math/rand/v2"
	"sync/atomic"
	"time"

	"github.com/gobwas/ws"
	"github.com/panjf2000/gnet/v2"
	"golang.org/x/sys/cpu"
	"golang.org/x/sys/unix"

	"github.com/throngproxy/throng/codec"
	"github.com/throngproxy/throng/pool"
	"github.com/throngproxy/throng/upstream"
)

// shard is everything one event loop owns: its sessions, its timer wheel, its
// scratch space and its counters. Only the loop's goroutine touches it, except
// stats, which are atomic so that a scraper can sum them.
type shard struct {
	e    *Engine
	loop gnet.EventLoop

	// head of the intrusive list of live sessions, for drain and metrics.
	sessions *session
	wheel    wheel

	// Scratch for parsing heads: used within one callback, never kept.
	req   codec.Request
	resp  codec.Response
	fwd   codec.Forward
	iov   [2][]byte                  // a held frame header and the bytes after it
	iov3  [3][]byte                  // a chunk's size line, its bytes and CRLF
	idbuf [32]byte                   // a request id being made
	tpbuf [codec.TraceParentLen]byte // a traceparent being made
	ipbuf [64]byte                   // a client address being formatted
	// authbuf holds what admission auth rewrites of a request being
	// forwarded: the target or protocols without the token, and the
	// claims' header lines.
	authbuf []byte
	tmp     []byte // small encoder scratch (close frames, request ids)
	rand    *rand.ChaCha8

	// Buffers for handshake-time bytes; a session holds them only until it
	// is open, so an idle session keeps none.
	handshakes *pool.FreeList[handshake]

	tick   tickRunnable
	nextID uint64 // sessions made here
	// listenerKeepAlive is the keepalive idle time this loop set on the
	// listening sockets, which accepted sockets inherit; valid when
	// keepAliveInherited (sockopt.go).
	listenerKeepAlive  time.Duration
	keepAliveInherited bool
	// index is the shard's place among the engine's (below 256, the most
	// loops gnet runs): the low byte of its session ids, which makes them
	// unique across loops.
	index uint64

	// Warm sockets by backend, for the table they were filled for; a
	// reload's new table retires them all (warm.go).
	warm      map[*upstream.Backend]*warmSet
	warmTable *upstream.Table
	// hasWarm tells the ticker to tick this loop even with an empty
	// wheel: its pools need filling and ageing.
	hasWarm atomic.Bool

	// Flow control (flow.go): the sessions with a backlog or a detached
	// socket, polled every flowPollInterval while there are any.
	flows      []*flowState
	flowFree   *pool.FreeList[flowState]
	flowCount  atomic.Int32 // len(flows), for the flow poller
	flowPosted atomic.Bool  // a flow poll is queued on the loop
	flowTick   flowRunnable
	chunks     [][]byte    // free queue chunks
	msg        unix.Msghdr // sendmsg scratch
	iovs       [maxIov]unix.Iovec

	// refusalLog rate-limits the access lines of refused handshakes.
	refusalLog refusalLimiter

	// TLS scratch (tls_records.go): records sealed toward clients, plaintext
	// staged to seal in one record, records the layer answers with.
	tlsOut, tlsStage, tlsPlain, tlsReply []byte
	// tlsLive counts this loop's sessions with TLS state, for the ticker;
	// parkAt is where the sweep that parks idle sessions' record layers
	// goes on from (parkIdle).
	tlsLive atomic.Int64
	parkAt  *session

	stats shardStats
}

// shardStats are the counters of one shard. They are written by the loop and
// read by scrapers; each sits in its own cache line so that loops do not
// false-share.
type shardStats struct {
	accepted         atomic.Uint64 // client connections accepted
	opened           atomic.Uint64 // sessions that reached open
	closed           atomic.Uint64 // sessions finished
	rejected         atomic.Uint64 // handshakes answered with an HTTP error
	overCap          atomic.Uint64 // connections refused because of the session cap
	slowConsumer     atomic.Uint64 // sessions closed for a peer that did not read (timeouts.write, write_buffer_limit)
	writeTimeout     atomic.Uint64 // of those, closed by timeouts.write
	pauses           atomic.Uint64 // sockets detached by flow control
	resumes          atomic.Uint64 // detached sockets attached again
	detached         atomic.Int64  // sockets detached now
	protocolErr      atomic.Uint64 // sessions closed for a protocol violation
	dials            atomic.Uint64 // backend connect attempts started
	dialFailed       atomic.Uint64 // backend connect attempts that failed
	ejections        atomic.Uint64 // backends ejected by passive health
	retries          atomic.Uint64 // attempts retried on another backend
	warmUsed         atomic.Uint64 // attempts that took a warm socket
	warmStale        atomic.Uint64 // warm sockets found closed by the backend
	warmDials        atomic.Uint64 // warm-pool fill connects started
	warmIdle         atomic.Int64  // warm sockets waiting
	bytesC2U         atomic.Uint64
	bytesU2C         atomic.Uint64
	handshakeTimeout atomic.Uint64                       // handshakes that ran out of time
	idleTimeout      atomic.Uint64                       // open sessions closed for idleness
	moves            [numStates][numStates]atomic.Uint64 // state changes, by from and to
	badTransitions   atomic.Uint64                       // moves allowedNext does not have: 0 unless the machine is wrong
	warmMisses       atomic.Uint64                       // attempts on a backend with a warm pool that found it empty
	live             atomic.Int64                        // sessions and refused connections this loop holds
	closedBy         [numReasons]atomic.Uint64           // open sessions that started closing, by reason
	refusals         [600]atomic.Uint64                  // handshakes answered with another status than 101, by status
	handshakes       histogram                           // accept to relayed 101
	tlsHandshakes    atomic.Uint64                       // TLS handshakes done
	tlsResumed       atomic.Uint64                       // of those, resumed from a ticket
	tlsFailed        atomic.Uint64                       // TLS handshakes that failed (or were not TLS)
	tlsBusy          atomic.Uint64                       // ClientHellos refused: tls.max_handshakes in progress
	tlsAlerts        atomic.Uint64                       // sessions ended by a bad record (fatal alert sent)
	tlsParked        atomic.Uint64                       // record layers parked while idle
	proxyRefused     atomic.Uint64                       // connections without a valid PROXY header, or from an untrusted peer
	policyRefused    [numPolicyReasons]atomic.Uint64     // handshakes refused by admission policy, by reason
	messagesDropped  atomic.Uint64                       // client messages dropped by rate_limit_action = "drop"
	pingsSent        atomic.Uint64                       // the proxy's own Pings (keepalive.ping_interval)
	pingTimeout      atomic.Uint64                       // sessions closed for a Pong that did not come
	fanDeliveries    atomic.Uint64                       // fan-out frames written or queued to subscribers (the loop's own writes)
	fanSkipped       atomic.Uint64                       // fan-out deliveries skipped for slow subscribers
	_                cpu.CacheLinePad
}

// tickRunnable advances a shard's wheel; it is built once per shard so that
// the ticker posts no new closure per tick.
type tickRunnable struct{ sh *shard }

func (t *tickRunnable) Run(context.Context) error {
	t.sh.onTick()
	return nil
}

func newShard(e *Engine, loop gnet.EventLoop, seed uint64) *shard {
	var key [32]byte
	for i := range key {
		key[i] = byte(seed >> (8 * (i % 8)))
		key[i] ^= byte(i * 131)
	}
	sh := &shard{e: e, loop: loop, rand: rand.NewChaCha8(key), tmp: make([]byte, 0, 256), authbuf: make([]byte, 0, 2048)}
	sh.handshakes = pool.NewFreeList(maxFreeHandshakes, recycleHandshake)
	sh.tick.sh = sh
	sh.flowTick.sh = sh
	sh.flowFree = pool.NewFreeList[flowState](maxFreeFlows, nil)
	sh.wheel.clock = &e.clock
	sh.req.Headers = make([]codec.Header, 0, 32)
	sh.resp.Headers = make([]codec.Header, 0, 32)
	return sh
}

// link adds s to the shard's session list.
func (sh *shard) link(s *session) {
	s.next = sh.sessions
	if s.next != nil {
		s.next.prev = s
	}
	sh.sessions = s
}

// unlink removes s from the shard's session list.
func (sh *shard) unlink(s *session) {
	if s.prev != nil {
		s.prev.next = s.next
	} else if sh.sessions == s {
		sh.sessions = s.next
	}
	if s.next != nil {
		s.next.prev = s.prev
	}
	if sh.parkAt == s {
		sh.parkAt = s.next
	}
	s.prev, s.next = nil, nil
}

// now returns the engine's clock in ticks. Deadlines are computed from it
// rather than from the wheel's last processed tick, which lags while no
// ticks are posted to an empty wheel.
func (sh *shard) now() int64 { return sh.wheel.clock.Load() }

// onTick runs on the loop when the ticker posts a tick.
func (sh *shard) onTick() {
	sh.wheel.advance(sh.fire)
	if sh.hasWarm.Load() {
		sh.tendWarm()
	}
	if sh.tlsLive.Load() > 0 {
		sh.parkIdle()
	}
}

func (sh *shard) fire(s *session) { s.onDeadline() }

// mask returns a fresh masking key for a frame the proxy sends to a backend
// (RFC 6455 §5.3: unpredictable; ChaCha8 is a CSPRNG).
func (sh *shard) mask() (m [4]byte) {
	v := sh.rand.Uint64()
	m[0], m[1], m[2], m[3] = byte(v), byte(v>>8), byte(v>>16), byte(v>>24)
	return m
}

// randFill fills b (a multiple of 8 bytes long) from the shard's CSPRNG:
// request ids, trace and span ids.
func (sh *shard) randFill(b []byte) {
	for i := 0; i+8 <= len(b); i += 8 {
		binary.LittleEndian.PutUint64(b[i:], sh.rand.Uint64())
	}
}

// closeFrame encodes a Close toward the client (unmasked) or the backend
// (masked) into the shard's scratch. The slice lives until the next call.
func (sh *shard) closeFrame(toUpstream bool, code ws.StatusCode) []byte {
	if toUpstream {
		sh.tmp = codec.AppendMaskedClose(sh.tmp[:0], code, "", sh.mask())
	} else {
		sh.tmp = codec.AppendClose(sh.tmp[:0], code, "")
	}
	return sh.tmp
}
