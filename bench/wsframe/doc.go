// Package wsframe reads and writes the WebSocket frame headers (RFC 6455
// §5.2) of throng's load generator and of its test backends.
//
// It is deliberately independent of the proxy's own frame code (codec): the
// load generator and its backends exist to check what the proxy relays, and
// a checker that shared the proxy's parser would accept exactly what that
// parser wrongly accepts. Keeping a second, small parser here is the price of
// catching the proxy's parser bugs. It imports only gobwas/ws, for its types.
package wsframe
