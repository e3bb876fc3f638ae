package codec

import "encoding/hex"

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
	var b [1]byte
	if !hexInto(b[:], v[0:2]) {
		return tp, false
	}
	ver := b[0]
	if ver == 0xff || ver == 0 && len(v) != TraceParentLen || ver != 0 && len(v) > TraceParentLen && v[TraceParentLen] != '-' {
		return tp, false
	}
	if !hexInto(tp.TraceID[:], v[3:35]) || !hexInto(tp.SpanID[:], v[36:52]) {
		return tp, false
	}
	if !hexInto(b[:], v[53:55]) {
		return tp, false
	}
	tp.Flags = b[0]
	if tp.TraceID == [16]byte{} || tp.SpanID == [8]byte{} {
		return tp, false
	}
	return tp, true
}

// AppendTraceParent appends tp as a version-00 traceparent value.
func AppendTraceParent(dst []byte, tp TraceParent) []byte {
	dst = append(dst, "00-"...)
	dst = hex.AppendEncode(dst, tp.TraceID[:])
	dst = append(dst, '-')
	dst = hex.AppendEncode(dst, tp.SpanID[:])
	dst = append(dst, '-')
	flags := [1]byte{tp.Flags}
	return hex.AppendEncode(dst, flags[:])
}

// hexInto decodes src into dst (len(src) == 2*len(dst)). The
// specification allows lower-case hex only, which encoding/hex does not
// check.
func hexInto(dst, src []byte) bool {
	for _, c := range src {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	_, err := hex.Decode(dst, src)
	return err == nil
}
