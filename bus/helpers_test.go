package bus

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// recorder collects what a Bus hands its callbacks. Payloads starting with
// "probe" are only counted: tests publish them until they arrive, to know
// that a subscription is in force on the server.
type recorder struct {
	mu     sync.Mutex
	msgs   map[string][]string
	probes map[string]int
	states []State
	errs   []error
	// calls counts Handler calls running, outside mu, so that a second
	// concurrent call is seen.
	calls   atomic.Int32
	overlap atomic.Bool
}

func newRecorder() *recorder {
	return &recorder{msgs: make(map[string][]string), probes: make(map[string]int)}
}

func (r *recorder) onMessage(channel string, payload []byte) {
	if r.calls.Add(1) > 1 {
		r.overlap.Store(true)
	}
	defer r.calls.Add(-1)
	r.mu.Lock()
	if strings.HasPrefix(string(payload), "probe") {
		r.probes[channel]++
	} else {
		r.msgs[channel] = append(r.msgs[channel], string(payload))
	}
	r.mu.Unlock()
}

func (r *recorder) onState(s State, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.states = append(r.states, s)
	r.errs = append(r.errs, err)
}

func (r *recorder) got(channel string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.msgs[channel])
}

func (r *recorder) probed(channel string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.probes[channel]
}

func (r *recorder) stateLog() ([]State, []error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.states), slices.Clone(r.errs)
}

func (r *recorder) channels() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var chs []string
	for ch := range r.msgs {
		chs = append(chs, ch)
	}
	for ch := range r.probes {
		if _, ok := r.msgs[ch]; !ok {
			chs = append(chs, ch)
		}
	}
	slices.Sort(chs)
	return chs
}

// testOptions are Options with short timeouts, so that reconnects take
// milliseconds.
func testOptions(url string, r *recorder) Options {
	return Options{
		URL:          url,
		Prefix:       "t.",
		OnMessage:    r.onMessage,
		OnState:      r.onState,
		DialTimeout:  time.Second,
		PingInterval: time.Second,
		ReconnectMin: 10 * time.Millisecond,
		ReconnectMax: 200 * time.Millisecond,
	}
}

// openBus opens a Bus closed at cleanup.
func openBus(t *testing.T, opts Options) Bus {
	t.Helper()
	b, err := Open(opts)
	if err != nil {
		t.Fatalf("Open(%s): %v", opts.URL, err)
	}
	t.Cleanup(func() {
		if err := b.Close(); err != nil && !errors.Is(err, ErrClosed) {
			t.Errorf("Close: %v", err)
		}
	})
	return b
}

// waitFor polls cond every few milliseconds until it holds or d passes.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(5 * time.Millisecond) // poll interval inside a deadline loop
	}
}

func waitState(t *testing.T, b Bus, s State) {
	t.Helper()
	waitFor(t, 10*time.Second, "state "+s.String(), func() bool { return b.State() == s })
}

// waitSubscribed publishes probes on channel through pub until every
// recorder has received one more than it had: Subscribe does not wait for
// the server, and a probe published before the subscription is lost.
func waitSubscribed(t *testing.T, pub Bus, channel string, rs ...*recorder) {
	t.Helper()
	had := make([]int, len(rs))
	for i, r := range rs {
		had[i] = r.probed(channel)
	}
	seen := func() bool {
		for i, r := range rs {
			if r.probed(channel) == had[i] {
				return false
			}
		}
		return true
	}
	deadline := time.Now().Add(10 * time.Second)
	for i := 0; ; i++ {
		if err := pub.Publish(context.Background(), channel, []byte(fmt.Sprintf("probe-%d", i))); err != nil {
			t.Logf("probe publish: %v", err)
		}
		for j := 0; j < 10 && !seen(); j++ {
			time.Sleep(5 * time.Millisecond) // poll interval inside a deadline loop
		}
		if seen() {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("subscription to %q not in force after 10s", channel)
		}
	}
}

// publishN publishes n numbered messages "<tag>-0000".. on channel, then
// "<tag>-end", in order from one goroutine.
func publishN(t *testing.T, pub Bus, channel, tag string, n int) []string {
	t.Helper()
	want := make([]string, 0, n)
	for i := 0; i < n; i++ {
		m := fmt.Sprintf("%s-%04d", tag, i)
		if err := pub.Publish(context.Background(), channel, []byte(m)); err != nil {
			t.Fatalf("publish %s: %v", m, err)
		}
		want = append(want, m)
	}
	if err := pub.Publish(context.Background(), channel, []byte(tag+"-end")); err != nil {
		t.Fatalf("publish end: %v", err)
	}
	return append(want, tag+"-end")
}

// waitMessages waits for want's last message on channel, then checks that
// exactly want arrived, in order: nothing lost, doubled or reordered.
func waitMessages(t *testing.T, r *recorder, channel string, want []string) {
	t.Helper()
	last := want[len(want)-1]
	waitFor(t, 20*time.Second, fmt.Sprintf("%q on %q", last, channel), func() bool {
		return slices.Contains(r.got(channel), last)
	})
	checkMessages(t, r.got(channel), want)
}

func checkMessages(t *testing.T, got, want []string) {
	t.Helper()
	if slices.Equal(got, want) {
		return
	}
	seen := make(map[string]int)
	for _, m := range got {
		seen[m]++
	}
	for m, n := range seen {
		if n > 1 {
			t.Errorf("%q delivered %d times", m, n)
		}
	}
	missing := 0
	for _, m := range want {
		if seen[m] == 0 {
			missing++
		}
	}
	t.Fatalf("got %d messages, want %d (%d missing); first got %v", len(got), len(want), missing, got[:min(len(got), 5)])
}
