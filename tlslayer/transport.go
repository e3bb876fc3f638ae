package tlslayer

import (
	"bytes"
	"crypto/tls"
	"encoding/hex"
	"io"
	"net"
	"time"
)

// transport is the net.Conn crypto/tls runs its handshake over. Reads return
// the prefix first, then socket bytes, and never cross the end of the
// current TLS record: crypto/tls reads the 5-byte header, then the body, so
// its input buffer never takes a byte of the first record after the
// handshake, which stays in the socket for the event loop. Both directions
// are recorded, to find server_random and to check sequence numbers.
type transport struct {
	net.Conn
	prefix []byte
	hdr    [recordHeaderLen]byte
	hdrN   int // header bytes of the current record returned so far
	body   int // body bytes of the current record still to return
	rlog   []byte
	wlog   []byte
}

func (t *transport) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	want := t.body
	if t.hdrN < recordHeaderLen {
		want = recordHeaderLen - t.hdrN
	}
	p = p[:min(len(p), want)]
	var n int
	var err error
	if len(t.prefix) > 0 {
		n = copy(p, t.prefix)
		t.prefix = t.prefix[n:]
	} else {
		n, err = t.Conn.Read(p)
	}
	t.rlog = append(t.rlog, p[:n]...)
	if t.hdrN < recordHeaderLen {
		t.hdrN += copy(t.hdr[t.hdrN:], p[:n])
		if t.hdrN == recordHeaderLen {
			t.body = int(t.hdr[3])<<8 | int(t.hdr[4])
		}
	} else {
		t.body -= n
	}
	if t.hdrN == recordHeaderLen && t.body == 0 {
		t.hdrN = 0 // record complete; a header comes next
	}
	return n, err
}

func (t *transport) Write(p []byte) (int, error) {
	t.wlog = append(t.wlog, p...)
	return t.Conn.Write(p)
}

// Close does not close: crypto/tls calls it only to interrupt a handshake
// whose context ended, and the caller owns conn. A deadline in the past
// unblocks the pending read or write the same way.
func (t *transport) Close() error {
	return t.Conn.SetDeadline(time.Unix(1, 0))
}

// secret is one logged secret.
type secret struct {
	b [48]byte
	n uint8
}

func (s *secret) bytes() []byte { return s.b[:s.n] }

// keyLog is the per-handshake KeyLogWriter: it keeps the secrets crypto/tls
// logs in the NSS key log format, and passes every line on to the caller's
// own KeyLogWriter, if any. It also holds what a resumed TLS 1.2 session
// needs, for which crypto/tls logs nothing (see resume.go).
type keyLog struct {
	next         io.Writer
	clientRandom [32]byte
	master       secret // TLS 1.2 CLIENT_RANDOM
	clientHS     secret
	serverHS     secret
	clientApp    secret
	serverApp    secret

	base      *tls.Config       // server: the config the handshake ran with
	perClient *tls.Config       // server: the one GetConfigForClient returned
	session   *tls.SessionState // the session the caller's UnwrapSession or ClientSessionCache gave
}

func (k *keyLog) Write(line []byte) (int, error) {
	// crypto/tls writes one whole "LABEL <client_random> <secret>\n" per call.
	f := bytes.Fields(line)
	if len(f) == 3 && hex.DecodedLen(len(f[1])) == 32 && hex.DecodedLen(len(f[2])) <= 48 {
		var dst *secret
		switch string(f[0]) {
		case "CLIENT_RANDOM":
			dst = &k.master
		case "CLIENT_HANDSHAKE_TRAFFIC_SECRET":
			dst = &k.clientHS
		case "SERVER_HANDSHAKE_TRAFFIC_SECRET":
			dst = &k.serverHS
		case "CLIENT_TRAFFIC_SECRET_0":
			dst = &k.clientApp
		case "SERVER_TRAFFIC_SECRET_0":
			dst = &k.serverApp
		}
		if dst != nil {
			var cr [32]byte
			if _, err := hex.Decode(cr[:], f[1]); err == nil {
				if n, err := hex.Decode(dst.b[:], f[2]); err == nil {
					k.clientRandom = cr
					dst.n = uint8(n)
				}
			}
		}
	}
	if k.next != nil {
		return k.next.Write(line)
	}
	return len(line), nil
}
