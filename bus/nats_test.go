package bus

import (
	"errors"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

// A handler that falls behind loses what does not fit in QueueSize, counted
// by Dropped (also after Unsubscribe) and reported as a slow consumer; what
// it does get is in order, once each.
func TestNATSSlowConsumer(t *testing.T) {
	srv := startServer(t, backends[1])
	rec := newRecorder()
	release := make(chan struct{})
	var mu sync.Mutex
	var got []string
	var slow atomic.Int32

	o := testOptions(srv.url(), rec)
	o.QueueSize = 8
	o.OnMessage = func(ch string, p []byte) {
		if !strings.HasPrefix(string(p), "m-") {
			rec.onMessage(ch, p) // probes
			return
		}
		<-release
		mu.Lock()
		got = append(got, string(p))
		mu.Unlock()
	}
	o.OnError = func(err error) {
		if errors.Is(err, nats.ErrSlowConsumer) {
			slow.Add(1)
		}
	}
	s := openBus(t, o)
	p := openBus(t, testOptions(srv.url(), newRecorder()))
	if err := s.Subscribe("room1"); err != nil {
		t.Fatal(err)
	}
	waitSubscribed(t, p, "room1", rec)

	const n = 200
	publishN(t, p, "room1", "m", n-1) // m-0000..m-0198 and m-end
	// About one message in the handler and QueueSize waiting; the rest is
	// dropped, and every message is either delivered or counted.
	waitFor(t, 10*time.Second, "drops", func() bool { return s.Dropped() > 0 })
	close(release)
	delivered := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(got)
	}
	waitFor(t, 10*time.Second, "every message delivered or dropped", func() bool {
		return uint64(delivered())+s.Dropped() == n
	})
	t.Logf("delivered %d, dropped %d", delivered(), s.Dropped())
	mu.Lock()
	if !slices.IsSorted(got) || len(slices.Compact(slices.Clone(got))) != len(got) {
		t.Errorf("delivered out of order or twice: %v", got)
	}
	mu.Unlock()
	waitFor(t, 10*time.Second, "slow consumer error", func() bool { return slow.Load() > 0 })
	if err := s.Unsubscribe("room1"); err != nil {
		t.Fatal(err)
	}
	if d := s.Dropped(); d != n-uint64(delivered()) {
		t.Errorf("Dropped after Unsubscribe = %d, want %d", d, n-delivered())
	}
}
