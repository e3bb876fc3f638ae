package config

import (
	"math"
	"strconv"
)

// Size is a byte count. In TOML it is an integer of bytes (65536) or a
// string of decimal digits with an optional unit, optionally after one
// space: "512", "64KiB", "16 MiB", "1GiB", "64KB" (64000), "1MB". Units are
// case-sensitive: B, KB, MB, GB (powers of 1000), KiB, MiB, GiB (powers of
// 1024). Strings are never negative; a negative TOML integer decodes and is
// then rejected by Validate with its key path.
type Size int64

// Size units.
const (
	B   Size = 1
	KB  Size = 1000
	MB  Size = 1000 * KB
	GB  Size = 1000 * MB
	KiB Size = 1 << 10
	MiB Size = 1 << 20
	GiB Size = 1 << 30
)

// Bytes returns s as a number of bytes.
func (s Size) Bytes() int64 { return int64(s) }

// units is searched in order: "B" last, since every unit ends in it.
var units = [...]struct {
	name string
	mul  Size
}{
	{"KiB", KiB}, {"MiB", MiB}, {"GiB", GiB},
	{"KB", KB}, {"MB", MB}, {"GB", GB},
	{"B", B},
}

// ParseSize parses a size string as described on Size. Errors wrap
// ErrInvalid.
func ParseSize(s string) (Size, error) {
	num, mul := s, B
	for _, u := range units {
		if len(s) > len(u.name) && s[len(s)-len(u.name):] == u.name {
			num, mul = s[:len(s)-len(u.name)], u.mul
			if num[len(num)-1] == ' ' {
				num = num[:len(num)-1]
			}
			break
		}
	}
	if num == "" {
		return 0, &valueError{msg: "size " + strconv.Quote(s) + ": want digits with an optional unit (B, KB, MB, GB, KiB, MiB, GiB)"}
	}
	var n int64
	for i := 0; i < len(num); i++ {
		c := num[i]
		if c < '0' || c > '9' {
			return 0, &valueError{msg: "size " + strconv.Quote(s) + ": want digits with an optional unit (B, KB, MB, GB, KiB, MiB, GiB)"}
		}
		if n > (math.MaxInt64-int64(c-'0'))/10 {
			return 0, &valueError{msg: "size " + strconv.Quote(s) + ": too large"}
		}
		n = n*10 + int64(c-'0')
	}
	if n > math.MaxInt64/int64(mul) {
		return 0, &valueError{msg: "size " + strconv.Quote(s) + ": too large"}
	}
	return Size(n) * mul, nil
}

// UnmarshalText implements encoding.TextUnmarshaler with ParseSize. A TOML
// integer does not come here: go-toml stores it directly (Size is an
// int64), with its own overflow check.
func (s *Size) UnmarshalText(text []byte) error {
	v, err := ParseSize(string(text))
	if err != nil {
		return err
	}
	*s = v
	return nil
}

// String formats s with the largest binary unit that divides it exactly
// ("64KiB", "16MiB"), else as plain bytes ("1000"). ParseSize reads it back
// to the same value for s ≥ 0.
func (s Size) String() string {
	for _, u := range [...]struct {
		name string
		mul  Size
	}{{"GiB", GiB}, {"MiB", MiB}, {"KiB", KiB}} {
		if s != 0 && s%u.mul == 0 {
			return strconv.FormatInt(int64(s/u.mul), 10) + u.name
		}
	}
	return strconv.FormatInt(int64(s), 10)
}

// MarshalText implements encoding.TextMarshaler with String.
func (s Size) MarshalText() ([]byte, error) {
	return []byte(s.String()), nil
}
