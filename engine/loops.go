package engine

import (
	"context"
	"log/slog"
	"net"
	"time"

	"github.com/panjf2000/gnet/v2"
)

// gnet cannot list its event loops (docs/gnet.md §6), yet a loop's warm
// pools must fill before its first client arrives. So at boot the engine
// introduces itself to every loop: it connects to a throwaway loopback
// listener of its own once per loop and registers each socket with
// gnet's engine-level Register, whose round-robin balancer hands the i-th
// one to the i-th loop. OnOpen learns the loop's shard from the socket and
// closes it.

// loopProbe marks a socket enrolled only to make a loop known.
type loopProbe struct{}

// loopProbeTimeout bounds the introductions; a loop not met by then is
// met at its first accepted connection instead.
const loopProbeTimeout = 5 * time.Second

// meetLoops makes a shard for every loop once gnet runs them: its first
// OnTick comes after every loop is registered with the balancer and has
// bound its listeners (OnBoot comes before). A takeover steers the
// listeners first, so that nobody calls this process ready before new
// connections come to it.
func (e *Engine) meetLoops() {
	select {
	case <-e.loopsUp:
	case <-e.stopped:
		return
	}
	if e.takeover {
		e.steerListeners()
	}
	close(e.listening)
	if err := e.introduce(); err != nil {
		e.log.LogAttrs(context.Background(), slog.LevelWarn, "could not meet every event loop at start; warm pools fill from each loop's first client",
			attrErr(err))
	}
}

func (e *Engine) introduce() error {
	ctx, cancel := context.WithTimeout(context.Background(), loopProbeTimeout)
	defer cancel()
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	defer ln.Close()
	go func() {
		// Accept and drop: the enrolled end is closed by its OnOpen.
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_ = c.Close()
		}
	}()
	var d net.Dialer
	for range e.loops {
		c, err := d.DialContext(ctx, "tcp", ln.Addr().String())
		if err != nil {
			return err
		}
		// Register enrols c on the balancer's next loop; only this
		// goroutine calls it, so its round-robin counter is not shared.
		ch, err := e.gnet.Register(gnet.NewNetConnContext(gnet.NewContext(ctx, loopProbe{}), c))
		if err != nil {
			_ = c.Close()
			return err
		}
		select {
		case res := <-ch:
			if res.Err != nil {
				return res.Err
			}
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// meet runs in OnOpen for a loop probe: the loop's shard now exists, and
// with it the loop's warm pools; its accepted sockets inherit keepalive
// from then on.
func (e *Engine) meet(c gnet.Conn) gnet.Action {
	sh := e.shardFor(c.EventLoop())
	sh.syncWarm()
	sh.inheritKeepAlive()
	return gnet.Close
}

// loopsUpTick is the delay OnTick asks for after its first call: it has
// nothing else to do, and the engine's own ticker drives the wheels.
const loopsUpTick = time.Hour

// OnTick runs on gnet's ticker goroutine, started once every loop is
// registered; its first call lets meetLoops go.
func (h *handler) OnTick() (time.Duration, gnet.Action) {
	h.e.loopsUpOnce.Do(func() { close(h.e.loopsUp) })
	return loopsUpTick, gnet.None
}
