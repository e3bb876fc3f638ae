package codec

import (
	"bytes"
	"encoding/binary"
)

// HeadScanner states: where the scanner stands relative to a line end.
const (
	scanStart       uint8 = iota // before the first line: empty lines are skipped
	scanStartCR                  // a CR before the first line
	scanLine                     // inside a line
	scanLineStart                // just after LF: an empty line would end the head
	scanLineStartCR              // after LF then CR: LF now ends the head
	scanDone                     // the empty line has been consumed
)

// HeadScanner finds the end of an HTTP/1.1 head (RFC 9112 §2.1: the empty line
// after the header section) incrementally, in whatever pieces the bytes
// arrive. The zero value is ready to use; its state is one byte. It is not
// safe for concurrent use; keep one per connection being read.
type HeadScanner struct {
	state uint8
}

// Scan consumes the bytes of p that belong to the head. It returns n, the
// number of bytes of p that are part of the head (n <= len(p)), and
// done == true once the empty line ending the head has been consumed, so
// p[n:] is the first byte after the head. While done is false, n == len(p).
// Lines may end in CRLF or a bare LF (RFC 9112 §2.2), so "\r\n\r\n", "\n\n",
// "\r\n\n" and "\n\r\n" all end a head. Empty lines before the first line
// (CRLF or LF) are part of the head but do not end it: RFC 9112 §2.2 says a
// server SHOULD ignore at least one, and ParseRequest and ParseResponse
// skip them. Once done, Scan returns 0, true until Reset.
// It does not allocate and does not retain p.
func (s *HeadScanner) Scan(p []byte) (n int, done bool) {
	i := 0
	for i < len(p) {
		switch s.state {
		case scanStart:
			switch p[i] {
			case '\n':
			case '\r':
				s.state = scanStartCR
			default:
				s.state = scanLine
				continue
			}
			i++
		case scanStartCR:
			if p[i] != '\n' {
				// A bare CR: the line it starts is malformed, which
				// the parser reports.
				s.state = scanLine
				continue
			}
			s.state = scanStart
			i++
		case scanLine:
			j := bytes.IndexByte(p[i:], '\n')
			if j < 0 {
				return len(p), false
			}
			i += j + 1
			s.state = scanLineStart
		case scanLineStart:
			c := p[i]
			i++
			switch c {
			case '\n':
				s.state = scanDone
				return i, true
			case '\r':
				s.state = scanLineStartCR
			default:
				s.state = scanLine
			}
		case scanLineStartCR:
			c := p[i]
			i++
			if c == '\n' {
				s.state = scanDone
				return i, true
			}
			s.state = scanLine
		default: // scanDone
			return 0, true
		}
	}
	return len(p), s.state == scanDone
}

// Reset makes s ready to scan a new head.
func (s *HeadScanner) Reset() { s.state = scanStart }

// skipEmptyLines returns p without the empty lines (CRLF or LF) it starts
// with (RFC 9112 §2.2).
func skipEmptyLines(p []byte) []byte {
	for {
		switch {
		case len(p) > 0 && p[0] == '\n':
			p = p[1:]
		case len(p) > 1 && p[0] == '\r' && p[1] == '\n':
			p = p[2:]
		default:
			return p
		}
	}
}

// nextLine splits p at its first LF: line is what comes before it, without a
// CR just before the LF, and rest what follows. ok is false when p holds no
// LF.
func nextLine(p []byte) (line, rest []byte, ok bool) {
	i := bytes.IndexByte(p, '\n')
	if i < 0 {
		return nil, nil, false
	}
	line = p[:i]
	if i > 0 && line[i-1] == '\r' {
		line = line[:i-1]
	}
	return line, p[i+1:], true
}

// ValidFieldValue reports whether v may be sent as an HTTP field value:
// validValue's rule, for values the proxy takes from elsewhere (verified
// claims, an auth service's headers) and puts in a request or answer.
func ValidFieldValue(v string) bool { return validValue([]byte(v)) }

// validValue reports whether v may be a field value (RFC 9110 §5.5): VCHAR,
// obs-text, SP and HTAB; no other control characters, so no NUL, CR or LF.
func validValue(v []byte) bool {
	// Eight bytes at a time while none is below 0x20 or equal to 0x7f
	// ("hasless" and "haszero", Bit Twiddling Hacks); the byte loop below
	// decides the rest, and a word holding HTAB.
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	for len(v) >= 8 {
		x := binary.LittleEndian.Uint64(v)
		y := x ^ 0x7f*ones
		if (x-0x20*ones)&^x&highs|(y-ones)&^y&highs != 0 {
			break
		}
		v = v[8:]
	}
	for _, c := range v {
		if c < ' ' && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}

// parseFields parses the header section p (RFC 9112 §5): "name: value" lines
// up to and including the empty line that ends the head, which must be the
// last bytes of p. It appends up to MaxHeaders headers to hs and returns
// them with the number of header lines seen, which may be larger. ok is
// false on malformed syntax: a name that is not a token (this covers
// whitespace before the colon and obs-fold lines, which start with
// whitespace), a value with control characters, a missing empty line, or
// bytes after it.
func parseFields(p []byte, hs []Header) (_ []Header, lines int, ok bool) {
	for {
		line, rest, ok := nextLine(p)
		if !ok {
			return hs, lines, false
		}
		p = rest
		if len(line) == 0 {
			return hs, lines, len(p) == 0
		}
		colon := bytes.IndexByte(line, ':')
		if colon < 0 {
			return hs, lines, false
		}
		name := line[:colon:colon]
		if !isToken(name) {
			return hs, lines, false
		}
		value := TrimOWS(line[colon+1:])
		if !validValue(value) {
			return hs, lines, false
		}
		lines++
		if lines <= MaxHeaders {
			hs = append(hs, Header{Name: name, Value: value[:len(value):len(value)]})
		}
	}
}
