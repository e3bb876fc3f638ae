package bench

import (
	"crypto/tls"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
)

// What a wss:// run's reports say about its TLS handshakes: the key
// exchanges the client offered (TLSOptions.Curves), whether it resumed
// sessions (TLSOptions.Resume), and how many handshakes completed, resumed
// and negotiated each key exchange (TLSReport).

// ErrBadCurves is returned for a curve list that is not a comma list of
// the names ParseCurves takes.
var ErrBadCurves = errors.New("bench: curves must be a comma list of x25519, p256, p384, x25519mlkem768")

// curveNames are the names ParseCurves takes, and reports give, for the
// key exchanges a client may offer; reports name others by tls.CurveID's
// String.
const (
	curveX25519         = "x25519"
	curveP256           = "p256"
	curveP384           = "p384"
	curveX25519MLKEM768 = "x25519mlkem768"
)

// ParseCurves parses a comma list of key exchanges (-curves): x25519,
// p256, p384, x25519mlkem768, in any case, each at most once. "" is nil:
// Go's default list. crypto/tls ignores the order (it picks from the
// offered ones by its own preference), so the result keeps the input's
// only for the reports.
func ParseCurves(s string) ([]tls.CurveID, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	var out []tls.CurveID
	for name := range strings.SplitSeq(s, ",") {
		var id tls.CurveID
		switch strings.ToLower(strings.TrimSpace(name)) {
		case curveX25519:
			id = tls.X25519
		case curveP256:
			id = tls.CurveP256
		case curveP384:
			id = tls.CurveP384
		case curveX25519MLKEM768:
			id = tls.X25519MLKEM768
		default:
			return nil, fmt.Errorf("%w: %q is not one", ErrBadCurves, strings.TrimSpace(name))
		}
		if slices.Contains(out, id) {
			return nil, fmt.Errorf("%w: %s given twice", ErrBadCurves, CurveName(id))
		}
		out = append(out, id)
	}
	return out, nil
}

// CurveName returns the report name of key exchange id: ParseCurves'
// names, "p521", "none" for 0 (a TLS 1.2 resumption: no key exchange),
// else tls.CurveID's String.
func CurveName(id tls.CurveID) string {
	switch id {
	case 0:
		return "none"
	case tls.X25519:
		return curveX25519
	case tls.CurveP256:
		return curveP256
	case tls.CurveP384:
		return curveP384
	case tls.CurveP521:
		return "p521"
	case tls.X25519MLKEM768:
		return curveX25519MLKEM768
	default:
		return id.String()
	}
}

// CurvesString formats curves for reports and flag defaults: their names
// joined by commas; "default" for none (Go's default list).
func CurvesString(curves []string) string {
	if len(curves) == 0 {
		return "default"
	}
	return strings.Join(curves, ",")
}

// tlsKeyExchanges are the key exchanges tlsCounts counts one by one: the
// ones Go offers, and 0 (a TLS 1.2 resumption). Any other counts in the
// last slot of tlsCounts.kx. Read-only.
var tlsKeyExchanges = [...]tls.CurveID{
	0, tls.X25519, tls.CurveP256, tls.CurveP384, tls.CurveP521,
	tls.X25519MLKEM768, tls.SecP256r1MLKEM768, tls.SecP384r1MLKEM1024,
}

// tlsCounts are the TLS handshakes completed on one connection, or on all
// the connections of one handshake worker: touched by its goroutine
// alone, summed once it has ended.
type tlsCounts struct {
	handshakes, resumed uint64
	kx                  [len(tlsKeyExchanges) + 1]uint64 // by tlsKeyExchanges' index; the last: any other
}

// count records a completed handshake whose state is cs. It does not
// allocate.
func (c *tlsCounts) count(cs *tls.ConnectionState) {
	c.handshakes++
	if cs.DidResume {
		c.resumed++
	}
	i := 0
	for i < len(tlsKeyExchanges) && tlsKeyExchanges[i] != cs.CurveID {
		i++
	}
	c.kx[i]++
}

// add adds o to c.
func (c *tlsCounts) add(o *tlsCounts) {
	c.handshakes += o.handshakes
	c.resumed += o.resumed
	for i := range c.kx {
		c.kx[i] += o.kx[i]
	}
}

// TLSReport says how a wss:// run made its TLS handshakes: what the client
// offered and how many handshakes resumed. It is zero, and left out of the
// JSON, for a ws:// run.
type TLSReport struct {
	// Curves are the key exchanges offered (-curves), by name; empty: Go's
	// default list.
	Curves []string `json:"curves"`
	// Resume says the run's connections shared a session cache (-resume):
	// a handshake resumes from the last ticket the server sent, and only
	// those made before the first ticket came back make a full one.
	Resume bool `json:"resume"`
	// Handshakes counts the TLS handshakes completed, all phases.
	Handshakes uint64 `json:"handshakes"`
	// Resumed counts those that resumed a session
	// (ConnectionState.DidResume): 0 without Resume.
	Resumed uint64 `json:"resumed"`
	// KeyExchanges counts the handshakes by the key exchange negotiated
	// (ConnectionState.CurveID; "none": a TLS 1.2 resumption).
	KeyExchanges map[string]uint64 `json:"key_exchanges"`
}

// newTLSReport returns the parameters part of the TLS report of a run on
// url with o: zero for a ws:// URL.
func newTLSReport(url string, o TLSOptions) TLSReport {
	if ClientPath(url) != ClientPathTLS {
		return TLSReport{}
	}
	r := TLSReport{Resume: o.Resume, KeyExchanges: map[string]uint64{}}
	for _, id := range o.Curves {
		r.Curves = append(r.Curves, CurveName(id))
	}
	return r
}

// addCounts adds the handshakes of c to r.
func (r *TLSReport) addCounts(c *tlsCounts) {
	r.Handshakes += c.handshakes
	r.Resumed += c.resumed
	for i, n := range c.kx {
		if n == 0 {
			continue
		}
		name := "other"
		if i < len(tlsKeyExchanges) {
			name = CurveName(tlsKeyExchanges[i])
		}
		if r.KeyExchanges == nil {
			r.KeyExchanges = map[string]uint64{}
		}
		r.KeyExchanges[name] += n
	}
}

// addPart adds a worker's TLS report to r (procs.go's merge).
func (r *TLSReport) addPart(p *TLSReport) {
	r.Handshakes += p.Handshakes
	r.Resumed += p.Resumed
	if len(p.KeyExchanges) > 0 && r.KeyExchanges == nil {
		r.KeyExchanges = map[string]uint64{}
	}
	addFailed(r.KeyExchanges, p.KeyExchanges)
}

// tlsRows writes the TLS rows of a report of a run on client path; nothing
// for the gnet path (ws://).
func (t *reportTable) tlsRows(path string, r *TLSReport) {
	if path != ClientPathTLS {
		return
	}
	resume := "off"
	if r.Resume {
		resume = "on (one session cache for the run)"
	}
	t.row("tls", "curves %s, resumption %s", CurvesString(r.Curves), resume)
	kx := make([]string, 0, len(r.KeyExchanges))
	for _, k := range slices.Sorted(maps.Keys(r.KeyExchanges)) {
		kx = append(kx, fmt.Sprintf("%s %d", k, r.KeyExchanges[k]))
	}
	t.row("tls handshakes", "%d, %d resumed (key exchange: %s)", r.Handshakes, r.Resumed, orNone(strings.Join(kx, ", ")))
}

// orNone returns s, or "none" if it is empty.
func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}
