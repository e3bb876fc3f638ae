package config

// Checks of [[route]] tables: addressing, policy, forward_auth and JWT.

import (
	"maps"
	"net"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/throngproxy/throng/codec"
	"github.com/throngproxy/throng/policy"
)

func (c *Config) validateRoutes(v *validator) {
	if len(c.Routes) == 0 {
		v.add("route", "needs at least one [[route]]")
	}
	names := make(map[string]bool, len(c.Upstreams))
	for _, u := range c.Upstreams {
		names[u.Name] = true
	}
	type hostPath struct{ host, path string }
	seen := make(map[hostPath]int, len(c.Routes))
	for i, r := range c.Routes {
		key := idx("route", i)
		host := strings.ToLower(r.Host)
		if host == "" {
			host = "*"
		}
		if msg := checkRouteHost(host); msg != "" {
			v.add(key+".host", msg)
		}
		if !strings.HasPrefix(r.PathPrefix, "/") {
			v.add(key+".path_prefix", strconv.Quote(r.PathPrefix)+" does not start with \"/\"")
		}
		fanout := c.validateFanout(v, key, &r)
		switch {
		case fanout && r.Source != SourceUpstream:
			// A bus route has no upstream (validateFanout says so if one is named).
		case r.Upstream == "":
			v.add(key+".upstream", "is empty")
		case !names[r.Upstream]:
			v.add(key+".upstream", strconv.Quote(r.Upstream)+" names no [[upstream]]")
		}
		c.validateRoutePolicy(v, key, &r)
		hp := hostPath{host, r.PathPrefix}
		if j, dup := seen[hp]; dup {
			v.add(key, "host "+strconv.Quote(host)+" and path_prefix "+strconv.Quote(r.PathPrefix)+" repeat route["+strconv.Itoa(j)+"]")
		} else {
			seen[hp] = i
		}
	}
}

// splitAddr checks "host:port" with port 1..65535. An empty host is allowed
// only when listen is set (":port" listens on every address).
func splitAddr(a string, listen bool) (host, port, msg string) {
	host, port, err := net.SplitHostPort(a)
	if err != nil {
		return "", "", strconv.Quote(a) + " is not host:port (IPv6 goes in brackets: \"[::1]:8080\")"
	}
	n, err := strconv.Atoi(port)
	if err != nil || port[0] == '+' || port[0] == '-' {
		return "", "", strconv.Quote(a) + ": port " + strconv.Quote(port) + " is not a number"
	}
	if n < 1 || n > 65535 {
		extra := ""
		if n == 0 && listen {
			extra = " (port 0 would bind a different port per event loop)"
		}
		return "", "", strconv.Quote(a) + ": port " + strconv.Itoa(n) + " is out of range 1..65535" + extra
	}
	if host == "" {
		if !listen {
			return "", "", strconv.Quote(a) + ": host is empty"
		}
		return host, port, ""
	}
	if _, err := netip.ParseAddr(host); err == nil {
		return host, port, ""
	}
	if !validHostname(host) {
		return "", "", strconv.Quote(a) + ": " + strconv.Quote(host) + " is not an IP address or host name"
	}
	return host, port, ""
}

// checkRouteHost checks a lowercase route host pattern and returns what is
// wrong with it, or "".
func checkRouteHost(h string) string {
	switch {
	case h == "*":
		return ""
	case strings.HasPrefix(h, "*."):
		suffix := h[2:]
		if !strings.Contains(suffix, ".") || !validHostname(suffix) {
			return strconv.Quote(h) + ": a wildcard needs a domain with a dot after \"*.\", as in \"*.example.com\""
		}
		return ""
	case strings.HasPrefix(h, "["):
		if !strings.HasSuffix(h, "]") {
			return strconv.Quote(h) + " must not have a port"
		}
		if a, err := netip.ParseAddr(h[1 : len(h)-1]); err != nil || !a.Is6() || a.Zone() != "" {
			return strconv.Quote(h) + " is not a bracketed IPv6 address"
		}
		return ""
	case strings.Contains(h, ":"):
		return strconv.Quote(h) + " must not have a port (IPv6 goes in brackets, without a port)"
	case strings.Contains(h, "*"):
		return strconv.Quote(h) + ": \"*\" is allowed only alone or as a leading \"*.\""
	case !validHostname(h):
		return strconv.Quote(h) + " is not a host name or IP address"
	}
	return ""
}

// validHostname reports whether h is dot-separated labels of
// [A-Za-z0-9_-], none empty, at most 253 bytes. IPv4 literals pass.
func validHostname(h string) bool {
	if h == "" || len(h) > 253 {
		return false
	}
	label := 0
	for i := 0; i < len(h); i++ {
		c := h[i]
		switch {
		case c == '.':
			if label == 0 {
				return false
			}
			label = 0
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '_':
			label++
			if label > 63 {
				return false
			}
		default:
			return false
		}
	}
	return label > 0
}

func validName(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == '-') {
			return false
		}
	}
	return s != ""
}

// ParseHashKey splits a hash_key value: "ip" and "path" come back as kind
// with no name; "header:NAME", "cookie:NAME" and "query:NAME" as their
// prefix and NAME, which must be a non-empty token (RFC 9110 §5.6.2). ok is
// false for anything else. upstream.ParseKeySource builds on it, so
// validation and the balancer accept the same strings.
func ParseHashKey(s string) (kind, name string, ok bool) {
	switch s {
	case HashKeyIP, HashKeyPath:
		return s, "", true
	}
	for _, p := range [...]string{HashKeyHeaderPrefix, HashKeyCookiePrefix, HashKeyQueryPrefix} {
		if name, found := strings.CutPrefix(s, p); found {
			return p, name, codec.IsToken(name)
		}
	}
	return "", "", false
}

// ValidHashKey reports whether s is a hash_key value (see ParseHashKey).
func ValidHashKey(s string) bool {
	_, _, ok := ParseHashKey(s)
	return ok
}

// validateRoutePolicy checks a route's admission keys with the parsers the
// engine runs, and its [route.limits] overrides.
func (c *Config) validateRoutePolicy(v *validator, key string, r *Route) {
	if _, err := policy.ParseOrigins(r.AllowOrigins); err != nil {
		v.add(key+".allow_origins", err.Error())
	}
	if _, err := policy.ParsePrefixes(r.AllowCIDRs); err != nil {
		v.add(key+".allow_cidrs", err.Error())
	}
	if _, err := policy.ParsePrefixes(r.DenyCIDRs); err != nil {
		v.add(key+".deny_cidrs", err.Error())
	}
	if r.ForwardAuth != "" {
		c.validateForwardAuth(v, key, r)
	}
	if r.JWT != nil {
		validateJWT(v, key+".jwt", r.JWT)
	}
	lk := key + ".limits"
	rl := &r.Limits
	if rl.MaxHeaderBytes != nil && *rl.MaxHeaderBytes > c.Limits.MaxHeaderBytes {
		v.add(lk+".max_header_bytes", "may only tighten limits.max_header_bytes ("+strconv.FormatInt(c.Limits.MaxHeaderBytes.Bytes(), 10)+"): the head is read before its route is known")
	}
	eff := rl.Apply(c.Limits)
	sizes := []struct {
		name   string
		set    *Size
		lo, hi Size
	}{
		{"max_header_bytes", rl.MaxHeaderBytes, KiB, MiB},
		{"max_frame_bytes", rl.MaxFrameBytes, 125, -1},
		{"write_buffer_limit", rl.WriteBufferLimit, 64 * KiB, -1},
		{"max_early_bytes", rl.MaxEarlyBytes, 0, -1},
	}
	for _, sz := range sizes {
		if sz.set != nil {
			v.sizeRange(lk+"."+sz.name, *sz.set, sz.lo, sz.hi)
		}
	}
	if rl.StalledFrame != nil {
		v.add(lk+".stalled_frame", "applies to the whole process: set it in [limits]")
	}
	if ownPolicyKeys(rl) {
		validatePolicyLimits(v, lk, &eff)
	}
}

// validateForwardAuth checks a route's forward_auth keys.
func (c *Config) validateForwardAuth(v *validator, key string, r *Route) {
	if u, err := url.Parse(r.ForwardAuth); err != nil || u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		v.add(key+".forward_auth", "must be an http:// or https:// URL with a host, not "+strconv.Quote(r.ForwardAuth))
	}
	for i, h := range r.ForwardAuthHeaders {
		if !codec.IsToken(h) {
			v.add(idx(key+".forward_auth_headers", i), strconv.Quote(h)+" is not a header name")
		}
	}
	if d := r.ForwardAuthTimeout.D(); d <= 0 || d >= c.Timeouts.Handshake.D() {
		v.add(key+".forward_auth_timeout", "must be greater than 0s and less than timeouts.handshake ("+c.Timeouts.Handshake.String()+"), not "+r.ForwardAuthTimeout.String())
	}
	if d := r.ForwardAuthCache.D(); d < 0 || d > time.Hour {
		v.add(key+".forward_auth_cache", "must be within 0s..1h, not "+r.ForwardAuthCache.String())
	}
}

// validateJWT checks [route.jwt] without its files, which the engine
// reads (and -check-config with it): a short secret or an unusable key is
// refused at load all the same.
func validateJWT(v *validator, key string, j *JWT) {
	if j.HS256SecretFile == "" && len(j.PublicKeyFiles) == 0 && j.JWKSFile == "" {
		v.add(key, "needs a key: hs256_secret_file, public_key_files or jwks_file")
	}
	if d := j.Leeway.D(); d < 0 || d > MaxJWTLeeway {
		v.add(key+".leeway", "must be within 0s..30s, not "+j.Leeway.String())
	}
	if len(j.TokenFrom) == 0 {
		v.add(key+".token_from", "must name at least one place to look")
	}
	for i, s := range j.TokenFrom {
		if _, err := ParseTokenSource(s); err != nil {
			v.add(idx(key+".token_from", i), err.Error())
		}
	}
	for _, claim := range slices.Sorted(maps.Keys(j.ForwardClaims)) {
		if h := j.ForwardClaims[claim]; !codec.IsToken(h) {
			v.add(key+".forward_claims."+claim, strconv.Quote(h)+" is not a header name")
		}
	}
}

// ownPolicyKeys reports whether a route overrides admission keys, which
// are then checked under its own key path.
func ownPolicyKeys(r *RouteLimits) bool {
	return r.MaxSessionsPerIP != nil || r.HandshakesPerIP != nil || r.HandshakeBurst != nil ||
		r.RateLimitAction != nil || r.MaxMessageBytes != nil || r.IPv6Prefix != nil || r.TrackedIPs != nil
}
