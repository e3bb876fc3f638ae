package sysstat

import (
	"errors"
	"os"
	"testing"
)

// parseCase is a case of a /proc text parser: its input, and the value
// and error (matched with errors.Is) it should give.
type parseCase[T comparable] struct {
	name    string
	in      string
	want    T
	wantErr error
}

// testParser runs parse, named name in messages, over tests.
func testParser[T comparable](t *testing.T, name string, parse func([]byte) (T, error), tests []parseCase[T]) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parse([]byte(tt.in))
			if got != tt.want || !errors.Is(err, tt.wantErr) {
				t.Errorf("%s = %v, %v; want %v, %v", name, got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestParseVmRSS(t *testing.T) {
	testParser(t, "parseVmRSS", parseVmRSS, []parseCase[int64]{
		{"ok", "Name:\tx\nVmPeak:\t 10 kB\nVmRSS:\t    1234 kB\nThreads: 3\n", 1234 << 10, nil},
		{"missing", "Name:\tx\n", 0, ErrProcStatus},
		{"bad unit", "VmRSS:\t1 MB\n", 0, ErrProcStatus},
		{"bad number", "VmRSS:\tx kB\n", 0, ErrProcStatus},
	})
}

func TestParseStatTicks(t *testing.T) {
	testParser(t, "parseStatTicks", parseStatTicks, []parseCase[uint64]{
		{"ok", "42 (throng) S 1 42 42 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 5 0 100 0 0", 300, nil},
		{"name with spaces and parens", "42 (a) b (c) R 1 42 42 0 -1 0 0 0 0 0 7 8 0 0", 15, nil},
		{"short", "42 (x) S 1 2", 0, ErrProcStat},
		{"no paren", "42 x S", 0, ErrProcStat},
		{"bad field", "42 (x) S 1 42 42 0 -1 0 0 0 0 0 a 8", 0, ErrProcStat},
	})
}

func TestParseSockstatTCPMem(t *testing.T) {
	testParser(t, "parseSockstatTCPMem", parseSockstatTCPMem, []parseCase[int64]{
		{"ok", "sockets: used 100\nTCP: inuse 5 orphan 0 tw 2 alloc 7 mem 12\nUDP: inuse 1 mem 3\n", 12, nil},
		{"no tcp", "UDP: inuse 1 mem 3\n", 0, ErrProcSockstat},
		{"no mem", "TCP: inuse 5\n", 0, ErrProcSockstat},
	})
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
