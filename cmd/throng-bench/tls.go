package main

import (
	"crypto/tls"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/throngproxy/throng/bench"
)

// registerTLSFlags registers the flags of wss:// targets into o: -insecure,
// -ca, -sni, -curves and -resume.
func registerTLSFlags(fs *flag.FlagSet, o *bench.TLSOptions) {
	fs.BoolVar(&o.Insecure, "insecure", false, "wss: do not verify the server's certificate (self-signed test servers)")
	fs.StringVar(&o.CAFile, "ca", "", "wss: PEM `file` of root certificates to verify the server with (default: the system's)")
	fs.StringVar(&o.ServerName, "sni", "", "wss: server `name` to send (SNI) and verify (default: the URL's host)")
	fs.Var((*curvesFlag)(&o.Curves), "curves", "wss: key exchanges to offer, a comma `list` of x25519, p256, p384, x25519mlkem768\n"+
		"(crypto/tls picks among them in its own order; default: Go's default list)")
	fs.BoolVar(&o.Resume, "resume", false, "wss: share one TLS session cache between the run's connections, so that handshakes\n"+
		"after the first tickets came back resume (reports count them); default: every handshake is full")
}

// curvesFlag is -curves: bench.ParseCurves' list.
type curvesFlag []tls.CurveID

func (c *curvesFlag) String() string {
	if c == nil || len(*c) == 0 {
		return ""
	}
	names := make([]string, len(*c))
	for i, id := range *c {
		names[i] = bench.CurveName(id)
	}
	return strings.Join(names, ",")
}

func (c *curvesFlag) Set(s string) error {
	ids, err := bench.ParseCurves(s)
	if err != nil {
		return err
	}
	*c = ids
	return nil
}

// warnTLSFlags warns on stderr when TLS flags come with a URL that is not
// wss://: they do nothing there.
func warnTLSFlags(name string, lf *loadFlags, stderr io.Writer) {
	if !lf.tls.IsZero() && bench.ClientPath(lf.url) != bench.ClientPathTLS {
		fmt.Fprintf(stderr, "%s: -insecure, -ca, -sni, -curves and -resume apply to wss:// URLs only; ignored\n", name)
	}
}
