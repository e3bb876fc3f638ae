package codec

import (
	"strings"
	"testing"
)

func TestParseTraceParent(t *testing.T) {
	const ok = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	tests := []struct {
		name string
		in   string
		want bool
	}{
		{"the specification's example", ok, true},
		{"not sampled", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00", true},
		{"empty", "", false},
		{"short", ok[:54], false},
		{"version 00 with more", ok + "-x", false},
		{"later version with more", "01" + ok[2:] + "-what-comes-next", true},
		{"later version glued", "01" + ok[2:] + "x", false},
		{"version ff", "ff" + ok[2:], false},
		{"upper-case hex", strings.ToUpper(ok), false},
		{"zero trace id", "00-00000000000000000000000000000000-00f067aa0ba902b7-01", false},
		{"zero parent id", "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01", false},
		{"bad separator", "00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", false},
		{"not hex", "00-4bf92f3577b34da6a3ce929d0e0e47zz-00f067aa0ba902b7-01", false},
		{"bad flags", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0g", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tp, got := ParseTraceParent([]byte(tt.in))
			if got != tt.want {
				t.Fatalf("ParseTraceParent(%q) ok = %v, want %v", tt.in, got, tt.want)
			}
			if got && tt.in[:2] == "00" {
				if back := string(AppendTraceParent(nil, tp)); back != tt.in {
					t.Errorf("round trip %q, want %q", back, tt.in)
				}
			}
		})
	}
}

func FuzzParseTraceParent(f *testing.F) {
	f.Add([]byte("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"))
	f.Add([]byte("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x"))
	f.Add([]byte("ff-00000000000000000000000000000000-0000000000000000-00"))
	f.Fuzz(func(t *testing.T, v []byte) {
		tp, ok := ParseTraceParent(v)
		if !ok {
			return
		}
		out := AppendTraceParent(nil, tp)
		again, ok2 := ParseTraceParent(out)
		if !ok2 || again != tp || len(out) != TraceParentLen {
			t.Fatalf("%q parsed to %+v, which prints as %q and parses to %+v, %v", v, tp, out, again, ok2)
		}
	})
}
