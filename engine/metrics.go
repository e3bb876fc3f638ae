package engine

// Counters for scrapers (docs/operations.md). The loops keep plain counters
// in padded per-shard blocks, written only by their own loop, so the
// per-frame path pays no lock, map lookup or allocation; the readers below
// sum the shards at scrape time.

import (
	"os"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/cpu"

	"github.com/throngproxy/throng/upstream"
)

// Close reasons: why an open session started closing, the first event that
// moved it out of open.
type closeReason uint8

const (
	reasonClientClose  closeReason = iota // the client sent Close or went away
	reasonBackendClose                    // the backend sent Close or went away
	reasonProtocol                        // a protocol violation either way
	reasonTooBig                          // a frame over limits.max_frame_bytes, a message over max_message_bytes
	reasonSlowConsumer                    // a queue over write_buffer_limit that could not be paused
	reasonTimeout                         // a peer that accepted nothing for timeouts.write
	reasonDrain                           // SIGTERM's drain
	reasonIdle                            // timeouts.idle
	reasonRateLimit                       // a client message over messages_per_session or bytes_per_session: Close 1008
	reasonPingTimeout                     // no Pong to the proxy's Ping within keepalive.pong_timeout
	numReasons
)

var reasonNames = [numReasons]string{
	"client_close", "backend_close", "protocol_error", "too_big",
	"slow_consumer", "timeout", "drain", "idle", "rate_limit", "ping_timeout",
}

// String returns the reason's metric label.
func (r closeReason) String() string { return reasonNames[r] }

// histBounds are the upper bounds, in seconds, of the latency histograms'
// buckets (handshakes and connects): 0.5 ms to 10 s.
var histBounds = [...]float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}

// histogram counts observations into histBounds's buckets, atomically, so
// that one writer (a loop) or several (the dial workers) need no lock.
type histogram struct {
	counts [len(histBounds) + 1]atomic.Uint64 // the last is +Inf
	sumNs  atomic.Uint64
}

// observe records d.
func (h *histogram) observe(d time.Duration) {
	s := d.Seconds()
	i := 0
	for i < len(histBounds) && s > histBounds[i] {
		i++
	}
	h.counts[i].Add(1)
	h.sumNs.Add(uint64(max(d, 0)))
}

// Histogram is a latency histogram read for a scrape: Counts[i] are the
// observations at most Bounds[i] seconds (cumulative), Count all of them.
type Histogram struct {
	Bounds []float64
	Counts []uint64 // cumulative, one per bound
	Count  uint64
	Sum    float64 // seconds
}

// add sums h into out.
func (h *histogram) add(out *Histogram) {
	if out.Bounds == nil {
		out.Bounds = histBounds[:]
		out.Counts = make([]uint64, len(histBounds))
	}
	var cum uint64
	for i := range h.counts {
		cum += h.counts[i].Load()
		if i < len(histBounds) {
			out.Counts[i] += cum
		}
	}
	out.Count += cum
	out.Sum += float64(h.sumNs.Load()) / 1e9
}

// routeKey names a route's counters: they outlive reloads, so that a
// route that stays keeps counting up.
type routeKey struct{ route, upstream string }

// routeStats are one route's counters, one padded block per shard.
type routeStats struct {
	key    routeKey
	shards []routeShard
}

// routeShard is a route's counters on one loop, written by that loop only.
type routeShard struct {
	open   atomic.Int64
	opened atomic.Uint64
	bytes  [2]atomic.Uint64 // client to backend, backend to client
	msgs   [2]atomic.Uint64
	_      cpu.CacheLinePad
}

// add n to c, whose only writer is the calling loop: a plain store of the
// sum spares the locked add.
func addOwned(c *atomic.Uint64, n uint64) { c.Store(c.Load() + n) }

// routeRegistry keeps every route's counters by name across reloads.
type routeRegistry struct {
	// tables are the per-address limit tables, kept across reloads like
	// the counters (policy.go).
	tables ipTables
	loops  int
	mu     sync.Mutex
	byKey  map[routeKey]*routeStats
	order  []*routeStats
}

func newRouteRegistry(loops int) *routeRegistry {
	return &routeRegistry{loops: max(loops, 1), byKey: make(map[routeKey]*routeStats)}
}

// forTable returns the counters of t's routes, indexed by Route.Index.
func (r *routeRegistry) forTable(t *upstream.Table) []*routeStats {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]*routeStats, len(t.Routes))
	for i, rt := range t.Routes {
		k := routeKey{rt.Host + rt.PathPrefix, ""}
		if rt.Upstream != nil {
			k.upstream = rt.Upstream.Name
		}
		rs := r.byKey[k]
		if rs == nil {
			rs = &routeStats{key: k, shards: make([]routeShard, r.loops)}
			r.byKey[k] = rs
			r.order = append(r.order, rs)
		}
		out[i] = rs
	}
	return out
}

// routeShard returns the session's route counters on its loop; nil before
// it has a route.
func (s *session) routeShard() *routeShard {
	if s.route == nil {
		return nil
	}
	rs := s.snap.routes[s.route.Index]
	if int(s.sh.index) >= len(rs.shards) {
		return nil
	}
	return &rs.shards[s.sh.index]
}

// RouteStat is one route's counters summed over the loops.
type RouteStat struct {
	Route, Upstream string
	Open            int64  // sessions open now
	Opened          uint64 // sessions that reached open
	BytesIn         uint64 // client to backend, frame bytes
	BytesOut        uint64 // backend to client
	MessagesIn      uint64 // data messages, client to backend
	MessagesOut     uint64
}

// RouteStats returns every route's counters, including routes a reload
// removed (their counters stay, so that totals never go down).
func (e *Engine) RouteStats() []RouteStat {
	r := e.routeReg
	r.mu.Lock()
	list := append([]*routeStats(nil), r.order...)
	r.mu.Unlock()
	out := make([]RouteStat, 0, len(list))
	for _, rs := range list {
		st := RouteStat{Route: rs.key.route, Upstream: rs.key.upstream}
		for i := range rs.shards {
			c := &rs.shards[i]
			st.Open += c.open.Load()
			st.Opened += c.opened.Load()
			st.BytesIn += c.bytes[0].Load()
			st.BytesOut += c.bytes[1].Load()
			st.MessagesIn += c.msgs[0].Load()
			st.MessagesOut += c.msgs[1].Load()
		}
		out = append(out, st)
	}
	return out
}

// ClosedByReason returns how many open sessions started closing for each
// reason, by label.
func (e *Engine) ClosedByReason() map[string]uint64 {
	out := make(map[string]uint64, numReasons)
	for _, name := range reasonNames {
		out[name] = 0
	}
	for _, sh := range *e.shards.Load() {
		for r := range sh.stats.closedBy {
			out[reasonNames[r]] += sh.stats.closedBy[r].Load()
		}
	}
	return out
}

// Refusals returns the handshakes answered with an HTTP status other than
// 101, by status: the proxy's own answers and the backends' relayed ones.
func (e *Engine) Refusals() map[int]uint64 {
	out := make(map[int]uint64)
	for _, sh := range *e.shards.Load() {
		for code := range sh.stats.refusals {
			if n := sh.stats.refusals[code].Load(); n > 0 {
				out[code] += n
			}
		}
	}
	return out
}

// countRefusal counts a handshake answered with status.
func (sh *shard) countRefusal(status uint16) {
	if status >= 100 && int(status) < len(sh.stats.refusals) && status != 101 {
		sh.stats.refusals[status].Add(1)
	}
}

// HandshakeDurations is the histogram of accept to relayed 101.
func (e *Engine) HandshakeDurations() Histogram {
	var h Histogram
	for _, sh := range *e.shards.Load() {
		sh.stats.handshakes.add(&h)
	}
	if h.Bounds == nil {
		(&histogram{}).add(&h)
	}
	return h
}

// ConnectDurations is the histogram of backend TCP connects.
func (e *Engine) ConnectDurations() Histogram {
	var h Histogram
	e.connects.add(&h)
	return h
}

// LoopSessions returns the sessions (and connections being refused) each
// loop holds now, by loop index.
func (e *Engine) LoopSessions() []int64 {
	shards := *e.shards.Load()
	out := make([]int64, len(shards))
	for _, sh := range shards {
		if int(sh.index) < len(out) {
			out[sh.index] = sh.stats.live.Load()
		}
	}
	return out
}

// SessionCap is the most proxied sessions admitted at once: two
// descriptors each.
func (e *Engine) SessionCap() int64 { return min(e.maxSessions, e.fdBudget/2) }

// SubscriberCap is the most fan-out subscribers admitted at once, when
// there are no proxied sessions: one descriptor each, and two while one is
// being answered.
func (e *Engine) SubscriberCap() int64 { return min(e.maxSessions, e.fdBudget-1) }

// BackendStat is one backend of the current table.
type BackendStat struct {
	Upstream, Addr string
	State          string // healthy, ejected (passive checks) or down (active checks)
	Sessions       int64  // live sessions on it
}

// Backends returns the current table's backends, by upstream in config
// order.
func (e *Engine) Backends() []BackendStat {
	t := e.snap.Load().table
	var out []BackendStat
	for _, u := range t.Upstreams {
		for _, b := range u.Backends {
			st := BackendStat{Upstream: u.Name, Addr: b.Addr, State: "healthy", Sessions: b.Active()}
			switch {
			case b.Down():
				st.State = "down"
			case b.Ejected():
				st.State = "ejected"
			}
			out = append(out, st)
		}
	}
	return out
}

// Descriptors counts the process's open file descriptors (/proc/self/fd).
func Descriptors() int {
	d, err := os.Open("/proc/self/fd")
	if err != nil {
		return -1
	}
	defer d.Close()
	names, err := d.Readdirnames(-1)
	if err != nil {
		return -1
	}
	return len(names) - 1 // the directory being read
}

// Draining reports whether a drain has begun (SIGTERM).
func (e *Engine) Draining() bool { return e.draining.Load() }

// Listening reports whether the listeners are bound and serving: every
// loop has bound its own (and, with -takeover, steered new connections
// here) and Run has not returned.
func (e *Engine) Listening() bool {
	select {
	case <-e.stopped:
		return false
	case <-e.listening:
		return e.gnet.Validate() == nil
	default:
		return false
	}
}

// UnreadyRoutes returns the routes (host and path prefix) that no backend
// could take now: none of their upstream's, nor of its fallbacks'; and
// the fan-out routes whose bus is open but not connected.
func (e *Engine) UnreadyRoutes() []string {
	var out []string
	snap := e.snap.Load()
	for _, r := range snap.table.Routes {
		if r.Upstream == nil {
			// A bus-fed fan-out route: ready unless its bus is known down.
			if f := snap.fan[r.Index]; f != nil && e.fan.busDown(f.source) {
				out = append(out, r.Host+r.PathPrefix)
			}
			continue
		}
		ok := false
		for u, n := r.Upstream, 0; u != nil && n < 8; u, n = u.Fallback, n+1 {
			if u.CanPick(0) {
				ok = true
				break
			}
		}
		if !ok {
			out = append(out, r.Host+r.PathPrefix)
		}
	}
	return out
}

// Loops is the number of event loops.
func (e *Engine) Loops() int { return e.loops }
