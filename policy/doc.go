// Package policy holds the admission rules the engine applies at the
// upgrade and per message (docs/policy.md): Origin patterns, address
// prefix lists, token buckets in the loops' fixed point, and the bounded
// per-address table behind max_sessions_per_ip and handshakes_per_ip.
// It is pure code: no I/O, no gnet, nothing of throng's imported, so that
// config validates with the same parsers the engine runs.
package policy
