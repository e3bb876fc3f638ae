package engine

// The upgrade: the backend's answer head, its 101 checked and relayed, and
// the session opened.

import (
	"log/slog"
	"time"

	"github.com/throngproxy/throng/codec"
)

// onUpstreamHandshake handles backend bytes while its answer's head is
// incomplete; it returns what gnet must keep (onUpstreamData).
func (s *session) onUpstreamHandshake(p []byte) int {
	hs := s.hs
	// The backend answered: a warm socket closed from now on is the
	// backend failing, not a stale socket.
	s.flags &^= flagWarmConn
	for {
		n, done := hs.scan.Scan(p)
		if len(hs.resp)+n > int(s.snap.maxHeaderBytes) {
			s.backendFailed()
			s.retry(502)
			return 0
		}
		hs.resp = append(hs.resp, p[:n]...)
		p = p[n:]
		if !done {
			return 0
		}
		resp := &s.sh.resp
		if err := codec.ParseResponse(hs.resp, resp); err != nil {
			s.backendFailed()
			s.retry(502)
			return 0
		}
		switch {
		case resp.Status == 101:
			return s.upgrade(resp, p)
		case resp.Status >= 100 && resp.Status < 200:
			// 1xx interim answers (100, 103) are skipped.
			hs.scan.Reset()
			hs.resp = hs.resp[:0]
			continue
		}
		s.startRefusal(resp, p)
		return 0
	}
}

// enterOpen opens a session whose 101 (resp) went to the client: the
// access sample, the counters, the handshake back to its free list, and a
// wake for client frames that came before the 101.
func (s *session) enterOpen(req *codec.Request, resp *codec.Response) {
	sh, hs := s.sh, s.hs
	s.sampleAccess(req, resp)
	sh.stats.opened.Add(1)
	sh.stats.handshakes.observe(time.Duration(time.Now().UnixNano() - hs.start))
	if rs := s.routeShard(); rs != nil {
		addOwned(&rs.opened, 1)
		rs.open.Store(rs.open.Load() + 1)
	}
	s.hs = nil
	s.lastActive = int32(sh.now())
	s.clientSeen = s.lastActive
	s.setState(stateOpen)
	sh.handshakes.Put(hs)
	if s.tls != nil {
		// Most sessions say nothing for a while after the 101: their
		// record layers let go of their key schedules now rather than at
		// the idle sweep, and the first record rebuilds them.
		s.tls.park(sh)
	}
	if s.client.InboundBuffered() > 0 || s.tls != nil && len(s.tls.carry[toClient]) > 0 {
		// Client frames that came before the 101 wait in gnet's buffer;
		// the client's next OnTraffic relays them.
		_ = s.client.Wake(nil)
	}
}

// upgrade checks the backend's 101, relays it and opens the session. rest
// are the bytes that followed the 101 in the same read: frames. It returns
// how many bytes at the end of rest gnet must keep (onUpstreamData).
func (s *session) upgrade(resp *codec.Response, rest []byte) int {
	sh, hs := s.sh, s.hs
	req := &sh.req
	if err := codec.ParseRequest(hs.head, req); err != nil {
		s.reject(502) // cannot happen: it parsed before
		return 0
	}
	neg, err := codec.CheckUpgrade(resp, req)
	if err != nil {
		if sh.e.log.Enabled(bgCtx, levelDebug) {
			sh.e.log.LogAttrs(bgCtx, levelDebug, "bad upgrade answer",
				attrSession(s.id), attrBackend(s.backend.Addr), attrErr(err))
		}
		s.backendFailed()
		s.retry(502)
		return 0
	}
	if s.backend.ReportSuccess(time.Now().UnixNano()) {
		sh.e.log.LogAttrs(bgCtx, slog.LevelInfo, "backend restored",
			attrUpstream(s.upstreamName()), attrBackend(s.backend.Addr))
	}
	var cookie []byte
	if st := s.backend.Upstream.Sticky; st != nil && hs.sticky != s.backend {
		// A new client, or its backend was unavailable: send it where it
		// went this time.
		cookie = st.SetCookie(s.backend)
	}
	// The forwarded request is done with: its buffer takes the 101.
	out := codec.AppendSwitchingResponse(hs.fwd[:0], resp, hs.rid, cookie)
	hs.fwd = out
	// 101 only once it went out: a client gone during the write (gnet
	// closes it inside Write) never opened, for the counters and the log.
	if err := s.writeClient(out); err != nil || s.client == nil {
		return 0
	}
	s.status = 101
	maxFrame := uint64(s.policy().maxFrameBytes)
	s.c2u.Init(codec.FromClient, maxFrame, neg.Deflate, neg.Other)
	s.u2c.Init(codec.FromServer, maxFrame, neg.Deflate, neg.Other)
	s.enterOpen(req, resp)
	keep := 0
	if len(rest) > 0 {
		keep = s.relayFromUpstream(rest)
	}
	if s.state == stateOpen && sh.e.draining.Load() {
		// Opened after the drain pass walked the shard.
		s.drainClose()
	}
	return keep
}
