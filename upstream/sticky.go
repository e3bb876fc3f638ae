package upstream

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"

	"github.com/throngproxy/throng/codec"
)

// Sticky is an upstream's sticky cookie (sticky_cookie): the 101 sets it
// to a value naming the backend the session went to, and a later handshake
// that presents it goes to that backend again while it is available.
//
// A value is the first 16 bytes of HMAC-SHA256(secret, upstream name, 0,
// backend address), base64url without padding: opaque (it does not show
// the address), and unforgeable without the secret, so a client can only
// return to a backend it was sent to. It names the backend by address, not
// position, so it survives reloads that reorder or add backends; and it
// is the same in every process that shares the secret.
type Sticky struct {
	// Cookie is the cookie's name.
	Cookie string

	byValue   map[string]*Backend
	setCookie [][]byte // by Backend.Index: the whole Set-Cookie header line
}

// stickyValueLen is the encoded length of a 16-byte MAC.
const stickyValueLen = 22

// NewStickyKey returns a random key for the sticky cookies of upstreams
// that set no sticky_secret. Whoever builds Tables draws one at start and
// passes it to every NewTable, so that such cookies survive reloads; they
// do not survive a restart, and another process does not honour them.
func NewStickyKey() []byte {
	k := make([]byte, 32)
	_, _ = rand.Read(k) // crypto/rand.Read never fails on Linux
	return k
}

// newSticky returns the sticky cookie called name for backends of the
// upstream called upstream, keyed by secret, or by key when secret is "".
// It allocates; call it when building a Table.
func newSticky(name, secret string, key []byte, upstream string, backends []*Backend) *Sticky {
	if secret != "" {
		key = []byte(secret)
	}
	s := &Sticky{
		Cookie:    name,
		byValue:   make(map[string]*Backend, len(backends)),
		setCookie: make([][]byte, len(backends)),
	}
	for _, b := range backends {
		m := hmac.New(sha256.New, key)
		m.Write([]byte(upstream))
		m.Write([]byte{0})
		m.Write([]byte(b.Addr))
		v := base64.RawURLEncoding.EncodeToString(m.Sum(nil)[:16])
		s.byValue[v] = b
		// Path=/ so that every route of the host sends it back; HttpOnly
		// because scripts have no use for it; SameSite=Lax keeps it on
		// top-level navigations only, which is all a WebSocket needs.
		s.setCookie[b.Index] = []byte("Set-Cookie: " + name + "=" + v + "; Path=/; HttpOnly; SameSite=Lax\r\n")
	}
	return s
}

// Find returns the backend named by the sticky cookie among a request's
// headers, or nil when there is none or its value is not one this Sticky
// made (a forged, stale or foreign cookie is ignored, never an error). It
// does not check the backend's health. It does not allocate and is safe
// for concurrent use.
func (s *Sticky) Find(headers []codec.Header) *Backend {
	v, ok := findCookie(headers, s.Cookie)
	if !ok || len(v) != stickyValueLen {
		return nil
	}
	return s.byValue[string(v)]
}

// SetCookie returns the "Set-Cookie: ...\r\n" header line that sends a
// client back to b, a backend of s's upstream. The slice is shared: do
// not modify it. It does not allocate and is safe for concurrent use.
func (s *Sticky) SetCookie(b *Backend) []byte { return s.setCookie[b.Index] }

// findCookie returns the value of the first cookie called name in any
// Cookie header.
func findCookie(headers []codec.Header, name string) ([]byte, bool) {
	for i := range headers {
		if !codec.EqualFold(headers[i].Name, "Cookie") {
			continue
		}
		if v, ok := cookieValue(headers[i].Value, name); ok {
			return v, true
		}
	}
	return nil, false
}
