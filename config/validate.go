package config

import (
	"math"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/throngproxy/throng/codec"
	"github.com/throngproxy/throng/policy"
)

// Validate checks c and returns every problem at once, joined with
// errors.Join; each is an *Error wrapping ErrInvalid whose message starts
// with its key path ("upstream[1].backends[0].addr: ..."). It does not
// modify c. An upstream no route uses is not an error.
func (c *Config) Validate() error {
	if errs := c.validate(); len(errs) > 0 {
		return joinErrors(errs, "")
	}
	return nil
}

func (c *Config) validate() []*Error {
	v := &validator{}
	c.validateServer(v)
	c.validateLimits(v)
	c.validateTimeouts(v)
	c.validateTLS(v)
	switch c.Log.Level {
	case LevelDebug, LevelInfo, LevelWarn, LevelError:
	default:
		v.add("log.level", "must be debug, info, warn or error, not "+strconv.Quote(c.Log.Level))
	}
	if c.Log.Format != FormatJSON && c.Log.Format != FormatText {
		v.add("log.format", "must be json or text, not "+strconv.Quote(c.Log.Format))
	}
	if s := c.Log.AccessSample; !(s >= 0 && s <= 1) {
		v.add("log.access_sample", "must be between 0 and 1, not "+strconv.FormatFloat(s, 'g', -1, 64))
	}
	c.validateUpstreams(v)
	c.validateFallbacks(v)
	c.validateBus(v)
	c.validateRoutes(v)
	return v.errs
}

type validator struct{ errs []*Error }

func (v *validator) add(key, msg string) { v.errs = append(v.errs, invalid(key, msg)) }

func (v *validator) intRange(key string, n, lo, hi int) {
	if n < lo || n > hi {
		v.add(key, "must be in "+strconv.Itoa(lo)+".."+strconv.Itoa(hi)+", not "+strconv.Itoa(n))
	}
}

// sizeRange checks lo ≤ s ≤ hi; hi < 0 means no upper bound.
func (v *validator) sizeRange(key string, s, lo, hi Size) {
	switch {
	case hi >= 0 && (s < lo || s > hi):
		v.add(key, "must be in "+lo.String()+".."+hi.String()+" bytes, not "+strconv.FormatInt(int64(s), 10))
	case s < lo:
		v.add(key, "must be at least "+lo.String()+" bytes, not "+strconv.FormatInt(int64(s), 10))
	}
}

func (v *validator) positive(key string, d Duration) {
	if d.D() <= 0 {
		v.add(key, "must be greater than 0s, not "+d.String())
	}
}

func (v *validator) nonNegative(key string, d Duration) {
	if d.D() < 0 {
		v.add(key, "must not be negative, not "+d.String())
	}
}

// maxPassiveTime bounds fail_window and eject_time: 10 × eject_time must
// not overflow, and a day is already far past any sensible value.
const maxPassiveTime = 24 * time.Hour

// durationRange checks 0 < d ≤ hi.
func (v *validator) durationRange(key string, d Duration, hi time.Duration) {
	if d.D() <= 0 || d.D() > hi {
		v.add(key, "must be greater than 0s and at most "+hi.String()+", not "+d.String())
	}
}

func idx(key string, i int) string { return key + "[" + strconv.Itoa(i) + "]" }

func (c *Config) validateServer(v *validator) {
	s := &c.Server
	if len(s.Listen) == 0 && len(s.ListenTLS) == 0 {
		v.add("server.listen", "needs at least one address (or server.listen_tls one)")
	}
	// seen maps each normalized address to the key that first named it,
	// across both lists: one address cannot be plain and TLS at once.
	seen := make(map[string]string, len(s.Listen)+len(s.ListenTLS))
	listenAddrs(v, seen, "server.listen", s.Listen)
	listenAddrs(v, seen, "server.listen_tls", s.ListenTLS)
	switch s.ProxyProtocol {
	case "", ProxyProtocolOff:
	case ProxyProtocolV1, ProxyProtocolV2:
		if len(s.TrustedProxies) == 0 {
			v.add("server.proxy_protocol", "is "+s.ProxyProtocol+" but server.trusted_proxies is empty: a PROXY header is accepted only from them")
		}
	default:
		v.add("server.proxy_protocol", "must be off, v1 or v2, not "+strconv.Quote(s.ProxyProtocol))
	}
	v.intRange("server.loops", s.Loops, 0, 256)
	if a := c.Admin.Listen; a != "" {
		if _, _, msg := splitAddr(a, true); msg != "" {
			v.add("admin.listen", msg)
		}
		for i, l := range s.Listen {
			if l == a {
				v.add("admin.listen", strconv.Quote(a)+" is server.listen["+strconv.Itoa(i)+"] too")
			}
		}
		for i, l := range s.ListenTLS {
			if l == a {
				v.add("admin.listen", strconv.Quote(a)+" is server.listen_tls["+strconv.Itoa(i)+"] too")
			}
		}
	}
	switch d := s.TCPKeepalive.D(); {
	case d < 0:
		v.add("server.tcp_keepalive", "must not be negative, not "+d.String())
	case d > 0 && d < time.Second:
		v.add("server.tcp_keepalive", "must be 0s (off) or at least 1s, not "+d.String())
	}
	for i, p := range s.TrustedProxies {
		if _, err := policy.ParsePrefix(p); err != nil {
			v.add(idx("server.trusted_proxies", i), strconv.Quote(p)+" is not an IP address or CIDR prefix")
		}
	}
	v.intRange("server.dial_workers", s.DialWorkers, 1, 1024)
	if s.MaxSessions < 0 {
		v.add("server.max_sessions", "must not be negative, not "+strconv.Itoa(s.MaxSessions))
	}
	v.sizeRange("server.read_buffer", s.ReadBuffer, KiB, 16*MiB)
}

// listenAddrs checks the listen addresses addrs, found at key, and
// records each in seen (normalized address → key of its first use) so
// that a repeat within or across lists is an error.
func listenAddrs(v *validator, seen map[string]string, key string, addrs []string) {
	for i, a := range addrs {
		k := idx(key, i)
		host, port, msg := splitAddr(a, true)
		if msg != "" {
			v.add(k, msg)
			continue
		}
		norm := net.JoinHostPort(host, port)
		if first, dup := seen[norm]; dup {
			v.add(k, strconv.Quote(a)+" repeats "+first)
			continue
		}
		seen[norm] = k
	}
}

// validateTLS checks [tls]. The files themselves are read by package
// tlsconf (tlsconf.Check for -check-config): Validate only checks that
// what must be named is.
func (c *Config) validateTLS(v *validator) {
	t := &c.TLS
	switch t.MinVersion {
	case TLSVersion12, TLSVersion13:
	default:
		v.add("tls.min_version", "must be \"1.2\" or \"1.3\", not "+strconv.Quote(t.MinVersion))
	}
	if len(c.Server.ListenTLS) > 0 && len(t.Certificates) == 0 {
		v.add("tls.certificates", "needs at least one [[tls.certificates]] when server.listen_tls is set")
	}
	for i, crt := range t.Certificates {
		key := idx("tls.certificates", i)
		if crt.Cert == "" {
			v.add(key+".cert", "is empty")
		}
		if crt.Key == "" {
			v.add(key+".key", "is empty")
		}
	}
	switch t.ClientAuth {
	case "", ClientAuthOff:
	case ClientAuthRequest, ClientAuthRequire:
		if t.ClientCA == "" {
			v.add("tls.client_auth", "is "+t.ClientAuth+" but tls.client_ca is empty: client certificates need a CA to be verified against")
		}
	default:
		v.add("tls.client_auth", "must be off, request or require, not "+strconv.Quote(t.ClientAuth))
	}
	v.intRange("tls.max_handshakes", t.MaxHandshakes, 1, 65536)
}

func (c *Config) validateLimits(v *validator) {
	l := &c.Limits
	v.sizeRange("limits.max_header_bytes", l.MaxHeaderBytes, KiB, MiB)
	v.sizeRange("limits.max_frame_bytes", l.MaxFrameBytes, 125, -1)
	v.sizeRange("limits.write_buffer_limit", l.WriteBufferLimit, 64*KiB, -1)
	v.sizeRange("limits.max_early_bytes", l.MaxEarlyBytes, 0, -1)
	if d := l.StalledFrame.D(); d < time.Second || d > 12*time.Hour {
		v.add("limits.stalled_frame", "must be between 1s and 12h, not "+l.StalledFrame.String())
	}
	validatePolicyLimits(v, "limits", l)
	k := &c.Keepalive
	v.nonNegative("keepalive.ping_interval", k.PingInterval)
	if d := k.PingInterval.D(); d > 0 && d < time.Second {
		v.add("keepalive.ping_interval", "must be 0s (off) or at least 1s, not "+k.PingInterval.String())
	}
	if k.PingInterval.D() > 0 {
		v.positive("keepalive.pong_timeout", k.PongTimeout)
	}
	v.intRange("server.forward_auth_concurrency", c.Server.ForwardAuthConcurrency, 1, 65536)
}

// validatePolicyLimits checks the admission keys of [limits] (or of a
// route's effective limits, under prefix).
func validatePolicyLimits(v *validator, prefix string, l *Limits) {
	if l.MaxSessionsPerIP < 0 {
		v.add(prefix+".max_sessions_per_ip", "must not be negative, not "+strconv.Itoa(l.MaxSessionsPerIP))
	}
	if l.HandshakeBurst < 0 {
		v.add(prefix+".handshake_burst", "must not be negative, not "+strconv.Itoa(l.HandshakeBurst))
	}
	switch l.RateLimitAction {
	case RateLimitClose, RateLimitDrop:
	default:
		v.add(prefix+".rate_limit_action", "must be close or drop, not "+strconv.Quote(l.RateLimitAction))
	}
	v.sizeRange(prefix+".max_message_bytes", l.MaxMessageBytes, 0, -1)
	v.intRange(prefix+".ipv6_prefix", l.IPv6Prefix, 1, 128)
	v.intRange(prefix+".tracked_ips", l.TrackedIPs, 1024, 1<<24)
}

func (c *Config) validateTimeouts(v *validator) {
	t := &c.Timeouts
	v.positive("timeouts.handshake", t.Handshake)
	v.positive("timeouts.connect", t.Connect)
	v.positive("timeouts.upstream_handshake", t.UpstreamHandshake)
	v.nonNegative("timeouts.idle", t.Idle)
	v.positive("timeouts.close", t.Close)
	v.positive("timeouts.drain", t.Drain)
	v.nonNegative("timeouts.write", t.Write)
	if c.Server.DrainSpread.D() < 0 {
		v.add("server.drain_spread", "must not be negative, not "+c.Server.DrainSpread.String())
	} else if c.Server.DrainSpread.D() >= t.Drain.D() {
		v.add("server.drain_spread", "must be shorter than timeouts.drain ("+t.Drain.String()+"), not "+c.Server.DrainSpread.String())
	}
}

func (c *Config) validateUpstreams(v *validator) {
	names := make(map[string]int, len(c.Upstreams))
	for i, u := range c.Upstreams {
		key := idx("upstream", i)
		switch {
		case u.Name == "":
			v.add(key+".name", "is empty")
		case !validName(u.Name):
			v.add(key+".name", strconv.Quote(u.Name)+" has characters outside [A-Za-z0-9_.-]")
		default:
			if j, dup := names[u.Name]; dup {
				v.add(key+".name", strconv.Quote(u.Name)+" repeats upstream["+strconv.Itoa(j)+"].name")
			} else {
				names[u.Name] = i
			}
		}
		switch u.Balance {
		case BalanceRoundRobin, BalanceWeightedRoundRobin, BalanceLeastConn, BalanceRandomTwo, BalanceHash:
		default:
			v.add(key+".balance", "must be round_robin, weighted_round_robin, least_conn, random_two or hash, not "+strconv.Quote(u.Balance))
		}
		if !ValidHashKey(u.HashKey) {
			v.add(key+".hash_key", "must be ip, path, header:NAME, cookie:NAME or query:NAME (NAME a token), not "+strconv.Quote(u.HashKey))
		}
		// The negated test also rejects NaN.
		if !(u.HashLoadFactor >= 1 && !math.IsInf(u.HashLoadFactor, 1)) {
			v.add(key+".hash_load_factor", "must be a finite number ≥ 1.0, not "+strconv.FormatFloat(u.HashLoadFactor, 'g', -1, 64))
		}
		v.intRange(key+".max_fails", u.MaxFails, 0, 1000)
		if u.MaxFails > 0 {
			v.durationRange(key+".fail_window", u.FailWindow, maxPassiveTime)
			v.durationRange(key+".eject_time", u.EjectTime, maxPassiveTime)
		} else {
			v.nonNegative(key+".fail_window", u.FailWindow)
			v.nonNegative(key+".eject_time", u.EjectTime)
		}
		if u.StickyCookie != "" && !codec.IsToken(u.StickyCookie) {
			v.add(key+".sticky_cookie", strconv.Quote(u.StickyCookie)+" is not a cookie name (a token)")
		}
		v.intRange(key+".retries", u.Retries, 0, maxRetries)
		v.nonNegative(key+".retry_backoff", u.RetryBackoff)
		if u.RetryBackoffMax.D() < u.RetryBackoff.D() {
			v.add(key+".retry_backoff_max", "must be at least retry_backoff ("+u.RetryBackoff.String()+"), not "+u.RetryBackoffMax.String())
		}
		v.intRange(key+".warm", u.Warm, 0, maxWarm)
		if u.Warm > 0 {
			v.durationRange(key+".warm_max_idle", u.WarmMaxIdle, maxPassiveTime)
		} else {
			v.nonNegative(key+".warm_max_idle", u.WarmMaxIdle)
		}
		anyTLS := false
		for _, b := range u.Backends {
			anyTLS = anyTLS || b.TLS
		}
		switch u.SendProxyProtocol {
		case "", ProxyProtocolOff:
		case ProxyProtocolV1, ProxyProtocolV2:
			// The header goes before TLS, and a warm TLS socket is past
			// its handshake before its client exists.
			if u.Warm > 0 && anyTLS {
				v.add(key+".send_proxy_protocol", "is "+u.SendProxyProtocol+" but warm is "+strconv.Itoa(u.Warm)+" with a tls backend: a warm TLS socket cannot send the header of a client not yet known; set warm = 0")
			}
		default:
			v.add(key+".send_proxy_protocol", "must be off, v1 or v2, not "+strconv.Quote(u.SendProxyProtocol))
		}
		validateHealth(v, key+".health", &u.Health)
		if len(u.Backends) == 0 {
			v.add(key+".backends", "needs at least one backend")
		}
		addrs := make(map[string]int, len(u.Backends))
		for j, b := range u.Backends {
			bkey := idx(key+".backends", j)
			host, port, msg := splitAddr(b.Addr, false)
			if msg != "" {
				v.add(bkey+".addr", msg)
			} else {
				norm := net.JoinHostPort(strings.ToLower(host), port)
				if k, dup := addrs[norm]; dup {
					v.add(bkey+".addr", strconv.Quote(b.Addr)+" repeats "+idx(key+".backends", k)+".addr")
				} else {
					addrs[norm] = j
				}
			}
			v.intRange(bkey+".weight", b.Weight, 1, 1000)
			if b.ServerName != "" {
				if !b.TLS {
					v.add(bkey+".server_name", "is set but tls is false")
				} else if _, err := netip.ParseAddr(b.ServerName); err != nil && !validHostname(b.ServerName) {
					v.add(bkey+".server_name", strconv.Quote(b.ServerName)+" is not a host name or IP address (no port)")
				}
			}
			if b.CA != "" && !b.TLS {
				v.add(bkey+".ca", "is set but tls is false")
			}
		}
	}
}

// maxRetries bounds upstream.retries; maxWarm bounds upstream.warm.
const (
	maxRetries = 32
	maxWarm    = 1024
)

// validateFallbacks checks that every fallback_upstream names another
// upstream and that following them never comes back to where it started.
func (c *Config) validateFallbacks(v *validator) {
	byName := make(map[string]int, len(c.Upstreams))
	for i, u := range c.Upstreams {
		if _, dup := byName[u.Name]; !dup {
			byName[u.Name] = i
		}
	}
	for i, u := range c.Upstreams {
		if u.FallbackUpstream == "" {
			continue
		}
		key := idx("upstream", i) + ".fallback_upstream"
		j, ok := byName[u.FallbackUpstream]
		if !ok {
			v.add(key, strconv.Quote(u.FallbackUpstream)+" names no [[upstream]]")
			continue
		}
		// Walk the chain; it is at most len(c.Upstreams) long unless it
		// loops.
		for steps := 0; ; steps++ {
			if j == i || steps > len(c.Upstreams) {
				v.add(key, strconv.Quote(u.FallbackUpstream)+" leads back to "+strconv.Quote(u.Name)+": fallbacks must not loop")
				break
			}
			next := c.Upstreams[j].FallbackUpstream
			k, ok := byName[next]
			if next == "" || !ok {
				break
			}
			j = k
		}
	}
}

// validateHealth checks an upstream's [upstream.health] table.
func validateHealth(v *validator, key string, h *HealthCheck) {
	switch h.Type {
	case "":
		return // off: the other keys are not used
	case HealthTCP, HealthHTTP, HealthWebSocket:
	default:
		v.add(key+".type", "must be tcp, http, websocket or \"\", not "+strconv.Quote(h.Type))
	}
	if !strings.HasPrefix(h.Path, "/") || strings.ContainsAny(h.Path, " \t\r\n") {
		v.add(key+".path", "must start with \"/\" and hold no spaces, not "+strconv.Quote(h.Path))
	}
	if h.Host != "" && strings.ContainsAny(h.Host, " \t\r\n/") {
		v.add(key+".host", strconv.Quote(h.Host)+" is not a host")
	}
	if _, _, ok := ParseStatusRange(h.ExpectStatus); !ok {
		v.add(key+".expect_status", "must be a status (\"204\") or a range (\"200-399\") within 100..599, not "+strconv.Quote(h.ExpectStatus))
	}
	if d := h.Interval.D(); d < 100*time.Millisecond || d > time.Hour {
		v.add(key+".interval", "must be in 100ms..1h, not "+h.Interval.String())
	}
	if d := h.Timeout.D(); d <= 0 || d > h.Interval.D() {
		v.add(key+".timeout", "must be greater than 0s and at most interval ("+h.Interval.String()+"), not "+h.Timeout.String())
	}
	v.intRange(key+".rise", h.Rise, 1, 100)
	v.intRange(key+".fall", h.Fall, 1, 100)
}

// ParseStatusRange parses an expect_status value, "204" or "200-399",
// into its inclusive bounds within 100..599.
func ParseStatusRange(s string) (lo, hi int, ok bool) {
	a, b, isRange := strings.Cut(s, "-")
	if !isRange {
		b = a
	}
	lo, err1 := strconv.Atoi(strings.TrimSpace(a))
	hi, err2 := strconv.Atoi(strings.TrimSpace(b))
	if err1 != nil || err2 != nil || lo < 100 || hi > 599 || lo > hi {
		return 0, 0, false
	}
	return lo, hi, true
}
