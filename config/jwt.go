package config

import (
	"fmt"
	"strings"
	"time"
)

// TokenKind is where a route.jwt.token_from entry looks for a token.
type TokenKind uint8

// Token sources, as token_from names them.
const (
	TokenInHeader   TokenKind = iota // "header": Authorization: Bearer TOKEN
	TokenInQuery                     // "query:NAME": the target's query parameter NAME
	TokenInProtocol                  // "protocol": an entry of Sec-WebSocket-Protocol
)

// TokenSource is one parsed token_from entry.
type TokenSource struct {
	Kind TokenKind
	Name string // the query parameter, for TokenInQuery
}

// MaxJWTLeeway bounds route.jwt.leeway: a wider clock skew would let an
// expired token live on.
const MaxJWTLeeway = 30 * time.Second

// ParseTokenSource parses one token_from entry: "header", "query:NAME"
// (NAME a plain parameter name) or "protocol".
func ParseTokenSource(s string) (TokenSource, error) {
	switch {
	case s == TokenFromHeader:
		return TokenSource{Kind: TokenInHeader}, nil
	case s == TokenFromProtocol:
		return TokenSource{Kind: TokenInProtocol}, nil
	case strings.HasPrefix(s, TokenFromQueryPrefix):
		name := s[len(TokenFromQueryPrefix):]
		if name == "" || strings.ContainsAny(name, "&=?#%+ \t") {
			return TokenSource{}, fmt.Errorf("%q: the query parameter needs a plain name", s)
		}
		return TokenSource{Kind: TokenInQuery, Name: name}, nil
	}
	return TokenSource{}, fmt.Errorf("%q: want header, query:NAME or protocol", s)
}
