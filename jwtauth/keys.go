package jwtauth

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"os"

	"github.com/go-jose/go-jose/v4"
)

// key is one verification key and the one algorithm it verifies: the
// algorithm comes from the key, never from a token (RFC 8725 §3.1).
type key struct {
	alg string // "HS256", "RS256", "ES256", "EdDSA", ...
	kid string // from a JWKS; "" matches any token kid
	k   any    // []byte, *rsa.PublicKey, *ecdsa.PublicKey, ed25519.PublicKey
}

// MinSecretBytes is the shortest HMAC secret accepted: RFC 7518 §3.2 asks
// for a key at least as long as the hash (256 bits for HS256).
const MinSecretBytes = 32

// minRSABits is the smallest RSA modulus accepted (RFC 7518 §3.3).
const minRSABits = 2048

// loadSecret reads an HMAC secret: the file's bytes, one trailing newline
// removed (editors add one).
func loadSecret(path string) (key, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return key{}, fmt.Errorf("hs256_secret_file: %w", err)
	}
	b = bytes.TrimSuffix(b, []byte("\n"))
	b = bytes.TrimSuffix(b, []byte("\r"))
	if len(b) < MinSecretBytes {
		return key{}, fmt.Errorf("hs256_secret_file %s: %w: %d bytes, at least %d needed", path, ErrWeakKey, len(b), MinSecretBytes)
	}
	return key{alg: "HS256", k: b}, nil
}

// loadPEM reads every public key (or certificate) of a PEM file.
func loadPEM(path string) ([]key, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("public_key_files: %w", err)
	}
	var keys []key
	for rest := data; ; {
		var blk *pem.Block
		blk, rest = pem.Decode(rest)
		if blk == nil {
			break
		}
		var pub any
		switch blk.Type {
		case "PUBLIC KEY":
			pub, err = x509.ParsePKIXPublicKey(blk.Bytes)
		case "RSA PUBLIC KEY":
			pub, err = x509.ParsePKCS1PublicKey(blk.Bytes)
		case "CERTIFICATE":
			var c *x509.Certificate
			if c, err = x509.ParseCertificate(blk.Bytes); err == nil {
				pub = c.PublicKey
			}
		default:
			return nil, fmt.Errorf("public_key_files %s: a %q block: want PUBLIC KEY or CERTIFICATE (never a private key)", path, blk.Type)
		}
		if err != nil {
			return nil, fmt.Errorf("public_key_files %s: %w", path, err)
		}
		k, err := publicKey(pub, "")
		if err != nil {
			return nil, fmt.Errorf("public_key_files %s: %w", path, err)
		}
		keys = append(keys, k)
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("public_key_files %s: no PEM public key in it", path)
	}
	return keys, nil
}

// publicKey wraps pub with the algorithm its type verifies; alg, when a
// JWKS names one, must be one that type can verify.
func publicKey(pub any, alg string) (key, error) {
	var allowed []string
	switch p := pub.(type) {
	case *rsa.PublicKey:
		if p.N.BitLen() < minRSABits {
			return key{}, fmt.Errorf("%w: a %d-bit RSA key, at least %d needed", ErrWeakKey, p.N.BitLen(), minRSABits)
		}
		allowed = []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"}
	case *ecdsa.PublicKey:
		switch p.Curve {
		case elliptic.P256():
			allowed = []string{"ES256"}
		case elliptic.P384():
			allowed = []string{"ES384"}
		case elliptic.P521():
			allowed = []string{"ES512"}
		default:
			return key{}, fmt.Errorf("%w: an ECDSA key on curve %s", ErrUnsupportedKey, p.Curve.Params().Name)
		}
	case ed25519.PublicKey:
		allowed = []string{"EdDSA"}
	case []byte:
		if len(p) < MinSecretBytes {
			return key{}, fmt.Errorf("%w: a %d-byte HMAC key, at least %d needed", ErrWeakKey, len(p), MinSecretBytes)
		}
		allowed = []string{"HS256", "HS384", "HS512"}
	default:
		return key{}, fmt.Errorf("%w: %T", ErrUnsupportedKey, pub)
	}
	if alg == "" {
		return key{alg: allowed[0], k: pub}, nil
	}
	for _, a := range allowed {
		if a == alg {
			return key{alg: alg, k: pub}, nil
		}
	}
	return key{}, fmt.Errorf("%w: alg %q for a key that verifies %v", ErrUnsupportedKey, alg, allowed)
}

// loadJWKS reads a JSON Web Key Set (RFC 7517 §5). Keys for encryption
// (use "enc") are skipped; a private key contributes its public half.
func loadJWKS(path string) ([]key, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("jwks_file: %w", err)
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(data, &set); err != nil {
		return nil, fmt.Errorf("jwks_file %s: %w", path, err)
	}
	var keys []key
	for i := range set.Keys {
		jk := &set.Keys[i]
		if jk.Use == "enc" {
			continue
		}
		pub := jk.Key
		if !jk.IsPublic() {
			if _, secret := pub.([]byte); !secret {
				pub = jk.Public().Key
			}
		}
		k, err := publicKey(pub, jk.Algorithm)
		if err != nil {
			return nil, fmt.Errorf("jwks_file %s: key %d (kid %q): %w", path, i, jk.KeyID, err)
		}
		k.kid = jk.KeyID
		keys = append(keys, k)
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("jwks_file %s: no signing key in it", path)
	}
	return keys, nil
}
