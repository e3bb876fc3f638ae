package tlslayer

import (
	"crypto/cipher"
	"encoding/binary"
	"slices"
)

// Role says which end of the connection the Layer is.
type Role uint8

// The two ends of a TLS connection.
const (
	Server Role = iota
	Client
)

// String returns "server" or "client".
func (r Role) String() string {
	if r == Client {
		return "client"
	}
	return "server"
}

// MaxPlaintext is the most plaintext one TLS record carries (RFC 8446 §5.1).
const MaxPlaintext = 16384

// Record layer constants (RFC 8446 §5, RFC 5246 §6.2).
const (
	recordHeaderLen = 5
	tagLen          = 16 // all supported AEADs
	explicitLen     = 8  // TLS 1.2 AES-GCM explicit nonce (RFC 5288 §3)

	maxCiphertext13 = MaxPlaintext + 256  // RFC 8446 §5.2
	maxCiphertext12 = MaxPlaintext + 2048 // RFC 5246 §6.2.3

	typeChangeCipherSpec = 20
	typeAlert            = 21
	typeHandshake        = 22
	typeApplicationData  = 23

	msgHelloRequest     = 0
	msgClientHello      = 1
	msgServerHello      = 2
	msgNewSessionTicket = 4
	msgFinished         = 20
	msgKeyUpdate        = 24
)

// Layer is the record protection of one TLS connection after its handshake:
// the AEAD, IV and sequence number of each direction and, for TLS 1.3, the
// traffic secrets KeyUpdate derives from. It keeps no certificates, no
// tls.Conn and no buffers: the caller owns every byte slice.
//
// A Layer is not safe for concurrent use; it belongs to the event loop of its
// connection. Seal and Open may be used by the same goroutine in any order.
type Layer struct {
	in, out halfConn
	hs      hsReader // a post-handshake message split across records
	version uint16
	suite   uint16
	role    Role
	// useless counts the records in a row that carried no application
	// data (post-handshake messages, warning alerts, empty records);
	// answered says a KeyUpdate was answered since the last data. Both
	// bound what a peer gets out of the loop for free (Open).
	useless  uint8
	answered bool
	p        params
	// nonce and aad live here, not on the stack, because slices handed to
	// cipher.AEAD methods escape: on the stack they would cost an allocation
	// per record.
	nonce [12]byte
	aad   [13]byte
}

// halfConn is the protection of one direction.
type halfConn struct {
	aead   cipher.AEAD // nil while parked
	seq    uint64
	iv     [12]byte
	secret [48]byte // TLS 1.3: traffic secret (hashLen bytes); TLS 1.2: the write key (keyLen bytes)
}

// Park releases the AEAD key schedules of a Layer expected to stay idle:
// about 1.5 KB for AES-GCM (their expanded keys and GHASH tables), 64 bytes
// for ChaCha20-Poly1305; what is left is the Layer itself, 256 bytes. The
// next Seal, Open, AppendAlert or KeyUpdate rebuilds the AEAD it needs:
// 1-2.5 µs and 2 allocations (TLS 1.2) or about 12 (TLS 1.3, which derives
// the key again from the traffic secret). Call it from an idle timer, not
// per record.
func (l *Layer) Park() {
	l.in.aead = nil
	l.out.aead = nil
}

// Parked reports whether both directions are parked: Park ran and no
// record was sealed or opened since.
func (l *Layer) Parked() bool { return l.in.aead == nil && l.out.aead == nil }

// cipher returns h's AEAD, rebuilding it after Park.
func (h *halfConn) cipher(p params) cipher.AEAD {
	if h.aead == nil {
		h.rebuild(p)
	}
	return h.aead
}

// Version returns the negotiated protocol version (tls.VersionTLS12 or 13).
func (l *Layer) Version() uint16 { return l.version }

// CipherSuite returns the negotiated cipher suite.
func (l *Layer) CipherSuite() uint16 { return l.suite }

// Role returns which end of the connection l is.
func (l *Layer) Role() Role { return l.role }

// overhead is what one record adds to its plaintext.
func (l *Layer) overhead() int {
	switch l.p.kind {
	case kind12GCM:
		return recordHeaderLen + explicitLen + tagLen
	case kind12ChaCha:
		return recordHeaderLen + tagLen
	}
	return recordHeaderLen + 1 + tagLen // inner content type
}

// SealedLen returns how many bytes Seal appends for n bytes of plaintext:
// one record per MaxPlaintext bytes, and one (empty) record for n == 0.
func (l *Layer) SealedLen(n int) int {
	records := (n + MaxPlaintext - 1) / MaxPlaintext
	if records == 0 {
		records = 1
	}
	return n + records*l.overhead()
}

// Seal appends to dst TLS application_data records carrying p, split at
// MaxPlaintext, and returns the extended slice. An empty p gives one empty
// record, which receivers skip (RFC 8446 §5.1). p must not overlap the spare
// capacity of dst.
//
// Seal does not allocate when cap(dst)-len(dst) >= l.SealedLen(len(p));
// otherwise it grows dst once.
func (l *Layer) Seal(dst, p []byte) []byte {
	dst = slices.Grow(dst, l.SealedLen(len(p)))
	for {
		n := min(len(p), MaxPlaintext)
		dst = l.sealRecord(dst, typeApplicationData, p[:n])
		p = p[n:]
		if len(p) == 0 {
			return dst
		}
	}
}

// AppendAlert appends an encrypted alert record (RFC 8446 §6, RFC 5246 §7.2)
// and returns the extended slice. A close_notify is
// AppendAlert(dst, LevelWarning, uint8(AlertCloseNotify)). The record takes
// at most 24+2 bytes.
func (l *Layer) AppendAlert(dst []byte, level, desc uint8) []byte {
	msg := [2]byte{level, desc}
	return l.sealRecord(dst, typeAlert, msg[:])
}

// KeyUpdate appends a TLS 1.3 KeyUpdate message (RFC 8446 §4.6.3), sealed
// under the current write key, then switches to the next write key: every
// record sealed afterwards uses it. With requestPeer, the peer is asked to
// update its own key too (update_requested). On TLS 1.2 it appends nothing.
// It allocates (new key schedule); it is not for the per-record path.
func (l *Layer) KeyUpdate(dst []byte, requestPeer bool) []byte {
	if l.p.kind != kind13 {
		return dst
	}
	msg := [5]byte{msgKeyUpdate, 0, 0, 1, 0}
	if requestPeer {
		msg[4] = 1
	}
	dst = l.sealRecord(dst, typeHandshake, msg[:])
	l.out.update(l.p)
	return dst
}

// sealRecord appends one record of type typ carrying p (len(p) <= MaxPlaintext).
func (l *Layer) sealRecord(dst []byte, typ uint8, p []byte) []byte {
	h := &l.out
	// With room for the whole record, the in-place Seal below never
	// reallocates. This is a no-op when the caller (or Seal) made room.
	dst = slices.Grow(dst, len(p)+l.overhead())
	start := len(dst)
	switch l.p.kind {
	case kind13:
		n := len(p) + 1 + tagLen
		dst = append(dst, typeApplicationData, 3, 3, byte(n>>8), byte(n))
		dst = append(dst, p...)
		dst = append(dst, typ)
		h.nonceXOR(&l.nonce)
		body := dst[start+recordHeaderLen:]
		// Sealed in place: the inner plaintext (content || type) is already
		// where its ciphertext goes. The header is the additional data.
		h.cipher(l.p).Seal(body[:0], l.nonce[:], body, dst[start:start+recordHeaderLen])
		dst = dst[:start+recordHeaderLen+n]
	case kind12GCM:
		n := explicitLen + len(p) + tagLen
		dst = append(dst, typ, 3, 3, byte(n>>8), byte(n))
		dst = binary.BigEndian.AppendUint64(dst, h.seq)
		copy(l.nonce[:4], h.iv[:4])
		binary.BigEndian.PutUint64(l.nonce[4:], h.seq)
		l.aad12(h.seq, typ, 3, 3, len(p))
		dst = h.cipher(l.p).Seal(dst, l.nonce[:], p, l.aad[:])
	case kind12ChaCha:
		n := len(p) + tagLen
		dst = append(dst, typ, 3, 3, byte(n>>8), byte(n))
		h.nonceXOR(&l.nonce)
		l.aad12(h.seq, typ, 3, 3, len(p))
		dst = h.cipher(l.p).Seal(dst, l.nonce[:], p, l.aad[:])
	}
	h.seq++
	return dst
}

// nonceXOR writes the per-record nonce: IV XOR the big-endian sequence
// number, right-aligned (RFC 8446 §5.3, RFC 7905 §2).
func (h *halfConn) nonceXOR(nonce *[12]byte) {
	*nonce = h.iv
	s := h.seq
	for i := 11; i >= 4; i-- {
		nonce[i] ^= byte(s)
		s >>= 8
	}
}

// aad12 writes the TLS 1.2 additional data: seq_num || type || version ||
// length of the plaintext (RFC 5246 §6.2.3.3).
func (l *Layer) aad12(seq uint64, typ, vmaj, vmin uint8, n int) {
	binary.BigEndian.PutUint64(l.aad[:8], seq)
	l.aad[8] = typ
	l.aad[9] = vmaj
	l.aad[10] = vmin
	l.aad[11] = byte(n >> 8)
	l.aad[12] = byte(n)
}
