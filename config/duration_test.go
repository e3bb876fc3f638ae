package config

import (
	"errors"
	"math"
	"testing"
	"time"
)

func TestParseDuration(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
	}{
		{"0", 0},
		{"0s", 0},
		{"10s", 10 * time.Second},
		{"250ms", 250 * time.Millisecond},
		{"1m30s", 90 * time.Second},
		{"1h", time.Hour},
		{"1.5s", 1500 * time.Millisecond},
		{"2562047h47m16.854775807s", math.MaxInt64},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseDuration(tt.in)
			if err != nil || got.D() != tt.want {
				t.Fatalf("ParseDuration(%q) = %v, %v; want %v, nil", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestParseDurationErrors(t *testing.T) {
	for _, in := range []string{"", "10", "-1s", "-0.5s", "ten seconds", "1d", "5 s", "9999999999h"} {
		t.Run(in, func(t *testing.T) {
			got, err := ParseDuration(in)
			if err == nil {
				t.Fatalf("ParseDuration(%q) = %v, nil; want an error", in, got)
			}
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("ParseDuration(%q) error %v; want one wrapping ErrInvalid", in, err)
			}
		})
	}
}

// FuzzDuration checks that ParseDuration never panics, never returns a
// negative value, and that what it accepts survives a round trip through
// MarshalText.
func FuzzDuration(f *testing.F) {
	for _, s := range []string{"0", "0s", "10s", "250ms", "1m30s", "-1s", "1.5h", "2562047h47m16.854775807s", "1µs", "3ns"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseDuration(s)
		if err != nil {
			return
		}
		if d.D() < 0 {
			t.Fatalf("ParseDuration(%q) = %v; want ≥ 0", s, d)
		}
		text, err := d.MarshalText()
		if err != nil {
			t.Fatalf("MarshalText(%v): %v", d, err)
		}
		var back Duration
		if err := back.UnmarshalText(text); err != nil || back != d {
			t.Fatalf("parse(format(%v)) = %v, %v (text %q); want %v", d, back, err, text, d)
		}
	})
}
