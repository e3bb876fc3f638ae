// Package codec is throng's pure protocol code: the HTTP/1.1 side of the
// WebSocket opening handshake (RFC 6455 §4, RFC 9112) and WebSocket frame
// headers and close frames (RFC 6455 §5, §7).
//
// The package does no I/O and knows nothing of gnet. Its parsers take bytes the
// engine has already read and never copy them: parsed values are slices into
// the caller's buffer and live as long as it does. Encoders append to a
// caller-owned slice. Nothing on the hot path allocates once caller-owned
// slices have grown to size, and nothing in the package holds mutable state,
// so every function is safe to call from any goroutine on values it owns.
//
// The HTTP side works in three steps: [HeadScanner] finds the end of a head
// as bytes arrive in any split, [ParseRequest] or [ParseResponse] parses the
// complete head, and the Append functions build what the proxy sends on
// ([AppendForwardedRequest], [AppendSwitchingResponse],
// [AppendRelayedHead], [AppendChunkSize], [AppendErrorResponse]).
package codec
