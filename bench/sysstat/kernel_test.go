package sysstat

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"testing"
	"time"
)

const testSlabinfo = `slabinfo - version: 2.1
# name            <active_objs> <num_objs> <objsize> <objperslab> <pagesperslab> : tunables <limit> <batchcount> <sharedfactor> : slabdata <active_slabs> <num_slabs> <sharedavail>
TCP                   53    104   2368   13    8 : tunables    0    0    0 : slabdata      8      8      0
sock_inode_cache     228    304    832   19    4 : tunables    0    0    0 : slabdata     16     16      0
dentry             70866  71694    192   21    1 : tunables    0    0    0 : slabdata   3414   3414      0
kmalloc-64          2160   2304     64   64    1 : tunables    0    0    0 : slabdata     36     36      0
`

func TestParseSlabinfo(t *testing.T) {
	const page = 4096
	tests := []struct {
		name    string
		in      string
		want    SlabSample
		wantErr error
	}{
		{"ok", testSlabinfo, SlabSample{
			Caches: map[string]int64{"TCP": 8 * 8 * page, "sock_inode_cache": 16 * 4 * page, "dentry": 3414 * page},
			Socket: (64 + 64 + 3414) * page,
			All:    (64 + 64 + 3414 + 36) * page,
		}, nil},
		{"empty", "", SlabSample{}, ErrSlabinfo},
		{"other version", "slabinfo - version: 1.1\n", SlabSample{}, ErrSlabinfo},
		{"short line", "slabinfo - version: 2.1\nTCP 1 2 3\n", SlabSample{}, ErrSlabinfo},
		{"bad number", "slabinfo - version: 2.1\nTCP 53 104 2368 13 x : tunables 0 0 0 : slabdata 8 8 0\n", SlabSample{}, ErrSlabinfo},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseSlabinfo([]byte(tt.in), page)
			if !errors.Is(err, tt.wantErr) || fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("parseSlabinfo = %+v, %v; want %+v, %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
	before, _ := parseSlabinfo([]byte(testSlabinfo), page)
	after := SlabSample{Caches: map[string]int64{"TCP": before.Caches["TCP"] + page, "dentry": 0, "filp": page}}
	if got, want := fmt.Sprint(before.Growth(after)), fmt.Sprint(map[string]int64{"TCP": page, "dentry": -3414 * page, "filp": page}); got != want {
		t.Errorf("growth = %s, want %s", got, want)
	}
}

func TestReadSlab(t *testing.T) {
	s, err := ReadSlab()
	if errors.Is(err, os.ErrPermission) || errors.Is(err, os.ErrNotExist) {
		t.Skipf("ReadSlab = %v (needs root)", err)
	}
	if err != nil || s.All <= 0 || s.Socket <= 0 || s.Socket > s.All {
		t.Errorf("ReadSlab = %+v, %v; want socket caches within all caches", s, err)
	}
}

func TestParseProcNetAddr(t *testing.T) {
	tests := []struct {
		in   string
		want string // "" for no address
	}{
		{"0100007F:1F90", "127.0.0.1:8080"},
		{"014C007F:4C91", "127.0.76.1:19601"},
		{"00000000000000000000000001000000:0050", "[::1]:80"},
		{"0000000000000000FFFF00000100007F:0050", "[::ffff:127.0.0.1]:80"},
		{"0100007F", ""},
		{"0100007:1F90", ""},
		{"0100007F:1F9G", ""},
		{"0100007F:10000", ""},
		{"zz00007F:1F90", ""},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, ok := parseProcNetAddr([]byte(tt.in))
			if (tt.want == "") != !ok || (ok && got.String() != tt.want) {
				t.Errorf("parseProcNetAddr = %v, %v; want %q", got, ok, tt.want)
			}
		})
	}
}

func TestCountEstablished(t *testing.T) {
	table := `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 014C007F:4C91 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 100 1 0 100 0 0 10 0
   1: 014C007F:4C91 0A4C007F:9C40 01 00000000:00000000 00:00000000 00000000     0        0 101 1 0 20 4 30 10 -1
   2: 014C007F:4C91 0B4C007F:9C40 01 00000000:00000000 00:00000000 00000000     0        0 102 1 0 20 4 30 10 -1
   3: 014C007F:4C91 0C4C007F:9C40 01 00000000:00000000 00:00000000 00000000     0        0 999 1 0 20 4 30 10 -1
   4: 024C007F:4C91 0C4C007F:9C41 01 00000000:00000000 00:00000000 00000000     0        0 103 1 0 20 4 30 10 -1
   5: 014C007F:4C92 0C4C007F:9C42 01 00000000:00000000 00:00000000 00000000     0        0 104 1 0 20 4 30 10 -1
   6: 014C007F:4C91 0D4C007F:9C43 06 00000000:00000000 00:00000000 00000000     0        0 105 1 0 20 4 30 10 -1
`
	inodes := map[uint64]struct{}{100: {}, 101: {}, 102: {}, 103: {}, 104: {}, 105: {}}
	tests := []struct {
		local string
		want  int
	}{
		{"127.0.76.1:19601", 2}, // 101, 102; 100 listens, 999 is not the process's, 105 is TIME_WAIT
		{"0.0.0.0:19601", 3},    // any address: 103 too
		{"[::]:19601", 3},
		{"127.0.76.1:19602", 1},
		{"127.0.76.3:19601", 0},
	}
	for _, tt := range tests {
		t.Run(tt.local, func(t *testing.T) {
			if got := countEstablished([]byte(table), netip.MustParseAddrPort(tt.local), inodes); got != tt.want {
				t.Errorf("countEstablished = %d, want %d", got, tt.want)
			}
		})
	}
}

func TestReadSockets(t *testing.T) {
	const addr = "127.0.76.3:19612"
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	before, err := ReadSockets(0, netip.MustParseAddrPort(addr))
	if err != nil {
		t.Fatal(err)
	}
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for range 3 {
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		s, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c, s)
	}
	got, err := ReadSockets(0, netip.MustParseAddrPort(addr))
	// Three accepted on addr; six more sockets in all (both ends are ours).
	if err != nil || got.Local != before.Local+3 || got.Total != before.Total+6 {
		t.Errorf("ReadSockets = %+v, %v; want %d local, %d in all", got, err, before.Local+3, before.Total+6)
	}
	if got, err := ReadSockets(0, netip.AddrPort{}); err != nil || got.Local != 0 || got.Total != before.Total+6 {
		t.Errorf("ReadSockets without an address = %+v, %v; want no local count", got, err)
	}
	if _, err := ReadSockets(1<<30, netip.AddrPort{}); err == nil {
		t.Errorf("ReadSockets(no such pid) = nil error, want one")
	}
}

func FuzzParseSlabinfo(f *testing.F) {
	f.Add(testSlabinfo)
	f.Add("slabinfo - version: 2.1\n")
	f.Add("slabinfo - version: 2.1\nTCP 1 1 1 1 -1 : tunables 0 0 0 : slabdata 1 -1 0\n")
	f.Fuzz(func(t *testing.T, in string) {
		s, err := parseSlabinfo([]byte(in), 4096)
		if err != nil {
			return
		}
		if s.Socket < 0 || s.All < 0 || s.Socket > s.All {
			t.Errorf("parseSlabinfo(%q) = %+v: want 0 <= socket <= all", in, s)
		}
	})
}

func FuzzParseProcNetAddr(f *testing.F) {
	f.Add("0100007F:1F90")
	f.Add("00000000000000000000000001000000:0050")
	f.Add(":")
	f.Fuzz(func(t *testing.T, in string) {
		a, ok := parseProcNetAddr([]byte(in))
		if !ok {
			return
		}
		back, ok := parseProcNetAddr([]byte(formatProcNetAddr(a)))
		if !a.IsValid() || !ok || back != a {
			t.Errorf("parseProcNetAddr(%q) = %v, which formats and parses back as %v, %v", in, a, back, ok)
		}
	})
}

// formatProcNetAddr formats a as /proc/net/tcp does.
func formatProcNetAddr(a netip.AddrPort) string {
	var b []byte
	raw := a.Addr().AsSlice()
	for w := 0; w < len(raw); w += 4 {
		b = fmt.Appendf(b, "%08X", binary.NativeEndian.Uint32(raw[w:]))
	}
	return fmt.Sprintf("%s:%04X", b, a.Port())
}
