// Package jwtauth verifies the JSON Web Token a client presents at the
// upgrade ([route.jwt], docs/policy.md): where the token is found, which
// keys verify it, which claims it must hold and which go to the backend.
//
// Tokens are parsed and verified by github.com/golang-jwt/jwt/v5; JWKS
// files are read by github.com/go-jose/go-jose/v4. Each key verifies the
// one algorithm its type calls for, so "alg": "none" and HS/RS confusion
// (an RSA public key used as an HMAC secret) are refused whatever the
// token's header says.
package jwtauth

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/golang-jwt/jwt/v5"

	"github.com/throngproxy/throng/codec"
	"github.com/throngproxy/throng/config"
)

// Errors a Verifier returns; the engine answers ErrNoToken and
// ErrInvalidToken with 401, ErrClaims with 403.
var (
	ErrNoToken      = errors.New("jwtauth: no token")
	ErrInvalidToken = errors.New("jwtauth: invalid token")
	ErrClaims       = errors.New("jwtauth: a required claim is missing")
	// ErrWeakKey is a key too short to verify anything safely.
	ErrWeakKey = errors.New("jwtauth: key too weak")
	// ErrUnsupportedKey is a key of a type or curve no algorithm here uses.
	ErrUnsupportedKey = errors.New("jwtauth: unsupported key")
)

// claimHeader sends one verified claim to the backend.
type claimHeader struct {
	claim, header string
}

// Verifier checks a route's tokens. It is immutable and safe for
// concurrent use; a reload builds a new one (and so reads the key files
// again).
type Verifier struct {
	keys     []key
	algs     []string
	parser   *jwt.Parser
	sources  []config.TokenSource
	forward  []claimHeader
	required []claimHeader // header holds the value required
	owned    []string
}

// New reads c's key files and prepares a Verifier.
func New(c *config.JWT) (*Verifier, error) {
	if c.Leeway.D() < 0 || c.Leeway.D() > config.MaxJWTLeeway {
		return nil, fmt.Errorf("jwtauth: leeway %s: must be within 0s..%s", c.Leeway.D(), config.MaxJWTLeeway)
	}
	v := &Verifier{}
	if c.HS256SecretFile != "" {
		k, err := loadSecret(c.HS256SecretFile)
		if err != nil {
			return nil, fmt.Errorf("jwtauth: %w", err)
		}
		v.keys = append(v.keys, k)
	}
	for _, p := range c.PublicKeyFiles {
		ks, err := loadPEM(p)
		if err != nil {
			return nil, fmt.Errorf("jwtauth: %w", err)
		}
		v.keys = append(v.keys, ks...)
	}
	if c.JWKSFile != "" {
		ks, err := loadJWKS(c.JWKSFile)
		if err != nil {
			return nil, fmt.Errorf("jwtauth: %w", err)
		}
		v.keys = append(v.keys, ks...)
	}
	if len(v.keys) == 0 {
		return nil, errors.New("jwtauth: no key: set hs256_secret_file, public_key_files or jwks_file")
	}
	for _, k := range v.keys {
		if !slices.Contains(v.algs, k.alg) {
			v.algs = append(v.algs, k.alg)
		}
	}
	opts := []jwt.ParserOption{jwt.WithValidMethods(v.algs), jwt.WithLeeway(c.Leeway.D()), jwt.WithIssuedAt()}
	if c.Issuer != "" {
		opts = append(opts, jwt.WithIssuer(c.Issuer))
	}
	if c.Audience != "" {
		opts = append(opts, jwt.WithAudience(c.Audience))
	}
	v.parser = jwt.NewParser(opts...)
	from := c.TokenFrom
	if len(from) == 0 {
		from = []string{config.TokenFromHeader}
	}
	for _, s := range from {
		src, err := config.ParseTokenSource(s)
		if err != nil {
			return nil, fmt.Errorf("jwtauth: token_from %w", err)
		}
		v.sources = append(v.sources, src)
	}
	for _, claim := range slices.Sorted(maps.Keys(c.ForwardClaims)) {
		h := c.ForwardClaims[claim]
		if !codec.IsToken(h) {
			return nil, fmt.Errorf("jwtauth: forward_claims.%s: %q is not a header name", claim, h)
		}
		v.forward = append(v.forward, claimHeader{claim: claim, header: h})
		v.owned = append(v.owned, h)
	}
	for _, claim := range slices.Sorted(maps.Keys(c.RequiredClaims)) {
		v.required = append(v.required, claimHeader{claim: claim, header: c.RequiredClaims[claim]})
	}
	return v, nil
}

// Owned lists the request headers the verified claims are sent in: a
// client's own copies of them are removed.
func (v *Verifier) Owned() []string { return v.owned }

// Found is where a request's token was found and what the forwarded
// request looks like without it.
type Found struct {
	Token []byte
	From  config.TokenKind
	// Target is the request target without the token's parameter
	// (TokenInQuery).
	Target []byte
	// Protocols are the other offered subprotocols, joined by ", "
	// (TokenInProtocol; empty when the token was the only one).
	Protocols []byte
}

// Find looks for the token in req, in token_from's order. Target and
// Protocols are appended to dst (the caller's scratch). ok is false when
// no source holds a token.
func (v *Verifier) Find(dst []byte, req *codec.Request) (f Found, ok bool) {
	for _, s := range v.sources {
		switch s.Kind {
		case config.TokenInHeader:
			if tok := codec.BearerToken(req.Headers); tok != nil {
				return Found{Token: tok, From: config.TokenInHeader}, true
			}
		case config.TokenInQuery:
			if val, rest, found := codec.CutQueryParam(dst, req.Target, s.Name); found && len(val) > 0 {
				return Found{Token: val, From: config.TokenInQuery, Target: rest}, true
			}
		case config.TokenInProtocol:
			if tok, rest, found := codec.CutProtocol(dst, req.Headers, LooksLikeJWT); found {
				return Found{Token: tok, From: config.TokenInProtocol, Protocols: rest}, true
			}
		}
	}
	return Found{}, false
}

// LooksLikeJWT reports whether tok has a JWS compact form's shape: three
// base64url segments, the first of them a JSON object ("eyJ" is the
// encoding of `{"`). It tells a token offered in Sec-WebSocket-Protocol
// from the real subprotocols offered beside it.
func LooksLikeJWT(tok []byte) bool {
	if len(tok) < 3 || string(tok[:3]) != "eyJ" {
		return false
	}
	dots := 0
	for _, c := range tok {
		switch {
		case c == '.':
			dots++
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '-', c == '_':
		default:
			return false
		}
	}
	return dots == 2
}

// Claims are a verified token's claims.
type Claims = jwt.MapClaims

// Verify checks token's signature with the key meant for its algorithm,
// then exp, nbf, iat (with the leeway), iss and aud, then the required
// claims. Errors wrap ErrInvalidToken (with jwt's reason) or ErrClaims.
func (v *Verifier) Verify(token []byte) (Claims, error) {
	claims := jwt.MapClaims{}
	_, err := v.parser.ParseWithClaims(string(token), claims, v.keyFor)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidToken, err)
	}
	for _, r := range v.required {
		if !hasValue(claims[r.claim], r.header) {
			return nil, fmt.Errorf("%w: %s", ErrClaims, r.claim)
		}
	}
	return claims, nil
}

// errNoKey is a token whose algorithm or kid no configured key serves.
var errNoKey = errors.New("no key for this token's alg and kid")

// keyFor gives the parser the keys that verify t's algorithm (and, from
// a JWKS, carry t's kid). The parser has already refused an algorithm no
// key verifies; the filter here keeps an HMAC secret from ever being
// offered to an RS token and the reverse.
func (v *Verifier) keyFor(t *jwt.Token) (any, error) {
	alg := t.Method.Alg()
	kid, _ := t.Header["kid"].(string)
	var set jwt.VerificationKeySet
	for _, k := range v.keys {
		if k.alg != alg || kid != "" && k.kid != "" && k.kid != kid {
			continue
		}
		set.Keys = append(set.Keys, k.k)
	}
	if len(set.Keys) == 0 {
		return nil, errNoKey
	}
	return set, nil
}

// hasValue reports whether claim c holds want: equal to it, one of the
// words of a space-separated string (the OAuth scope form), or an entry
// of an array.
func hasValue(c any, want string) bool {
	switch c := c.(type) {
	case string:
		if c == want {
			return true
		}
		for w := range strings.FieldsSeq(c) {
			if w == want {
				return true
			}
		}
	case []any:
		for _, e := range c {
			if s, ok := e.(string); ok && s == want {
				return true
			}
		}
	case bool:
		return strconv.FormatBool(c) == want
	case float64:
		return strconv.FormatFloat(c, 'f', -1, 64) == want
	}
	return false
}

// AppendClaims appends the forwarded claims as header lines ("X-User-Id:
// 42\r\n") to dst. A claim the token lacks sends no header. Strings go as
// they are, numbers and booleans in their JSON form, arrays of them joined
// by ","; a value that cannot be a header value (a control character, an
// object) is refused with ErrClaims rather than sent altered.
func (v *Verifier) AppendClaims(dst []byte, claims Claims) ([]byte, error) {
	for _, f := range v.forward {
		c, ok := claims[f.claim]
		if !ok || c == nil {
			continue
		}
		start := len(dst)
		dst = append(dst, f.header...)
		dst = append(dst, ": "...)
		var good bool
		if dst, good = appendValue(dst, c, true); !good {
			return dst[:start], fmt.Errorf("%w: claim %s cannot be sent as a header", ErrClaims, f.claim)
		}
		dst = append(dst, "\r\n"...)
	}
	return dst, nil
}

func appendValue(dst []byte, c any, top bool) ([]byte, bool) {
	switch c := c.(type) {
	case string:
		if !codec.ValidFieldValue(c) || strings.TrimSpace(c) != c {
			return dst, false
		}
		return append(dst, c...), true
	case float64:
		return strconv.AppendFloat(dst, c, 'f', -1, 64), true
	case bool:
		return strconv.AppendBool(dst, c), true
	case []any:
		if !top {
			return dst, false
		}
		for i, e := range c {
			if i > 0 {
				dst = append(dst, ',')
			}
			var ok bool
			if dst, ok = appendValue(dst, e, false); !ok {
				return dst, false
			}
		}
		return dst, true
	}
	return dst, false
}

// Challenge is the WWW-Authenticate header line (RFC 6750 §3) for a
// refusal with err: none names an error for a request without a token,
// invalid_token a bad one, insufficient_scope one lacking a claim. The
// description is one of a fixed few: nothing of the token is echoed.
func Challenge(err error) string {
	const pre = `WWW-Authenticate: Bearer realm="throng"`
	switch {
	case errors.Is(err, ErrNoToken):
		return pre + "\r\n"
	case errors.Is(err, ErrClaims):
		return pre + `, error="insufficient_scope"` + "\r\n"
	}
	desc := "the token is invalid"
	switch {
	case errors.Is(err, jwt.ErrTokenExpired):
		desc = "the token has expired"
	case errors.Is(err, jwt.ErrTokenNotValidYet), errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		desc = "the token is not valid yet"
	case errors.Is(err, jwt.ErrTokenInvalidAudience):
		desc = "the token is for another audience"
	case errors.Is(err, jwt.ErrTokenInvalidIssuer):
		desc = "the token is from another issuer"
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		desc = "the token lacks a required claim"
	case errors.Is(err, jwt.ErrTokenMalformed):
		desc = "the token is malformed"
	case errors.Is(err, jwt.ErrTokenSignatureInvalid), errors.Is(err, jwt.ErrTokenUnverifiable):
		desc = "the token's signature does not verify"
	}
	return pre + `, error="invalid_token", error_description="` + desc + `"` + "\r\n"
}

// Status is the HTTP status that answers err: 403 for a valid token
// lacking a required claim, 401 otherwise.
func Status(err error) int {
	if errors.Is(err, ErrClaims) {
		return 403
	}
	return 401
}
