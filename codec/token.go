package codec

// Byte classes as 128-bit masks over ASCII (bit c of lo for c < 64, bit c-64
// of hi otherwise): constants, so the package keeps no tables in variables.
// TestByteClasses checks them against their definitions.
const (
	// tchar (RFC 9110 §5.6.2): ALPHA DIGIT ! # $ % & ' * + - . ^ _ ` | ~
	tokenLo, tokenHi = 0x03ff6cfa00000000, 0x57ffffffc7fffffe
	// Host value characters (RFC 3986 §3.2.2, §3.2.3): unreserved,
	// sub-delims, ':' and the IP-literal brackets, '%' for pct-encoding.
	hostLo, hostHi = 0x2fff7ff200000000, 0x47fffffeaffffffe
	// base64 alphabet (RFC 4648 §4) without the padding '='.
	base64Lo, base64Hi = 0x03ff880000000000, 0x07fffffe07fffffe
)

// inClass reports whether c is in the class given by lo and hi.
func inClass(c byte, lo, hi uint64) bool {
	if c < 64 {
		return lo>>c&1 != 0
	}
	if c < 128 {
		return hi>>(c-64)&1 != 0
	}
	return false
}

// isToken reports whether b is a non-empty RFC 9110 §5.6.2 token.
func isToken[T ~string | ~[]byte](b T) bool {
	if len(b) == 0 {
		return false
	}
	for i := 0; i < len(b); i++ {
		if !inClass(b[i], tokenLo, tokenHi) {
			return false
		}
	}
	return true
}

// IsToken reports whether s is a non-empty RFC 9110 §5.6.2 token: letters,
// digits and !#$%&'*+-.^_`|~ (a header or cookie name, a method). It does
// not allocate.
func IsToken(s string) bool { return isToken(s) }

// TrimOWS removes optional whitespace (SP, HTAB) from both ends of b
// (RFC 9110 §5.6.3). It does not allocate; the result aliases b.
func TrimOWS(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}

// EqualFold reports whether b and s are equal under ASCII case folding. Bytes
// outside A–Z and a–z must match exactly. It does not allocate.
func EqualFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := 0; i < len(b); i++ {
		x, y := b[i], s[i]
		if x == y {
			continue
		}
		if x|0x20 != y|0x20 {
			return false
		}
		if l := x | 0x20; l < 'a' || l > 'z' {
			return false
		}
	}
	return true
}

// NextToken splits the comma-separated list v (RFC 9110 §5.6.1) into its
// first element, with OWS trimmed, and the rest after the comma. Commas inside
// a quoted-string do not split. An empty element (as in "a, ,b") comes back
// as an empty tok; callers skip it. Iterate with
//
//	for len(v) > 0 {
//		tok, v = codec.NextToken(v)
//		...
//	}
//
// tok and rest are slices of v. It does not allocate.
func NextToken(v []byte) (tok, rest []byte) {
	quoted := false
	for i := 0; i < len(v); i++ {
		switch c := v[i]; {
		case quoted && c == '\\':
			i++ // quoted-pair: skip the escaped byte
		case c == '"':
			quoted = !quoted
		case c == ',' && !quoted:
			return TrimOWS(v[:i]), v[i+1:]
		}
	}
	return TrimOWS(v), nil
}

// HasToken reports whether the comma-separated list v contains token, compared
// ASCII case-insensitively with OWS trimmed (e.g. HasToken("keep-alive,
// Upgrade", "upgrade") is true). It does not allocate.
func HasToken(v []byte, token string) bool {
	for len(v) > 0 {
		var tok []byte
		tok, v = NextToken(v)
		if EqualFold(tok, token) {
			return true
		}
	}
	return false
}
