package upstream

import (
	"fmt"
	"net/netip"
	"sort"
	"strings"
	"time"

	"github.com/throngproxy/throng/codec"
	"github.com/throngproxy/throng/config"
	"github.com/throngproxy/throng/tlsconf"
)

// Upstream is a named group of backends with its balancer. Index is its
// position in Table.Upstreams.
type Upstream struct {
	Name     string
	Index    int
	Backends []*Backend
	Balancer Balancer
	// HashKey is the parsed hash_key. It is used only when NeedsKey
	// reports true; otherwise it is the zero KeySource (KeyIP).
	HashKey KeySource
	// Fallback takes this upstream's handshakes while none of its
	// backends is available (fallback_upstream); nil means none.
	Fallback *Upstream
	// Retries, RetryBackoff and RetryBackoffMax are the retry policy
	// (retries, retry_backoff, retry_backoff_max).
	Retries                       int
	RetryBackoff, RetryBackoffMax time.Duration
	// Warm is the warm sockets each loop keeps per backend; WarmMaxIdle
	// is how long one may wait unused.
	Warm        int
	WarmMaxIdle time.Duration
	// Health is the active health check policy ([upstream.health]);
	// Health.Type == "" means none.
	Health config.HealthCheck
	// Sticky is the sticky cookie; nil when sticky_cookie is "".
	Sticky *Sticky
	// SendProxy is the PROXY protocol header written to the backends
	// before anything else (send_proxy_protocol).
	SendProxy codec.ProxyVersion
}

// NeedsKey reports whether u's balancer uses the request's hash key
// (balance = "hash"): the engine then passes HashKey.HashKey(...) to Pick,
// and 0 otherwise. It does not allocate and is safe for concurrent use.
func (u *Upstream) NeedsKey() bool {
	_, ok := u.Balancer.(*Hash)
	return ok
}

// Route sends requests whose host and path match to Upstream. Host is the
// lowercase pattern ("*", "example.com" or "*.example.com"); Index is the
// route's position in the config and in Table.Routes.
type Route struct {
	Host       string
	PathPrefix string
	// Upstream is nil on a fan-out route fed by a bus.
	Upstream *Upstream
	Index    int
	// Fanout marks a fan-out route (config mode = "fanout"): the proxy
	// answers the upgrade itself (docs/fanout.md).
	Fanout bool
}

// Table is an immutable routing table built from a config. Match and the
// balancers' Pick are safe for concurrent use; nothing else in a Table
// changes after NewTable returns. A reload builds a new Table.
type Table struct {
	Routes    []*Route
	Upstreams []*Upstream

	exact    map[string]*hostRoutes // key: lowercase host
	wildcard map[string]*hostRoutes // key: ".example.com" for "*.example.com"
	any      *hostRoutes            // "*"; nil when no route has it
}

// hostRoutes are the routes of one host pattern, longest path prefix first.
type hostRoutes struct {
	routes []*Route
}

// maxHost is the longest Host (port stripped) that can match an exact or
// wildcard pattern; longer ones match only "*".
const maxHost = 256

// NewTable builds the table for c, which should have passed Validate. It
// lowercases route hosts ("" becomes "*"), builds one balancer per
// upstream (parsing hash_key and using hash_load_factor for balance =
// "hash"), and returns an error wrapping ErrUnknownUpstream,
// ErrUnknownBalancer, ErrNoBackends, ErrBadWeight, ErrBadLoadFactor or
// ErrBadHashKey when c cannot be served. Of two routes with the same host
// and path prefix, the first wins. Backends get passive health from their
// upstream's max_fails, fail_window and eject_time. Each Table has its own
// Backends, so live-session counts and ejections start afresh in a new
// Table. stickyKey keys the sticky cookie of upstreams with no
// sticky_secret (see NewStickyKey); a nil key with such an upstream gives
// ErrNoStickyKey. It allocates; build tables off the loops.
func NewTable(c *config.Config, stickyKey []byte) (*Table, error) {
	t := &Table{
		Routes:    make([]*Route, len(c.Routes)),
		Upstreams: make([]*Upstream, len(c.Upstreams)),
		exact:     make(map[string]*hostRoutes),
		wildcard:  make(map[string]*hostRoutes),
	}
	byName := make(map[string]*Upstream, len(c.Upstreams))
	for i, cu := range c.Upstreams {
		u := &Upstream{
			Name: cu.Name, Index: i, Backends: make([]*Backend, len(cu.Backends)),
			Retries: cu.Retries, RetryBackoff: cu.RetryBackoff.D(), RetryBackoffMax: cu.RetryBackoffMax.D(),
			Warm: cu.Warm, WarmMaxIdle: cu.WarmMaxIdle.D(), Health: cu.Health,
		}
		var err error
		if u.SendProxy, err = codec.ParseProxyVersion(cu.SendProxyProtocol); err != nil {
			return nil, fmt.Errorf("upstream %q: send_proxy_protocol: %w", cu.Name, err)
		}
		for j, cb := range cu.Backends {
			u.Backends[j] = &Backend{Addr: cb.Addr, Weight: cb.Weight, Index: j, Upstream: u}
			if ap, err := netip.ParseAddrPort(cb.Addr); err == nil && ap.Addr().Zone() == "" {
				u.Backends[j].AddrPort = ap
			}
			if cb.TLS {
				if u.Backends[j].TLS, err = tlsconf.Upstream(&cu.Backends[j]); err != nil {
					return nil, fmt.Errorf("upstream %q backend %s: %w", cu.Name, cb.Addr, err)
				}
			}
		}
		setPassive(u.Backends, cu.MaxFails, cu.FailWindow.D(), cu.EjectTime.D())
		if cu.StickyCookie != "" {
			if cu.StickySecret == "" && len(stickyKey) == 0 {
				return nil, fmt.Errorf("upstream %q: %w", cu.Name, ErrNoStickyKey)
			}
			u.Sticky = newSticky(cu.StickyCookie, cu.StickySecret, stickyKey, cu.Name, u.Backends)
		}
		bal, err := NewBalancer(cu.Balance, u.Backends, cu.HashLoadFactor)
		if err != nil {
			return nil, fmt.Errorf("upstream %q: %w", cu.Name, err)
		}
		if cu.Balance == config.BalanceHash {
			if u.HashKey, err = ParseKeySource(cu.HashKey); err != nil {
				return nil, fmt.Errorf("upstream %q: %w", cu.Name, err)
			}
		}
		u.Balancer = bal
		t.Upstreams[i] = u
		if _, dup := byName[cu.Name]; !dup {
			byName[cu.Name] = u
		}
	}
	for i, cu := range c.Upstreams {
		if cu.FallbackUpstream == "" {
			continue
		}
		f := byName[cu.FallbackUpstream]
		if f == nil {
			return nil, fmt.Errorf("upstream %q fallback %q: %w", cu.Name, cu.FallbackUpstream, ErrUnknownUpstream)
		}
		t.Upstreams[i].Fallback = f
	}
	for i, cr := range c.Routes {
		u := byName[cr.Upstream]
		fanout := cr.Mode == config.ModeFanout
		if u == nil && !(fanout && cr.Source != config.SourceUpstream) {
			return nil, fmt.Errorf("route[%d] upstream %q: %w", i, cr.Upstream, ErrUnknownUpstream)
		}
		host := strings.ToLower(cr.Host)
		if host == "" {
			host = "*"
		}
		r := &Route{Host: host, PathPrefix: cr.PathPrefix, Upstream: u, Index: i, Fanout: fanout}
		t.Routes[i] = r
		var hr *hostRoutes
		switch {
		case host == "*":
			if t.any == nil {
				t.any = &hostRoutes{}
			}
			hr = t.any
		case strings.HasPrefix(host, "*."):
			hr = group(t.wildcard, host[1:])
		default:
			hr = group(t.exact, host)
		}
		hr.routes = append(hr.routes, r)
	}
	sortRoutes(t.any)
	for _, hr := range t.exact {
		sortRoutes(hr)
	}
	for _, hr := range t.wildcard {
		sortRoutes(hr)
	}
	return t, nil
}

// group returns m[k], adding an empty one first.
func group(m map[string]*hostRoutes, k string) *hostRoutes {
	hr := m[k]
	if hr == nil {
		hr = &hostRoutes{}
		m[k] = hr
	}
	return hr
}

// sortRoutes orders longest path prefix first; equal lengths keep config
// order, so the first of two identical routes wins.
func sortRoutes(hr *hostRoutes) {
	if hr == nil {
		return
	}
	sort.SliceStable(hr.routes, func(i, j int) bool {
		return len(hr.routes[i].PathPrefix) > len(hr.routes[j].PathPrefix)
	})
}

// Match returns the route for a request's Host header value and request
// target (a path, maybe with a ?query), or nil.
//
// The most specific host pattern wins: an exact match, then the longest
// "*.suffix" match, then "*". Hosts are compared ASCII-lowercase with any
// ":port" stripped ("[v6]:port" becomes "[v6]") and one trailing dot
// dropped; "*.example.com" does not match "example.com". Among the routes
// of a pattern, the longest path_prefix that is a byte prefix of the path
// wins; when none is, the next less specific pattern is tried. A host
// longer than 256 bytes matches only "*".
//
// Match does not allocate, does not keep host or target, and is safe for
// concurrent use.
func (t *Table) Match(host, target []byte) *Route {
	path := target
	for i, c := range target {
		if c == '?' {
			path = target[:i]
			break
		}
	}
	host = stripPort(host)
	if len(host) > 0 && host[len(host)-1] == '.' {
		host = host[:len(host)-1]
	}
	if len(host) > 0 && len(host) <= maxHost {
		var buf [maxHost]byte
		h := buf[:len(host)]
		for i, c := range host {
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			h[i] = c
		}
		if hr := t.exact[string(h)]; hr != nil {
			if r := hr.match(path); r != nil {
				return r
			}
		}
		if len(t.wildcard) > 0 {
			// Each '.' not at the start begins a suffix, longest first.
			for i := 1; i < len(h); i++ {
				if h[i] != '.' {
					continue
				}
				if hr := t.wildcard[string(h[i:])]; hr != nil {
					if r := hr.match(path); r != nil {
						return r
					}
				}
			}
		}
	}
	if t.any != nil {
		return t.any.match(path)
	}
	return nil
}

// match returns the route with the longest prefix of path, or nil.
func (hr *hostRoutes) match(path []byte) *Route {
	for _, r := range hr.routes {
		p := r.PathPrefix
		if len(path) >= len(p) && string(path[:len(p)]) == p {
			return r
		}
	}
	return nil
}

// stripPort drops a ":port" from a Host value: "example.com:80" becomes
// "example.com" and "[::1]:80" becomes "[::1]".
func stripPort(host []byte) []byte {
	if len(host) > 0 && host[0] == '[' {
		for i, c := range host {
			if c == ']' {
				return host[:i+1]
			}
		}
		return host
	}
	for i, c := range host {
		if c == ':' {
			return host[:i]
		}
	}
	return host
}
