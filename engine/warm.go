package engine

import (
	"context"
	"net"

	"github.com/panjf2000/gnet/v2"

	"github.com/throngproxy/throng/pool"
	"github.com/throngproxy/throng/upstream"
)

// The warm pool (docs/architecture.md, "Warm pool"): each loop keeps up to
// upstream.warm connected sockets per backend, enrolled on that loop, so
// that a new session writes its upgrade request at once instead of waiting
// for a dial worker, a connect round trip and the hand-over to the loop.
//
// A shard keeps one warmSet per backend of the current table. Sets are
// filled by the dial workers (a fill is a dial job without a session),
// aged out after warm_max_idle, emptied while their backend is not
// healthy, and retired whole when a reload brings a new table. A loop's
// pools are made when the engine meets it at boot (loops.go), or at its
// first accepted connection if that failed, and fill from the next tick.

// warmFillBurst bounds the fills of one set with the dial workers at once:
// the refill rate of a pool after use, and the connect burst a backend
// sees from one loop.
const warmFillBurst = 2

// Refills after a failed fill wait warmRetryTicks, doubling with each
// failure in a row up to warmRetryMaxTicks. A socket the backend closes
// (or talks on) within warmMinAgeTicks of joining the pool counts as a
// failed fill: a backend that accepts and hangs up at once must not be
// reconnected in a tight loop.
const (
	warmRetryTicks    = 5   // 0.5 s
	warmRetryMaxTicks = 300 // 30 s
	warmMinAgeTicks   = 5   // 0.5 s
)

// warmSet is one loop's warm sockets to one backend. Only its loop touches
// it; a dial worker only carries the pointer back as the socket's context.
type warmSet struct {
	sh      *shard
	b       *upstream.Backend
	dialer  *net.Dialer
	idle    *pool.Idle[gnet.Conn]
	maxIdle int64 // ticks a socket may wait
	pending int   // fills with the dial workers, until their result is back
	retryAt int64 // tick before which no fill starts (after failures)
	fails   uint8 // failed fills in a row, reset when a socket is used or lives long
	retired bool  // its table was replaced: keep nothing
}

// takeWarm returns a warm socket to b for a session of snap and starts its
// replacement, or returns nil when b's upstream has no pool or this loop's
// pool is empty.
func (sh *shard) takeWarm(snap *snapshot, b *upstream.Backend) gnet.Conn {
	if b.Upstream == nil || b.Upstream.Warm == 0 {
		return nil
	}
	sh.syncWarm()
	if snap.table != sh.warmTable {
		return nil // a session begun before a reload: its backends are gone
	}
	w := sh.warm[b]
	if w == nil {
		return nil
	}
	now := sh.now()
	c, ok := w.idle.Take(now - w.maxIdle)
	if ok {
		sh.stats.warmIdle.Add(-1)
		w.fails = 0
	}
	w.fill(now)
	if !ok {
		return nil
	}
	return c
}

// syncWarm makes the shard's sets those of the current table: a reload
// retires the old sets (closing their sockets) and makes new ones.
func (sh *shard) syncWarm() {
	snap := sh.e.snap.Load()
	t := snap.table
	if t == sh.warmTable {
		return
	}
	for _, w := range sh.warm {
		w.retire()
	}
	sh.warm = nil
	sh.warmTable = t
	for _, u := range t.Upstreams {
		if u.Warm == 0 {
			continue
		}
		if sh.warm == nil {
			sh.warm = make(map[*upstream.Backend]*warmSet)
		}
		for _, b := range u.Backends {
			sh.warm[b] = &warmSet{
				sh: sh, b: b, dialer: snap.dialer,
				idle:    pool.NewIdle[gnet.Conn](u.Warm),
				maxIdle: ticks(u.WarmMaxIdle),
			}
		}
	}
	sh.hasWarm.Store(sh.warm != nil)
}

// syncWarmRunnable brings a shard's pools to the current table after a
// reload.
type syncWarmRunnable struct{ sh *shard }

func (r syncWarmRunnable) Run(context.Context) error {
	r.sh.syncWarm()
	return nil
}

// tendWarm runs on every tick while the shard has pools: it ages sockets
// out, empties the pools of unhealthy backends and refills the others.
func (sh *shard) tendWarm() {
	sh.syncWarm()
	now := sh.now()
	draining := sh.e.draining.Load()
	for _, w := range sh.warm {
		if draining || !w.b.Healthy() {
			w.drop()
			continue
		}
		if n := w.idle.Expire(now-w.maxIdle, closeWarm); n > 0 {
			// Aged out unused: the backend kept them, so fills work.
			sh.stats.warmIdle.Add(-int64(n))
			w.fails = 0
		}
		w.fill(now)
	}
}

// fill starts dials until the pool, counting dials in flight, is full, at
// most warmFillBurst at once.
func (w *warmSet) fill(now int64) {
	if w.retired || now < w.retryAt || w.sh.e.draining.Load() || !w.b.Healthy() {
		return
	}
	for w.idle.Len()+w.pending < w.idle.Limit() && w.pending < warmFillBurst {
		if !w.sh.e.dialer.submit(dialJob{warm: w, loop: w.sh.loop, addr: w.b.Addr, dialer: w.dialer, tls: w.b.TLS}) {
			return // the workers are swamped: sessions come first
		}
		w.pending++
		w.sh.stats.warmDials.Add(1)
	}
}

// onOpen runs in OnOpen for a fill's socket: it joins the pool, unless the
// pool no longer wants it. The fill stays pending until onDialDone.
func (w *warmSet) onOpen(c gnet.Conn) gnet.Action {
	if w.retired || !w.b.Healthy() || !w.idle.Put(c, w.sh.now()) {
		return gnet.Close
	}
	w.sh.stats.warmIdle.Add(1)
	return gnet.None
}

// onDialDone runs on the loop when a fill's dial worker is done with it:
// err is nil once the socket was handed to the loop (OnOpen has run, or
// gnet failed to register it and never will), else the connect failed.
// Fills are background work: a failure does not count against the
// backend's passive health (sessions' own attempts do, and active checks
// watch it), but it backs the refills off.
func (w *warmSet) onDialDone(err error) {
	w.pending--
	if err != nil {
		w.failed()
		return
	}
	w.fill(w.sh.now())
}

// failed backs the refills off after a failed fill.
func (w *warmSet) failed() {
	if w.fails < 16 {
		w.fails++
	}
	w.retryAt = w.sh.now() + min(int64(warmRetryTicks)<<(w.fails-1), warmRetryMaxTicks)
}

// remove forgets c, closed or misbehaving while idle. One that did not
// last warmMinAgeTicks counts as a failed fill.
func (w *warmSet) remove(c gnet.Conn) {
	at, ok := w.idle.Remove(c)
	if !ok {
		return
	}
	w.sh.stats.warmIdle.Add(-1)
	if w.sh.now()-at < warmMinAgeTicks {
		w.failed()
	}
}

// drop closes every idle socket of w.
func (w *warmSet) drop() {
	if n := w.idle.Drain(closeWarm); n > 0 {
		w.sh.stats.warmIdle.Add(-int64(n))
	}
}

// retire drops w's sockets and makes it refuse the fills still in flight.
func (w *warmSet) retire() {
	w.retired = true
	w.drop()
}

// closeWarm closes an idle warm socket. Its OnClose finds it gone from the
// pool already.
func closeWarm(c gnet.Conn) { _ = c.Close() }
