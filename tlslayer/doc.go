// Package tlslayer terminates TLS on an event loop the way kernel TLS does,
// in user space: crypto/tls runs only the handshake, on a goroutine over a
// blocking net.Conn, and what is kept afterwards is the record protection
// of the connection, a [Layer]: per direction an AEAD, an IV and a sequence
// number, and for TLS 1.3 the traffic secret KeyUpdate derives from. The
// event loop then seals and opens raw socket bytes with it. An idle Layer
// holds about 1.8 KB with AES-GCM and 320 bytes with ChaCha20-Poly1305
// (256 bytes after [Layer.Park]), where a tls.Conn holds 3.9-6.7 KB plus an
// input buffer that never shrinks.
//
// The secrets come from a per-handshake KeyLogWriter (NSS key log format),
// or for a resumed TLS 1.2 session from its session state; sequence numbers
// are checked against the records the handshake wrote, not assumed.
//
// Supported: TLS 1.3 with its three suites, and TLS 1.2 with the ECDHE AEAD
// suites of [CipherSuites12]. Renegotiation, TLS 1.3 early data and
// post-handshake client authentication are not.
package tlslayer
