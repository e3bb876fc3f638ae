// Package backend is the WebSocket server that throng's load generator and
// tests put behind the proxy: an echo server that sends every frame back,
// cut-through and byte for byte, and a fan-out server that relays every
// message to the other connections on its request path. Both run on gnet,
// with no goroutine per connection, so the backend is not what a benchmark
// measures.
//
// Serve runs a server until its context is cancelled; Start runs one in the
// background and returns once it listens. The package imports codec (the
// proxy's prebuilt refusals and head scanner) and wsframe, never the engine.
package backend
