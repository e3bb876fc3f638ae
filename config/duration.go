package config

import (
	"strconv"
	"time"
)

// Duration is a non-negative time.Duration written in TOML as a string
// accepted by time.ParseDuration: "10s", "250ms", "1m30s", "0s" or "0".
// The zero value is 0s.
type Duration struct {
	d time.Duration
}

// DurationOf returns d as a Duration. It does not check the sign: Validate
// rejects negative values held in a Config.
func DurationOf(d time.Duration) Duration { return Duration{d: d} }

// D returns the duration.
func (d Duration) D() time.Duration { return d.d }

// String formats d as time.Duration.String does ("1m30s", "0s").
func (d Duration) String() string { return d.d.String() }

// ParseDuration parses s as time.ParseDuration does and rejects negative
// values. Errors wrap ErrInvalid.
func ParseDuration(s string) (Duration, error) {
	v, err := time.ParseDuration(s)
	if err != nil {
		// time's message already quotes s; drop its "time: " prefix.
		msg := err.Error()
		if len(msg) > 6 && msg[:6] == "time: " {
			msg = msg[6:]
		}
		return Duration{}, &valueError{msg: msg}
	}
	if v < 0 {
		return Duration{}, &valueError{msg: "negative duration " + strconv.Quote(s)}
	}
	return Duration{d: v}, nil
}

// UnmarshalText implements encoding.TextUnmarshaler with ParseDuration.
func (d *Duration) UnmarshalText(text []byte) error {
	v, err := ParseDuration(string(text))
	if err != nil {
		return err
	}
	*d = v
	return nil
}

// MarshalText implements encoding.TextMarshaler; ParseDuration reads the
// result back to the same value.
func (d Duration) MarshalText() ([]byte, error) {
	return []byte(d.d.String()), nil
}

// valueError is a bad Duration or Size literal. It wraps ErrInvalid.
type valueError struct{ msg string }

func (e *valueError) Error() string { return "config: " + e.msg }
func (e *valueError) Unwrap() error { return ErrInvalid }
