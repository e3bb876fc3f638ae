package codec

import (
	"bytes"
	"strconv"
)

// Forward describes what the proxy adds when it forwards a client's upgrade
// request to a backend.
type Forward struct {
	ClientIP    []byte // textual client address (already unmapped from v4-in-v6), e.g. "192.0.2.1" or "2001:db8::1"
	TrustedPeer bool   // the TCP peer is a trusted proxy: keep its client-address headers and append ClientIP to its X-Forwarded-For
	Proto       string // "http" or "https" → X-Forwarded-Proto (replaces any client value); "" sends none
	RequestID   []byte // X-Request-Id value to send (the client's, or one the engine made); nil sends none
	// TraceParent, when set, replaces the client's traceparent headers
	// (W3C Trace Context): the trace the proxy's hop belongs to.
	TraceParent []byte
	// NewTrace says TraceParent starts a trace of the proxy's: the
	// client's tracestate belongs to no trace then and is removed (W3C
	// Trace Context §3.3.1: a restarted trace drops tracestate).
	NewTrace bool
	Target   []byte // request target to send, in origin form (nil = r.Target)
	// Forwarded adds an RFC 7239 Forwarded element of the proxy's own,
	// "for=ClientIP;host=Host;proto=Proto", after any the request keeps.
	Forwarded bool
	// Owned lists header names the proxy alone sets (values it verified
	// itself, such as identity claims): a client's copy is removed whether
	// or not the peer is trusted. Compared ASCII case-insensitively.
	Owned []string
	// ReplaceProtocols drops the client's Sec-WebSocket-Protocol headers
	// and sends Protocols instead (none when it is empty): a token taken
	// from the offered list is not passed on.
	ReplaceProtocols bool
	Protocols        []byte
	// Extra holds header lines of the proxy's own, each ending in CRLF,
	// appended after every other header (their names belong in Owned).
	Extra []byte
}

// AppendForwardedRequest appends to dst the request head to send upstream
// for the client's handshake r (RFC 9110 §7.6.1, RFC 6455 §4.1):
//
//   - "GET <target> HTTP/1.1\r\n", target being f.Target or else r.Target;
//   - the client's headers in order, except: hop-by-hop ones (Connection,
//     Keep-Alive, Proxy-Connection, Proxy-Authenticate, Proxy-Authorization,
//     TE, Trailer, Transfer-Encoding, Upgrade, and every header named in the
//     client's Connection tokens); the client's X-Forwarded-For,
//     X-Forwarded-Proto, X-Forwarded-Host and X-Request-Id, which are
//     rewritten below; the names in f.Owned; and, unless f.TrustedPeer, every
//     other header that conventionally carries the client's address or
//     scheme (IsClientAddressHeader), which a client could otherwise spoof.
//     Host and all Sec-WebSocket-* headers are kept as sent, even if
//     Connection names them;
//   - "Upgrade: websocket\r\nConnection: Upgrade\r\n";
//   - "X-Forwarded-For: ": with f.TrustedPeer, the client's X-Forwarded-For
//     lists joined by ", ", then ", " and f.ClientIP; otherwise just
//     f.ClientIP (the line is left out if it would be empty);
//   - "X-Forwarded-Proto: <f.Proto>", "X-Forwarded-Host: <r.Host>" and
//     "X-Request-Id: <f.RequestID>", "traceparent: <f.TraceParent>" (in
//     place of the client's), each left out when empty;
//   - with f.Forwarded, "Forwarded: for=...;host=...;proto=..." (RFC 7239
//     §4, §6: an IPv6 address bracketed and quoted, a host that is not a
//     token quoted), which follows a trusted peer's own Forwarded lines and
//     so extends their list;
//   - f.Extra as given;
//   - the final "\r\n".
//
// r must have passed ParseRequest; the fields of f are written as given, so
// they must be valid in a header (no CR or LF). It allocates only by growing
// dst.
func AppendForwardedRequest(dst []byte, r *Request, f *Forward) []byte {
	target := f.Target
	if target == nil {
		target = r.Target
	}
	dst = append(dst, "GET "...)
	dst = append(dst, target...)
	dst = append(dst, " HTTP/1.1\r\n"...)
	for i := range r.Headers {
		name := r.Headers[i].Name
		if f.ReplaceProtocols && EqualFold(name, "sec-websocket-protocol") {
			continue
		}
		if !EqualFold(name, "host") && !hasPrefixFold(name, "sec-websocket-") &&
			(isHopByHop(name) || isForwardingHeader(name) || namedInConnection(r.Headers, name) ||
				!f.TrustedPeer && IsClientAddressHeader(name) || isOwned(name, f.Owned) ||
				len(f.TraceParent) > 0 && EqualFold(name, "traceparent") ||
				f.NewTrace && EqualFold(name, "tracestate")) {
			continue
		}
		dst = appendHeader(dst, name, r.Headers[i].Value)
	}
	if f.ReplaceProtocols && len(f.Protocols) > 0 {
		dst = appendNamedHeader(dst, "Sec-WebSocket-Protocol", f.Protocols)
	}
	dst = append(dst, "Upgrade: websocket\r\nConnection: Upgrade\r\n"...)

	mark := len(dst)
	dst = append(dst, "X-Forwarded-For: "...)
	start := len(dst)
	if f.TrustedPeer {
		for i := range r.Headers {
			if v := r.Headers[i].Value; len(v) > 0 && EqualFold(r.Headers[i].Name, "x-forwarded-for") {
				if len(dst) > start {
					dst = append(dst, ", "...)
				}
				dst = append(dst, v...)
			}
		}
	}
	if len(f.ClientIP) > 0 {
		if len(dst) > start {
			dst = append(dst, ", "...)
		}
		dst = append(dst, f.ClientIP...)
	}
	if len(dst) == start {
		dst = dst[:mark]
	} else {
		dst = append(dst, "\r\n"...)
	}
	if f.Proto != "" {
		dst = append(dst, "X-Forwarded-Proto: "...)
		dst = append(dst, f.Proto...)
		dst = append(dst, "\r\n"...)
	}
	if len(r.Host) > 0 {
		dst = appendNamedHeader(dst, "X-Forwarded-Host", r.Host)
	}
	if len(f.RequestID) > 0 {
		dst = appendNamedHeader(dst, "X-Request-Id", f.RequestID)
	}
	if len(f.TraceParent) > 0 {
		dst = appendNamedHeader(dst, "traceparent", f.TraceParent)
	}
	if f.Forwarded {
		dst = appendForwarded(dst, f.ClientIP, r.Host, f.Proto)
	}
	dst = append(dst, f.Extra...)
	return append(dst, "\r\n"...)
}

// appendForwarded appends the proxy's own RFC 7239 Forwarded line. Each
// parameter is left out when its value is empty.
func appendForwarded(dst, clientIP, host []byte, proto string) []byte {
	dst = append(dst, "Forwarded: "...)
	mark := len(dst)
	if len(clientIP) > 0 {
		dst = append(dst, "for="...)
		if bytes.IndexByte(clientIP, ':') >= 0 {
			// An IPv6 address is bracketed, and as ':' is not a token
			// character, quoted (RFC 7239 §6).
			dst = append(dst, `"[`...)
			dst = append(dst, clientIP...)
			dst = append(dst, `]"`...)
		} else {
			dst = append(dst, clientIP...)
		}
	}
	if len(host) > 0 {
		if len(dst) > mark {
			dst = append(dst, ';')
		}
		dst = append(dst, "host="...)
		dst = appendTokenOrQuoted(dst, host)
	}
	if proto != "" {
		if len(dst) > mark {
			dst = append(dst, ';')
		}
		dst = append(dst, "proto="...)
		dst = append(dst, proto...)
	}
	if len(dst) == mark {
		return dst[:mark-len("Forwarded: ")]
	}
	return append(dst, "\r\n"...)
}

// appendTokenOrQuoted appends v as a token, or as a quoted-string when it
// is not one (RFC 9110 §5.6.4). v is a validated Host value: RFC 3986
// characters, so it holds neither '"' nor '\\' and needs no escapes.
func appendTokenOrQuoted(dst, v []byte) []byte {
	if isToken(v) {
		return append(dst, v...)
	}
	dst = append(dst, '"')
	dst = append(dst, v...)
	return append(dst, '"')
}

// AppendSwitchingResponse appends to dst the backend's 101 head resp for the
// client: the status line and headers as the backend sent them (with CRLF line
// ends), less the hop-by-hop ones other than Upgrade and Connection (as for
// AppendForwardedRequest: Keep-Alive, TE, Trailer, Transfer-Encoding,
// Proxy-*, and the headers the backend's Connection names, except Upgrade
// and Sec-WebSocket-*), "X-Request-Id: <requestID>\r\n" if the backend sent
// no X-Request-Id and requestID is not empty, and the final "\r\n". Nothing
// else changes: the backend's Sec-WebSocket-Accept is valid for the client
// because the key was the client's (RFC 6455 §4.2.2). extraHeader, if not empty, is appended
// verbatim before the final "\r\n": whole header lines the proxy adds, such
// as its sticky cookie's "Set-Cookie: ...\r\n". It allocates only by
// growing dst.
func AppendSwitchingResponse(dst []byte, resp *Response, requestID, extraHeader []byte) []byte {
	dst = append(dst, resp.Proto...)
	dst = append(dst, ' ')
	dst = appendStatus(dst, resp.Status)
	dst = append(dst, ' ')
	dst = append(dst, resp.Reason...)
	dst = append(dst, "\r\n"...)
	for i := range resp.Headers {
		name := resp.Headers[i].Name
		if !EqualFold(name, "upgrade") && !EqualFold(name, "connection") && !hasPrefixFold(name, "sec-websocket-") &&
			(isHopByHop(name) || namedInConnection(resp.Headers, name)) {
			continue
		}
		dst = appendHeader(dst, name, resp.Headers[i].Value)
	}
	if len(requestID) > 0 && Get(resp.Headers, "x-request-id") == nil {
		dst = appendNamedHeader(dst, "X-Request-Id", requestID)
	}
	dst = append(dst, extraHeader...)
	return append(dst, "\r\n"...)
}

// AppendRelayedHead appends to dst the head of a non-101 backend answer
// for the client, who is disconnected after its body:
// "HTTP/1.1 <status> <reason>\r\n" (the standard reason if the backend sent
// none), the backend's headers except hop-by-hop ones (as for
// AppendForwardedRequest, with the backend's Connection tokens),
// Content-Length and Transfer-Encoding, then the framing of the body as the
// proxy relays it and "Connection: close\r\n\r\n". kind and length are what
// resp.Body reported:
//
//   - BodyLength: "Content-Length: <length>", the backend's own length, so
//     that a body cut short shows as incomplete;
//   - BodyChunked: "Transfer-Encoding: chunked", the chunks passed on as
//     they come;
//   - BodyClose: "Transfer-Encoding: chunked" as well, the proxy wrapping
//     what it reads in chunks (AppendChunkSize, LastChunk), so that a client can tell a
//     body cut short from a whole one, which a close-delimited body cannot;
//   - BodyNone: "Content-Length: 0", or nothing for 1xx, 204 and 304, which
//     have no body (RFC 9110 §6.4.1, §8.6).
//
// It allocates only by growing dst.
func AppendRelayedHead(dst []byte, resp *Response, kind BodyKind, length int64) []byte {
	dst = append(dst, "HTTP/1.1 "...)
	dst = appendStatus(dst, resp.Status)
	dst = append(dst, ' ')
	if len(resp.Reason) > 0 {
		dst = append(dst, resp.Reason...)
	} else {
		dst = append(dst, statusText(resp.Status)...)
	}
	dst = append(dst, "\r\n"...)
	for i := range resp.Headers {
		name := resp.Headers[i].Name
		if isHopByHop(name) || EqualFold(name, "content-length") || namedInConnection(resp.Headers, name) {
			continue
		}
		dst = appendHeader(dst, name, resp.Headers[i].Value)
	}
	switch kind {
	case BodyLength:
		dst = append(dst, "Content-Length: "...)
		dst = strconv.AppendInt(dst, length, 10)
		dst = append(dst, "\r\n"...)
	case BodyChunked, BodyClose:
		dst = append(dst, "Transfer-Encoding: chunked\r\n"...)
	default:
		if resp.Status >= 200 && resp.Status != 204 && resp.Status != 304 {
			dst = append(dst, "Content-Length: 0\r\n"...)
		}
	}
	return append(dst, "Connection: close\r\n\r\n"...)
}

// LastChunk ends a chunked body: the last chunk and an empty trailer
// section (RFC 9112 §7.1). Do not modify it.
var LastChunk = []byte("0\r\n\r\n")

// AppendChunkSize appends the line that starts a chunk of n bytes: n in
// hex and CRLF. The chunk's bytes and a CRLF follow it (RFC 9112 §7.1).
// It allocates only by growing dst.
func AppendChunkSize(dst []byte, n int) []byte {
	dst = strconv.AppendInt(dst, int64(n), 16)
	return append(dst, "\r\n"...)
}

// AppendErrorResponse appends to dst a complete proxy-generated answer:
// "HTTP/1.1 <status> <reason>\r\n" with the standard reason (RFC 9110 §15),
// extraHeader verbatim (each line ending in "\r\n", or ""),
// "Content-Type: text/plain; charset=utf-8\r\nContent-Length: N\r\n",
// "Connection: close\r\n\r\n" and the body "<status> <reason>\n". It is
// meant for building one answer per status at startup, but it allocates only
// by growing dst.
func AppendErrorResponse(dst []byte, status int, extraHeader string) []byte {
	reason := statusText(status)
	bodyLen := len(strconv.AppendInt(make([]byte, 0, 20), int64(status), 10)) + 1
	if reason != "" {
		bodyLen += 1 + len(reason)
	}
	dst = append(dst, "HTTP/1.1 "...)
	dst = strconv.AppendInt(dst, int64(status), 10)
	dst = append(dst, ' ')
	dst = append(dst, reason...)
	dst = append(dst, "\r\n"...)
	dst = append(dst, extraHeader...)
	dst = append(dst, "Content-Type: text/plain; charset=utf-8\r\nContent-Length: "...)
	dst = strconv.AppendInt(dst, int64(bodyLen), 10)
	dst = append(dst, "\r\nConnection: close\r\n\r\n"...)
	dst = strconv.AppendInt(dst, int64(status), 10)
	if reason != "" {
		dst = append(dst, ' ')
		dst = append(dst, reason...)
	}
	return append(dst, '\n')
}

// appendHeader appends "name: value\r\n".
func appendHeader(dst, name, value []byte) []byte {
	dst = append(dst, name...)
	dst = append(dst, ": "...)
	dst = append(dst, value...)
	return append(dst, "\r\n"...)
}

// appendNamedHeader appends "name: value\r\n".
func appendNamedHeader(dst []byte, name string, value []byte) []byte {
	dst = append(dst, name...)
	dst = append(dst, ": "...)
	dst = append(dst, value...)
	return append(dst, "\r\n"...)
}

// appendStatus appends a status code of 100–999 as three digits.
func appendStatus(dst []byte, status int) []byte {
	if status < 100 || status > 999 {
		return strconv.AppendInt(dst, int64(status), 10)
	}
	return append(dst, byte('0'+status/100), byte('0'+status/10%10), byte('0'+status%10))
}

// isHopByHop reports whether name is a hop-by-hop header a proxy must not
// forward (RFC 9110 §7.6.1), the list net/http/httputil uses.
func isHopByHop(name []byte) bool {
	switch len(name) {
	case 2:
		return EqualFold(name, "te")
	case 7:
		return EqualFold(name, "upgrade") || EqualFold(name, "trailer")
	case 10:
		return EqualFold(name, "connection") || EqualFold(name, "keep-alive")
	case 16:
		return EqualFold(name, "proxy-connection") // non-standard, sent by old clients
	case 17:
		return EqualFold(name, "transfer-encoding")
	case 18:
		return EqualFold(name, "proxy-authenticate")
	case 19:
		return EqualFold(name, "proxy-authorization")
	}
	return false
}

// isForwardingHeader reports whether name is one of the headers
// AppendForwardedRequest writes itself.
func isForwardingHeader(name []byte) bool {
	switch len(name) {
	case 12:
		return sameName(name, "x-request-id")
	case 15:
		return sameName(name, "x-forwarded-for")
	case 16:
		return sameName(name, "x-forwarded-host")
	case 17:
		return sameName(name, "x-forwarded-proto")
	}
	return false
}

// IsClientAddressHeader reports whether name is one of the headers that,
// by convention of some proxy, CDN or framework, carry the original
// client's address, port or scheme, and that the proxy therefore removes
// from a request whose peer is not a trusted proxy (a backend may believe
// any of them). X-Forwarded-For, -Proto and -Host, which the proxy always
// rewrites, are not among them. docs/protocol.md lists them too. Names
// compare as sameName does: case-insensitively, '_' for '-'. It does not
// allocate.
func IsClientAddressHeader(name []byte) bool {
	switch len(name) {
	case 9:
		return sameName(name, "forwarded") || // RFC 7239
			sameName(name, "x-real-ip") || // nginx realip
			sameName(name, "client-ip") // older proxies
	case 11:
		return sameName(name, "x-forwarded") || // non-standard spelling
			sameName(name, "x-client-ip") // Apache, Rails
	case 12:
		return sameName(name, "x-url-scheme") // some WSGI stacks
	case 13:
		return sameName(name, "forwarded-for") // non-standard spelling
	case 14:
		return sameName(name, "true-client-ip") // Akamai, Cloudflare
	case 15:
		return sameName(name, "x-forwarded-ssl") || // Heroku, Rack
			sameName(name, "front-end-https") // Microsoft
	case 16:
		return sameName(name, "x-forwarded-port") || // AWS ELB, Traefik
			sameName(name, "cf-connecting-ip") || // Cloudflare
			sameName(name, "fastly-client-ip") || // Fastly
			sameName(name, "x-azure-clientip") || // Azure Front Door
			sameName(name, "x-azure-socketip") // Azure Front Door
	case 18:
		return sameName(name, "x-forwarded-scheme") || // nginx ingress
			sameName(name, "x-forwarded-server") || // Apache mod_proxy
			sameName(name, "cf-connecting-ipv6") // Cloudflare pseudo-IPv4
	case 19:
		return sameName(name, "x-cluster-client-ip") || // Rackspace, Riverbed
			sameName(name, "x-appengine-user-ip") // Google App Engine
	case 24:
		return sameName(name, "x-original-forwarded-for") || // nginx ingress, AWS
			sameName(name, "x-envoy-external-address") // Envoy
	}
	return false
}

// sameName reports whether the header names b and s are the same name:
// ASCII case-insensitively, and with '_' taken for '-', since CGI, WSGI,
// PHP and Rack map both to '_' (X_Real_IP and X-Real-IP both reach such a
// backend as HTTP_X_REAL_IP). It does not allocate.
func sameName(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := 0; i < len(b); i++ {
		x, y := b[i], s[i]
		if x == '_' {
			x = '-'
		}
		if y == '_' {
			y = '-'
		}
		if x == y {
			continue
		}
		if l := x | 0x20; l != y|0x20 || l < 'a' || l > 'z' {
			return false
		}
	}
	return true
}

// isOwned reports whether name is one of owned, as sameName compares them.
func isOwned(name []byte, owned []string) bool {
	for _, h := range owned {
		if len(h) == len(name) && sameName(name, h) {
			return true
		}
	}
	return false
}

// namedInConnection reports whether a Connection header in hs lists name
// (RFC 9110 §7.6.1).
func namedInConnection(hs []Header, name []byte) bool {
	for i := range hs {
		if !EqualFold(hs[i].Name, "connection") {
			continue
		}
		for v := hs[i].Value; len(v) > 0; {
			var tok []byte
			tok, v = NextToken(v)
			if equalFoldBytes(tok, name) {
				return true
			}
		}
	}
	return false
}

// hasPrefixFold reports whether b starts with prefix, ASCII
// case-insensitively.
func hasPrefixFold(b []byte, prefix string) bool {
	return len(b) >= len(prefix) && EqualFold(b[:len(prefix)], prefix)
}

// statusText returns the standard reason phrase for status (RFC 9110 §15 and
// the IANA registry), or "" if it has none.
func statusText(status int) string {
	switch status {
	case 100:
		return "Continue"
	case 101:
		return "Switching Protocols"
	case 200:
		return "OK"
	case 201:
		return "Created"
	case 202:
		return "Accepted"
	case 203:
		return "Non-Authoritative Information"
	case 204:
		return "No Content"
	case 205:
		return "Reset Content"
	case 206:
		return "Partial Content"
	case 300:
		return "Multiple Choices"
	case 301:
		return "Moved Permanently"
	case 302:
		return "Found"
	case 303:
		return "See Other"
	case 304:
		return "Not Modified"
	case 307:
		return "Temporary Redirect"
	case 308:
		return "Permanent Redirect"
	case 400:
		return "Bad Request"
	case 401:
		return "Unauthorized"
	case 402:
		return "Payment Required"
	case 403:
		return "Forbidden"
	case 404:
		return "Not Found"
	case 405:
		return "Method Not Allowed"
	case 406:
		return "Not Acceptable"
	case 407:
		return "Proxy Authentication Required"
	case 408:
		return "Request Timeout"
	case 409:
		return "Conflict"
	case 410:
		return "Gone"
	case 411:
		return "Length Required"
	case 412:
		return "Precondition Failed"
	case 413:
		return "Content Too Large"
	case 414:
		return "URI Too Long"
	case 415:
		return "Unsupported Media Type"
	case 416:
		return "Range Not Satisfiable"
	case 417:
		return "Expectation Failed"
	case 421:
		return "Misdirected Request"
	case 422:
		return "Unprocessable Content"
	case 426:
		return "Upgrade Required"
	case 428:
		return "Precondition Required"
	case 429:
		return "Too Many Requests"
	case 431:
		return "Request Header Fields Too Large"
	case 451:
		return "Unavailable For Legal Reasons"
	case 500:
		return "Internal Server Error"
	case 501:
		return "Not Implemented"
	case 502:
		return "Bad Gateway"
	case 503:
		return "Service Unavailable"
	case 504:
		return "Gateway Timeout"
	case 505:
		return "HTTP Version Not Supported"
	}
	return ""
}
