//go:build !race

package bench

import (
	"testing"
)

func TestFanoutAllocs(t *testing.T) {
	run := &clientCore{spec: clientSpec{size: 64}, pattern: clientPattern(64)}
	fan := &clientFanout{rate: 1e6}
	fan.total.Store(1 << 62)
	run.spec.fan = fan
	lp := &clientLoop{hist: newClientHistogram(), out: make([]byte, 0, 1<<20)}
	pub := &clientSession{run: run, loop: lp, frame: newClientFrame(run.pattern, [4]byte{1, 2, 3, 4}), publisher: true}
	sub := &clientSession{run: run, loop: lp}
	now := int64(0)
	if got := testing.AllocsPerRun(100, func() {
		now += 1000 // one message due per call
		lp.out = lp.out[:0]
		fan.act(pub, now)
		fan.received(sub, clientMessage{sentNanos: now, seq: sub.nextRecv, ok: true}, now+5000)
	}); got != 0 {
		t.Errorf("clientFanout act+received: got %v allocs, want 0", got)
	}
}
