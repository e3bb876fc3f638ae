package config

import (
	"math"
	"strconv"
	"strings"
	"time"
)

// Rate is an amount per period, for token buckets: "20/s" (handshakes or
// messages), "1MiB/s" (bytes), "600/m", "5/10s". The amount is digits
// with an optional size unit (as Size: KB, KiB, ...), then "/", then the
// period: s, m or h, or a duration such as "10s" or "500ms". "0/s", "0"
// and "" mean no limit. The zero value is no limit.
type Rate struct {
	n   int64         // amount per period; 0 = no limit
	per time.Duration // period, > 0 when n > 0
}

// RateOf returns n per period per. It does not check its arguments:
// Validate rejects a Rate whose period is not positive.
func RateOf(n int64, per time.Duration) Rate { return Rate{n: n, per: per} }

// IsZero reports whether r means no limit.
func (r Rate) IsZero() bool { return r.n == 0 }

// N is the amount per period (0 for no limit).
func (r Rate) N() int64 { return r.n }

// Per is the period (0 for no limit).
func (r Rate) Per() time.Duration { return r.per }

// PerSecond is the rate in units per second, 0 for no limit.
func (r Rate) PerSecond() float64 {
	if r.n == 0 {
		return 0
	}
	return float64(r.n) / r.per.Seconds()
}

// String formats r as it is written: "20/s", "1048576/s", "5/10s"; "0/s"
// for no limit.
func (r Rate) String() string {
	if r.n == 0 {
		return "0/s"
	}
	var per string
	switch r.per {
	case time.Second:
		per = "s"
	case time.Minute:
		per = "m"
	case time.Hour:
		per = "h"
	default:
		per = r.per.String()
	}
	return strconv.FormatInt(r.n, 10) + "/" + per
}

// maxRatePeriod bounds a rate's period: a bucket refilling more slowly than
// once a day is a quota, not a rate limit.
const maxRatePeriod = 24 * time.Hour

// ParseRate parses a rate as described on Rate. Errors wrap ErrInvalid.
func ParseRate(s string) (Rate, error) {
	if s == "" || s == "0" {
		return Rate{}, nil
	}
	amount, period, ok := strings.Cut(s, "/")
	if !ok {
		return Rate{}, &valueError{msg: "rate " + strconv.Quote(s) + ": want AMOUNT/PERIOD such as \"20/s\" or \"1MiB/s\""}
	}
	n, err := ParseSize(strings.TrimSpace(amount))
	if err != nil || strings.TrimSpace(amount) != amount {
		return Rate{}, &valueError{msg: "rate " + strconv.Quote(s) + ": amount must be digits with an optional size unit"}
	}
	var per time.Duration
	switch period {
	case "s":
		per = time.Second
	case "m":
		per = time.Minute
	case "h":
		per = time.Hour
	default:
		d, err := time.ParseDuration(period)
		if err != nil || d <= 0 {
			return Rate{}, &valueError{msg: "rate " + strconv.Quote(s) + ": period must be s, m, h or a positive duration such as \"10s\""}
		}
		per = d
	}
	if per < time.Millisecond || per > maxRatePeriod {
		return Rate{}, &valueError{msg: "rate " + strconv.Quote(s) + ": period must be between 1ms and 24h"}
	}
	if n == 0 {
		return Rate{}, nil
	}
	// The loops hold tokens in fixed point (engine/limit.go): keep the
	// per-second figure well inside an int64 of millitokens.
	if float64(n)/per.Seconds() > math.MaxInt64/1e6 {
		return Rate{}, &valueError{msg: "rate " + strconv.Quote(s) + ": too large"}
	}
	return Rate{n: n.Bytes(), per: per}, nil
}

// UnmarshalText implements encoding.TextUnmarshaler with ParseRate.
func (r *Rate) UnmarshalText(text []byte) error {
	v, err := ParseRate(string(text))
	if err != nil {
		return err
	}
	*r = v
	return nil
}

// MarshalText implements encoding.TextMarshaler with String.
func (r Rate) MarshalText() ([]byte, error) { return []byte(r.String()), nil }
