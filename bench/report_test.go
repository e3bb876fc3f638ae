package bench

import (
	"io"
	"strings"
	"testing"
)

// wantReportText writes rep as text and fails t unless the text, with
// each line's runs of blanks squashed to one space (see squash), holds
// want. It returns the text.
func wantReportText(t *testing.T, rep interface{ WriteText(io.Writer) error }, want string) string {
	t.Helper()
	var b strings.Builder
	if err := rep.WriteText(&b); err != nil || !strings.Contains(squash(b.String()), want) {
		t.Errorf("WriteText = %v:\n%s\nwant %q", err, b.String(), want)
	}
	return b.String()
}

func TestCPUBound(t *testing.T) {
	n := float64(clientCPUs())
	tests := []struct {
		name         string
		cpu, seconds float64
		want         bool
	}{
		{"saturated", 0.95 * n * 10, 10, true},
		{"exactly the share", cpuBoundShare * n * 10, 10, true},
		{"half", 0.5 * n * 10, 10, false},
		{"nothing measured", 5, 0, false},
	}
	for _, tt := range tests {
		if got := cpuBound(tt.cpu, tt.seconds); got != tt.want {
			t.Errorf("%s: cpuBound(%v, %v) = %v; want %v", tt.name, tt.cpu, tt.seconds, got, tt.want)
		}
	}
}

// TestReportSaysCPUBound checks that a CPU-bound run says so in its text
// report, and that one that is not does not.
func TestReportSaysCPUBound(t *testing.T) {
	for _, bound := range []bool{true, false} {
		r := &EchoReport{Seconds: 1, ClientCPUSeconds: 1, ClientCPUBound: bound}
		var b strings.Builder
		if err := r.WriteText(&b); err != nil {
			t.Fatal(err)
		}
		if got := strings.Contains(b.String(), "CPU-BOUND"); got != bound {
			t.Errorf("ClientCPUBound %v: report mentions CPU-BOUND: %v\n%s", bound, got, b.String())
		}
	}
}
