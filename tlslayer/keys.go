package tlslayer

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/tls"
	"fmt"
	"hash"

	"golang.org/x/crypto/chacha20poly1305"
)

// CipherSuites12 are the TLS 1.2 suites a Layer can carry: ECDHE key exchange
// with an AEAD. Set tls.Config.CipherSuites to it so that CBC suites are never
// negotiated; a handshake ending with another suite fails. TLS 1.3 suites are
// not configurable in crypto/tls, and all three are supported.
//
// It is read-only: copy it (slices.Clone) before changing it.
var CipherSuites12 = []uint16{
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
	tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
}

// kind is the record construction a Layer uses.
type kind uint8

const (
	kind12GCM    kind = iota + 1 // RFC 5288: 4-byte implicit IV, 8-byte explicit nonce
	kind12ChaCha                 // RFC 7905: 12-byte IV XOR seq, no explicit nonce
	kind13                       // RFC 8446 §5.2-5.3
)

// params is what a cipher suite means for the record layer.
type params struct {
	kind   kind
	chacha bool
	keyLen int
	sha384 bool // the suite's hash (PRF or HKDF) is SHA-384, else SHA-256
}

// suiteParams returns the record parameters of suite under version, and false
// when a Layer cannot carry it.
func suiteParams(version, suite uint16) (params, bool) {
	switch version {
	case tls.VersionTLS13:
		switch suite {
		case tls.TLS_AES_128_GCM_SHA256:
			return params{kind: kind13, keyLen: 16}, true
		case tls.TLS_AES_256_GCM_SHA384:
			return params{kind: kind13, keyLen: 32, sha384: true}, true
		case tls.TLS_CHACHA20_POLY1305_SHA256:
			return params{kind: kind13, keyLen: 32, chacha: true}, true
		}
	case tls.VersionTLS12:
		switch suite {
		case tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256:
			return params{kind: kind12GCM, keyLen: 16}, true
		case tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384:
			return params{kind: kind12GCM, keyLen: 32, sha384: true}, true
		case tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256, tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256:
			return params{kind: kind12ChaCha, keyLen: 32, chacha: true}, true
		}
	}
	return params{}, false
}

func (p params) hash() func() hash.Hash {
	if p.sha384 {
		return sha512.New384
	}
	return sha256.New
}

func (p params) hashLen() int {
	if p.sha384 {
		return sha512.Size384
	}
	return sha256.Size
}

func newAEAD(p params, key []byte) (cipher.AEAD, error) {
	if p.chacha {
		a, err := chacha20poly1305.New(key)
		if err != nil {
			return nil, fmt.Errorf("tlslayer: chacha20poly1305: %w", err)
		}
		return a, nil
	}
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("tlslayer: aes: %w", err)
	}
	a, err := cipher.NewGCM(b)
	if err != nil {
		return nil, fmt.Errorf("tlslayer: gcm: %w", err)
	}
	return a, nil
}

// expandLabel is HKDF-Expand-Label (RFC 8446 §7.1) with an empty context.
func expandLabel(h func() hash.Hash, secret []byte, label string, length int) ([]byte, error) {
	var info [2 + 1 + 6 + 16 + 1]byte // longest label here is "traffic upd"
	b := append(info[:0], byte(length>>8), byte(length), byte(6+len(label)))
	b = append(b, "tls13 "...)
	b = append(b, label...)
	b = append(b, 0)
	return hkdf.Expand(h, secret, string(b), length)
}

// setSecret13 installs a TLS 1.3 traffic secret in h: the secret itself (for
// KeyUpdate), its write key and IV (RFC 8446 §7.3), and sequence number 0.
func (h *halfConn) setSecret13(p params, secret []byte) error {
	if len(secret) != p.hashLen() {
		return fmt.Errorf("%w: traffic secret of %d bytes", ErrMissingSecrets, len(secret))
	}
	key, err := expandLabel(p.hash(), secret, "key", p.keyLen)
	if err != nil {
		return fmt.Errorf("tlslayer: derive key: %w", err)
	}
	iv, err := expandLabel(p.hash(), secret, "iv", 12)
	if err != nil {
		return fmt.Errorf("tlslayer: derive iv: %w", err)
	}
	a, err := newAEAD(p, key)
	if err != nil {
		return err
	}
	h.aead = a
	copy(h.iv[:], iv)
	copy(h.secret[:], secret)
	h.seq = 0
	return nil
}

// update moves h to the next TLS 1.3 generation of its traffic secret
// (RFC 8446 §7.2). It cannot fail for a halfConn that setSecret13 filled.
func (h *halfConn) update(p params) {
	n := p.hashLen()
	next, err := expandLabel(p.hash(), h.secret[:n], "traffic upd", n)
	if err == nil {
		err = h.setSecret13(p, next)
	}
	if err != nil {
		// Only reachable if the AEAD or HKDF refused parameters they
		// accepted for the first generation.
		panic("tlslayer: key update: " + err.Error())
	}
}

// rebuild makes h's AEAD again after Layer.Park, from the kept key (TLS
// 1.2) or traffic secret (TLS 1.3). It cannot fail for a halfConn that was
// built once already.
func (h *halfConn) rebuild(p params) {
	key := h.secret[:p.keyLen]
	if p.kind == kind13 {
		k, err := expandLabel(p.hash(), h.secret[:p.hashLen()], "key", p.keyLen)
		if err != nil {
			panic("tlslayer: rebuild key: " + err.Error())
		}
		key = k
	}
	a, err := newAEAD(p, key)
	if err != nil {
		panic("tlslayer: rebuild key: " + err.Error())
	}
	h.aead = a
}

// prf12 is the TLS 1.2 PRF (RFC 5246 §5): P_hash(secret, label || seed).
func prf12(h func() hash.Hash, secret []byte, label string, seed []byte, out []byte) {
	labelSeed := make([]byte, 0, len(label)+len(seed))
	labelSeed = append(labelSeed, label...)
	labelSeed = append(labelSeed, seed...)
	mac := hmac.New(h, secret)
	mac.Write(labelSeed)
	a := mac.Sum(nil) // A(1)
	for off := 0; off < len(out); {
		mac.Reset()
		mac.Write(a)
		mac.Write(labelSeed)
		off += copy(out[off:], mac.Sum(nil))
		mac.Reset()
		mac.Write(a)
		a = mac.Sum(a[:0])
	}
}

// newLayer13 builds a TLS 1.3 Layer from the two application traffic secrets,
// both sequence numbers 0.
func newLayer13(suite uint16, role Role, readSecret, writeSecret []byte) (*Layer, error) {
	p, ok := suiteParams(tls.VersionTLS13, suite)
	if !ok {
		return nil, fmt.Errorf("%w: %s", ErrUnsupportedSuite, tls.CipherSuiteName(suite))
	}
	l := &Layer{version: tls.VersionTLS13, suite: suite, role: role, p: p}
	if err := l.in.setSecret13(p, readSecret); err != nil {
		return nil, err
	}
	if err := l.out.setSecret13(p, writeSecret); err != nil {
		return nil, err
	}
	return l, nil
}

// newLayer12 builds a TLS 1.2 Layer from the master secret and both hello
// randoms (RFC 5246 §6.3 key expansion), both sequence numbers 0.
func newLayer12(suite uint16, role Role, master, clientRandom, serverRandom []byte) (*Layer, error) {
	p, ok := suiteParams(tls.VersionTLS12, suite)
	if !ok {
		return nil, fmt.Errorf("%w: %s", ErrUnsupportedSuite, tls.CipherSuiteName(suite))
	}
	if len(master) != 48 || len(clientRandom) != 32 || len(serverRandom) != 32 {
		return nil, ErrMissingSecrets
	}
	ivLen := 4
	if p.kind == kind12ChaCha {
		ivLen = 12
	}
	// AEAD suites have no MAC keys: client key, server key, client IV, server IV.
	var block [2*32 + 2*12]byte
	kb := block[:2*p.keyLen+2*ivLen]
	var seed [64]byte
	copy(seed[:32], serverRandom)
	copy(seed[32:], clientRandom)
	prf12(p.hash(), master, "key expansion", seed[:], kb)
	clientKey, serverKey := kb[:p.keyLen], kb[p.keyLen:2*p.keyLen]
	clientIV, serverIV := kb[2*p.keyLen:2*p.keyLen+ivLen], kb[2*p.keyLen+ivLen:]

	l := &Layer{version: tls.VersionTLS12, suite: suite, role: role, p: p}
	readKey, readIV, writeKey, writeIV := clientKey, clientIV, serverKey, serverIV
	if role == Client {
		readKey, readIV, writeKey, writeIV = serverKey, serverIV, clientKey, clientIV
	}
	var err error
	if l.in.aead, err = newAEAD(p, readKey); err != nil {
		return nil, err
	}
	if l.out.aead, err = newAEAD(p, writeKey); err != nil {
		return nil, err
	}
	copy(l.in.iv[:], readIV)
	copy(l.out.iv[:], writeIV)
	copy(l.in.secret[:], readKey) // for rebuilding after Park
	copy(l.out.secret[:], writeKey)
	return l, nil
}
