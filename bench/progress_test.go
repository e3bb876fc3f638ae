package bench

import (
	"strings"
	"sync"
	"testing"
	"time"
)

func TestProgressLine(t *testing.T) {
	t0 := time.Unix(1000, 0)
	p := &Progress{unit: "msgs/s", start: t0, lastT: t0}
	steps := []struct {
		at   time.Duration
		s    LiveSample
		want string
	}{
		{time.Second, LiveSample{Up: 10, Msgs: 1000}, "\rup 10  msgs/s 1000  errors 0  elapsed 1s\x1b[K"},
		{2500 * time.Millisecond, LiveSample{Up: 12, Msgs: 4000, Errors: 3}, "\rup 12  msgs/s 2000  errors 3  elapsed 2s\x1b[K"},
		{3500 * time.Millisecond, LiveSample{Up: 0, Msgs: 4000, Errors: 3}, "\rup 0  msgs/s 0  errors 3  elapsed 3s\x1b[K"},
		{3500 * time.Millisecond, LiveSample{Up: 1, Msgs: 4001}, "\rup 1  msgs/s 0  errors 0  elapsed 3s\x1b[K"}, // no time passed
		{75 * time.Second, LiveSample{Msgs: 1}, "\rup 0  msgs/s 0  errors 0  elapsed 1m15s\x1b[K"},               // counter went back
	}
	for _, st := range steps {
		if got := string(p.line(nil, st.s, t0.Add(st.at))); got != st.want {
			t.Errorf("line(%+v at %v) = %q, want %q", st.s, st.at, got, st.want)
		}
	}
}

// lineWriter collects writes and signals the first.
type lineWriter struct {
	mu    sync.Mutex // guards b
	b     strings.Builder
	first chan struct{}
	once  sync.Once
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.once.Do(func() { close(w.first) })
	return w.b.Write(p)
}

func (w *lineWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}

func TestProgressRun(t *testing.T) {
	live := new(Live)
	live.addUp(3)
	live.addMsgs(7)
	w := &lineWriter{first: make(chan struct{})}
	p := NewProgress(w, live, "handshakes/s")
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		p.Run(stop, time.Millisecond)
	}()
	select {
	case <-w.first:
	case <-time.After(10 * time.Second):
		t.Fatal("no progress line after 10s")
	}
	close(stop)
	<-done
	got := w.String()
	if !strings.HasPrefix(got, "\rup 3  handshakes/s ") || !strings.HasSuffix(got, "\r\x1b[K") {
		t.Errorf("Run wrote %q; want lines of 3 up in handshakes/s, then the line erased", got)
	}
}

func TestLiveNil(t *testing.T) {
	var l *Live
	l.addUp(1)
	l.addMsgs(1)
	l.addErrors(1)
	l.store(LiveSample{Up: 1})
	if got := l.Sample(); got != (LiveSample{}) {
		t.Errorf("nil Live Sample = %+v, want zero", got)
	}
}
