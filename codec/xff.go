package codec

import "net/netip"

// ClientFromForwardedFor returns the client a chain of trusted proxies
// reports in X-Forwarded-For: walking the addresses from the last (the
// one the nearest proxy added) back, the first that trusted rejects. All
// of the request's X-Forwarded-For headers count, in order, as one list
// (RFC 9110 §5.3). ok is false when there is no such header, when an
// entry before that point does not parse (a client forging the list's
// start cannot get further than that), or when every address is trusted.
// Entries may carry a port ("192.0.2.1:4711", "[2001:db8::1]:80"); IPv4-
// mapped addresses are unmapped. It runs once per handshake from a
// trusted proxy and allocates only to parse the entries it reads.
func ClientFromForwardedFor(headers []Header, trusted func(netip.Addr) bool) (client netip.Addr, ok bool) {
	for h := len(headers) - 1; h >= 0; h-- {
		if !EqualFold(headers[h].Name, "x-forwarded-for") {
			continue
		}
		v := headers[h].Value
		end := len(v)
		for end > 0 {
			start := end - 1
			for start >= 0 && v[start] != ',' {
				start--
			}
			entry := TrimOWS(v[start+1 : end])
			end = start
			if start < 0 {
				end = 0
			}
			if len(entry) == 0 {
				continue
			}
			a, good := parseForwardedAddr(entry)
			if !good {
				return netip.Addr{}, false
			}
			if !trusted(a) {
				return a, true
			}
		}
	}
	return netip.Addr{}, false
}

// parseForwardedAddr parses one X-Forwarded-For entry: an address, or an
// address with a port.
func parseForwardedAddr(b []byte) (netip.Addr, bool) {
	if len(b) > 64 {
		return netip.Addr{}, false
	}
	s := b
	if s[0] == '[' {
		i := 1
		for i < len(s) && s[i] != ']' {
			i++
		}
		if i == len(s) {
			return netip.Addr{}, false
		}
		s = s[1:i]
	} else if n := countByte(s, ':'); n == 1 {
		for i := range s {
			if s[i] == ':' {
				s = s[:i]
				break
			}
		}
	}
	if len(s) == 0 || countByte(s, '%') != 0 {
		return netip.Addr{}, false // a zone names an interface of the sender's, not a client
	}
	a, err := netip.ParseAddr(string(s))
	if err != nil {
		return netip.Addr{}, false
	}
	return a.Unmap(), true
}

func countByte(b []byte, c byte) int {
	n := 0
	for _, x := range b {
		if x == c {
			n++
		}
	}
	return n
}
