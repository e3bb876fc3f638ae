// Package upstream holds backends, balancers and the routing table built
// from a config. It never imports gnet: the engine calls Table.Match and
// Balancer.Pick on its loops.
package upstream

import (
	"errors"

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
)

// Backend is one server of an upstream. Addr is "host:port". Index is its
// position in Upstream.Backends (0..). A Backend is never modified once its
// Table is built.
type Backend struct {
	Addr   string
	Weight int
	Index  int
}

// Balancer picks a backend. Pick must be safe for concurrent use (several
// event loops call it) and must not allocate.
//
// exclude is a bit set of backend indexes already tried for this request
// (bit i = index i; indexes ≥ 64 are never excluded). Pick returns nil when
// every backend is excluded.
type Balancer interface {
	Pick(exclude uint64) *Backend
}

// NewBalancer returns a balancer of kind (config.BalanceRoundRobin or
// config.BalanceWeightedRoundRobin) over backends, which it keeps and
// never modifies. Each backend's Index must be its position in backends.
// It allocates; Pick does not.
func NewBalancer(kind string, backends []*Backend) (Balancer, error) {
	if len(backends) == 0 {
		return nil, ErrNoBackends
	}
	switch kind {
	case config.BalanceRoundRobin:
		return &RoundRobin{backends: backends}, nil
	case config.BalanceWeightedRoundRobin:
		for _, b := range backends {
			if b.Weight < 1 {
				return nil, ErrBadWeight
			}
		}
		return &WeightedRoundRobin{backends: backends, current: make([]int, len(backends))}, nil
	}
	return nil, ErrUnknownBalancer
}

// excluded reports whether bit i of exclude is set; i ≥ 64 never is.
func excluded(exclude uint64, i int) bool {
	return i < 64 && exclude&(1<<uint(i)) != 0
}
