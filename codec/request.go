package codec

import "bytes"

// Header is one header line of a parsed head. Name is as sent; Value has
// optional whitespace trimmed from both ends (RFC 9110 §5.5). Both are slices
// into the head and live as long as it does.
type Header struct{ Name, Value []byte }

// MaxHeaders is the most header lines a head may have: ParseRequest answers
// more with ErrTooManyHeaders, ParseResponse with ErrBadResponse.
const MaxHeaders = 100

// Request is a parsed WebSocket opening handshake (RFC 6455 §4.1, §4.2.1).
// All slices point into the head given to ParseRequest and live as long as
// it does. A Request is reused across ParseRequest calls: Headers keeps its
// capacity, so parsing allocates only until it has grown.
type Request struct {
	Method, Target, Proto []byte // Proto e.g. "HTTP/1.1"
	Headers               []Header
	Host                  []byte // the Host header value (as sent, may include port)
	Key                   []byte // Sec-WebSocket-Key, validated: 24 base64 characters encoding 16 bytes
	RequestID             []byte // the first non-empty X-Request-Id, or nil
	Origin                []byte // the first Origin header value, or nil
}

// ParseRequest parses the complete request head (as delimited by HeadScanner,
// including the final empty line and nothing after it) into r and validates
// it as a WebSocket opening handshake (RFC 6455 §4.2.1). Slices in r point
// into head. It does not allocate once r.Headers has grown, and it is safe
// off the loop on a Request the caller owns.
//
// Empty lines before the request line are ignored (RFC 9112 §2.2), as
// HeadScanner ignores them.
//
// On failure it returns one of the *HandshakeError sentinels; the first
// failing check, in this order, wins:
//   - malformed syntax (RFC 9112 §3, §5): the request line must be
//     METHOD SP TARGET SP HTTP/1.x with a token method and a target of
//     visible ASCII, and header lines "name: value" with a token name (so no
//     whitespace before the colon and no obs-fold) and a value without
//     control characters other than HTAB; the version must be HTTP/1.0 or
//     HTTP/1.1 → ErrMalformed
//   - more than MaxHeaders header lines → ErrTooManyHeaders
//   - method other than GET → ErrNotGet
//   - HTTP/1.0 → ErrHTTP10
//   - a target not in origin form (not starting with "/") → ErrMalformed
//   - no Host → ErrNoHost
//   - Host or Sec-WebSocket-Key sent twice → ErrDuplicateHeader
//   - an empty Host → ErrNoHost; a Host with characters outside RFC 3986
//     host and port syntax → ErrMalformed
//   - any Content-Length (even "0") or Transfer-Encoding → ErrHasBody
//   - no Upgrade header with the token "websocket" → ErrNotUpgrade
//   - no Connection header with the token "upgrade" → ErrNoConnectionUpgrade
//   - Sec-WebSocket-Version missing, repeated or not "13" → ErrBadVersion
//   - Sec-WebSocket-Key missing or not 24 base64 characters encoding 16
//     bytes → ErrBadKey
//
// Header names are matched ASCII case-insensitively; Upgrade and Connection
// are token lists and may each span several lines.
func ParseRequest(head []byte, r *Request) error {
	*r = Request{Headers: r.Headers[:0]}
	line, rest, ok := nextLine(skipEmptyLines(head))
	if !ok {
		return ErrMalformed
	}
	sp := bytes.IndexByte(line, ' ')
	if sp < 0 {
		return ErrMalformed
	}
	method, line := line[:sp], line[sp+1:]
	sp = bytes.IndexByte(line, ' ')
	if sp < 0 {
		return ErrMalformed
	}
	target, proto := line[:sp], line[sp+1:]
	if !isToken(method) || !validTarget(target) || !isHTTP1(proto) {
		return ErrMalformed
	}
	r.Method, r.Target, r.Proto = method, target, proto
	hs, lines, ok := parseFields(rest, r.Headers)
	r.Headers = hs
	if !ok {
		return ErrMalformed
	}
	if lines > MaxHeaders {
		return ErrTooManyHeaders
	}
	if string(method) != "GET" {
		return ErrNotGet
	}
	if proto[7] == '0' {
		return ErrHTTP10
	}
	if target[0] != '/' {
		return ErrMalformed
	}

	var (
		hosts, keys, versions int
		version               []byte
		hasBody, upgrade      bool
		connUpgrade           bool
	)
	for i := range hs {
		name, value := hs[i].Name, hs[i].Value
		switch len(name) {
		case 4:
			if EqualFold(name, "host") {
				hosts++
				r.Host = value
			}
		case 6:
			if r.Origin == nil && EqualFold(name, "origin") {
				r.Origin = value
			}
		case 7:
			if !upgrade && EqualFold(name, "upgrade") {
				upgrade = HasToken(value, "websocket")
			}
		case 10:
			if !connUpgrade && EqualFold(name, "connection") {
				connUpgrade = HasToken(value, "upgrade")
			}
		case 12:
			if r.RequestID == nil && len(value) > 0 && EqualFold(name, "x-request-id") {
				r.RequestID = value
			}
		case 14:
			if EqualFold(name, "content-length") {
				// Even "0": RFC 6455 §4.1 defines the handshake without
				// a body, and a proxy that lets a length through invites
				// a backend to read one.
				hasBody = true
			}
		case 17:
			if EqualFold(name, "transfer-encoding") {
				hasBody = true
			} else if EqualFold(name, "sec-websocket-key") {
				keys++
				r.Key = value
			}
		case 21:
			if EqualFold(name, "sec-websocket-version") {
				versions++
				version = value
			}
		}
	}
	switch {
	case hosts == 0:
		return ErrNoHost
	case hosts > 1 || keys > 1:
		return ErrDuplicateHeader
	case len(r.Host) == 0:
		return ErrNoHost
	case !validHost(r.Host):
		return ErrMalformed
	case hasBody:
		return ErrHasBody
	case !upgrade:
		return ErrNotUpgrade
	case !connUpgrade:
		return ErrNoConnectionUpgrade
	case versions != 1 || string(version) != "13":
		return ErrBadVersion
	case !validKey(r.Key):
		return ErrBadKey
	}
	return nil
}

// isHTTP1 reports whether p is "HTTP/1.0" or "HTTP/1.1" (RFC 9112 §2.3: the
// version is case-sensitive).
func isHTTP1(p []byte) bool {
	return len(p) == 8 && string(p[:7]) == "HTTP/1." && (p[7] == '0' || p[7] == '1')
}

// validTarget reports whether t is a non-empty run of visible ASCII, as a
// request target must be (RFC 9112 §3.2, RFC 3986 §2).
func validTarget(t []byte) bool {
	if len(t) == 0 {
		return false
	}
	for _, c := range t {
		if c <= ' ' || c >= 0x7f {
			return false
		}
	}
	return true
}

// validHost reports whether h uses only characters of an RFC 3986 host and
// port (reg-name, IP-literal, IPv4address, ":" port).
func validHost(h []byte) bool {
	for _, c := range h {
		if !inClass(c, hostLo, hostHi) {
			return false
		}
	}
	return true
}

// validKey reports whether k is a Sec-WebSocket-Key: the base64 encoding of
// 16 bytes, that is 22 base64 characters and "==" (RFC 6455 §4.1 item 7).
// Like encoding/base64's default decoder, it ignores the unused low bits of
// the last character.
func validKey(k []byte) bool {
	if len(k) != 24 || k[22] != '=' || k[23] != '=' {
		return false
	}
	for _, c := range k[:22] {
		if !inClass(c, base64Lo, base64Hi) {
			return false
		}
	}
	return true
}

// OffersProtocol reports whether the request's Sec-WebSocket-Protocol
// headers (comma-separated lists, possibly on several lines) contain name,
// compared case-sensitively (RFC 6455 §4.1 item 10, §11.3.4). It does not
// allocate.
func (r *Request) OffersProtocol(name []byte) bool {
	if len(name) == 0 {
		return false
	}
	for i := range r.Headers {
		if !EqualFold(r.Headers[i].Name, "sec-websocket-protocol") {
			continue
		}
		for v := r.Headers[i].Value; len(v) > 0; {
			var tok []byte
			tok, v = NextToken(v)
			if bytes.Equal(tok, name) {
				return true
			}
		}
	}
	return false
}

// OffersExtension reports whether the request's Sec-WebSocket-Extensions
// headers offer an extension whose name (the token before any ';'
// parameters) equals name ASCII case-insensitively (RFC 6455 §9.1). It does
// not allocate.
func (r *Request) OffersExtension(name []byte) bool {
	if len(name) == 0 {
		return false
	}
	for i := range r.Headers {
		if !EqualFold(r.Headers[i].Name, "sec-websocket-extensions") {
			continue
		}
		for v := r.Headers[i].Value; len(v) > 0; {
			var ext []byte
			ext, v = NextToken(v)
			if equalFoldBytes(extensionName(ext), name) {
				return true
			}
		}
	}
	return false
}

// extensionName returns the name of one element of a Sec-WebSocket-Extensions
// list: what comes before the first ';', OWS trimmed.
func extensionName(ext []byte) []byte {
	if i := bytes.IndexByte(ext, ';'); i >= 0 {
		ext = ext[:i]
	}
	return TrimOWS(ext)
}

// equalFoldBytes is EqualFold for two byte slices.
func equalFoldBytes(a, b []byte) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		x, y := a[i], b[i]
		if x == y {
			continue
		}
		if l := x | 0x20; l != y|0x20 || l < 'a' || l > 'z' {
			return false
		}
	}
	return true
}
