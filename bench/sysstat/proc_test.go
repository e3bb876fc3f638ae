package sysstat

import (
	"errors"
	"os"
	"testing"
)

func TestParseVmRSS(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    int64
		wantErr error
	}{
		{"ok", "Name:\tx\nVmPeak:\t 10 kB\nVmRSS:\t    1234 kB\nThreads: 3\n", 1234 << 10, nil},
		{"missing", "Name:\tx\n", 0, ErrProcStatus},
		{"bad unit", "VmRSS:\t1 MB\n", 0, ErrProcStatus},
		{"bad number", "VmRSS:\tx kB\n", 0, ErrProcStatus},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseVmRSS([]byte(tt.in))
			if got != tt.want || !errors.Is(err, tt.wantErr) {
				t.Errorf("parseVmRSS = %d, %v; want %d, %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestParseStatTicks(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    uint64
		wantErr error
	}{
		{"ok", "42 (throng) S 1 42 42 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 5 0 100 0 0", 300, nil},
		{"name with spaces and parens", "42 (a) b (c) R 1 42 42 0 -1 0 0 0 0 0 7 8 0 0", 15, nil},
		{"short", "42 (x) S 1 2", 0, ErrProcStat},
		{"no paren", "42 x S", 0, ErrProcStat},
		{"bad field", "42 (x) S 1 42 42 0 -1 0 0 0 0 0 a 8", 0, ErrProcStat},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseStatTicks([]byte(tt.in))
			if got != tt.want || !errors.Is(err, tt.wantErr) {
				t.Errorf("parseStatTicks = %d, %v; want %d, %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestParseSockstatTCPMem(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    int64
		wantErr error
	}{
		{"ok", "sockets: used 100\nTCP: inuse 5 orphan 0 tw 2 alloc 7 mem 12\nUDP: inuse 1 mem 3\n", 12, nil},
		{"no tcp", "UDP: inuse 1 mem 3\n", 0, ErrProcSockstat},
		{"no mem", "TCP: inuse 5\n", 0, ErrProcSockstat},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseSockstatTCPMem([]byte(tt.in))
			if got != tt.want || !errors.Is(err, tt.wantErr) {
				t.Errorf("parseSockstatTCPMem = %d, %v; want %d, %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestReadProcSelf(t *testing.T) {
	s, err := ReadProc(os.Getpid())
	if err != nil || s.RSSBytes <= 0 {
		t.Errorf("ReadProc(self) = %+v, %v; want RSS > 0", s, err)
	}
	if _, err := ReadTCPMemBytes(); err != nil {
		t.Errorf("ReadTCPMemBytes = %v", err)
	}
	if m := ReadMachine(); m.GoVersion == "" || m.CPUs < 1 || m.Kernel == "" {
		t.Errorf("ReadMachine = %+v, want Go version, kernel and CPUs", m)
	}
}

func TestParseCPUModel(t *testing.T) {
	in := "processor\t: 0\nvendor_id\t: X\nmodel name\t: Fast CPU @ 3GHz\nprocessor\t: 1\nmodel name\t: other\n"
	if got, want := parseCPUModel([]byte(in)), "Fast CPU @ 3GHz"; got != want {
		t.Errorf("parseCPUModel = %q, want %q", got, want)
	}
}

// FuzzParseStatTicks checks that whatever the command name holds (spaces,
// parentheses, newlines), the CPU fields after it parse the same.
func FuzzParseStatTicks(f *testing.F) {
	f.Add([]byte("throng"))
	f.Add([]byte("a) S 1 2 (b"))
	f.Add([]byte(")"))
	f.Fuzz(func(t *testing.T, name []byte) {
		in := append(append([]byte("42 ("), name...), ") S 1 42 42 0 -1 0 0 0 0 0 7 8 0 0"...)
		if got, err := parseStatTicks(in); got != 15 || err != nil {
			t.Errorf("parseStatTicks(%q) = %d, %v; want 15, nil", in, got, err)
		}
	})
}
