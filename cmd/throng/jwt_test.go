package main

// JWT at the upgrade (docs/policy.md), through the real binary: every
// refusal with its status and challenge, tokens from the header, the query
// and the offered subprotocols (and stripped from the last two), claims
// forwarded with spoofed copies removed, and key files reread on SIGHUP.

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/gobwas/ws"
	"github.com/golang-jwt/jwt/v5"

	"github.com/throngproxy/throng/engine/enginetest"
)

// headEchoBackend is a WebSocket backend on addr that answers each upgrade
// with a 101 (choosing the first subprotocol offered), sends the request
// head it received as its first text message, then echoes data frames.
func headEchoBackend(t *testing.T, addr string) {
	t.Helper()
	fakeBackend(t, addr, func(c net.Conn) {
		_ = c.SetDeadline(time.Now().Add(30 * time.Second))
		br := bufio.NewReader(c)
		var head strings.Builder
		for {
			l, err := br.ReadString('\n')
			if err != nil {
				return
			}
			head.WriteString(l)
			if l == "\r\n" {
				break
			}
		}
		h := head.String()
		resp := "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
			"Sec-WebSocket-Accept: " + wsAcceptKey(headValue(h, "Sec-WebSocket-Key")) + "\r\n"
		if p, _, _ := strings.Cut(headValue(h, "Sec-WebSocket-Protocol"), ","); p != "" {
			resp += "Sec-WebSocket-Protocol: " + strings.TrimSpace(p) + "\r\n"
		}
		if _, err := c.Write(append([]byte(resp+"\r\n"), wireFrame(true, 0, ws.OpText, false, []byte(h))...)); err != nil {
			return
		}
		for {
			f, err := ws.ReadFrame(br)
			if err != nil {
				return
			}
			if f.Header.Masked {
				ws.Cipher(f.Payload, f.Header.Mask, 0)
			}
			switch f.Header.OpCode {
			case ws.OpClose:
				_, _ = c.Write(wireFrame(true, 0, ws.OpClose, false, f.Payload))
				return
			case ws.OpText, ws.OpBinary, ws.OpContinuation:
				_, _ = c.Write(wireFrame(f.Header.Fin, 0, f.Header.OpCode, false, f.Payload))
			}
		}
	})
}

// jwtKeys are the test's signing keys and the files throng reads.
type jwtKeys struct {
	dir           string
	secret        []byte
	rsa           *rsa.PrivateKey
	ec, ec2       *ecdsa.PrivateKey
	hsFile, rsPEM string
	jwks          string
}

func newJWTKeys(t *testing.T) *jwtKeys {
	t.Helper()
	k := &jwtKeys{dir: t.TempDir(), secret: []byte("a secret of thirty-two bytes....")}
	var err error
	if k.rsa, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
		t.Fatal(err)
	}
	if k.ec, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
		t.Fatal(err)
	}
	if k.ec2, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
		t.Fatal(err)
	}
	k.hsFile = k.write(t, "hs.secret", append(append([]byte{}, k.secret...), '\n'))
	der, err := x509.MarshalPKIXPublicKey(k.rsa.Public())
	if err != nil {
		t.Fatal(err)
	}
	k.rsPEM = k.write(t, "rs.pem", pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
	k.jwks = filepath.Join(k.dir, "jwks.json")
	k.writeJWKS(t, "k1", k.ec)
	return k
}

func (k *jwtKeys) write(t *testing.T, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(k.dir, name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// writeJWKS makes the JWKS file hold only key, under kid.
func (k *jwtKeys) writeJWKS(t *testing.T, kid string, key *ecdsa.PrivateKey) {
	t.Helper()
	data, err := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: key.Public(), KeyID: kid, Algorithm: "ES256", Use: "sig"}}})
	if err != nil {
		t.Fatal(err)
	}
	k.write(t, "jwks.json", data)
}

// token signs claims (plus a one-minute exp unless they set one).
func token(t testing.TB, m jwt.SigningMethod, key any, claims jwt.MapClaims, kid string) string {
	t.Helper()
	if _, ok := claims["exp"]; !ok {
		claims["exp"] = time.Now().Add(time.Minute).Unix()
	}
	tok := jwt.NewWithClaims(m, claims)
	if kid != "" {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func jwtConfig(addr, admin, backend string, k *jwtKeys) string {
	return basicConfig(addr, []string{backend}, fmt.Sprintf(`[admin]
listen = %q

[[route]]
path_prefix = "/hs"
upstream = "main"
[route.jwt]
hs256_secret_file = %q
issuer = "https://idp.test"
audience = "chat"
token_from = ["header", "query:access_token", "protocol"]
forward_claims = { sub = "X-User-Id" }
required_claims = { scope = "chat" }

[[route]]
path_prefix = "/rs"
upstream = "main"
[route.jwt]
public_key_files = [%q]

[[route]]
path_prefix = "/jwks"
upstream = "main"
[route.jwt]
jwks_file = %q
`, admin, k.hsFile, k.rsPEM, k.jwks))
}

func TestJWT(t *testing.T) {
	host := newHost()
	backend := net.JoinHostPort(host, "19001")
	headEchoBackend(t, backend)
	addr, admin := net.JoinHostPort(host, "18080"), net.JoinHostPort(host, "18090")
	k := newJWTKeys(t)
	th := startThrong(t, addr, jwtConfig(addr, admin, backend, k))

	bystander := dialWS(t, addr, "/")
	if f := readFrame(t, bystander, 5*time.Second); f.Header.OpCode != ws.OpText {
		t.Fatalf("bystander's first frame %v", f.Header)
	}

	good := func() jwt.MapClaims {
		return jwt.MapClaims{"sub": "u1", "iss": "https://idp.test", "aud": "chat", "scope": "read chat"}
	}
	with := func(key string, v any) jwt.MapClaims { c := good(); c[key] = v; return c }
	hs := func(c jwt.MapClaims) string { return token(t, jwt.SigningMethodHS256, k.secret, c, "") }
	rsaPub, _ := os.ReadFile(k.rsPEM)
	none, _ := jwt.NewWithClaims(jwt.SigningMethodNone, good()).SignedString(jwt.UnsafeAllowNoneSignatureType)

	// seen upgrades and returns the head the backend received.
	seen := func(t *testing.T, path string, extra ...string) (string, string) {
		t.Helper()
		c, br, st, head := handshakeFrom(t, host, addr, path, extra...)
		if st != 101 {
			t.Fatalf("%s %v: status %d, want 101:\n%s", path, extra, st, head)
		}
		f, err := ws.ReadFrame(br)
		if err != nil || f.Header.OpCode != ws.OpText {
			t.Fatalf("backend's head message: %v %v", f.Header, err)
		}
		c.Close()
		return head, string(f.Payload)
	}
	refused := []struct {
		name, path, auth string
		status           int
		challenge        string
	}{
		{"no token", "/hs", "", 401, `WWW-Authenticate: Bearer realm="throng"`},
		{"expired", "/hs", hs(with("exp", time.Now().Add(-time.Minute).Unix())), 401, "the token has expired"},
		{"forged", "/hs", token(t, jwt.SigningMethodHS256, []byte("another secret of thirty-two b.."), good(), ""), 401, "signature does not verify"},
		{"wrong audience", "/hs", hs(with("aud", "admin")), 401, "another audience"},
		{"wrong issuer", "/hs", hs(with("iss", "https://evil.test")), 401, "another issuer"},
		{"alg none", "/hs", none, 401, `error="invalid_token"`},
		{"malformed", "/hs", "eyJhbGciOiJIUzI1NiJ9.garbage", 401, "malformed"},
		{"HS/RS confusion", "/rs", token(t, jwt.SigningMethodHS256, rsaPub, jwt.MapClaims{"sub": "u1"}, ""), 401, `error="invalid_token"`},
		{"EC token on the RSA route", "/rs", token(t, jwt.SigningMethodES256, k.ec, jwt.MapClaims{"sub": "u1"}, ""), 401, `error="invalid_token"`},
		{"missing scope", "/hs", hs(with("scope", "read")), 403, `error="insufficient_scope"`},
	}
	for _, tt := range refused {
		t.Run(tt.name, func(t *testing.T) {
			var extra []string
			if tt.auth != "" {
				extra = append(extra, "Authorization: Bearer "+tt.auth)
			}
			c, _, st, head := handshakeFrom(t, host, addr, tt.path, extra...)
			if st != tt.status {
				t.Fatalf("status %d, want %d:\n%s", st, tt.status, head)
			}
			if tt.status == 401 && !strings.Contains(head, "\r\nWWW-Authenticate: Bearer realm=\"throng\"") || !strings.Contains(head, tt.challenge) {
				t.Fatalf("answer lacks %q:\n%s", tt.challenge, head)
			}
			expectEOF(t, c, 5*time.Second)
		})
	}

	t.Run("RS256", func(t *testing.T) {
		seen(t, "/rs", "Authorization: Bearer "+token(t, jwt.SigningMethodRS256, k.rsa, jwt.MapClaims{"sub": "u1"}, ""))
	})
	t.Run("ES256 from the JWKS", func(t *testing.T) {
		seen(t, "/jwks", "Authorization: Bearer "+token(t, jwt.SigningMethodES256, k.ec, jwt.MapClaims{"sub": "u1"}, "k1"))
	})
	t.Run("claims forwarded, spoofed copies removed", func(t *testing.T) {
		_, up := seen(t, "/hs", "Authorization: Bearer "+hs(good()), "X-User-Id: admin", "x-user-id: root")
		if n := strings.Count(strings.ToLower(up), "x-user-id:"); n != 1 || headValue(up, "X-User-Id") != "u1" {
			t.Fatalf("backend saw X-User-Id %d times, first %q:\n%s", n, headValue(up, "X-User-Id"), up)
		}
	})
	t.Run("query token stripped", func(t *testing.T) {
		_, up := seen(t, "/hs?room=7&access_token="+hs(good())+"&x=1")
		if line, _, _ := strings.Cut(up, "\r\n"); line != "GET /hs?room=7&x=1 HTTP/1.1" {
			t.Fatalf("backend's request line %q", line)
		}
		if headValue(up, "X-User-Id") != "u1" {
			t.Fatalf("claim not forwarded:\n%s", up)
		}
	})
	t.Run("protocol token stripped", func(t *testing.T) {
		tok := hs(good())
		head, up := seen(t, "/hs", "Sec-WebSocket-Protocol: chat, "+tok)
		if got := headValue(up, "Sec-WebSocket-Protocol"); got != "chat" || strings.Contains(up, tok) {
			t.Fatalf("backend saw protocols %q (token in its head: %v)", got, strings.Contains(up, tok))
		}
		if got := headerValue(head, "Sec-WebSocket-Protocol"); got != "chat" {
			t.Fatalf("client's 101 chose %q", got)
		}
	})

	t.Run("keys reread on SIGHUP", func(t *testing.T) {
		old := token(t, jwt.SigningMethodES256, k.ec, jwt.MapClaims{"sub": "u1"}, "k1")
		k.writeJWKS(t, "k2", k.ec2)
		_ = th.cmd.Process.Signal(syscall.SIGHUP)
		enginetest.WaitFor(t, "the reload", func() bool {
			return metricValue(scrape(t, admin), "throng_config_reloads_total", "result", "ok") == 1
		})
		if _, _, st, _ := handshakeFrom(t, host, addr, "/jwks", "Authorization: Bearer "+old); st != 401 {
			t.Errorf("a token of the retired key: %d, want 401", st)
		}
		seen(t, "/jwks", "Authorization: Bearer "+token(t, jwt.SigningMethodES256, k.ec2, jwt.MapClaims{"sub": "u1"}, "k2"))
	})

	echo(t, bystander, ws.OpText, []byte("still here"))
	mfs := scrape(t, admin)
	for reason, want := range map[string]float64{"jwt": 10, "jwt_claims": 1} {
		if got := metricValue(mfs, "throng_policy_refused_total", "reason", reason); got != want {
			t.Errorf("throng_policy_refused_total{reason=%q} = %v, want %v", reason, got, want)
		}
	}
}

// TestJWTShortSecret: a secret under 32 bytes is refused when the
// configuration loads, by -check-config and at start.
func TestJWTShortSecret(t *testing.T) {
	host := newHost()
	addr := net.JoinHostPort(host, "18080")
	k := newJWTKeys(t)
	if err := os.WriteFile(k.hsFile, []byte("too short\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := writeConfig(t, jwtConfig(addr, net.JoinHostPort(host, "18090"), net.JoinHostPort(host, "19001"), k))
	for _, args := range [][]string{{"-check-config", "-config", cfg}, {"-config", cfg}} {
		out, code := runThrongCmd(t, args...)
		if code != 1 || !strings.Contains(out, "at least 32") {
			t.Errorf("throng %v: exit %d, output:\n%s", args, code, out)
		}
	}
}

// TestJWTPython: Python's websockets, an independent client, offers its
// token as a subprotocol beside the real one (the browser pattern): the
// backend chooses the real one and never sees the token; a bad token is
// refused with 401.
func TestJWTPython(t *testing.T) {
	python := requirePythonWebsockets(t)
	host := newHost()
	backend := net.JoinHostPort(host, "19001")
	headEchoBackend(t, backend)
	addr, admin := net.JoinHostPort(host, "18080"), net.JoinHostPort(host, "18090")
	k := newJWTKeys(t)
	startThrong(t, addr, jwtConfig(addr, admin, backend, k))
	script, _ := filepath.Abs(filepath.Join("testdata", "python", "jwt_client.py"))
	good := token(t, jwt.SigningMethodHS256, k.secret, jwt.MapClaims{"sub": "u7", "iss": "https://idp.test", "aud": "chat", "scope": "chat"}, "")
	runPython(t, python, 30*time.Second, script, "ws://"+addr+"/hs", good, "101")
	runPython(t, python, 30*time.Second, script, "ws://"+addr+"/hs", good[:len(good)-4]+"AAAA", "401")
}
