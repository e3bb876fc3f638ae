// Package admin is the operator's HTTP listener ([admin] listen): Prometheus
// metrics, liveness and readiness, a JSON status view and pprof
// (docs/operations.md). It runs on goroutines of its own, never on the event
// loops; everything it shows is read from the engine's counters at request
// time.
package admin

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/pprof"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/throngproxy/throng/engine"
	"github.com/throngproxy/throng/reuseport"
)

// Options describe the process the admin listener reports on.
type Options struct {
	Version    string
	ConfigPath string
	// Takeover shares the admin address with an older process (throng
	// -takeover) and takes its new requests, as the engine does with the
	// listeners: /readyz then answers for the new process.
	Takeover bool
	// Share shares the admin address with other throng processes (throng
	// -share) without taking their requests: each request reaches one of
	// them.
	Share bool
}

// Server is the admin listener. Its zero value is not usable: call New.
type Server struct {
	e     *engine.Engine
	opts  Options
	start time.Time
	reg   *prometheus.Registry

	config    atomic.Pointer[configState]
	reloadsOK atomic.Uint64
	reloadsKO atomic.Uint64

	mu   sync.Mutex // guards srv and addr across Listen and Close
	srv  *http.Server
	addr string
	// steerErr says why the last Listen could not steer a takeover's
	// requests here (SteerError).
	steerErr error
}

// SteerError returns why the admin listener does not take every new
// request of a shared address (no CAP_BPF, for example), or nil.
func (s *Server) SteerError() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.steerErr
}

// configState is the configuration in force: its file's hash and when it
// was loaded.
type configState struct {
	sha256 string
	loaded time.Time
}

// New returns the admin server for e; Listen starts serving.
func New(e *engine.Engine, o Options) *Server {
	s := &Server{e: e, opts: o, start: time.Now(), reg: prometheus.NewRegistry()}
	s.reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		&collector{s: s},
	)
	return s
}

// ConfigLoaded records the configuration file's bytes now in force, at
// start or after a reload that succeeded.
func (s *Server) ConfigLoaded(data []byte) {
	sum := sha256.Sum256(data)
	s.config.Store(&configState{sha256: hex.EncodeToString(sum[:]), loaded: time.Now()})
}

// Reloaded counts a reload: ok, or failed (the old configuration keeps
// serving).
func (s *Server) Reloaded(ok bool) {
	if ok {
		s.reloadsOK.Add(1)
	} else {
		s.reloadsKO.Add(1)
	}
}

// Listen serves on addr ("" stops serving), replacing the listener of an
// earlier call when addr changed. It returns once addr is bound.
func (s *Server) Listen(addr string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if addr == s.addr {
		return nil
	}
	if s.srv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_ = s.srv.Shutdown(ctx)
		cancel()
		s.srv, s.addr = nil, ""
	}
	if addr == "" {
		return nil
	}
	// SO_REUSEPORT, so that a successor started with -takeover, or a
	// process started with -share, can share the address (package
	// reuseport).
	ln, err := reuseport.Listen(context.Background(), addr, s.opts.Takeover || s.opts.Share)
	if err != nil {
		return fmt.Errorf("admin: %w", err)
	}
	s.steerErr = nil
	if s.opts.Takeover {
		s.steerErr = reuseport.SteerListener(ln)
	}
	srv := &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: 5 * time.Second,
		IdleTimeout:       60 * time.Second,
	}
	go func() { _ = srv.Serve(ln) }()
	s.srv, s.addr = srv, addr
	return nil
}

// Close stops the listener.
func (s *Server) Close() error { return s.Listen("") }

// Handler returns the admin endpoints.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("/readyz", s.readyz)
	mux.HandleFunc("/api/v1/status", s.status)
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return mux
}

// readyz answers 200 while the listeners are bound and every route has a
// backend that could take a session; 503 otherwise, and while draining.
func (s *Server) readyz(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if why := s.unready(); len(why) > 0 {
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte(strings.Join(why, "\n") + "\n"))
		return
	}
	_, _ = w.Write([]byte("ready\n"))
}

// unready says why /readyz answers 503; empty when ready.
func (s *Server) unready() []string {
	var why []string
	switch {
	case s.e.Draining():
		why = append(why, "draining")
	case !s.e.Listening():
		why = append(why, "listeners not bound")
	}
	for _, r := range s.e.UnreadyRoutes() {
		why = append(why, "route "+r+": no backend available")
	}
	return why
}

// Status is the JSON document of /api/v1/status.
type Status struct {
	Version string `json:"version"`
	// PID and Ready tell, in one answer, which process answered and
	// whether its /readyz would say 200: during a takeover two processes
	// share the address.
	PID           int             `json:"pid"`
	Ready         bool            `json:"ready"`
	Config        ConfigStatus    `json:"config"`
	UptimeSeconds float64         `json:"uptime_seconds"`
	Draining      bool            `json:"draining"`
	Sessions      int64           `json:"sessions"`
	SessionCap    int64           `json:"session_cap"`
	Loops         []LoopStatus    `json:"loops"`
	Upstreams     []UpstreamState `json:"upstreams"`
	Warm          WarmStatus      `json:"warm"`
}

// ConfigStatus names the configuration in force.
type ConfigStatus struct {
	Path     string    `json:"path"`
	SHA256   string    `json:"sha256"`
	LoadedAt time.Time `json:"loaded_at"`
}

// LoopStatus is one event loop.
type LoopStatus struct {
	Loop     int   `json:"loop"`
	Sessions int64 `json:"sessions"`
}

// UpstreamState is one upstream of the configuration in force.
type UpstreamState struct {
	Name     string         `json:"name"`
	Backends []BackendState `json:"backends"`
}

// BackendState is one backend: its state is healthy, ejected (passive
// checks) or down (active checks).
type BackendState struct {
	Addr     string `json:"addr"`
	State    string `json:"state"`
	Sessions int64  `json:"sessions"`
}

// WarmStatus sums the warm pools of every loop.
type WarmStatus struct {
	Idle  int64  `json:"idle"`
	Hits  uint64 `json:"hits"`
	Stale uint64 `json:"stale"`
}

func (s *Server) status(w http.ResponseWriter, _ *http.Request) {
	st := s.e.Stats()
	out := Status{
		Version:       s.opts.Version,
		PID:           os.Getpid(),
		Ready:         len(s.unready()) == 0,
		Config:        ConfigStatus{Path: s.opts.ConfigPath},
		UptimeSeconds: time.Since(s.start).Seconds(),
		Draining:      s.e.Draining(),
		Sessions:      st.Active,
		SessionCap:    s.e.SessionCap(),
		Loops:         []LoopStatus{},
		Upstreams:     []UpstreamState{},
		Warm:          WarmStatus{Idle: st.WarmIdle, Hits: st.WarmUsed, Stale: st.WarmStale},
	}
	if c := s.config.Load(); c != nil {
		out.Config.SHA256, out.Config.LoadedAt = c.sha256, c.loaded
	}
	for i, n := range s.e.LoopSessions() {
		out.Loops = append(out.Loops, LoopStatus{Loop: i, Sessions: n})
	}
	for _, b := range s.e.Backends() {
		if k := len(out.Upstreams); k == 0 || out.Upstreams[k-1].Name != b.Upstream {
			out.Upstreams = append(out.Upstreams, UpstreamState{Name: b.Upstream})
		}
		u := &out.Upstreams[len(out.Upstreams)-1]
		u.Backends = append(u.Backends, BackendState{Addr: b.Addr, State: b.State, Sessions: b.Sessions})
	}
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(out) // a client gone mid-answer is nothing to report
}
