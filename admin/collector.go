package admin

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/throngproxy/throng/engine"
)

// Metric descriptions; every name starts with throng_ (docs/operations.md
// lists them). Labels are bounded: route, upstream, backend, reason,
// status, direction, loop, result; never a client, path or request id.
var (
	descSessionsOpen    = desc("sessions_open", "Sessions open now, by route and upstream.", "route", "upstream")
	descSessionsTotal   = desc("sessions_total", "Sessions opened (101 relayed), by route and upstream.", "route", "upstream")
	descClosed          = desc("sessions_closed_total", "Open sessions that started closing, by the first reason.", "reason")
	descRefusals        = desc("refusals_total", "Handshakes answered with an HTTP status other than 101, by status.", "status")
	descHandshake       = desc("handshake_duration_seconds", "Accept to relayed 101.")
	descConnect         = desc("upstream_connect_duration_seconds", "TCP connects to backends, failed ones included.")
	descMessages        = desc("messages_total", "Data messages relayed, by route, upstream and direction (in: client to backend).", "route", "upstream", "direction")
	descBytes           = desc("bytes_total", "Frame bytes relayed, by route, upstream and direction (in: client to backend).", "route", "upstream", "direction")
	descAccepted        = desc("connections_accepted_total", "Client connections accepted.")
	descRetries         = desc("retries_total", "Handshake attempts retried on another backend.")
	descEjections       = desc("backend_ejections_total", "Backends ejected by passive health checks.")
	descHealthFlips     = desc("backend_health_flips_total", "Backends taken down or brought up by active health checks.")
	descBackendState    = desc("backend_state", "1 for a backend's current state (healthy, ejected, down).", "upstream", "backend", "state")
	descBackendUp       = desc("backend_up", "1 while a backend takes sessions, 0 while ejected or down.", "upstream", "backend")
	descBackendLive     = desc("backend_sessions", "Live sessions on a backend.", "upstream", "backend")
	descDials           = desc("upstream_dials_total", "Backend connects started (warm-pool fills apart).")
	descDialFailures    = desc("upstream_dial_failures_total", "Backend connects that failed.")
	descWarmIdle        = desc("warm_pool_sockets", "Warm backend sockets waiting, all loops.")
	descWarmHits        = desc("warm_pool_hits_total", "Attempts that took a warm socket.")
	descWarmMisses      = desc("warm_pool_misses_total", "Attempts on a backend with a warm pool that found it empty.")
	descWarmStale       = desc("warm_pool_stale_total", "Warm sockets found closed by their backend.")
	descLoopSessions    = desc("loop_sessions", "Sessions (and refused connections) each event loop holds.", "loop")
	descSessionCap      = desc("session_cap", "Most proxied sessions admitted at once (max_sessions, or derived from RLIMIT_NOFILE); a fan-out subscriber counts half.")
	descDescriptors     = desc("descriptors_in_use", "Open file descriptors of the process.")
	descSlowConsumers   = desc("slow_consumers_total", "Sessions closed for a peer that did not read (timeouts.write or write_buffer_limit).")
	descPauses          = desc("flow_pauses_total", "Sockets flow control stopped reading, to slow their sender.")
	descDetached        = desc("flow_paused_sockets", "Sockets flow control holds paused now.")
	descProtocolErrors  = desc("protocol_errors_total", "Sessions closed for an RFC 6455 violation.")
	descHandshakeTO     = desc("handshake_timeouts_total", "Handshakes that ran out of time.")
	descBadMoves        = desc("bad_transitions_total", "Session state changes outside the transition table: 0 unless the proxy is wrong.")
	descReloads         = desc("config_reloads_total", "Configuration reloads (SIGHUP), by result.", "result")
	descConfigInfo      = desc("config_info", "1, labelled with the sha256 of the configuration file in force.", "sha256")
	descConfigLoaded    = desc("config_loaded_timestamp_seconds", "When the configuration in force was loaded.")
	descBuildInfo       = desc("build_info", "1, labelled with throng's version.", "version")
	descDraining        = desc("draining", "1 while draining (SIGTERM).")
	descTLSHandshakes   = desc("tls_handshakes_total", "TLS handshakes with clients, by result (full, resumed, failed; busy: refused while tls.max_handshakes were in progress).", "result")
	descTLSInProgress   = desc("tls_handshakes_in_progress", "TLS handshakes with clients in progress now.")
	descTLSAlerts       = desc("tls_record_errors_total", "TLS sessions ended by a bad record from the client (a fatal alert went back).")
	descCertExpiry      = desc("tls_certificate_expiry_timestamp_seconds", "When each certificate in use expires, by its cert file.", "file")
	descPolicyRefused   = desc("policy_refused_total", "Handshakes refused by admission policy (docs/policy.md), by reason: address (allow_cidrs, deny_cidrs), origin, handshake_rate, sessions_per_ip, header_size, jwt, jwt_claims.", "reason")
	descFanChannels     = desc("fanout_channels", "Fan-out channels with subscribers in this process (each one subscription on its bus).")
	descFanFeeds        = desc("fanout_upstream_feeds", "Upstream WebSockets of source = \"upstream\" fan-out channels: one per channel per process.")
	descFanIn           = desc("fanout_messages_in_total", "Messages fan-out routes received from their bus.")
	descFanOut          = desc("fanout_deliveries_total", "Frames written or queued to fan-out subscribers.")
	descFanSkipped      = desc("fanout_skipped_total", "Deliveries skipped for subscribers past fanout_queue_limit (slow_subscriber = \"skip\"), or missed by a loop whose queue was full.")
	descFanSlow         = desc("fanout_slow_closed_total", "Fan-out subscribers closed for falling fanout_queue_limit behind (slow_subscriber = \"close\").")
	descFanClient       = desc("fanout_client_messages_total", "Subscribers' own messages, by result: dropped (client_messages = \"drop\", or no room to publish), published, failed (the bus refused or was down).", "result")
	descFanNotText      = desc("fanout_not_utf8_total", "Messages kept from text fan-out routes because they were not UTF-8 text (RFC 6455 §8.1: every subscriber would have to fail), by where they came from: bus, client.", "from")
	descFanBusUp        = desc("fanout_bus_up", "1 while the bus is connected, by bus (redis, nats); present once a fan-out route used it.", "bus")
	descFanBusDropped   = desc("fanout_bus_dropped_total", "Messages the bus client dropped before throng saw them (NATS slow consumer), by bus.", "bus")
	descPingsSent       = desc("pings_sent_total", "Pings the proxy sent to clients silent for keepalive.ping_interval (a missing Pong closes the session as ping_timeout).")
	descMessagesDropped = desc("messages_dropped_total", "Client messages dropped whole by rate_limit_action = \"drop\" (messages_per_session, bytes_per_session).")
	descProxyRefused    = desc("proxy_protocol_refused_total", "Connections closed for a missing or bad PROXY header, or a sender not in trusted_proxies.")
)

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc("throng_"+name, help, labels, nil)
}

// collector turns the engine's counters into metrics at scrape time.
type collector struct{ s *Server }

// Describe sends nothing: the set of series depends on the configuration,
// so the collector is unchecked.
func (*collector) Describe(chan<- *prometheus.Desc) {}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	e := c.s.e
	st := e.Stats()
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	for _, r := range e.RouteStats() {
		gauge(descSessionsOpen, float64(r.Open), r.Route, r.Upstream)
		counter(descSessionsTotal, r.Opened, r.Route, r.Upstream)
		counter(descMessages, r.MessagesIn, r.Route, r.Upstream, "in")
		counter(descMessages, r.MessagesOut, r.Route, r.Upstream, "out")
		counter(descBytes, r.BytesIn, r.Route, r.Upstream, "in")
		counter(descBytes, r.BytesOut, r.Route, r.Upstream, "out")
	}
	for reason, n := range e.ClosedByReason() {
		counter(descClosed, n, reason)
	}
	for status, n := range e.Refusals() {
		counter(descRefusals, n, strconv.Itoa(status))
	}
	histogram(ch, descHandshake, e.HandshakeDurations())
	histogram(ch, descConnect, e.ConnectDurations())
	counter(descAccepted, st.Accepted)
	counter(descRetries, st.Retries)
	counter(descEjections, st.Ejections)
	counter(descHealthFlips, st.HealthFlips)
	for _, b := range e.Backends() {
		for _, state := range [...]string{"healthy", "ejected", "down"} {
			v := 0.0
			if b.State == state {
				v = 1
			}
			gauge(descBackendState, v, b.Upstream, b.Addr, state)
		}
		up := 0.0
		if b.State == "healthy" {
			up = 1
		}
		gauge(descBackendUp, up, b.Upstream, b.Addr)
		gauge(descBackendLive, float64(b.Sessions), b.Upstream, b.Addr)
	}
	counter(descDials, st.Dials)
	counter(descDialFailures, st.DialFailed)
	gauge(descWarmIdle, float64(st.WarmIdle))
	counter(descWarmHits, st.WarmUsed)
	counter(descWarmMisses, st.WarmMisses)
	counter(descWarmStale, st.WarmStale)
	for i, n := range e.LoopSessions() {
		gauge(descLoopSessions, float64(n), strconv.Itoa(i))
	}
	gauge(descSessionCap, float64(e.SessionCap()))
	gauge(descDescriptors, float64(engine.Descriptors()))
	counter(descSlowConsumers, st.SlowConsumer)
	counter(descPauses, st.Pauses)
	gauge(descDetached, float64(st.Detached))
	counter(descProtocolErrors, st.ProtocolError)
	counter(descHandshakeTO, st.HandshakeTimeout)
	counter(descBadMoves, st.BadTransitions)
	counter(descReloads, c.s.reloadsOK.Load(), "ok")
	counter(descReloads, c.s.reloadsKO.Load(), "failed")
	if cs := c.s.config.Load(); cs != nil {
		gauge(descConfigInfo, 1, cs.sha256)
		gauge(descConfigLoaded, float64(cs.loaded.UnixNano())/1e9)
	}
	gauge(descBuildInfo, 1, c.s.opts.Version)
	draining := 0.0
	if e.Draining() {
		draining = 1
	}
	gauge(descDraining, draining)
	counter(descTLSHandshakes, st.TLSHandshakes-st.TLSResumed, "full")
	counter(descTLSHandshakes, st.TLSResumed, "resumed")
	counter(descTLSHandshakes, st.TLSFailed, "failed")
	counter(descTLSHandshakes, st.TLSBusy, "busy")
	gauge(descTLSInProgress, float64(e.TLSHandshaking()))
	counter(descTLSAlerts, st.TLSAlerts)
	for _, cert := range e.Certificates() {
		gauge(descCertExpiry, float64(cert.NotAfter.Unix()), cert.File)
	}
	counter(descProxyRefused, st.ProxyRefused)
	for i, name := range engine.PolicyReasons() {
		counter(descPolicyRefused, st.PolicyRefused[i], name)
	}
	counter(descMessagesDropped, st.MessagesDropped)
	counter(descPingsSent, st.PingsSent)
	fs := e.FanoutStats()
	gauge(descFanChannels, float64(fs.Channels))
	gauge(descFanFeeds, float64(fs.Feeds))
	counter(descFanIn, fs.MessagesIn)
	counter(descFanOut, fs.Deliveries)
	counter(descFanSkipped, fs.Skipped+fs.LoopDrops)
	counter(descFanSlow, fs.SlowClosed)
	counter(descFanClient, fs.ClientDropped, "dropped")
	counter(descFanClient, fs.Published, "published")
	counter(descFanClient, fs.PublishFailed, "failed")
	counter(descFanNotText, fs.NotTextBus, "bus")
	counter(descFanNotText, fs.NotTextClient, "client")
	for src, up := range fs.BusUp {
		v := 0.0
		if up {
			v = 1
		}
		gauge(descFanBusUp, v, src)
		counter(descFanBusDropped, fs.BusDropped[src], src)
	}
}

// histogram sends h as a Prometheus histogram.
func histogram(ch chan<- prometheus.Metric, d *prometheus.Desc, h engine.Histogram) {
	buckets := make(map[float64]uint64, len(h.Bounds))
	for i, b := range h.Bounds {
		buckets[b] = h.Counts[i]
	}
	ch <- prometheus.MustNewConstHistogram(d, h.Count, h.Sum, buckets)
}
