package config

import (
	"errors"
	"math"
	"testing"
)

func TestParseSize(t *testing.T) {
	tests := []struct {
		in   string
		want Size
	}{
		{"0", 0},
		{"512", 512},
		{"512B", 512},
		{"512 B", 512},
		{"64KiB", 64 << 10},
		{"64 KiB", 64 << 10},
		{"16MiB", 16 << 20},
		{"1GiB", 1 << 30},
		{"64KB", 64000},
		{"1MB", 1000000},
		{"2GB", 2000000000},
		{"007KiB", 7 << 10},
		{"9223372036854775807", math.MaxInt64},
		{"8589934591GiB", 8589934591 << 30},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseSize(tt.in)
			if err != nil || got != tt.want {
				t.Fatalf("ParseSize(%q) = %d, %v; want %d, nil", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestParseSizeErrors(t *testing.T) {
	for _, in := range []string{
		"", " ", "KiB", "B", "4k", "4K", "4kib", "4KIB", "4kb", "4 kB", "-1", "+1", "-1KiB",
		"1.5MiB", "1_000", "0x10", " 64KiB", "64KiB ", "64  KiB", "64\tKiB", "64TiB", "64iB",
		"9223372036854775808", "8589934592GiB", "99999999999999999999",
	} {
		t.Run(in, func(t *testing.T) {
			got, err := ParseSize(in)
			if err == nil {
				t.Fatalf("ParseSize(%q) = %d, nil; want an error", in, got)
			}
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("ParseSize(%q) error %v; want one wrapping ErrInvalid", in, err)
			}
		})
	}
}

func TestSizeString(t *testing.T) {
	tests := []struct {
		in   Size
		want string
	}{
		{0, "0"},
		{1, "1"},
		{1000, "1000"},
		{KiB, "1KiB"},
		{64 * KiB, "64KiB"},
		{1536 * KiB, "1536KiB"},
		{16 * MiB, "16MiB"},
		{3 * GiB, "3GiB"},
		{-2 * KiB, "-2KiB"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			if got := tt.in.String(); got != tt.want {
				t.Fatalf("Size(%d).String() = %q; want %q", int64(tt.in), got, tt.want)
			}
		})
	}
}

// FuzzSize checks that ParseSize never panics and that what it accepts
// survives a round trip through String.
func FuzzSize(f *testing.F) {
	for _, s := range []string{"0", "512", "64KiB", "16 MiB", "1GiB", "64KB", "1MB", "4k", "", "9223372036854775807", "8589934591GiB", "1 B"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := ParseSize(s)
		if err != nil {
			return
		}
		if v < 0 {
			t.Fatalf("ParseSize(%q) = %d; want ≥ 0", s, int64(v))
		}
		text, err := v.MarshalText()
		if err != nil {
			t.Fatalf("MarshalText(%d): %v", int64(v), err)
		}
		var back Size
		if err := back.UnmarshalText(text); err != nil || back != v {
			t.Fatalf("parse(format(%d)) = %d, %v (text %q); want %d", int64(v), int64(back), err, text, int64(v))
		}
	})
}
