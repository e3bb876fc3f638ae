package policy

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// ErrBadPrefix is returned for an address list entry that is neither an
// IP address nor a CIDR prefix.
var ErrBadPrefix = errors.New("policy: want an IP address or a CIDR prefix such as 10.0.0.0/8")

// ParsePrefix parses an IP address (a prefix of its full length) or a CIDR
// prefix; IPv4-mapped IPv6 addresses are unmapped, and host bits are
// cleared ("10.1.2.3/8" is 10.0.0.0/8). A zone ("fe80::1%eth0") is
// refused. Errors wrap ErrBadPrefix and quote s.
func ParsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("%w, not %s", ErrBadPrefix, strconv.Quote(s))
		}
		if a := p.Addr(); a.Is4In6() && p.Bits() >= 96 {
			p = netip.PrefixFrom(a.Unmap(), p.Bits()-96)
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		// A zone names an interface of this host's, not a client.
		return netip.Prefix{}, fmt.Errorf("%w, not %s", ErrBadPrefix, strconv.Quote(s))
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// Prefixes is a list of address prefixes. The zero value is empty. It is
// immutable once built and safe for concurrent use; Contains does not
// allocate.
type Prefixes struct {
	list []netip.Prefix
}

// ParsePrefixes parses each entry with ParsePrefix; the error is the
// first bad entry's.
func ParsePrefixes(entries []string) (Prefixes, error) {
	var ps Prefixes
	for _, e := range entries {
		p, err := ParsePrefix(e)
		if err != nil {
			return Prefixes{}, err
		}
		ps.list = append(ps.list, p)
	}
	return ps, nil
}

// Len is the number of prefixes.
func (ps Prefixes) Len() int { return len(ps.list) }

// Contains reports whether ip (unmapped by the caller) is in one of the
// prefixes. Lists are short (an operator's allow list): a linear scan is
// faster than a trie below a few dozen entries.
func (ps Prefixes) Contains(ip netip.Addr) bool {
	for _, p := range ps.list {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// Admits applies an allow list and a deny list to ip: deny wins; an empty
// allow list admits everyone it does not deny.
func Admits(allow, deny Prefixes, ip netip.Addr) bool {
	if deny.Contains(ip) {
		return false
	}
	return allow.Len() == 0 || allow.Contains(ip)
}

// GroupKey is the address the per-address limits count ip under: an IPv4
// address itself (unmapped), an IPv6 address masked to its first v6Bits
// bits (one subscriber usually holds a whole /64).
func GroupKey(ip netip.Addr, v6Bits int) netip.Addr {
	ip = ip.Unmap()
	if ip.Is4() || v6Bits >= 128 {
		return ip.WithZone("")
	}
	p, err := ip.WithZone("").Prefix(v6Bits)
	if err != nil {
		return ip
	}
	return p.Addr()
}
