package bench

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/netip"
	"runtime"
	"time"
)

// LoadConfig is what the load generators share: where and how the sessions
// connect, and which processes to sample. IdleConfig and EchoConfig embed
// it, so its fields read as theirs (cfg.URL, cfg.Sessions). Zero values take
// the defaults given; each generator's own doc says what it does with PIDs.
type LoadConfig struct {
	// URL is the ws:// or wss:// URL to open sessions on. Required. A
	// wss:// URL runs on the TLS client path (ClientPathTLS).
	URL string
	// Sessions is the number of sessions to open, at least 1. Required by
	// Idle; Echo defaults it to 100.
	Sessions int
	// Rate bounds connects per second. Default 0: unbounded.
	Rate float64
	// Sources are the local addresses sessions connect from, in turn.
	// Default nil: the kernel chooses (see DefaultSources).
	Sources []netip.Addr
	// PIDs are processes to sample (RSS, CPU). Default none.
	PIDs []int
	// Loops is the number of client event loops, at most 256. Default 0:
	// one per CPU.
	Loops int
	// ConnectTimeout bounds each TCP connect. Default 5s.
	ConnectTimeout time.Duration
	// HandshakeTimeout bounds the handshakes still running after the last
	// connect. Default 10s.
	HandshakeTimeout time.Duration
	// TLS says how a wss:// target's certificate is checked. Default:
	// against the system's roots and the URL's host.
	TLS TLSOptions
	// Live, if set, receives the run's counters as it goes, for a progress
	// line (see Progress). Default nil.
	Live *Live `json:"-"`

	// tlsConf is the TLS client config of a wss:// URL, built from TLS by
	// validate (which reads TLS.CAFile, once); nil otherwise.
	tlsConf *tls.Config

	// ready, if set, is called once the sessions are connected (handshake:
	// once the client runs), before the held or measured time; it returns
	// when the run may go on. A worker process waits there for its parent
	// (procs.go).
	ready func(ctx context.Context)
}

// awaitReady calls c.ready, if set.
func (c *LoadConfig) awaitReady(ctx context.Context) {
	if c.ready != nil {
		c.ready(ctx)
	}
}

// Defaults and limits for LoadConfig.
const (
	defaultConnectTimeout   = 5 * time.Second
	defaultHandshakeTimeout = 10 * time.Second
	maxClientLoops          = 256
)

// withDefaults returns c with zero values replaced by defaults. Sessions has
// no shared default: each generator applies its own.
func (c LoadConfig) withDefaults() LoadConfig {
	if c.ConnectTimeout == 0 {
		c.ConnectTimeout = defaultConnectTimeout
	}
	if c.HandshakeTimeout == 0 {
		c.HandshakeTimeout = defaultHandshakeTimeout
	}
	if c.Loops == 0 {
		c.Loops = runtime.NumCPU()
	}
	return c
}

// validate reports every problem with c (after defaults) at once, joined;
// timeouts are the embedding config's own durations, checked with c's so
// that a negative one is reported once as ErrBadTimeout. For a wss:// URL
// it builds c.tlsConf, which the run then uses.
func (c *LoadConfig) validate(timeouts ...time.Duration) error {
	var errs []error
	c.tlsConf = nil
	if t, err := parseClientTarget(c.URL); err != nil {
		errs = append(errs, err)
	} else if t.tls {
		c.tlsConf, err = c.TLS.clientConfig(t)
		errs = append(errs, err)
	}
	if c.Sessions < 1 {
		errs = append(errs, ErrBadSessions)
	}
	if c.Rate < 0 {
		errs = append(errs, ErrBadRate)
	}
	if c.Loops < 1 || c.Loops > maxClientLoops {
		errs = append(errs, ErrBadLoops)
	}
	if c.ConnectTimeout < 0 || c.HandshakeTimeout < 0 || anyNegative(timeouts) {
		errs = append(errs, ErrBadTimeout)
	}
	errs = append(errs, validatePIDs(c.PIDs))
	return errors.Join(errs...)
}

// anyNegative reports whether any of ds is negative.
func anyNegative(ds []time.Duration) bool {
	for _, d := range ds {
		if d < 0 {
			return true
		}
	}
	return false
}

// validatePIDs checks that every pid is positive.
func validatePIDs(pids []int) error {
	for _, p := range pids {
		if p <= 0 {
			return fmt.Errorf("%w: %d", ErrBadPID, p)
		}
	}
	return nil
}
