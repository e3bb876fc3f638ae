package engine

import (
	"context"
	"time"
)

// Stats are the engine's counters summed over its shards. Reading them is
// safe from any goroutine; the sum is not a snapshot taken at one instant.
type Stats struct {
	Active           int64  // sessions admitted and not finished
	Accepted         uint64 // client connections accepted
	Opened           uint64 // sessions that reached open (101 relayed)
	Closed           uint64 // sessions finished
	Rejected         uint64 // handshakes answered with an HTTP error
	OverCap          uint64 // connections refused at the session cap or while draining
	SlowConsumer     uint64 // sessions closed for a peer that did not read
	WriteTimeout     uint64 // of those, closed by timeouts.write
	Pauses           uint64 // sockets flow control detached from their loop
	Resumes          uint64 // detached sockets attached again
	Detached         int64  // sockets detached now
	ProtocolError    uint64 // sessions closed for an RFC 6455 violation
	Dials            uint64 // backend connect attempts started
	DialFailed       uint64 // backend connect attempts that failed
	Ejections        uint64 // backends ejected by passive health checks
	Retries          uint64 // attempts retried on another backend
	WarmUsed         uint64 // attempts that took a warm socket
	WarmStale        uint64 // warm sockets found closed, redone on a fresh dial
	WarmDials        uint64 // warm-pool fill connects started
	WarmIdle         int64  // warm sockets waiting now
	WarmMisses       uint64 // attempts on a backend with a warm pool that found it empty
	HealthFlips      uint64 // backends taken down or brought up by active health checks
	HandshakeTimeout uint64 // handshakes that ran out of time
	IdleTimeout      uint64 // open sessions closed for idleness
	BadTransitions   uint64 // state changes the transition table lacks: 0 unless the machine is wrong
	TLSHandshakes    uint64 // TLS handshakes done
	TLSResumed       uint64 // of those, resumed from a session ticket
	TLSFailed        uint64 // TLS handshakes that failed, or connections to a TLS listener that did not speak TLS
	TLSBusy          uint64 // ClientHellos refused while tls.max_handshakes were in progress
	TLSAlerts        uint64 // TLS sessions ended by a bad record (a fatal alert went to the client)
	TLSParked        uint64 // record layers that let go of their AEADs while idle
	ProxyRefused     uint64 // connections closed for a missing or bad PROXY header, or an untrusted sender
	// PolicyRefused counts handshakes refused by admission policy, by
	// reason, in PolicyReasons' order.
	PolicyRefused [numPolicyReasons]uint64
	// MessagesDropped counts client messages dropped, whole, by
	// rate_limit_action = "drop".
	MessagesDropped uint64
	PingsSent       uint64 // the proxy's own Pings to silent clients
	PingTimeouts    uint64 // sessions closed for a Pong that did not come
	BytesIn         uint64 // client to backend, frames relayed
	BytesOut        uint64 // backend to client, frames relayed
	Loops           int    // shards: loops met at start or by a connection
	// Transitions counts entries into each session state, by state name.
	Transitions map[string]uint64
}

// Stats sums the shards' counters.
func (e *Engine) Stats() Stats {
	st := Stats{Active: e.active.Load(), HealthFlips: e.healthFlips(), Transitions: make(map[string]uint64, numStates)}
	for _, sh := range *e.shards.Load() {
		c := &sh.stats
		st.Accepted += c.accepted.Load()
		st.Opened += c.opened.Load()
		st.Closed += c.closed.Load()
		st.Rejected += c.rejected.Load()
		st.OverCap += c.overCap.Load()
		st.SlowConsumer += c.slowConsumer.Load()
		st.WriteTimeout += c.writeTimeout.Load()
		st.Pauses += c.pauses.Load()
		st.Resumes += c.resumes.Load()
		st.Detached += c.detached.Load()
		st.ProtocolError += c.protocolErr.Load()
		st.Dials += c.dials.Load()
		st.DialFailed += c.dialFailed.Load()
		st.Ejections += c.ejections.Load()
		st.Retries += c.retries.Load()
		st.WarmUsed += c.warmUsed.Load()
		st.WarmStale += c.warmStale.Load()
		st.WarmDials += c.warmDials.Load()
		st.WarmIdle += c.warmIdle.Load()
		st.WarmMisses += c.warmMisses.Load()
		st.HandshakeTimeout += c.handshakeTimeout.Load()
		st.IdleTimeout += c.idleTimeout.Load()
		st.BadTransitions += c.badTransitions.Load()
		st.TLSHandshakes += c.tlsHandshakes.Load()
		st.TLSResumed += c.tlsResumed.Load()
		st.TLSFailed += c.tlsFailed.Load()
		st.TLSBusy += c.tlsBusy.Load()
		st.TLSAlerts += c.tlsAlerts.Load()
		st.TLSParked += c.tlsParked.Load()
		st.ProxyRefused += c.proxyRefused.Load()
		for r := range c.policyRefused {
			st.PolicyRefused[r] += c.policyRefused[r].Load()
		}
		st.MessagesDropped += c.messagesDropped.Load()
		st.PingsSent += c.pingsSent.Load()
		st.PingTimeouts += c.pingTimeout.Load()
		st.BytesIn += c.bytesC2U.Load()
		st.BytesOut += c.bytesU2C.Load()
		for from := range c.moves {
			for to := range c.moves[from] {
				st.Transitions[state(to).String()] += c.moves[from][to].Load()
			}
		}
		st.Loops++
	}
	return st
}

// StalledSessions counts the sessions in which a frame has stood
// incomplete, in either direction, for longer than limits.stalled_frame
// (a minute by default): a peer that trickles a byte every few seconds
// inside a frame holds the session (two descriptors and a slot under the
// cap) open for ever, whatever the idle timeout, because every byte is
// activity (docs/tuning.md, "Slow senders"). Each shard walks its own
// sessions on its loop, so the call costs a round trip to every loop and
// time linear in the sessions; it is meant for the stats line, not a hot
// path. A loop that does not answer within a second is left out of the
// count. Safe from any goroutine.
func (e *Engine) StalledSessions() int {
	shards := *e.shards.Load()
	limit := int(e.snap.Load().cfg.Limits.StalledFrame.D() / time.Second)
	counts := make(chan int, len(shards))
	for _, sh := range shards {
		if err := sh.loop.Execute(context.Background(), &stalledCount{sh: sh, limit: limit, out: counts}); err != nil {
			counts <- 0
		}
	}
	total := 0
	timeout := time.After(time.Second)
	for range shards {
		select {
		case n := <-counts:
			total += n
		case <-timeout:
			return total
		}
	}
	return total
}

// stallStamps is the period of Engine.stallStamp, in seconds: about 18 h.
// config bounds limits.stalled_frame well below it.
const stallStamps = 1<<16 - 1

// stallStamp is the engine's clock in whole seconds, as a 16-bit stamp that
// is never 0 (0 marks a direction between frames). Two bytes per direction
// keep the session in its size class; a frame stalled for longer than the
// period reads as younger for a while, which only delays its count.
func (e *Engine) stallStamp() uint16 {
	sec := e.clock.Load() / int64(time.Second/tickInterval)
	return uint16(sec%stallStamps) + 1
}

// stallAge is how many seconds ago stamp was taken, by the stamp now.
func stallAge(now, stamp uint16) int {
	return (int(now) - int(stamp) + stallStamps) % stallStamps
}

// stalledCount walks one shard's sessions on its loop.
type stalledCount struct {
	sh    *shard
	limit int // seconds
	out   chan<- int
}

func (c *stalledCount) Run(context.Context) error {
	now := c.sh.e.stallStamp()
	n := 0
	for s := c.sh.sessions; s != nil; s = s.next {
		if s.c2uSince != 0 && stallAge(now, s.c2uSince) > c.limit ||
			s.u2cSince != 0 && stallAge(now, s.u2cSince) > c.limit {
			n++
		}
	}
	c.out <- n
	return nil
}
