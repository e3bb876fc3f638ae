package policy

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// ErrBadOrigin is returned for an allow_origins entry that is not an
// origin or a "scheme://*.suffix" pattern.
var ErrBadOrigin = errors.New("policy: origin must be scheme://host[:port] or scheme://*.suffix[:port]")

// originPattern is one allow_origins entry, normalised: lowercase, default
// port dropped. A wildcard matches any host that ends in "."+suffix.
type originPattern struct {
	scheme string
	host   string // the exact host, or the suffix after "*."
	port   string // "" for the scheme's default port
	wild   bool
}

// Origins matches request Origin values against allow_origins. The zero
// value (no patterns) admits every origin. It is immutable once built and
// safe for concurrent use; Allowed does not allocate.
type Origins struct {
	pats []originPattern
}

// ParseOrigins builds the matcher for patterns, each an exact origin
// ("https://app.example.com", "http://localhost:3000") or a subdomain
// wildcard ("https://*.example.com", which does not match example.com
// itself). The error wraps ErrBadOrigin and quotes the first bad entry.
func ParseOrigins(patterns []string) (*Origins, error) {
	o := &Origins{}
	for _, p := range patterns {
		pat, ok := parseOrigin(p, true)
		if !ok {
			return nil, fmt.Errorf("%w, not %s", ErrBadOrigin, strconv.Quote(p))
		}
		o.pats = append(o.pats, pat)
	}
	return o, nil
}

// Empty reports whether o has no pattern (it then admits anything).
func (o *Origins) Empty() bool { return o == nil || len(o.pats) == 0 }

// Allowed reports whether origin, a request's Origin header value, matches
// one of o's patterns. An Origin that does not parse ("null", garbage)
// matches nothing; with no patterns everything is allowed.
func (o *Origins) Allowed(origin []byte) bool {
	if o.Empty() {
		return true
	}
	// An origin is short: a stack copy lowercases it without allocating.
	var buf [256]byte
	if len(origin) > len(buf) {
		return false
	}
	n := copy(buf[:], origin)
	lowerASCII(buf[:n])
	got, ok := parseOrigin(unsafeString(buf[:n]), false)
	if !ok {
		return false
	}
	for i := range o.pats {
		p := &o.pats[i]
		if p.scheme != got.scheme || p.port != got.port {
			continue
		}
		if !p.wild {
			if p.host == got.host {
				return true
			}
			continue
		}
		if len(got.host) > len(p.host)+1 && strings.HasSuffix(got.host, p.host) &&
			got.host[len(got.host)-len(p.host)-1] == '.' {
			return true
		}
	}
	return false
}

// parseOrigin splits "scheme://host[:port]" (RFC 6454 §6.1 serialisation:
// no path, no user info). pattern allows a leading "*." in the host and
// lowercases; a request's origin arrives lowercased already.
func parseOrigin(s string, pattern bool) (originPattern, bool) {
	if pattern {
		s = strings.ToLower(s)
	}
	scheme, rest, ok := strings.Cut(s, "://")
	if !ok || scheme == "" || rest == "" {
		return originPattern{}, false
	}
	for i := 0; i < len(scheme); i++ {
		c := scheme[i]
		if !(c >= 'a' && c <= 'z' || i > 0 && (c >= '0' && c <= '9' || c == '+' || c == '-' || c == '.')) {
			return originPattern{}, false
		}
	}
	var p originPattern
	p.scheme = scheme
	host, port := rest, ""
	if strings.HasPrefix(rest, "[") { // IPv6 literal
		end := strings.IndexByte(rest, ']')
		if end < 0 {
			return originPattern{}, false
		}
		host, port = rest[:end+1], rest[end+1:]
		if port != "" {
			if port[0] != ':' {
				return originPattern{}, false
			}
			port = port[1:]
		}
	} else if i := strings.LastIndexByte(rest, ':'); i >= 0 {
		host, port = rest[:i], rest[i+1:]
	}
	if port != "" || strings.HasSuffix(rest, ":") {
		if port == "" || len(port) > 5 {
			return originPattern{}, false
		}
		n := 0
		for i := 0; i < len(port); i++ {
			if port[i] < '0' || port[i] > '9' {
				return originPattern{}, false
			}
			n = n*10 + int(port[i]-'0')
		}
		if n == 0 || n > 65535 {
			return originPattern{}, false
		}
		if defaultPort(scheme) == n {
			port = ""
		}
	}
	if pattern && strings.HasPrefix(host, "*.") {
		p.wild, host = true, host[2:]
	}
	if host == "" || !validOriginHost(host) {
		return originPattern{}, false
	}
	p.host, p.port = host, port
	return p, true
}

// defaultPort is the port an origin of scheme leaves out.
func defaultPort(scheme string) int {
	switch scheme {
	case "http", "ws":
		return 80
	case "https", "wss":
		return 443
	}
	return -1
}

// validOriginHost accepts a DNS name, an IPv4 address or a bracketed IPv6
// literal's characters; finer checks are the browser's.
func validOriginHost(h string) bool {
	if h[0] == '[' {
		if h[len(h)-1] != ']' || len(h) < 4 {
			return false
		}
		for i := 1; i < len(h)-1; i++ {
			c := h[i]
			if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c == ':' || c == '.') {
				return false
			}
		}
		return true
	}
	for i := 0; i < len(h); i++ {
		c := h[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_') {
			return false
		}
	}
	return h[0] != '.' && h[len(h)-1] != '.' && !strings.Contains(h, "..")
}

func lowerASCII(b []byte) {
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
}
