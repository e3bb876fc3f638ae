package tlslayer

import "encoding/binary"

// hsReader reassembles the post-handshake messages Open acts on when the peer
// splits one across records. Only the 4-byte header is kept: KeyUpdate's
// one-byte body is acted on as it arrives and NewSessionTicket bodies are
// skipped, so no message buffer is needed.
type hsReader struct {
	hdr  [4]byte
	hdrN uint8
	left uint32 // body bytes of the message in hdr still to come
}

func (h *hsReader) pending() bool { return h.hdrN != 0 }

// Open processes the complete records at the start of buf. It decrypts
// application data in place and moves each record's plaintext left, so that
// the plaintext of all of them is buf[:plain], in order. consumed counts the
// bytes of buf used, whole records only: an incomplete trailing record is
// left for the next call, after the caller appends more bytes to it. buf is
// overwritten up to consumed.
//
// reply: Open appends to reply the records this end must send in answer, and
// returns the grown slice as replyOut. Today that is the KeyUpdate answering
// a TLS 1.3 update_requested (RFC 8446 §4.6.3), sealed under the old write
// key; after it the write key is the new one. The caller sends reply's bytes,
// in order, after everything it sealed before this call and before anything
// it seals after it.
//
// Open handles the other record types itself: KeyUpdate (the read key
// changes from the next record on), NewSessionTicket in the client role
// (ignored: resumption from a Layer is not supported), warning alerts (TLS
// 1.2; skipped) and user_canceled (TLS 1.3; skipped).
//
// Errors are preallocated: ErrCloseNotify (plain and consumed are valid and
// include everything up to and including the alert), ErrRenegotiation, a
// [PeerAlertError] (the peer's fatal alert; send nothing), and the
// *[AlertError] values ErrBadRecordMAC, ErrRecordOverflow,
// ErrUnexpectedMessage, ErrDecodeError and ErrIllegalParameter (send its
// Alert as fatal, then close). With an error, plain and consumed cover the
// records before the failing one; the connection is over and l must not
// Open again.
//
// A peer gets nothing for free: more than maxUselessRecords records in a
// row without application data (KeyUpdates, tickets, warning alerts,
// empty records) are ErrUnexpectedMessage, as in crypto/tls, and of the
// update requests between two data records only the first is answered
// (RFC 8446 §4.6.3 allows one answer for several): a flood of KeyUpdates
// can neither keep the loop deriving keys nor fill the peer's queue with
// answers it does not read.
//
// Open does not allocate, except to grow reply and to derive new keys for a
// KeyUpdate.
func (l *Layer) Open(buf, reply []byte) (plain, consumed int, replyOut []byte, err error) {
	for {
		rest := buf[consumed:]
		if len(rest) < recordHeaderLen {
			return plain, consumed, reply, nil
		}
		n := int(binary.BigEndian.Uint16(rest[3:5]))
		if n > l.maxCiphertext() {
			// Refused on the header alone: no point waiting for 64 KiB.
			return plain, consumed, reply, ErrRecordOverflow
		}
		if len(rest) < recordHeaderLen+n {
			return plain, consumed, reply, nil
		}
		rec := rest[:recordHeaderLen+n]
		typ, data, err := l.openRecord(&l.in, rec, nil)
		if err != nil {
			return plain, consumed, reply, err
		}
		switch typ {
		case typeApplicationData:
			if l.hs.pending() {
				// RFC 8446 §5.1: handshake messages must not be
				// interleaved with other record types.
				return plain, consumed, reply, ErrUnexpectedMessage
			}
			if len(data) > 0 {
				l.useless, l.answered = 0, false
			} else if err := l.uselessRecord(); err != nil {
				return plain, consumed, reply, err
			}
			plain += copy(buf[plain:], data)
		case typeAlert:
			if l.hs.pending() {
				return plain, consumed, reply, ErrUnexpectedMessage
			}
			if len(data) != 2 {
				// One alert per record, never fragmented (RFC 8446 §5.1).
				return plain, consumed, reply, ErrDecodeError
			}
			if err := l.alert(data[0], Alert(data[1])); err != nil {
				if err == ErrCloseNotify {
					consumed += len(rec)
				}
				return plain, consumed, reply, err
			}
			if err := l.uselessRecord(); err != nil {
				return plain, consumed, reply, err
			}
		case typeHandshake:
			if len(data) == 0 {
				// Zero-length handshake fragments are forbidden
				// (RFC 8446 §5.1, RFC 5246 §6.2.1).
				return plain, consumed, reply, ErrUnexpectedMessage
			}
			if err := l.uselessRecord(); err != nil {
				return plain, consumed, reply, err
			}
			reply, err = l.handshakeData(data, reply)
			if err != nil {
				return plain, consumed, reply, err
			}
		default:
			return plain, consumed, reply, ErrUnexpectedMessage
		}
		consumed += len(rec)
	}
}

// maxUselessRecords is how many records in a row without application data
// a peer may send (crypto/tls's limit too).
const maxUselessRecords = 16

// uselessRecord counts a record without application data.
func (l *Layer) uselessRecord() error {
	if l.useless++; l.useless > maxUselessRecords {
		return ErrUnexpectedMessage
	}
	return nil
}

func (l *Layer) maxCiphertext() int {
	if l.p.kind == kind13 {
		return maxCiphertext13
	}
	return maxCiphertext12
}

// openRecord authenticates and decrypts the whole record rec with h. The
// plaintext goes to out[:0], or in place (where the ciphertext started) when
// out is nil, which leaves rec unusable. It returns the content type and the
// content, padding removed. It does not touch rec when out is not nil.
func (l *Layer) openRecord(h *halfConn, rec, out []byte) (typ uint8, data []byte, err error) {
	typ = rec[0]
	frag := rec[recordHeaderLen:]
	inPlace := out == nil
	if inPlace {
		out = frag
	}
	out = out[:0]
	switch l.p.kind {
	case kind13:
		if typ != typeApplicationData {
			// After the handshake every TLS 1.3 record is protected; a
			// change_cipher_spec is unexpected (RFC 8446 §5).
			return 0, nil, ErrUnexpectedMessage
		}
		if len(frag) < tagLen+1 {
			return 0, nil, ErrBadRecordMAC
		}
		h.nonceXOR(&l.nonce)
		pt, err := h.cipher(l.p).Open(out, l.nonce[:], frag, rec[:recordHeaderLen])
		if err != nil {
			return 0, nil, ErrBadRecordMAC
		}
		h.seq++
		// TLSInnerPlaintext: content || type || zeros (RFC 8446 §5.4).
		i := len(pt) - 1
		for i >= 0 && pt[i] == 0 {
			i--
		}
		if i < 0 {
			return 0, nil, ErrUnexpectedMessage
		}
		typ, data = pt[i], pt[:i]
	case kind12GCM, kind12ChaCha:
		if typ != typeApplicationData && typ != typeAlert && typ != typeHandshake {
			return 0, nil, ErrUnexpectedMessage
		}
		ct := frag
		if l.p.kind == kind12GCM {
			if len(frag) < explicitLen+tagLen {
				return 0, nil, ErrBadRecordMAC
			}
			copy(l.nonce[:4], h.iv[:4])
			copy(l.nonce[4:], frag[:explicitLen])
			ct = frag[explicitLen:]
			if inPlace {
				out = ct[:0] // AEAD in place needs exact overlap
			}
		} else {
			if len(frag) < tagLen {
				return 0, nil, ErrBadRecordMAC
			}
			h.nonceXOR(&l.nonce)
		}
		// The record's own version bytes are authenticated, so a forged
		// version fails here rather than needing its own check.
		l.aad12(h.seq, typ, rec[1], rec[2], len(ct)-tagLen)
		pt, err := h.cipher(l.p).Open(out, l.nonce[:], ct, l.aad[:])
		if err != nil {
			return 0, nil, ErrBadRecordMAC
		}
		h.seq++
		data = pt
	}
	if len(data) > MaxPlaintext {
		return 0, nil, ErrRecordOverflow
	}
	return typ, data, nil
}

// alert handles a received alert; nil means it is skipped.
func (l *Layer) alert(level uint8, desc Alert) error {
	if desc == AlertCloseNotify {
		return ErrCloseNotify
	}
	if l.p.kind == kind13 {
		// TLS 1.3 keeps no warning alerts but user_canceled, which
		// announces a close_notify (RFC 8446 §6.1).
		if desc == AlertUserCanceled {
			return nil
		}
		return PeerAlertError(desc)
	}
	switch level {
	case LevelWarning:
		return nil
	case LevelFatal:
		return PeerAlertError(desc)
	}
	return ErrDecodeError
}

// handshakeData handles the content of a handshake record after the
// handshake. The first update_requested since the last application data is
// answered, later ones are not (RFC 8446 §4.6.3 allows one answer for
// several); the state lives in the Layer, so Open's results do not depend
// on how the stream is cut into calls.
func (l *Layer) handshakeData(d, reply []byte) ([]byte, error) {
	h := &l.hs
	for len(d) > 0 {
		if h.hdrN < 4 {
			k := copy(h.hdr[h.hdrN:], d)
			h.hdrN += uint8(k)
			d = d[k:]
			if h.hdrN < 4 {
				return reply, nil // the header goes on in the next record
			}
			h.left = uint32(h.hdr[1])<<16 | uint32(h.hdr[2])<<8 | uint32(h.hdr[3])
			if err := l.checkMessage(h.hdr[0], h.left); err != nil {
				return reply, err
			}
			continue
		}
		switch h.hdr[0] {
		case msgKeyUpdate: // left == 1, checked
			v := d[0]
			d = d[1:]
			*h = hsReader{}
			if v > 1 {
				return reply, ErrIllegalParameter
			}
			if len(d) != 0 {
				// A key change must end its record (RFC 8446 §5.1).
				return reply, ErrUnexpectedMessage
			}
			l.in.update(l.p)
			if v == 1 && !l.answered {
				l.answered = true
				reply = l.KeyUpdate(reply, false)
			}
		case msgNewSessionTicket:
			k := min(uint32(len(d)), h.left)
			d = d[k:]
			h.left -= k
			if h.left == 0 {
				*h = hsReader{}
			}
		}
	}
	return reply, nil
}

// checkMessage decides on a post-handshake message from its header.
func (l *Layer) checkMessage(typ uint8, n uint32) error {
	if l.p.kind != kind13 {
		// TLS 1.2 has no post-handshake messages but renegotiation.
		if (l.role == Server && typ == msgClientHello) || (l.role == Client && typ == msgHelloRequest) {
			return ErrRenegotiation
		}
		return ErrUnexpectedMessage
	}
	switch typ {
	case msgKeyUpdate:
		if n != 1 {
			return ErrDecodeError
		}
		return nil
	case msgNewSessionTicket:
		// lifetime(4) age_add(4) nonce<0..255> ticket<1..2^16-1> extensions<0..2^16-1>
		if l.role != Client {
			return ErrUnexpectedMessage
		}
		if n < 4+4+1+2+1+2 {
			return ErrDecodeError
		}
		return nil
	}
	// ClientHello, CertificateRequest (post_handshake_auth is never
	// offered) and anything else.
	return ErrUnexpectedMessage
}
