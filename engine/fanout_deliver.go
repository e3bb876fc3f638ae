package engine

// Delivery: a message from a bus or a feed framed once, queued once per
// loop, and written by each loop to its own subscribers (docs/fanout.md,
// "Framed once, written to each").

import (
	"context"
	"unicode/utf8"

	"github.com/gobwas/ws"

	"github.com/throngproxy/throng/codec"
)

// deliver takes a message from a bus goroutine to the loops with
// subscribers of its channel: framed once per opcode, queued once per
// loop, one Execute per loop while its queue is not being drained.
func (h *fanHub) deliver(source, name string, payload []byte) {
	h.stats.messagesIn.Add(1)
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, op := range [...]ws.OpCode{ws.OpText, ws.OpBinary} {
		ch := h.chans[fanKey{source: source, name: name, op: op}]
		if ch == nil {
			continue
		}
		if op == ws.OpText && !utf8.Valid(payload) {
			// A text frame that is not UTF-8 makes every receiver fail
			// the connection (RFC 6455 §8.1): one bad publisher must not
			// take a channel's subscribers down.
			h.stats.notText.Add(1)
			continue
		}
		frame := codec.AppendServerFrame(nil, op, payload)
		for _, lc := range ch.loops {
			if lc == nil || lc.live == 0 {
				continue
			}
			lc.mu.Lock()
			if len(lc.queue)-lc.head >= maxLoopQueue || lc.bytes+len(frame) > maxLoopQueueBytes {
				h.stats.loopDrops.Add(1)
			} else {
				if lc.head > 0 && lc.head >= len(lc.queue)/2 {
					// The delivered half goes: the slice stays as long
					// as what waits, not as all that ever came.
					n := copy(lc.queue, lc.queue[lc.head:])
					clear(lc.queue[n:])
					lc.queue, lc.head = lc.queue[:n], 0
				}
				lc.queue = append(lc.queue, frame)
				lc.bytes += len(frame)
			}
			post := !lc.posted
			lc.posted = true
			lc.mu.Unlock()
			if post {
				_ = lc.sh.loop.Execute(bgCtx, lc)
			}
		}
	}
}

// Run delivers lc's queued frames on its loop, fanBudget writes at a time.
func (lc *loopChan) Run(context.Context) error {
	budget := fanBudget
	for {
		if len(lc.cur) == 0 {
			lc.mu.Lock()
			if lc.head == len(lc.queue) {
				// Drained: the same array takes the next frames.
				lc.queue, lc.head = lc.queue[:0], 0
				lc.posted = false
				lc.mu.Unlock()
				return nil
			}
			// A loop that fell behind takes several frames at once: each
			// subscriber gets them in one send (sendFrames).
			lc.size = 0
			for lc.head < len(lc.queue) && len(lc.cur) < maxIov && (len(lc.cur) == 0 || lc.size+len(lc.queue[lc.head]) <= fanBatchBytes) {
				f := lc.queue[lc.head]
				lc.cur = append(lc.cur, f)
				lc.queue[lc.head] = nil
				lc.head++
				lc.size += len(f)
				lc.bytes -= len(f)
			}
			lc.mu.Unlock()
			lc.nxt = 0
		}
		for lc.nxt < len(lc.subs) && budget > 0 {
			s := lc.subs[lc.nxt]
			lc.nxt++
			if s != nil {
				s.deliverFan(lc.cur, lc.size)
				budget -= len(lc.cur)
			}
		}
		if lc.nxt < len(lc.subs) {
			// Out of budget: the rest at the loop's next turn, after the
			// other sessions' events.
			_ = lc.sh.loop.Execute(bgCtx, lc)
			return nil
		}
		clear(lc.cur)
		lc.cur = lc.cur[:0]
		if lc.holes {
			lc.compact()
		}
		if budget <= 0 {
			_ = lc.sh.loop.Execute(bgCtx, lc)
			return nil
		}
	}
}

// compact closes the holes leavers left during a delivery.
func (lc *loopChan) compact() {
	lc.hub.mu.Lock()
	defer lc.hub.mu.Unlock()
	j := 0
	for _, s := range lc.subs {
		if s != nil {
			lc.subs[j] = s
			s.pol.fan.idx = j
			j++
		}
	}
	clear(lc.subs[j:])
	lc.subs = lc.subs[:j]
	lc.holes = false
}

// deliverFan writes fan-out frames, size bytes in all, to the subscriber,
// or applies slow_subscriber when its queue is past fanout_queue_limit.
func (s *session) deliverFan(frames [][]byte, size int) {
	if s.state != stateOpen || s.flags&flagClosedToClient != 0 || s.pol == nil || s.pol.fan == nil {
		return
	}
	sub := s.pol.fan
	q := s.queued(toClient)
	if len(frames) > 1 && (q+size > sub.route.queueLimit || q > 0 && sub.skipping) {
		// Not all of them fit: judged one by one, as they came, so that a
		// skipping subscriber misses only what does not fit and none
		// queues past fanout_queue_limit.
		for i := range frames {
			s.deliverFan(frames[i:i+1], len(frames[i]))
		}
		return
	}
	hub := s.sh.e.fan
	if q > 0 && q+size > sub.route.queueLimit || sub.skipping && q > 0 {
		if !sub.route.skip {
			hub.stats.slowClosed.Add(1)
			s.slowConsumer(toClient, reasonSlowConsumer)
			return
		}
		sub.skipping = true
		addOwned(&s.sh.stats.fanSkipped, uint64(len(frames)))
		return
	}
	sub.skipping = false
	if s.tls != nil {
		h, q := s.sealFrames(toClient, frames)
		s.send(toClient, h, q)
	} else {
		s.sendFrames(toClient, frames)
	}
	// The loop's own counter: no shared cache line per delivery.
	addOwned(&s.sh.stats.fanDeliveries, uint64(len(frames)))
	s.lastActive = int32(s.sh.now())
}
