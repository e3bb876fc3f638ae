package config

import (
	"errors"
	"strconv"
)

// Sentinel errors; every *Error wraps one of them.
var (
	// ErrUnknownKey: the file has a key the schema does not know.
	ErrUnknownKey = errors.New("config: unknown key")
	// ErrSyntax: the file is not TOML, or a value has the wrong TOML type.
	ErrSyntax = errors.New("config: cannot decode")
	// ErrInvalid: a value is out of range or malformed.
	ErrInvalid = errors.New("config: invalid value")
)

// Error is one problem found in a configuration. Parse and Load return
// several joined with errors.Join; use errors.As to reach each one.
type Error struct {
	File string // name given to Parse or Load; "" from Validate
	Line int    // 1-based line in File; 0 when not known
	Key  string // key path, e.g. "upstream[1].backends[0].addr"
	Msg  string // what is wrong, without the key
	Err  error  // ErrUnknownKey, ErrSyntax or ErrInvalid
}

// Error formats e as `file:line: key: msg`, or for an unknown key
// `file:line: unknown key "key"`; parts that are not known are left out.
func (e *Error) Error() string {
	var b []byte
	if e.File != "" {
		b = append(b, e.File...)
		if e.Line > 0 {
			b = append(b, ':')
			b = strconv.AppendInt(b, int64(e.Line), 10)
		}
		b = append(b, ": "...)
	}
	if e.Err == ErrUnknownKey {
		b = append(b, "unknown key "...)
		b = strconv.AppendQuote(b, e.Key)
		return string(b)
	}
	if e.Key != "" {
		b = append(b, e.Key...)
		b = append(b, ": "...)
	}
	b = append(b, e.Msg...)
	return string(b)
}

// Unwrap returns the sentinel e wraps.
func (e *Error) Unwrap() error { return e.Err }

func invalid(key, msg string) *Error {
	return &Error{Key: key, Msg: msg, Err: ErrInvalid}
}
