package codec

import "bytes"

// Response is a parsed backend response head. All slices point into the head
// given to ParseResponse and live as long as it does. A Response is reused
// across ParseResponse calls: Headers keeps its capacity.
type Response struct {
	Proto   []byte // "HTTP/1.1" or "HTTP/1.0"
	Status  int    // 100–999
	Reason  []byte // reason phrase as sent, possibly empty
	Headers []Header
}

// ParseResponse parses the complete response head (as delimited by
// HeadScanner, including the final empty line and nothing after it) into r
// (RFC 9112 §4, §5). The status line is HTTP/1.x SP 3DIGIT [SP reason]; a
// missing SP before an empty reason is tolerated. Header lines follow the
// same rules as in ParseRequest, at most MaxHeaders of them; empty lines
// before the status line are ignored (RFC 9112 §2.2). Every failure is
// ErrBadResponse. It does not allocate once r.Headers has grown.
func ParseResponse(head []byte, r *Response) error {
	*r = Response{Headers: r.Headers[:0]}
	line, rest, ok := nextLine(skipEmptyLines(head))
	if !ok || len(line) < len("HTTP/1.1 101") || !isHTTP1(line[:8]) || line[8] != ' ' {
		return ErrBadResponse
	}
	status := 0
	for i, c := range line[9:12] {
		if c < '0' || c > '9' || i == 0 && c == '0' {
			return ErrBadResponse
		}
		status = status*10 + int(c-'0')
	}
	var reason []byte
	if len(line) > 12 {
		if line[12] != ' ' || !validValue(line[13:]) {
			return ErrBadResponse
		}
		reason = line[13:]
	}
	r.Proto, r.Status, r.Reason = line[:8], status, reason
	hs, lines, ok := parseFields(rest, r.Headers)
	r.Headers = hs
	if !ok || lines > MaxHeaders {
		return ErrBadResponse
	}
	return nil
}

// Negotiated is what a backend's 101 accepted, as checked by CheckUpgrade.
type Negotiated struct {
	Deflate bool // permessage-deflate (RFC 7692) was accepted
	Other   bool // some other extension was accepted
}

// CheckUpgrade validates the backend's answer resp to the forwarded request
// req as a WebSocket client would (RFC 6455 §4.1 client checks, §4.2.2): the
// status is 101, the version HTTP/1.1, and Upgrade has the token "websocket" and Connection the token
// "upgrade" (else ErrBadUpgradeResponse); there is exactly one
// Sec-WebSocket-Accept and it equals AppendAcceptKey(req.Key) (else
// ErrBadAccept); Sec-WebSocket-Protocol, if present, is a single line holding
// a single value that req offered (else ErrUnofferedProtocol); every
// extension named in Sec-WebSocket-Extensions was offered by req, by name
// (else ErrUnofferedExtension). It reports which extensions were accepted. It
// does not allocate.
func CheckUpgrade(resp *Response, req *Request) (Negotiated, error) {
	var (
		neg                Negotiated
		upgrade, conn      bool
		accepts, protocols int
		accept, protocol   []byte
		unoffered          bool
	)
	if resp.Status != 101 || string(resp.Proto) != "HTTP/1.1" {
		// An HTTP/1.0 server cannot switch protocols (RFC 9110 §7.8:
		// Upgrade is an HTTP/1.1 mechanism).
		return neg, ErrBadUpgradeResponse
	}
	for i := range resp.Headers {
		name, value := resp.Headers[i].Name, resp.Headers[i].Value
		switch len(name) {
		case 7:
			if !upgrade && EqualFold(name, "upgrade") {
				upgrade = HasToken(value, "websocket")
			}
		case 10:
			if !conn && EqualFold(name, "connection") {
				conn = HasToken(value, "upgrade")
			}
		case 20:
			if EqualFold(name, "sec-websocket-accept") {
				accepts++
				accept = value
			}
		case 22:
			if EqualFold(name, "sec-websocket-protocol") {
				protocols++
				protocol = value
			}
		case 24:
			if !EqualFold(name, "sec-websocket-extensions") {
				break
			}
			for v := value; len(v) > 0; {
				var ext []byte
				ext, v = NextToken(v)
				if len(ext) == 0 {
					continue
				}
				extName := extensionName(ext)
				switch {
				case !req.OffersExtension(extName):
					unoffered = true
				case EqualFold(extName, "permessage-deflate"):
					neg.Deflate = true
				default:
					neg.Other = true
				}
			}
		}
	}
	if !upgrade || !conn {
		return Negotiated{}, ErrBadUpgradeResponse
	}
	var buf [acceptKeyLen]byte
	if accepts != 1 || !bytes.Equal(accept, AppendAcceptKey(buf[:0], req.Key)) {
		return Negotiated{}, ErrBadAccept
	}
	if protocols > 1 || protocols == 1 && !req.OffersProtocol(protocol) {
		return Negotiated{}, ErrUnofferedProtocol
	}
	if unoffered {
		return Negotiated{}, ErrUnofferedExtension
	}
	return neg, nil
}

// BodyKind tells how a response body is delimited (RFC 9112 §6.3).
type BodyKind uint8

// Body kinds, as returned by Response.Body.
const (
	BodyNone    BodyKind = iota // no body
	BodyLength                  // Content-Length bytes
	BodyChunked                 // chunked transfer coding: use ChunkedDecoder
	BodyClose                   // everything until the backend closes
)

// String returns the kind's name, e.g. "chunked". It does not allocate.
func (k BodyKind) String() string {
	switch k {
	case BodyNone:
		return "none"
	case BodyLength:
		return "length"
	case BodyChunked:
		return "chunked"
	case BodyClose:
		return "close"
	}
	return "invalid"
}

// Body tells how the body of a non-101 response is delimited (RFC 9112 §6.3):
// BodyNone for 1xx, 204, 304 and Content-Length 0; BodyChunked when
// Transfer-Encoding is "chunked" (it overrides any Content-Length, §6.3 item
// 3); BodyLength with length for a Content-Length; BodyClose otherwise. A
// Content-Length that is not a decimal number or lists differing values, and a
// Transfer-Encoding other than the single coding "chunked" (throng decodes no
// other coding), give ErrBadResponse. It does not allocate.
func (r *Response) Body() (kind BodyKind, length int64, err error) {
	if r.Status < 200 || r.Status == 204 || r.Status == 304 {
		return BodyNone, 0, nil
	}
	var (
		codings, chunked int
		te, badLength    bool
	)
	length = -1
	for i := range r.Headers {
		name, value := r.Headers[i].Name, r.Headers[i].Value
		switch len(name) {
		case 14:
			if !EqualFold(name, "content-length") {
				break
			}
			values := 0
			for v := value; len(v) > 0; {
				var tok []byte
				tok, v = NextToken(v)
				if len(tok) == 0 {
					continue // empty list elements do not count (RFC 9110 §5.6.1.2)
				}
				n, ok := parseLength(tok)
				if !ok || length >= 0 && n != length {
					badLength = true
				}
				length = n
				values++
			}
			if values == 0 {
				badLength = true
			}
		case 17:
			if !EqualFold(name, "transfer-encoding") {
				break
			}
			te = true
			for v := value; len(v) > 0; {
				var tok []byte
				tok, v = NextToken(v)
				if len(tok) == 0 {
					continue
				}
				if EqualFold(tok, "chunked") {
					chunked++
				}
				codings++
			}
		}
	}
	switch {
	case te:
		if codings != 1 || chunked != 1 {
			return BodyNone, 0, ErrBadResponse
		}
		return BodyChunked, 0, nil
	case badLength:
		return BodyNone, 0, ErrBadResponse
	case length < 0:
		return BodyClose, 0, nil
	case length == 0:
		return BodyNone, 0, nil
	}
	return BodyLength, length, nil
}

// parseLength parses a Content-Length value: one or more decimal digits
// (RFC 9110 §8.6) no larger than 1<<62.
func parseLength(b []byte) (int64, bool) {
	if len(b) == 0 {
		return 0, false
	}
	var n int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
		if n > 1<<62 {
			return 0, false
		}
	}
	return n, true
}

// Get returns the value of the first header in hs named name, compared ASCII
// case-insensitively, or nil. It does not allocate.
func Get(hs []Header, name string) []byte {
	for i := range hs {
		if EqualFold(hs[i].Name, name) {
			return hs[i].Value
		}
	}
	return nil
}
