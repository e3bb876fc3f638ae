package codec

// W3C Trace Context (https://www.w3.org/TR/trace-context/): the proxy keeps
// a client's trace, or starts one, and forwards it with a span id of its
// own hop.

// TraceParentLen is the length of a version-00 traceparent value:
// "00-" + 32 hex trace id + "-" + 16 hex parent id + "-" + 2 hex flags.
const TraceParentLen = 55

// TraceParent is a parsed traceparent header.
type TraceParent struct {
	TraceID [16]byte
	SpanID  [8]byte
	Flags   byte
}

// ParseTraceParent parses a traceparent header value. It accepts version 00
// exactly (55 bytes), and a later version's first 55 bytes when they are
// followed by '-' or nothing, as the specification asks of a parser that
// knows only 00; it rejects version ff, upper-case hex, and the all-zero
// trace and parent ids. It does not allocate.
func ParseTraceParent(v []byte) (TraceParent, bool) {
	var tp TraceParent
	if len(v) < TraceParentLen || v[2] != '-' || v[35] != '-' || v[52] != '-' {
		return tp, false
	}
	ver, ok := hexByte(v[0], v[1])
	if !ok || ver == 0xff || ver == 0 && len(v) != TraceParentLen || ver != 0 && len(v) > TraceParentLen && v[TraceParentLen] != '-' {
		return tp, false
	}
	if !hexInto(tp.TraceID[:], v[3:35]) || !hexInto(tp.SpanID[:], v[36:52]) {
		return tp, false
	}
	if tp.Flags, ok = hexByte(v[53], v[54]); !ok {
		return tp, false
	}
	if tp.TraceID == [16]byte{} || tp.SpanID == [8]byte{} {
		return tp, false
	}
	return tp, true
}

// AppendTraceParent appends tp as a version-00 traceparent value.
func AppendTraceParent(dst []byte, tp TraceParent) []byte {
	dst = append(dst, "00-"...)
	dst = appendHex(dst, tp.TraceID[:])
	dst = append(dst, '-')
	dst = appendHex(dst, tp.SpanID[:])
	dst = append(dst, '-')
	return appendHex(dst, []byte{tp.Flags})
}

const lowerHex = "0123456789abcdef"

func appendHex(dst, b []byte) []byte {
	for _, c := range b {
		dst = append(dst, lowerHex[c>>4], lowerHex[c&0x0f])
	}
	return dst
}

// hexInto decodes lower-case hex src into dst (len(src) == 2*len(dst)).
func hexInto(dst, src []byte) bool {
	for i := range dst {
		b, ok := hexByte(src[2*i], src[2*i+1])
		if !ok {
			return false
		}
		dst[i] = b
	}
	return true
}

func hexByte(hi, lo byte) (byte, bool) {
	h, ok1 := hexNibble(hi)
	l, ok2 := hexNibble(lo)
	return h<<4 | l, ok1 && ok2
}

func hexNibble(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	}
	return 0, false
}
