package engine

// handler: gnet's callbacks, each handing its event to the session it
// belongs to (engine/machine.go has the events' entry points).

import "github.com/panjf2000/gnet/v2"

// handler adapts the engine to gnet's callbacks.
type handler struct {
	gnet.BuiltinEventEngine
	e *Engine
}

func (h *handler) OnBoot(eng gnet.Engine) gnet.Action {
	h.e.gnet = eng
	close(h.e.booted)
	return gnet.None
}

// OnShutdown stops the dial workers first: a dial finishing now could only
// enrol into a loop that will not run it.
func (h *handler) OnShutdown(gnet.Engine) {
	h.e.attachCancel()
	if d := h.e.dialer; d != nil {
		d.cancel()
	}
}

func (h *handler) OnOpen(c gnet.Conn) ([]byte, gnet.Action) {
	switch x := c.Context().(type) {
	case *session:
		return nil, x.onUpstreamOpen(c)
	case *warmSet:
		return nil, x.onOpen(c)
	case *attachTicket:
		return nil, x.onOpen(c)
	case *tlsTicket:
		return nil, x.onOpen(c)
	case *dialedTLS:
		return nil, x.onOpen(c)
	case loopProbe:
		return nil, h.e.meet(c)
	}
	return nil, h.e.accept(c)
}

func (h *handler) OnTraffic(c gnet.Conn) gnet.Action {
	s, _ := c.Context().(*session)
	if s == nil {
		// A warm socket has nothing to say before its request: a backend
		// that talks first is not one to reuse. Detached sockets likewise.
		switch x := c.Context().(type) {
		case *warmSet:
			x.remove(c)
		case *dialedTLS:
			if x.s == nil {
				return x.onIdleTraffic(c)
			}
		}
		return gnet.Close
	}
	if c == s.client {
		switch {
		case s.state == stateProxyHeader:
			return s.onProxyHeader(c)
		case s.tls != nil && (s.state == stateTLSHello || s.tls.layer[toClient] != nil):
			return s.onClientTLS(c)
		}
	} else if c == s.upstream && s.tls != nil && s.tls.layer[toUpstream] != nil {
		return s.openRecords(c, toUpstream)
	}
	if c == s.client && s.holdsEarly() {
		// Client bytes before the 101 stay in gnet's buffer unread: a Peek
		// would copy all of them again on every read.
		if s.onClientEarly(c.InboundBuffered()) && s.client == c {
			_, _ = c.Discard(0) // refused: all of them go
		}
		return gnet.None
	}
	// What the session does not keep is consumed now: bytes left in gnet's
	// ring would cost the idle session about 1 KB (docs/gnet.md §4). It
	// keeps bytes only for a moment: client bytes that follow the request
	// head until the 101, and a Close frame until it is whole.
	p, _ := c.Peek(-1)
	keep := 0
	if c == s.client {
		keep = s.onClientData(p)
	} else if c == s.upstream {
		keep = s.onUpstreamData(p)
	}
	// Discard(0) would discard everything; a conn closed meanwhile has
	// nothing left to discard.
	if keep < len(p) && (c == s.client || c == s.upstream) {
		_, _ = c.Discard(len(p) - keep)
	}
	if s.detachNow(c) {
		// Flow control pauses this socket: gnet closes its conn now, the
		// socket stays open (flow_pause.go).
		return gnet.Close
	}
	return gnet.None
}

func (h *handler) OnClose(c gnet.Conn, _ error) gnet.Action {
	s, _ := c.Context().(*session)
	if s == nil {
		switch x := c.Context().(type) {
		case *warmSet:
			x.remove(c)
		case *dialedTLS:
			if x.s == nil {
				x.warm.remove(c)
			}
		}
		return gnet.None
	}
	if s.onDetached(c) {
		return gnet.None
	}
	if s.state == stateTLSHandshake && c == s.client {
		s.onTLSDetached()
		return gnet.None
	}
	switch {
	case s.client != nil && c == s.client:
		s.client = nil
		s.dropQueue(toClient)
		s.onClientGone()
	case s.upstream != nil && c == s.upstream:
		s.upstream = nil
		s.dropQueue(toUpstream)
		s.onUpstreamGone()
	}
	s.maybeFinish()
	return gnet.None
}
