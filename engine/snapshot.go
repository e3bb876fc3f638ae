package engine

import (
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/throngproxy/throng/codec"
	"github.com/throngproxy/throng/config"
	"github.com/throngproxy/throng/policy"
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
	pingTicks              int64 // keepalive.ping_interval; 0 = no proxy pings
	pongTicks              int64 // keepalive.pong_timeout

	maxHeaderBytes int64 // limits.max_header_bytes: the head's bound before its route is known

	keepAlive    time.Duration
	dialer       *net.Dialer // connect timeout and keepalive of this config
	trustedIP    policy.Prefixes
	forwarded    bool               // server.forwarded_header
	proxyVersion codec.ProxyVersion // server.proxy_protocol
	accessLog    bool
	accessSample float64 // log.access_sample: share of open sessions' lines written

	// policies are the routes' admission rules and limits, by
	// Route.Index; defaults applies before a session has a route.
	policies []routePolicy
	defaults routePolicy
	// fan are the fan-out routes' settings, by Route.Index; nil for
	// proxy routes.
	fan []*fanRoute
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
		pingTicks:              ticks(c.Keepalive.PingInterval.D()),
		pongTicks:              ticks(c.Keepalive.PongTimeout.D()),
		maxHeaderBytes:         c.Limits.MaxHeaderBytes.Bytes(),
		defaults:               limitsPolicy(&c.Limits),
		keepAlive:              c.Server.TCPKeepalive.D(),
		accessLog:              c.Log.Access,
		accessSample:           c.Log.AccessSample,
		forwarded:              c.Server.ForwardedHeader,
		dialer:                 newNetDialer(to.Connect.D(), c.Server.TCPKeepalive.D()),
	}
	if s.policies, err = compilePolicies(c, &reg.tables); err != nil {
		return nil, err
	}
	s.fan = make([]*fanRoute, len(c.Routes))
	for i := range c.Routes {
		if c.Routes[i].Mode == config.ModeFanout {
			s.fan[i] = newFanRoute(&c.Routes[i], t.Routes[i].Upstream, c.Limits.MaxFrameBytes.Bytes())
		}
	}
	if s.proxyVersion, err = codec.ParseProxyVersion(c.Server.ProxyProtocol); err != nil {
		return nil, fmt.Errorf("engine: proxy_protocol: %w", err)
	}
	if s.trustedIP, err = policy.ParsePrefixes(c.Server.TrustedProxies); err != nil {
		return nil, fmt.Errorf("engine: trusted_proxies: %w", err)
	}
	return s, nil
}

// trusted reports whether ip is a trusted proxy whose X-Forwarded-For is
// extended rather than replaced.
func (s *snapshot) trusted(ip netip.Addr) bool {
	return s.trustedIP.Contains(ip)
}
