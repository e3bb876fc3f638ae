package upstream

import (
	"bytes"
	"fmt"
	"strconv"

	"github.com/throngproxy/throng/codec"
	"github.com/throngproxy/throng/config"
)

// KeyKind is the part of a request the hash balancer hashes.
type KeyKind uint8

// Key kinds, as written in hash_key.
const (
	KeyIP     KeyKind = iota // "ip": the client address
	KeyHeader                // "header:NAME": the first NAME header's value
	KeyCookie                // "cookie:NAME": cookie NAME's value
	KeyQuery                 // "query:NAME": the first NAME=value's value
	KeyPath                  // "path": the request path, query excluded
)

// String returns the hash_key spelling of k without a name: "ip",
// "header", "cookie", "query" or "path".
func (k KeyKind) String() string {
	switch k {
	case KeyIP:
		return "ip"
	case KeyHeader:
		return "header"
	case KeyCookie:
		return "cookie"
	case KeyQuery:
		return "query"
	case KeyPath:
		return "path"
	}
	return "KeyKind(" + strconv.Itoa(int(k)) + ")"
}

// KeySource is a parsed hash_key. Name is the header, cookie or query
// parameter name for KeyHeader, KeyCookie and KeyQuery, and "" otherwise.
// The zero value is KeyIP.
type KeySource struct {
	Kind KeyKind
	Name string
}

// ParseKeySource parses a hash_key value: "ip", "path", "header:NAME",
// "cookie:NAME" or "query:NAME", NAME a non-empty token (RFC 9110 §5.6.2),
// kinds in lowercase, as config.ParseHashKey splits it. Errors wrap
// ErrBadHashKey. It allocates only for the error.
func ParseKeySource(s string) (KeySource, error) {
	kind, name, ok := config.ParseHashKey(s)
	if ok {
		switch kind {
		case config.HashKeyIP:
			return KeySource{Kind: KeyIP}, nil
		case config.HashKeyPath:
			return KeySource{Kind: KeyPath}, nil
		case config.HashKeyHeaderPrefix:
			return KeySource{Kind: KeyHeader, Name: name}, nil
		case config.HashKeyCookiePrefix:
			return KeySource{Kind: KeyCookie, Name: name}, nil
		case config.HashKeyQueryPrefix:
			return KeySource{Kind: KeyQuery, Name: name}, nil
		}
	}
	return KeySource{}, fmt.Errorf("%w %q: want ip, path, header:NAME, cookie:NAME or query:NAME", ErrBadHashKey, s)
}

// String returns k as written in hash_key ("header:X-User");
// ParseKeySource reads it back to k.
func (k KeySource) String() string {
	switch k.Kind {
	case KeyHeader, KeyCookie, KeyQuery:
		return k.Kind.String() + ":" + k.Name
	}
	return k.Kind.String()
}

// HashKey returns the 64-bit hash of the part of a request k names, for
// Balancer.Pick. ip is the client address as text ("192.0.2.1", IPv4 not
// v4-mapped, no port); headers are the request's headers; target is the
// request target (path, maybe with "?query").
//
//   - KeyHeader hashes the value of the first header whose name equals
//     Name ASCII case-insensitively.
//   - KeyCookie looks through every Cookie header ("a=1; b=2", RFC 6265
//     §4.2.1) for the first cookie named Name (case-sensitive) and hashes
//     its value, without surrounding double quotes.
//   - KeyQuery hashes the value of the first Name=value (or bare Name, an
//     empty value) of the query string, compared and hashed as sent,
//     without percent-decoding.
//   - KeyPath hashes target up to any '?'.
//
// When the request lacks the header, cookie or parameter, or the path is
// empty, HashKey falls back to hashing ip, so such clients still stick to
// a backend by address. Equal inputs give equal keys in every process (no
// random seed), so stickiness survives a restart. It does not allocate,
// keeps no reference to its arguments, and is safe for concurrent use.
func (k KeySource) HashKey(ip []byte, headers []codec.Header, target []byte) uint64 {
	switch k.Kind {
	case KeyHeader:
		for i := range headers {
			if codec.EqualFold(headers[i].Name, k.Name) {
				return hashBytes(headers[i].Value)
			}
		}
	case KeyCookie:
		if v, ok := findCookie(headers, k.Name); ok {
			return hashBytes(v)
		}
	case KeyQuery:
		if v, ok := queryValue(target, k.Name); ok {
			return hashBytes(v)
		}
	case KeyPath:
		path := target
		if i := bytes.IndexByte(target, '?'); i >= 0 {
			path = target[:i]
		}
		if len(path) > 0 {
			return hashBytes(path)
		}
	}
	return hashBytes(ip)
}

// cookieValue returns the value of the first cookie called name in a
// Cookie header value "a=1; b=2", without surrounding double quotes.
func cookieValue(h []byte, name string) ([]byte, bool) {
	for len(h) > 0 {
		var pair []byte
		pair, h, _ = bytes.Cut(h, []byte{';'})
		pair = codec.TrimOWS(pair)
		n, v, _ := bytes.Cut(pair, []byte{'='})
		if string(codec.TrimOWS(n)) != name {
			continue
		}
		v = codec.TrimOWS(v)
		if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
			v = v[1 : len(v)-1]
		}
		return v, true
	}
	return nil, false
}

// queryValue returns the value of the first name=value (or bare name) in
// target's query string, which ends at any '#'.
func queryValue(target []byte, name string) ([]byte, bool) {
	i := bytes.IndexByte(target, '?')
	if i < 0 {
		return nil, false
	}
	q := target[i+1:]
	if j := bytes.IndexByte(q, '#'); j >= 0 {
		q = q[:j]
	}
	for len(q) > 0 {
		var param []byte
		param, q, _ = bytes.Cut(q, []byte{'&'})
		if n, v, _ := bytes.Cut(param, []byte{'='}); string(n) == name {
			return v, true
		}
	}
	return nil, false
}

// FNV-1a 64 (http://www.isthe.com/chongo/tech/comp/fnv/), then mix64 so
// that nearby inputs land far apart on the ring.
const (
	fnvOffset = 14695981039346656037
	fnvPrime  = 1099511628211
)

// hashBytes is FNV-1a 64 of p, mixed.
func hashBytes(p []byte) uint64 {
	h := uint64(fnvOffset)
	for _, c := range p {
		h ^= uint64(c)
		h *= fnvPrime
	}
	return mix64(h)
}

// mix64 is the SplitMix64 finalizer (Steele, Lea, Flood, "Fast Splittable
// Pseudorandom Number Generators", 2014): a bijection that spreads every
// input bit over the output.
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}
