package engine

import (
	"fmt"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/throngproxy/throng/codec"
	"github.com/throngproxy/throng/config"
	"github.com/throngproxy/throng/upstream"
)

// snapshot is a configuration prepared for the loops: the routing table and
// every limit in the units the hot path uses. It is immutable; a reload
// replaces it whole and each session keeps the one it started with.
type snapshot struct {
	cfg   *config.Config
	table *upstream.Table
	// routes are the counters of table's routes, by Route.Index; they
	// belong to the engine's registry and outlive the snapshot.
	routes []*routeStats

	handshakeTicks         int64
	upstreamHandshakeTicks int64
	idleTicks              int64
	closeTicks             int64
	writeTicks             int64 // timeouts.write; 0 = never
	lingerTicks            int64
	stalledTicks           int64

	maxHeaderBytes   int64
	maxFrameBytes    int64
	writeBufferLimit int64
	maxEarlyBytes    int64

	keepAlive    time.Duration
	dialer       *net.Dialer // connect timeout and keepalive of this config
	trustedIP    []netip.Prefix
	forwarded    bool               // server.forwarded_header
	proxyVersion codec.ProxyVersion // server.proxy_protocol
	accessLog    bool
	accessSample float64 // log.access_sample: share of open sessions' lines written

	// policies are the routes' admission rules and limits, by
	// Route.Index; defaults applies before a session has a route.
	policies []routePolicy
	defaults routePolicy
}

// maxLinger bounds how long a refused client's input is drained.
const maxLinger = 2 * time.Second

// newSnapshot prepares c; stickyKey keys the sticky cookies of upstreams
// without sticky_secret (the engine's, the same for every reload), and reg
// holds the routes' counters.
func newSnapshot(c *config.Config, stickyKey []byte, reg *routeRegistry) (*snapshot, error) {
	t, err := upstream.NewTable(c, stickyKey)
	if err != nil {
		return nil, fmt.Errorf("engine: %w", err)
	}
	to := &c.Timeouts
	linger := min(to.Close.D(), maxLinger)
	s := &snapshot{
		cfg:                    c,
		table:                  t,
		routes:                 reg.forTable(t),
		handshakeTicks:         ticks(to.Handshake.D()),
		upstreamHandshakeTicks: ticks(to.UpstreamHandshake.D()),
		idleTicks:              ticks(to.Idle.D()),
		closeTicks:             ticks(to.Close.D()),
		writeTicks:             ticks(to.Write.D()),
		lingerTicks:            ticks(linger),
		stalledTicks:           ticks(c.Limits.StalledFrame.D()),
		maxHeaderBytes:         c.Limits.MaxHeaderBytes.Bytes(),
		maxFrameBytes:          c.Limits.MaxFrameBytes.Bytes(),
		writeBufferLimit:       c.Limits.WriteBufferLimit.Bytes(),
		maxEarlyBytes:          c.Limits.MaxEarlyBytes.Bytes(),
		keepAlive:              c.Server.TCPKeepalive.D(),
		accessLog:              c.Log.Access,
		accessSample:           c.Log.AccessSample,
		forwarded:              c.Server.ForwardedHeader,
		dialer:                 newNetDialer(to.Connect.D(), c.Server.TCPKeepalive.D()),
	}
	if s.policies, err = compilePolicies(c, &reg.tables); err != nil {
		return nil, err
	}
	s.defaults = routePolicy{
		maxHeaderBytes:   s.maxHeaderBytes,
		maxEarlyBytes:    s.maxEarlyBytes,
		maxFrameBytes:    s.maxFrameBytes,
		writeBufferLimit: s.writeBufferLimit,
	}
	if s.proxyVersion, err = codec.ParseProxyVersion(c.Server.ProxyProtocol); err != nil {
		return nil, fmt.Errorf("engine: proxy_protocol: %w", err)
	}
	for _, tp := range c.Server.TrustedProxies {
		p, err := parsePrefix(tp)
		if err != nil {
			return nil, fmt.Errorf("engine: trusted_proxies: %w", err)
		}
		s.trustedIP = append(s.trustedIP, p)
	}
	return s, nil
}

func parsePrefix(v string) (netip.Prefix, error) {
	if strings.Contains(v, "/") {
		p, err := netip.ParsePrefix(v)
		return p.Masked(), err
	}
	a, err := netip.ParseAddr(v)
	if err != nil {
		return netip.Prefix{}, err
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// trusted reports whether ip is a trusted proxy whose X-Forwarded-For is
// extended rather than replaced.
func (s *snapshot) trusted(ip netip.Addr) bool {
	for _, p := range s.trustedIP {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}
