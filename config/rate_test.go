package config

import (
	"errors"
	"testing"
	"time"
)

func TestParseRate(t *testing.T) {
	tests := []struct {
		in     string
		n      int64
		per    time.Duration
		perSec float64
	}{
		{"", 0, 0, 0},
		{"0", 0, 0, 0},
		{"0/s", 0, 0, 0},
		{"20/s", 20, time.Second, 20},
		{"600/m", 600, time.Minute, 10},
		{"3600/h", 3600, time.Hour, 1},
		{"5/10s", 5, 10 * time.Second, 0.5},
		{"1MiB/s", 1 << 20, time.Second, 1 << 20},
		{"64KB/s", 64000, time.Second, 64000},
		{"1/500ms", 1, 500 * time.Millisecond, 2},
	}
	for _, tt := range tests {
		r, err := ParseRate(tt.in)
		if err != nil {
			t.Errorf("ParseRate(%q): %v", tt.in, err)
			continue
		}
		if r.N() != tt.n || r.Per() != tt.per || r.PerSecond() != tt.perSec {
			t.Errorf("ParseRate(%q) = %d per %v (%v/s); want %d per %v", tt.in, r.N(), r.Per(), r.PerSecond(), tt.n, tt.per)
		}
		if back, err := ParseRate(r.String()); err != nil || back != r {
			t.Errorf("ParseRate(%q).String() = %q does not parse back: %v", tt.in, r.String(), err)
		}
	}
	for _, bad := range []string{"20", "20/", "/s", "x/s", "-1/s", "20/d", "20/0s", "20/-1s", "20/s/s", " 20/s", "1/25h", "1/1us", "99999999999999999/1ms"} {
		if _, err := ParseRate(bad); !errors.Is(err, ErrInvalid) {
			t.Errorf("ParseRate(%q) = %v, want ErrInvalid", bad, err)
		}
	}
}

func FuzzParseRate(f *testing.F) {
	for _, s := range []string{"20/s", "1MiB/s", "5/10s", "0/s", "600/m"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseRate(s)
		if err != nil {
			return
		}
		if r.IsZero() {
			return
		}
		if r.N() <= 0 || r.Per() < time.Millisecond || r.Per() > maxRatePeriod {
			t.Fatalf("ParseRate(%q) = %d per %v", s, r.N(), r.Per())
		}
		if back, err := ParseRate(r.String()); err != nil || back != r {
			t.Fatalf("ParseRate(%q) = %v does not round-trip: %v %v", s, r, back, err)
		}
	})
}
