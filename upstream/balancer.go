// Package upstream holds backends, balancers and the routing table built
// from a config. It never imports gnet: the engine calls Table.Match and
// Balancer.Pick on its loops.
package upstream

import (
	"crypto/tls"
	"errors"
	"net/netip"
	"sync/atomic"

	"golang.org/x/sys/cpu"

	"github.com/throngproxy/throng/config"
)

// Sentinel errors.
var (
	// ErrUnknownBalancer: NewBalancer was given a kind it does not know.
	ErrUnknownBalancer = errors.New("upstream: unknown balancer")
	// ErrNoBackends: a balancer or upstream was given no backends.
	ErrNoBackends = errors.New("upstream: no backends")
	// ErrBadWeight: a weighted balancer was given a weight below 1.
	ErrBadWeight = errors.New("upstream: backend weight below 1")
	// ErrUnknownUpstream: a route names an upstream the config lacks.
	ErrUnknownUpstream = errors.New("upstream: route names an unknown upstream")
	// ErrBadLoadFactor: NewHash was given a load factor below 1 (or NaN or
	// +Inf).
	ErrBadLoadFactor = errors.New("upstream: hash load factor not a finite number ≥ 1")
	// ErrBadHashKey: ParseKeySource was given a string it does not accept.
	ErrBadHashKey = errors.New("upstream: bad hash key")
	// ErrNoStickyKey: NewTable got no key for a sticky cookie without
	// sticky_secret.
	ErrNoStickyKey = errors.New("upstream: sticky cookie without secret or key")
)

// Backend is one server of an upstream. Addr is "host:port". Index is its
// position in Upstream.Backends (0..). Addr, Weight and Index never change
// once its Table is built; the live-session counter (Acquire, Release,
// Active) is shared by every loop and sits on its own cache line. Its
// passive health and circuit breaker (Available, ReportFailure,
// ReportSuccess; health.go) are configured by NewTable from the upstream's
// max_fails, fail_window and eject_time; a Backend made otherwise is always
// available. A Backend must not be copied.
type Backend struct {
	Addr string
	// AddrPort is Addr when it names an IP address and port; invalid for
	// a host name. The engine connects to such a backend from the loop
	// without a resolver; a host name is dialled off the loop.
	AddrPort netip.AddrPort
	Weight   int
	Index    int
	// Upstream is the upstream b belongs to; nil for a Backend made
	// outside NewTable.
	Upstream *Upstream
	// TLS is the client configuration of a backend with tls = true
	// (wss), nil for plain TCP. Health checks and dials use it.
	TLS *tls.Config

	_      cpu.CacheLinePad
	active atomic.Int64 // live sessions using this backend
	_      cpu.CacheLinePad
	h      health // passive health and breaker state
}

// Acquire counts one more session using b. The engine calls it on the loop
// when the session's dial to b starts, and calls Release exactly once when
// that session moves to another backend, starts closing (it carries no
// more traffic, though its socket may stay for up to timeouts.close) or
// ends. Safe for concurrent use; does not allocate.
func (b *Backend) Acquire() { b.active.Add(1) }

// Release counts the end of a session that called Acquire. Safe for
// concurrent use; does not allocate.
func (b *Backend) Release() { b.active.Add(-1) }

// Active returns the number of live sessions on b (Acquire calls less
// Release calls), as seen by every loop. Safe for concurrent use; does not
// allocate.
func (b *Backend) Active() int64 { return b.active.Load() }

// Balancer picks a backend. Pick must be safe for concurrent use (several
// event loops call it) and must not allocate.
//
// exclude is a bit set of backend indexes already tried for this request
// (bit i = index i; indexes ≥ 64 are never excluded). key is the request's
// hash key (KeySource.HashKey) for the hash balancer; other balancers
// ignore it and callers pass 0 (see Upstream.NeedsKey). Pick skips
// backends that are not Available (ejected, or half-open with a probe in
// flight) and takes the probe of a half-open backend it returns; it reads
// the clock only while some backend of the upstream is ejected. Pick
// returns nil when every backend is excluded or unavailable (the engine
// answers 503).
type Balancer interface {
	Pick(exclude uint64, key uint64) *Backend
}

// NewBalancer returns a balancer of kind (config.BalanceRoundRobin,
// BalanceWeightedRoundRobin, BalanceLeastConn, BalanceRandomTwo or
// BalanceHash) over backends, which it keeps and never modifies. Each
// backend's Index must be its position in backends; every kind but
// round_robin needs weights ≥ 1. loadFactor is the hash balancer's bound
// (upstream.hash_load_factor); the other kinds ignore it. It allocates;
// Pick does not.
func NewBalancer(kind string, backends []*Backend, loadFactor float64) (Balancer, error) {
	if len(backends) == 0 {
		return nil, ErrNoBackends
	}
	switch kind {
	case config.BalanceRoundRobin:
		return &RoundRobin{backends: backends, health: passiveOf(backends)}, nil
	case config.BalanceWeightedRoundRobin, config.BalanceLeastConn, config.BalanceRandomTwo, config.BalanceHash:
	default:
		return nil, ErrUnknownBalancer
	}
	for _, b := range backends {
		if b.Weight < 1 {
			return nil, ErrBadWeight
		}
	}
	switch kind {
	case config.BalanceWeightedRoundRobin:
		return &WeightedRoundRobin{backends: backends, current: make([]int, len(backends)), health: passiveOf(backends)}, nil
	case config.BalanceLeastConn:
		return &LeastConn{backends: backends, health: passiveOf(backends)}, nil
	case config.BalanceRandomTwo:
		return &RandomTwo{backends: backends, health: passiveOf(backends)}, nil
	}
	return NewHash(backends, loadFactor)
}

// excluded reports whether bit i of exclude is set; i ≥ 64 never is.
func excluded(exclude uint64, i int) bool {
	return i < 64 && exclude&(1<<uint(i)) != 0
}
