package jwtauth

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/golang-jwt/jwt/v5"

	"github.com/throngproxy/throng/codec"
	"github.com/throngproxy/throng/config"
)

// keyset is one of each key type, and their files.
type keyset struct {
	dir    string
	secret []byte
	rsa    *rsa.PrivateKey
	ec     *ecdsa.PrivateKey
	ed     ed25519.PrivateKey
	rsaPEM string // path of the RSA public key
	ecPEM  string
	edPEM  string
	hsFile string
}

func newKeyset(t *testing.T) *keyset {
	t.Helper()
	ks := &keyset{dir: t.TempDir(), secret: []byte("0123456789abcdef0123456789abcdef")}
	var err error
	if ks.rsa, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
		t.Fatal(err)
	}
	if ks.ec, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
		t.Fatal(err)
	}
	if _, ks.ed, err = ed25519.GenerateKey(rand.Reader); err != nil {
		t.Fatal(err)
	}
	ks.rsaPEM = ks.writePub(t, "rsa.pem", ks.rsa.Public())
	ks.ecPEM = ks.writePub(t, "ec.pem", ks.ec.Public())
	ks.edPEM = ks.writePub(t, "ed.pem", ks.ed.Public())
	ks.hsFile = ks.write(t, "hs.secret", append(append([]byte{}, ks.secret...), '\n'))
	return ks
}

func (ks *keyset) write(t *testing.T, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(ks.dir, name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func (ks *keyset) writePub(t *testing.T, name string, pub crypto.PublicKey) string {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return ks.write(t, name, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
}

func sign(t *testing.T, m jwt.SigningMethod, key any, claims jwt.MapClaims, hdr map[string]any) string {
	t.Helper()
	tok := jwt.NewWithClaims(m, claims)
	for k, v := range hdr {
		tok.Header[k] = v
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func newVerifier(t *testing.T, c config.JWT) *Verifier {
	t.Helper()
	if c.Leeway.D() == 0 {
		c.Leeway = config.DurationOf(5 * time.Second)
	}
	v, err := New(&c)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestVerify(t *testing.T) {
	ks := newKeyset(t)
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	now := time.Now()
	good := func() jwt.MapClaims {
		return jwt.MapClaims{"sub": "u1", "iss": "https://idp", "aud": "chat", "exp": now.Add(time.Minute).Unix(), "scope": "read chat"}
	}
	with := func(k string, v any) jwt.MapClaims {
		c := good()
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
		return c
	}
	rsaPubPEM, _ := os.ReadFile(ks.rsaPEM)
	none, _ := jwt.NewWithClaims(jwt.SigningMethodNone, good()).SignedString(jwt.UnsafeAllowNoneSignatureType)
	all := config.JWT{HS256SecretFile: ks.hsFile, PublicKeyFiles: []string{ks.rsaPEM, ks.ecPEM, ks.edPEM},
		Issuer: "https://idp", Audience: "chat", RequiredClaims: map[string]string{"scope": "chat"}}
	rsaOnly := config.JWT{PublicKeyFiles: []string{ks.rsaPEM}}
	tests := []struct {
		name  string
		cfg   config.JWT
		token string
		want  error  // nil, ErrInvalidToken or ErrClaims
		why   string // the challenge's description, for ErrInvalidToken
	}{
		{"HS256", all, sign(t, jwt.SigningMethodHS256, ks.secret, good(), nil), nil, ""},
		{"RS256", all, sign(t, jwt.SigningMethodRS256, ks.rsa, good(), nil), nil, ""},
		{"ES256", all, sign(t, jwt.SigningMethodES256, ks.ec, good(), nil), nil, ""},
		{"EdDSA", all, sign(t, jwt.SigningMethodEdDSA, ks.ed, good(), nil), nil, ""},
		{"within leeway", all, sign(t, jwt.SigningMethodES256, ks.ec, with("exp", now.Add(-2*time.Second).Unix()), nil), nil, ""},
		{"no exp", all, sign(t, jwt.SigningMethodES256, ks.ec, with("exp", nil), nil), nil, ""},
		{"scope array", all, sign(t, jwt.SigningMethodES256, ks.ec, with("scope", []any{"a", "chat"}), nil), nil, ""},
		{"expired", all, sign(t, jwt.SigningMethodES256, ks.ec, with("exp", now.Add(-time.Minute).Unix()), nil), ErrInvalidToken, "expired"},
		{"not yet", all, sign(t, jwt.SigningMethodES256, ks.ec, with("nbf", now.Add(time.Minute).Unix()), nil), ErrInvalidToken, "not valid yet"},
		{"issued in the future", all, sign(t, jwt.SigningMethodES256, ks.ec, with("iat", now.Add(time.Minute).Unix()), nil), ErrInvalidToken, "not valid yet"},
		{"wrong audience", all, sign(t, jwt.SigningMethodES256, ks.ec, with("aud", "admin"), nil), ErrInvalidToken, "audience"},
		{"no audience", all, sign(t, jwt.SigningMethodES256, ks.ec, with("aud", nil), nil), ErrInvalidToken, "lacks"},
		{"wrong issuer", all, sign(t, jwt.SigningMethodES256, ks.ec, with("iss", "https://evil"), nil), ErrInvalidToken, "issuer"},
		{"forged", all, sign(t, jwt.SigningMethodES256, other, good(), nil), ErrInvalidToken, "signature"},
		{"alg none", all, none, ErrInvalidToken, "signature"},
		{"HS with the RSA public key", rsaOnly, sign(t, jwt.SigningMethodHS256, rsaPubPEM, good(), nil), ErrInvalidToken, "signature"},
		{"RS384 for an RS256 key", rsaOnly, sign(t, jwt.SigningMethodRS384, ks.rsa, good(), nil), ErrInvalidToken, "signature"},
		{"malformed", all, "eyJhbGciOi.x.y", ErrInvalidToken, "malformed"},
		{"garbage", all, "not a token", ErrInvalidToken, "malformed"},
		{"missing scope", all, sign(t, jwt.SigningMethodES256, ks.ec, with("scope", "read"), nil), ErrClaims, ""},
		{"scope prefix only", all, sign(t, jwt.SigningMethodES256, ks.ec, with("scope", "chatty"), nil), ErrClaims, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := newVerifier(t, tt.cfg)
			claims, err := v.Verify([]byte(tt.token))
			if tt.want == nil {
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				if claims["sub"] != "u1" {
					t.Fatalf("claims %v", claims)
				}
				return
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("Verify = %v, want %v", err, tt.want)
			}
			ch := Challenge(err)
			if !strings.HasPrefix(ch, "WWW-Authenticate: Bearer ") || !strings.HasSuffix(ch, "\r\n") || !strings.Contains(ch, tt.why) {
				t.Fatalf("Challenge = %q, want one saying %q", ch, tt.why)
			}
			if st := Status(err); st != map[error]int{ErrInvalidToken: 401, ErrClaims: 403}[tt.want] {
				t.Fatalf("Status = %d", st)
			}
		})
	}
}

func TestJWKS(t *testing.T) {
	ks := newKeyset(t)
	set := jose.JSONWebKeySet{Keys: []jose.JSONWebKey{
		{Key: ks.rsa.Public(), KeyID: "r1", Algorithm: "RS256", Use: "sig"},
		{Key: ks.ec.Public(), KeyID: "e1", Use: "sig"},
		{Key: ks.ed.Public(), KeyID: "enc", Use: "enc"}, // skipped: not a signing key
	}}
	data, err := json.Marshal(set)
	if err != nil {
		t.Fatal(err)
	}
	v := newVerifier(t, config.JWT{JWKSFile: ks.write(t, "jwks.json", data)})
	claims := jwt.MapClaims{"sub": "u1"}
	for _, tt := range []struct {
		name string
		tok  string
		ok   bool
	}{
		{"rsa kid", sign(t, jwt.SigningMethodRS256, ks.rsa, claims, map[string]any{"kid": "r1"}), true},
		{"ec kid", sign(t, jwt.SigningMethodES256, ks.ec, claims, map[string]any{"kid": "e1"}), true},
		{"no kid", sign(t, jwt.SigningMethodES256, ks.ec, claims, nil), true},
		{"kid of another key", sign(t, jwt.SigningMethodES256, ks.ec, claims, map[string]any{"kid": "r1"}), false},
		{"unknown kid", sign(t, jwt.SigningMethodES256, ks.ec, claims, map[string]any{"kid": "zz"}), false},
		{"encryption key", sign(t, jwt.SigningMethodEdDSA, ks.ed, claims, map[string]any{"kid": "enc"}), false},
	} {
		if _, err := v.Verify([]byte(tt.tok)); (err == nil) != tt.ok {
			t.Errorf("%s: Verify = %v, want ok %v", tt.name, err, tt.ok)
		}
	}
}

func TestNewRefuses(t *testing.T) {
	ks := newKeyset(t)
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	privDER, _ := x509.MarshalPKCS8PrivateKey(ks.ec)
	badJWKS, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: ks.ec.Public(), Algorithm: "RS256"}}})
	tests := []struct {
		name string
		cfg  config.JWT
		want string
	}{
		{"short secret", config.JWT{HS256SecretFile: ks.write(t, "short", []byte("31 bytes of secret, not enough\n"))}, "at least 32"},
		{"no key", config.JWT{}, "no key"},
		{"missing file", config.JWT{PublicKeyFiles: []string{filepath.Join(ks.dir, "nope.pem")}}, "no such file"},
		{"small RSA", config.JWT{PublicKeyFiles: []string{ks.writePub(t, "small.pem", small.Public())}}, "1024-bit"},
		{"private key", config.JWT{PublicKeyFiles: []string{ks.write(t, "priv.pem", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: privDER}))}}, "never a private key"},
		{"not PEM", config.JWT{PublicKeyFiles: []string{ks.write(t, "x.pem", []byte("hello"))}}, "no PEM public key"},
		{"JWKS alg of another type", config.JWT{JWKSFile: ks.write(t, "bad.json", badJWKS)}, "alg \"RS256\""},
		{"JWKS not JSON", config.JWT{JWKSFile: ks.write(t, "nj.json", []byte("{"))}, "jwks_file"},
		{"leeway", config.JWT{HS256SecretFile: ks.hsFile, Leeway: config.DurationOf(time.Minute)}, "leeway"},
		{"token_from", config.JWT{HS256SecretFile: ks.hsFile, TokenFrom: []string{"cookie:x"}}, "token_from"},
		{"query without name", config.JWT{HS256SecretFile: ks.hsFile, TokenFrom: []string{"query:"}}, "token_from"},
		{"claim header", config.JWT{HS256SecretFile: ks.hsFile, ForwardClaims: map[string]string{"sub": "X User"}}, "not a header name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(&tt.cfg)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("New = %v, want an error saying %q", err, tt.want)
			}
		})
	}
}

func TestFind(t *testing.T) {
	ks := newKeyset(t)
	const tok = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1MSJ9.c2ln"
	req := func(target string, headers ...string) *codec.Request {
		r := &codec.Request{Target: []byte(target)}
		for i := 0; i < len(headers); i += 2 {
			r.Headers = append(r.Headers, codec.Header{Name: []byte(headers[i]), Value: []byte(headers[i+1])})
		}
		return r
	}
	all := []string{"header", "query:access_token", "protocol"}
	tests := []struct {
		name          string
		from          []string
		req           *codec.Request
		ok            bool
		kind          config.TokenKind
		target, proto string
	}{
		{"header", all, req("/", "Authorization", "Bearer "+tok), true, config.TokenInHeader, "", ""},
		{"header case", all, req("/", "authorization", "bearer  "+tok+" "), true, config.TokenInHeader, "", ""},
		{"basic is not bearer", []string{"header"}, req("/", "Authorization", "Basic dTpw"), false, 0, "", ""},
		{"query", all, req("/chat?a=1&access_token=" + tok + "&b=2"), true, config.TokenInQuery, "/chat?a=1&b=2", ""},
		{"query alone", all, req("/chat?access_token=" + tok), true, config.TokenInQuery, "/chat", ""},
		{"query empty value", []string{"query:access_token"}, req("/chat?access_token="), false, 0, "", ""},
		{"protocol", all, req("/", "Sec-WebSocket-Protocol", "chat, "+tok+", v2"), true, config.TokenInProtocol, "", "chat, v2"},
		{"protocol only", all, req("/", "Sec-WebSocket-Protocol", tok), true, config.TokenInProtocol, "", ""},
		{"protocol not a jwt", all, req("/", "Sec-WebSocket-Protocol", "chat, v2"), false, 0, "", ""},
		{"order", []string{"protocol", "header"}, req("/", "Authorization", "Bearer x.y.z", "Sec-WebSocket-Protocol", tok), true, config.TokenInProtocol, "", ""},
		{"not configured", []string{"header"}, req("/?access_token=" + tok), false, 0, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := newVerifier(t, config.JWT{HS256SecretFile: ks.hsFile, TokenFrom: tt.from})
			f, ok := v.Find(make([]byte, 0, 8), tt.req)
			if ok != tt.ok {
				t.Fatalf("Find ok = %v", ok)
			}
			if !ok {
				return
			}
			if f.From != tt.kind || string(f.Target) != tt.target || string(f.Protocols) != tt.proto {
				t.Fatalf("Find = %+v (target %q, protocols %q)", f, f.Target, f.Protocols)
			}
			if tt.kind != config.TokenInHeader && string(f.Token) != tok {
				t.Fatalf("token %q", f.Token)
			}
		})
	}
}

func TestAppendClaims(t *testing.T) {
	ks := newKeyset(t)
	v := newVerifier(t, config.JWT{HS256SecretFile: ks.hsFile, ForwardClaims: map[string]string{
		"sub": "X-User-Id", "n": "X-N", "roles": "X-Roles", "ok": "X-Ok", "absent": "X-Absent",
	}})
	got, err := v.AppendClaims([]byte("A: b\r\n"), Claims{"sub": "u 1", "n": 42.0, "roles": []any{"a", "b"}, "ok": true})
	if err != nil {
		t.Fatal(err)
	}
	// Sorted by claim name: n, ok, roles, sub.
	want := "A: b\r\nX-N: 42\r\nX-Ok: true\r\nX-Roles: a,b\r\nX-User-Id: u 1\r\n"
	if string(got) != want {
		t.Fatalf("AppendClaims = %q, want %q", got, want)
	}
	if o := v.Owned(); len(o) != 5 {
		t.Fatalf("Owned = %v", o)
	}
	for _, bad := range []any{"a\r\nX-Admin: 1", map[string]any{"a": 1}, []any{[]any{"x"}}, " padded"} {
		if out, err := v.AppendClaims([]byte("A: b\r\n"), Claims{"sub": bad}); !errors.Is(err, ErrClaims) || string(out) != "A: b\r\n" {
			t.Errorf("AppendClaims(%q) = %q, %v; want ErrClaims and nothing appended", bad, out, err)
		}
	}
}

func TestLooksLikeJWT(t *testing.T) {
	for s, want := range map[string]bool{
		"eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1In0.sig-_": true,
		"eyJ.a.b":     true,
		"chat":        false,
		"eyJ.a":       false,
		"eyJ.a.b.c":   false,
		"eyJ.a b.c":   false,
		"abc.def.ghi": false,
		"eyJ+.a.b":    false,
	} {
		if got := LooksLikeJWT([]byte(s)); got != want {
			t.Errorf("LooksLikeJWT(%q) = %v", s, got)
		}
	}
}

func FuzzVerify(f *testing.F) {
	dir := f.TempDir()
	p := filepath.Join(dir, "hs")
	if err := os.WriteFile(p, []byte("0123456789abcdef0123456789abcdef"), 0o600); err != nil {
		f.Fatal(err)
	}
	v, err := New(&config.JWT{HS256SecretFile: p, TokenFrom: []string{"header", "query:t", "protocol"}, ForwardClaims: map[string]string{"sub": "X-Sub"}})
	if err != nil {
		f.Fatal(err)
	}
	f.Add("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1MSJ9.c2ln")
	f.Add("eyJhbGciOiJub25lIn0.eyJzdWIiOiJ1MSJ9.")
	f.Add("...")
	f.Fuzz(func(t *testing.T, tok string) {
		if claims, err := v.Verify([]byte(tok)); err == nil {
			// Only a token signed with the secret verifies, and the fuzzer
			// cannot forge one: any success is a bug.
			t.Fatalf("Verify(%q) accepted: %v", tok, claims)
		} else if !errors.Is(err, ErrInvalidToken) {
			t.Fatalf("Verify(%q) = %v", tok, err)
		}
		_ = Challenge(err)
		r := &codec.Request{Target: []byte("/?t=" + tok), Headers: []codec.Header{{Name: []byte("Sec-WebSocket-Protocol"), Value: []byte(tok)}}}
		v.Find(nil, r)
	})
}
