package main

import (
	"flag"
	"fmt"
	"io"

	"github.com/throngproxy/throng/bench"
)

// registerTLSFlags registers the flags of wss:// targets into o: -insecure,
// -ca and -sni.
func registerTLSFlags(fs *flag.FlagSet, o *bench.TLSOptions) {
	fs.BoolVar(&o.Insecure, "insecure", false, "wss: do not verify the server's certificate (self-signed test servers)")
	fs.StringVar(&o.CAFile, "ca", "", "wss: PEM `file` of root certificates to verify the server with (default: the system's)")
	fs.StringVar(&o.ServerName, "sni", "", "wss: server `name` to send (SNI) and verify (default: the URL's host)")
}

// warnTLSFlags warns on stderr when TLS flags come with a URL that is not
// wss://: they do nothing there.
func warnTLSFlags(name string, lf *loadFlags, stderr io.Writer) {
	if lf.tls != (bench.TLSOptions{}) && bench.ClientPath(lf.url) != bench.ClientPathTLS {
		fmt.Fprintf(stderr, "%s: -insecure, -ca and -sni apply to wss:// URLs only; ignored\n", name)
	}
}
