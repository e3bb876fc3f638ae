package engine

// The PROXY protocol header that starts every connection when
// server.proxy_protocol is on (docs/protocol.md, "PROXY protocol"). accept
// has checked the sender against server.trusted_proxies.

import (
	"errors"
	"net"
	"net/netip"

	"github.com/panjf2000/gnet/v2"

	"github.com/throngproxy/throng/codec"
)

// onProxyHeader runs in OnTraffic until the header is whole. The address it
// carries becomes the session's client address: logs, X-Forwarded-For,
// hashing and limits see the client, not the proxy in front. A LOCAL
// header (the front balancer's own health check) keeps the socket's.
func (s *session) onProxyHeader(c gnet.Conn) gnet.Action {
	p, _ := c.Peek(-1)
	h, n, err := codec.ParseProxyHeader(p, s.snap.proxyVersion)
	switch {
	case errors.Is(err, codec.ErrProxyIncomplete):
		return gnet.None
	case err != nil:
		s.sh.stats.proxyRefused.Add(1)
		if s.sh.e.log.Enabled(bgCtx, levelDebug) {
			s.sh.e.log.LogAttrs(bgCtx, levelDebug, "bad PROXY header",
				attrSession(s.id), attrErr(err))
		}
		s.abort()
		return gnet.None
	}
	if !h.Local {
		s.raddr = &net.TCPAddr{IP: h.Source.Addr().AsSlice(), Port: int(h.Source.Port())}
	}
	_, _ = c.Discard(n)
	if s.tls != nil {
		s.setState(stateTLSHello)
	} else {
		s.setState(stateRequest)
	}
	if len(p) > n {
		// What followed the header came in the same read: handle it
		// now, from OnTraffic's start.
		_ = c.Wake(nil)
	}
	return gnet.None
}

// appendProxyHeader appends the PROXY header of version v for the session's
// client toward a backend (send_proxy_protocol): the client's address
// (the one a PROXY header in front gave, if any) and the address it
// connected to.
func (s *session) appendProxyHeader(dst []byte, v codec.ProxyVersion) []byte {
	src := s.clientAddrPort()
	var local netip.AddrPort
	if s.client != nil {
		if ta, ok := s.client.LocalAddr().(*net.TCPAddr); ok {
			ip, _ := netip.AddrFromSlice(ta.IP)
			local = netip.AddrPortFrom(ip.Unmap(), uint16(ta.Port))
		}
	}
	// Both are TCP addresses of a live socket; the zero values only
	// stand in for a client gone meanwhile. Mixed families go as TCP6.
	if !src.IsValid() {
		src = netip.AddrPortFrom(netip.IPv4Unspecified(), 0)
	}
	if !local.IsValid() {
		local = netip.AddrPortFrom(netip.IPv4Unspecified(), 0)
	}
	if v == codec.ProxyV2 {
		return codec.AppendProxyV2(dst, src, local)
	}
	return codec.AppendProxyV1(dst, src, local)
}
