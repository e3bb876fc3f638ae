package bus

// The same cases against a real redis-server and a real nats-server.

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func forEachBackend(t *testing.T, f func(t *testing.T, bk backend)) {
	for _, bk := range backends {
		t.Run(bk.Name, func(t *testing.T) { f(t, bk) })
	}
}

// Two processes on one server subscribed to room1 each get all of 1000
// messages once, in order; room2's subscriber and a process with another
// prefix get none of them.
func TestFanOut(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		srv := startServer(t, bk)
		ra, rb, rc, rd := newRecorder(), newRecorder(), newRecorder(), newRecorder()
		a := openBus(t, testOptions(srv.url(), ra))
		b := openBus(t, testOptions(srv.url(), rb))
		c := openBus(t, testOptions(srv.url(), rc))
		od := testOptions(srv.url(), rd)
		od.Prefix = "other."
		d := openBus(t, od)
		for _, x := range []struct {
			bus Bus
			ch  string
		}{{a, "room1"}, {b, "room1"}, {b, "room1"}, {c, "room2"}, {d, "room1"}} {
			if err := x.bus.Subscribe(x.ch); err != nil {
				t.Fatalf("Subscribe(%s): %v", x.ch, err)
			}
		}
		waitSubscribed(t, a, "room1", ra, rb)
		waitSubscribed(t, a, "room2", rc)
		waitSubscribed(t, d, "room1", rd)

		want := publishN(t, a, "room1", "m", 1000)
		waitMessages(t, ra, "room1", want)
		waitMessages(t, rb, "room1", want) // b subscribed twice, gets each once
		// Everything for room1 has passed the server: nothing for c or d.
		if got := rc.channels(); !slices.Equal(got, []string{"room2"}) || len(rc.got("room2")) != 0 {
			t.Errorf("room2 subscriber got channels %v, room2 messages %v", got, rc.got("room2"))
		}
		if got := rd.got("room1"); len(got) != 0 {
			t.Errorf("prefix other. got %d messages of t.room1", len(got))
		}
		if ra.probed("room2") != 0 {
			t.Errorf("room1-only subscriber got room2 probes")
		}
		for _, r := range []*recorder{ra, rb, rc, rd} {
			if r.overlap.Load() {
				t.Errorf("handler called concurrently")
			}
		}
	})
}

// PublishBatch keeps each channel's order within a batch and across
// batches, skips a bad name without losing the rest, and fails fast with
// ErrDown while the server is away.
func TestPublishBatch(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		srv := startServer(t, bk)
		rs := newRecorder()
		s := openBus(t, testOptions(srv.url(), rs))
		p := openBus(t, testOptions(srv.url(), newRecorder()))
		for _, ch := range []string{"room1", "room2"} {
			if err := s.Subscribe(ch); err != nil {
				t.Fatal(err)
			}
			waitSubscribed(t, p, ch, rs)
		}
		var want1, want2 []string
		for b := range 10 {
			var msgs []Message
			for i := range 100 {
				m := fmt.Sprintf("b%d-%03d", b, i)
				ch := "room1"
				if i%3 == 0 {
					ch = "room2"
				}
				msgs = append(msgs, Message{Channel: ch, Payload: []byte(m)})
				if ch == "room1" {
					want1 = append(want1, m)
				} else {
					want2 = append(want2, m)
				}
				if i == 50 {
					msgs = append(msgs, Message{Channel: "bad name", Payload: []byte("x")})
				}
			}
			n, err := p.PublishBatch(context.Background(), msgs)
			if n != 100 || !errors.Is(err, ErrBadChannel) {
				t.Fatalf("batch %d: PublishBatch = %d, %v; want 100, ErrBadChannel", b, n, err)
			}
		}
		want1 = append(want1, publishN(t, p, "room1", "end", 1)...)
		want2 = append(want2, publishN(t, p, "room2", "end", 1)...)
		waitMessages(t, rs, "room1", want1)
		waitMessages(t, rs, "room2", want2)

		srv.kill()
		waitState(t, p, Down)
		n, err := p.PublishBatch(context.Background(), []Message{{"room1", []byte("lost")}, {"room2", []byte("lost")}})
		if n != 0 || !errors.Is(err, ErrDown) {
			t.Errorf("PublishBatch while down = %d, %v; want 0, ErrDown", n, err)
		}
	})
}

// Unsubscribe stops delivery at once; Subscribe again restarts it; names
// are literal (SUBSCRIBE, not PSUBSCRIBE, and no NATS wildcard).
func TestUnsubscribe(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		srv := startServer(t, bk)
		ra, rb, rp := newRecorder(), newRecorder(), newRecorder()
		a := openBus(t, testOptions(srv.url(), ra))
		b := openBus(t, testOptions(srv.url(), rb))
		p := openBus(t, testOptions(srv.url(), rp))
		for _, x := range []Bus{a, b} {
			if err := x.Subscribe("room1"); err != nil {
				t.Fatal(err)
			}
		}
		if err := a.Subscribe("room?"); err != nil { // a glob to Redis if misused
			t.Fatal(err)
		}
		waitSubscribed(t, p, "room1", ra, rb)
		waitSubscribed(t, p, "room?", ra)

		before := publishN(t, p, "room1", "before", 10)
		waitMessages(t, ra, "room1", before)
		waitMessages(t, rb, "room1", before)
		if err := a.Unsubscribe("room1"); err != nil {
			t.Fatal(err)
		}
		if err := a.Unsubscribe("room1"); err != nil { // idempotent
			t.Fatal(err)
		}
		if err := a.Unsubscribe("never"); err != nil {
			t.Fatal(err)
		}
		// Once b has them all, the server has sent them to whoever it
		// thought subscribed: a must have none of them.
		after := publishN(t, p, "room1", "after", 100)
		waitMessages(t, rb, "room1", slices.Concat(before, after))
		checkMessages(t, ra.got("room1"), before)
		// "room?" matched nothing of room1.
		if got := ra.got("room?"); len(got) != 0 {
			t.Errorf("room? got %v", got)
		}

		if err := a.Subscribe("room1"); err != nil {
			t.Fatal(err)
		}
		waitSubscribed(t, p, "room1", ra)
		waitMessages(t, ra, "room1", slices.Concat(before, publishN(t, p, "room1", "again", 10)))
	})
}

// Bad names are refused with ErrBadChannel by every method.
func TestBadChannel(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		srv := startServer(t, bk)
		b := openBus(t, testOptions(srv.url(), newRecorder()))
		waitState(t, b, Up)
		for _, ch := range []string{"", "a b", "room.*", ">", "a.>", "*", "a..b", ".a", "a.", "x\x00", "x\n"} {
			if err := b.Subscribe(ch); !errors.Is(err, ErrBadChannel) {
				t.Errorf("Subscribe(%q) = %v, want ErrBadChannel", ch, err)
			}
			if err := b.Unsubscribe(ch); !errors.Is(err, ErrBadChannel) {
				t.Errorf("Unsubscribe(%q) = %v, want ErrBadChannel", ch, err)
			}
			if err := b.Publish(context.Background(), ch, []byte("x")); !errors.Is(err, ErrBadChannel) {
				t.Errorf("Publish(%q) = %v, want ErrBadChannel", ch, err)
			}
		}
	})
}

// The server is killed and restarted on its port: Down then Up, reported
// once each; publishing fails with ErrDown meanwhile; subscriptions, also
// one made while down, are back once Up, with nothing lost or doubled.
func TestServerRestart(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		srv := startServer(t, bk)
		rs, rp := newRecorder(), newRecorder()
		s := openBus(t, testOptions(srv.url(), rs))
		p := openBus(t, testOptions(srv.url(), rp))
		for _, ch := range []string{"room1", "gone"} {
			if err := s.Subscribe(ch); err != nil {
				t.Fatal(err)
			}
		}
		waitSubscribed(t, p, "room1", rs)
		waitSubscribed(t, p, "gone", rs)
		waitState(t, s, Up)
		waitState(t, p, Up)
		before := publishN(t, p, "room1", "before", 100)
		waitMessages(t, rs, "room1", before)

		srv.kill()
		waitState(t, s, Down)
		waitState(t, p, Down)
		if err := p.Publish(context.Background(), "room1", []byte("lost")); !errors.Is(err, ErrDown) {
			t.Errorf("Publish while down = %v, want ErrDown", err)
		}
		if err := s.Subscribe("room3"); err != nil { // while down
			t.Fatal(err)
		}
		if err := s.Unsubscribe("gone"); err != nil { // while down
			t.Fatal(err)
		}

		srv.start()
		waitState(t, s, Up)
		waitState(t, p, Up)
		// No probes: Up means the subscriptions are in force.
		after := publishN(t, p, "room1", "after", 100)
		waitMessages(t, rs, "room1", slices.Concat(before, after))
		waitMessages(t, rs, "room3", publishN(t, p, "room3", "r3", 10))
		// "gone" before "last" on one connection: by "last", any "gone"
		// the server sent has arrived.
		publishN(t, p, "gone", "g", 10)
		waitMessages(t, rs, "room1", slices.Concat(before, after, publishN(t, p, "room1", "last", 1)))
		if got := rs.got("gone"); len(got) != 0 {
			t.Errorf("unsubscribed while down, still got %v", got)
		}

		for name, r := range map[string]*recorder{"subscriber": rs, "publisher": rp} {
			states, errs := r.stateLog()
			if want := []State{Up, Down, Up}; !slices.Equal(states, want) {
				t.Errorf("%s: OnState calls %v, want %v", name, states, want)
			}
			if len(errs) == 3 && (errs[0] != nil || errs[1] == nil || errs[2] != nil) {
				t.Errorf("%s: OnState errors %v, want nil, an error, nil", name, errs)
			}
		}
	})
}

// A server that hangs (SIGSTOP: connections still accepted, nothing
// answered) is noticed by the pings, Down, and found again when it resumes.
func TestServerFrozen(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		srv := startServer(t, bk)
		rs := newRecorder()
		o := testOptions(srv.url(), rs)
		o.PingInterval = 300 * time.Millisecond
		s := openBus(t, o)
		p := openBus(t, testOptions(srv.url(), newRecorder()))
		if err := s.Subscribe("room1"); err != nil {
			t.Fatal(err)
		}
		waitSubscribed(t, p, "room1", rs)

		srv.freeze()
		frozen := time.Now()
		waitState(t, s, Down)
		t.Logf("Down %v after the freeze", time.Since(frozen).Round(time.Millisecond))
		srv.thaw()
		waitState(t, s, Up)
		waitState(t, p, Up)
		waitMessages(t, rs, "room1", publishN(t, p, "room1", "m", 100))
		if states, _ := rs.stateLog(); !slices.Equal(states, []State{Up, Down, Up}) {
			t.Errorf("OnState calls %v, want [up down up]", states)
		}
	})
}

// A Bus opened while the server is down reports Down, then connects when
// the server comes up, with the subscription made in the meantime.
func TestOpenWhileDown(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		srv := newServer(t, bk) // not started
		rs := newRecorder()
		start := time.Now()
		s := openBus(t, testOptions(srv.url(), rs))
		if d := time.Since(start); d > time.Second {
			t.Errorf("Open took %v with the server down", d)
		}
		if err := s.Subscribe("room1"); err != nil {
			t.Fatal(err)
		}
		waitState(t, s, Down)
		srv.start()
		waitState(t, s, Up)

		p := openBus(t, testOptions(srv.url(), newRecorder()))
		waitState(t, p, Up)
		waitMessages(t, rs, "room1", publishN(t, p, "room1", "m", 10))
		states, errs := rs.stateLog()
		if want := []State{Down, Up}; !slices.Equal(states, want) {
			t.Errorf("OnState calls %v, want %v", states, want)
		} else if errs[0] == nil {
			t.Errorf("Down reported without its error")
		} else {
			t.Logf("Down: %v", errs[0])
		}
	})
}

// Close stops every goroutine, up or down, promptly; afterwards every
// method returns ErrClosed and no callback runs.
func TestCloseClean(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		srv := startServer(t, bk)
		down := newServer(t, bk) // a port with no server
		ignore := goleak.IgnoreCurrent()

		rs := newRecorder()
		s, err := Open(testOptions(srv.url(), rs))
		if err != nil {
			t.Fatal(err)
		}
		p, err := Open(testOptions(srv.url(), newRecorder()))
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Subscribe("room1"); err != nil {
			t.Fatal(err)
		}
		waitSubscribed(t, p, "room1", rs)
		away, err := Open(testOptions(down.url(), newRecorder()))
		if err != nil {
			t.Fatal(err)
		}
		if err := away.Subscribe("room1"); err != nil {
			t.Fatal(err)
		}
		waitState(t, away, Down)

		for _, b := range []Bus{s, p, away} {
			start := time.Now()
			if err := b.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
			if d := time.Since(start); d > time.Second {
				t.Errorf("Close took %v", d)
			}
			if err := b.Close(); !errors.Is(err, ErrClosed) {
				t.Errorf("second Close = %v, want ErrClosed", err)
			}
			if err := b.Subscribe("room1"); !errors.Is(err, ErrClosed) {
				t.Errorf("Subscribe after Close = %v, want ErrClosed", err)
			}
			if err := b.Unsubscribe("room1"); !errors.Is(err, ErrClosed) {
				t.Errorf("Unsubscribe after Close = %v, want ErrClosed", err)
			}
			if err := b.Publish(context.Background(), "room1", nil); !errors.Is(err, ErrClosed) {
				t.Errorf("Publish after Close = %v, want ErrClosed", err)
			}
		}
		n := len(rs.got("room1"))
		states, _ := rs.stateLog()
		goleak.VerifyNone(t, ignore)
		srv.kill() // would be a Down, were callbacks still running
		if len(rs.got("room1")) != n {
			t.Errorf("handler called after Close")
		}
		if s2, _ := rs.stateLog(); len(s2) != len(states) {
			t.Errorf("OnState called after Close: %v", s2)
		}
	})
}

// Payloads are the handler's: a slice kept from one call is not changed by
// later messages.
func TestPayloadOwned(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		srv := startServer(t, bk)
		rec := newRecorder()
		var mu sync.Mutex
		var kept [][]byte
		o := testOptions(srv.url(), rec)
		o.OnMessage = func(ch string, p []byte) {
			rec.onMessage(ch, p)
			mu.Lock()
			kept = append(kept, p)
			mu.Unlock()
		}
		s := openBus(t, o)
		if err := s.Subscribe("room1"); err != nil {
			t.Fatal(err)
		}
		waitSubscribed(t, s, "room1", rec)
		want := publishN(t, s, "room1", "payload", 50)
		waitMessages(t, rec, "room1", want)
		mu.Lock()
		defer mu.Unlock()
		var msgs []string
		for _, p := range kept {
			if !strings.HasPrefix(string(p), "probe") {
				msgs = append(msgs, string(p))
			}
		}
		if !slices.Equal(msgs, want) {
			t.Errorf("kept payloads changed: %v", fmt.Sprint(msgs[:min(5, len(msgs))]))
		}
	})
}
