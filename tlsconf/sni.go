package tlsconf

import (
	"crypto/tls"
	"net"
	"net/netip"
	"strings"
)

// certSet picks a server certificate for a ClientHello. It is built once
// per load and never changed after, so handshakes read it without locks.
type certSet struct {
	all   []*tls.Certificate // config order; all[0] is the default
	exact map[string][]*tls.Certificate
	wild  map[string][]*tls.Certificate // by the suffix after "*."
	ips   map[netip.Addr][]*tls.Certificate
}

func newCertSet() *certSet {
	return &certSet{
		exact: map[string][]*tls.Certificate{},
		wild:  map[string][]*tls.Certificate{},
		ips:   map[netip.Addr][]*tls.Certificate{},
	}
}

// add indexes c by the DNS names and IP addresses of its leaf. Only a
// whole leftmost "*" label is a wildcard (RFC 6125 §6.4.3 allows less, as
// in "a*.example.com", but no browser honours it).
func (s *certSet) add(c *tls.Certificate) {
	s.all = append(s.all, c)
	for _, n := range c.Leaf.DNSNames {
		n = normName(n)
		if suffix, ok := strings.CutPrefix(n, "*."); ok {
			if suffix != "" && !strings.Contains(suffix, "*") {
				s.wild[suffix] = appendOnce(s.wild[suffix], c)
			}
			continue
		}
		if n != "" && !strings.Contains(n, "*") {
			s.exact[n] = appendOnce(s.exact[n], c)
		}
	}
	for _, ip := range c.Leaf.IPAddresses {
		if a, ok := netip.AddrFromSlice(ip); ok {
			a = a.Unmap()
			s.ips[a] = appendOnce(s.ips[a], c)
		}
	}
}

func appendOnce(l []*tls.Certificate, c *tls.Certificate) []*tls.Certificate {
	if len(l) > 0 && l[len(l)-1] == c {
		return l
	}
	return append(l, c)
}

// normName lowercases a DNS name and drops a trailing dot.
func normName(n string) string {
	return strings.TrimSuffix(strings.ToLower(n), ".")
}

// getCertificate is tls.Config.GetCertificate. The SNI name is matched
// exactly, then against wildcards one label up ("a.example.com" against
// "*.example.com", never "a.b.example.com"); an SNI that is an IP literal
// (which RFC 6066 §3 forbids but some clients send) against IP SANs.
// Without SNI, as clients that dialled an IP address send it, the address
// the connection arrived at is matched against IP SANs. Anything else gets
// the first certificate. Among several certificates for one name (say an
// ECDSA and an RSA one) the first the client supports wins. It does not
// allocate for a lowercase name that one certificate claims.
func (s *certSet) getCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	if hello.ServerName == "" {
		if a, ok := localIP(hello.Conn); ok {
			if c := pick(hello, s.ips[a]); c != nil {
				return c, nil
			}
		}
		return s.all[0], nil
	}
	name := normName(hello.ServerName)
	if mayBeIP(name) {
		if a, err := netip.ParseAddr(name); err == nil {
			if c := pick(hello, s.ips[a.Unmap()]); c != nil {
				return c, nil
			}
			return s.all[0], nil
		}
	}
	if c := pick(hello, s.exact[name]); c != nil {
		return c, nil
	}
	if i := strings.IndexByte(name, '.'); i > 0 {
		if c := pick(hello, s.wild[name[i+1:]]); c != nil {
			return c, nil
		}
	}
	return s.all[0], nil
}

// mayBeIP reports whether name could be an IP literal: it has a colon, or
// ends in a digit (no top-level domain is numeric, RFC 3696 §2). It spares
// ordinary names netip.ParseAddr, whose error allocates.
func mayBeIP(name string) bool {
	if name == "" {
		return false
	}
	last := name[len(name)-1]
	return last >= '0' && last <= '9' || strings.IndexByte(name, ':') >= 0
}

// pick returns the first of cands the client supports, else the first of
// cands, or nil when there is none.
func pick(hello *tls.ClientHelloInfo, cands []*tls.Certificate) *tls.Certificate {
	switch len(cands) {
	case 0:
		return nil
	case 1:
		return cands[0]
	}
	for _, c := range cands {
		if hello.SupportsCertificate(c) == nil {
			return c
		}
	}
	return cands[0]
}

// localIP returns the local address of conn, which may be nil.
func localIP(conn net.Conn) (netip.Addr, bool) {
	if conn == nil {
		return netip.Addr{}, false
	}
	switch a := conn.LocalAddr().(type) {
	case *net.TCPAddr:
		ip, ok := netip.AddrFromSlice(a.IP)
		return ip.Unmap(), ok
	case nil:
		return netip.Addr{}, false
	default:
		ap, err := netip.ParseAddrPort(a.String())
		return ap.Addr().Unmap(), err == nil
	}
}
