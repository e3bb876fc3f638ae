// Package bench is throng's load generator: the scenarios that measure a
// WebSocket proxy from the outside, each a config, a run and a report.
//
//   - Idle holds many silent (or pinging) sessions and reports what they
//     cost the proxy in memory and kernel sockets.
//   - Echo measures message throughput and latency through an echo backend.
//   - Handshake measures connection set-up: upgrades per second and their
//     latency, with clean closes.
//   - Fanout measures one publisher's messages delivered to many
//     subscribers.
//
// Idle, Echo and Handshake can be split over worker processes (IdleProcs,
// EchoProcs, HandshakeProcs) when one process cannot hold the sockets.
// Every scenario runs over ws:// on gnet, and over wss:// on a TLS client
// (TLSOptions: verification, key exchanges offered, session resumption).
//
// The jobs around the scenarios are packages of their own: bench/backend
// (the echo and fan-out servers put behind the proxy), bench/procs (worker
// processes), bench/sysstat (/proc and slab readers) and bench/wsframe (the
// frame-header parser, independent of the proxy's on purpose). bench
// imports codec and gnet, never the engine, upstream or config.
package bench
