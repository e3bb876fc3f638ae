package codec

import "bytes"

// Where a client puts a token at the upgrade (route.jwt.token_from): an
// Authorization header, a query parameter, or an entry of
// Sec-WebSocket-Protocol (the browser pattern, since a browser's
// WebSocket cannot set headers).

// BearerToken returns the token of the first Authorization header using
// the Bearer scheme (RFC 6750 §2.1; the scheme is case-insensitive), or
// nil. The slice points into the header. It does not allocate.
func BearerToken(headers []Header) []byte {
	for i := range headers {
		if !EqualFold(headers[i].Name, "authorization") {
			continue
		}
		v := TrimOWS(headers[i].Value)
		if len(v) > 7 && EqualFold(v[:7], "bearer ") {
			if tok := TrimOWS(v[7:]); len(tok) > 0 {
				return tok
			}
		}
	}
	return nil
}

// CutQueryParam finds the first parameter called name in target's query
// ("/path?a=1&name=TOKEN&b=2") and returns its value (as sent: a JWT is
// made of URL-safe characters) and target without that parameter, appended
// to dst ("/path?a=1&b=2"; the "?" goes when nothing is left). found is
// false, and rest nil, when there is no such parameter.
func CutQueryParam(dst, target []byte, name string) (value, rest []byte, found bool) {
	path, query, ok := bytes.Cut(target, []byte("?"))
	if !ok || name == "" {
		return nil, nil, false
	}
	start := len(dst)
	dst = append(dst, path...)
	kept := 0
	for len(query) > 0 {
		var pair []byte
		pair, query, _ = bytes.Cut(query, []byte("&"))
		key, val, _ := bytes.Cut(pair, []byte("="))
		if !found && string(key) == name {
			value, found = val, true
			continue
		}
		if kept == 0 {
			dst = append(dst, '?')
		} else {
			dst = append(dst, '&')
		}
		dst = append(dst, pair...)
		kept++
	}
	if !found {
		return nil, nil, false
	}
	return value, dst[start:], true
}

// CutProtocol returns the first entry of the request's
// Sec-WebSocket-Protocol lists that pick accepts, and the other entries
// joined by ", " (appended to dst; empty when none is left). found is false
// when pick accepts none. It does not allocate beyond growing dst.
func CutProtocol(dst []byte, headers []Header, pick func([]byte) bool) (token, rest []byte, found bool) {
	start := len(dst)
	for i := range headers {
		if !EqualFold(headers[i].Name, "sec-websocket-protocol") {
			continue
		}
		for v := headers[i].Value; len(v) > 0; {
			var tok []byte
			tok, v = NextToken(v)
			if len(tok) == 0 {
				continue
			}
			if !found && pick(tok) {
				token, found = tok, true
				continue
			}
			if len(dst) > start {
				dst = append(dst, ", "...)
			}
			dst = append(dst, tok...)
		}
	}
	return token, dst[start:], found
}
