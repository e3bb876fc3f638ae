package codec

// ChunkedDecoder states (RFC 9112 §7.1).
const (
	chunkSizeStart    uint8 = iota // before the first hex digit of a chunk size
	chunkSize                      // in the chunk size
	chunkExt                       // in chunk extensions, up to the line end
	chunkSizeLF                    // after CR at the end of the chunk-size line
	chunkData                      // in chunk data: size bytes remain
	chunkDataCR                    // after chunk data, before its CRLF
	chunkDataLF                    // after CR following chunk data
	chunkTrailerStart              // at the start of a trailer line (or the final empty line)
	chunkTrailer                   // in a trailer field line
	chunkTrailerEndLF              // after CR at the start of a trailer line
	chunkDone                      // the last chunk and trailer section are consumed
	chunkFailed                    // malformed input was seen
)

// ChunkedDecoder decodes a chunked body (RFC 9112 §7.1) incrementally, from
// input split anywhere. Chunk extensions are ignored; trailer fields are
// consumed and dropped. Lines may end in CRLF or a bare LF (RFC 9112 §2.2).
// The zero value is ready to use; Reset makes it ready for another body. It
// is not safe for concurrent use.
type ChunkedDecoder struct {
	size  int64 // chunk size being read, then data bytes left in the chunk
	state uint8
}

// Reset makes d ready to decode a new body.
func (d *ChunkedDecoder) Reset() { *d = ChunkedDecoder{} }

// Decode consumes p, appending the decoded body bytes to dst, and returns the
// extended slice as out. n is the number of bytes of p consumed. done reports
// that the last chunk and the trailer section have been consumed: p[n:] is
// what followed the body, and later calls return n == 0 and done. Malformed
// input gives ErrBadChunk, here and in every later call; out then holds the
// body bytes decoded before the error. It allocates only by growing dst and
// does not retain p.
func (d *ChunkedDecoder) Decode(dst, p []byte) (out []byte, n int, done bool, err error) {
	return d.decode(dst, p, true)
}

// Skip consumes p as Decode does, with the same n, done and err, but keeps
// none of the body: for relaying a chunked body as it was sent while
// checking it and finding its end. It does not allocate.
func (d *ChunkedDecoder) Skip(p []byte) (n int, done bool, err error) {
	_, n, done, err = d.decode(nil, p, false)
	return n, done, err
}

// decode is Decode, appending the body's bytes to dst only when keep is set.
func (d *ChunkedDecoder) decode(dst, p []byte, keep bool) (out []byte, n int, done bool, err error) {
	switch d.state {
	case chunkDone:
		return dst, 0, true, nil
	case chunkFailed:
		return dst, 0, false, ErrBadChunk
	}
	i := 0
	for i < len(p) {
		c := p[i]
		switch d.state {
		case chunkSizeStart, chunkSize:
			if v, ok := unhex(c); ok {
				if d.size>>59 != 0 {
					return d.fail(dst, i)
				}
				d.size = d.size<<4 | int64(v)
				d.state = chunkSize
				break
			}
			if d.state == chunkSizeStart {
				return d.fail(dst, i)
			}
			switch c {
			case ';', ' ', '\t':
				d.state = chunkExt
			case '\r':
				d.state = chunkSizeLF
			case '\n':
				d.endSizeLine()
			default:
				return d.fail(dst, i)
			}
		case chunkExt:
			switch {
			case c == '\r':
				d.state = chunkSizeLF
			case c == '\n':
				d.endSizeLine()
			case c < ' ' && c != '\t' || c == 0x7f:
				return d.fail(dst, i)
			}
		case chunkSizeLF:
			if c != '\n' {
				return d.fail(dst, i)
			}
			d.endSizeLine()
		case chunkData:
			k := len(p) - i
			if int64(k) > d.size {
				k = int(d.size)
			}
			if keep {
				dst = append(dst, p[i:i+k]...)
			}
			d.size -= int64(k)
			if d.size == 0 {
				d.state = chunkDataCR
			}
			i += k
			continue
		case chunkDataCR:
			switch c {
			case '\r':
				d.state = chunkDataLF
			case '\n':
				d.state = chunkSizeStart
			default:
				return d.fail(dst, i)
			}
		case chunkDataLF:
			if c != '\n' {
				return d.fail(dst, i)
			}
			d.state = chunkSizeStart
		case chunkTrailerStart:
			switch c {
			case '\r':
				d.state = chunkTrailerEndLF
			case '\n':
				d.state = chunkDone
				return dst, i + 1, true, nil
			default:
				d.state = chunkTrailer
			}
		case chunkTrailer:
			if c == '\n' {
				d.state = chunkTrailerStart
			}
		case chunkTrailerEndLF:
			if c != '\n' {
				return d.fail(dst, i)
			}
			d.state = chunkDone
			return dst, i + 1, true, nil
		}
		i++
	}
	return dst, len(p), false, nil
}

// endSizeLine moves on after a chunk-size line: to the data, or to the
// trailer section after the last chunk (size 0).
func (d *ChunkedDecoder) endSizeLine() {
	if d.size == 0 {
		d.state = chunkTrailerStart
	} else {
		d.state = chunkData
	}
}

// fail records malformed input at p[i].
func (d *ChunkedDecoder) fail(dst []byte, i int) ([]byte, int, bool, error) {
	d.state = chunkFailed
	return dst, i, false, ErrBadChunk
}

// unhex returns the value of the hex digit c.
func unhex(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}
