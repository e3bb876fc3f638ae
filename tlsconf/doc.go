// Package tlsconf builds the crypto/tls configurations of throng's TLS
// listeners ([tls], server.listen_tls) and of its TLS backends
// (upstream.backends with tls = true), and watches their files.
//
// A Server loads the certificates, the client CA bundle and the session
// ticket keys named by a config.TLS, and hands out the *tls.Config that
// handshakes use now. Reload (on SIGHUP) and Watch (when a file changes on
// disk) replace that configuration whole; a file that does not load
// leaves the previous one in use.
//
// What every configuration offers: TLS 1.2 or 1.3 (tls.min_version), and
// with TLS 1.2 only the ECDHE AEAD suites (AES-GCM and ChaCha20-Poly1305,
// forward secret); TLS 1.3 suites are not configurable in crypto/tls and
// are all AEAD. ALPN offers only "http/1.1", the protocol a WebSocket
// upgrade runs on. CurvePreferences is left nil, so Go's default applies:
// since Go 1.24 it puts the post-quantum hybrid X25519MLKEM768 first,
// then X25519 and the NIST curves (GODEBUG tlsmlkem=0 turns the hybrid
// off for peers that mishandle its large key share).
//
// # Session ticket key file
//
// tls.ticket_key_file lets several throng processes, and restarts of one,
// resume each other's sessions. It is text: one key per non-empty line,
// each the standard base64 (RFC 4648 §4, with padding) of exactly 32
// random bytes, such as `openssl rand -base64 32` prints; lines starting
// with '#' are comments. The first key encrypts new tickets and every key
// decrypts, so a rotation prepends a new line, and drops the oldest line
// once the tickets it encrypted have aged out (crypto/tls honours a
// ticket for at most 7 days). A file without a key, or with a line that
// is not such a key, is an error naming the line. Without the file each process draws
// its own keys and rotates them daily (crypto/tls's automatic keys); they
// survive Reload but not a restart.
//
// Anyone holding the file can decrypt recorded traffic of the sessions it
// covers: keep it readable by throng alone, and rotate it.
package tlsconf
