package sysstat

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"strings"
)

// Kernel memory that grows with sockets, read from /proc/slabinfo (root
// only), and a process's socket count, from /proc/PID/fd.

// ErrSlabinfo is returned for a /proc/slabinfo this parser cannot read.
var ErrSlabinfo = errors.New("sysstat: malformed /proc/slabinfo")

// isSocketSlab reports whether cache name is one an idle TCP socket held by
// a process through epoll costs: the socket (TCP, TCPv6), its inode, file
// and dentry, its epoll item, and bound-port buckets.
func isSocketSlab(name string) bool {
	switch name {
	case "TCP", "TCPv6", "sock_inode_cache", "filp", "dentry",
		"eventpoll_epi", "eventpoll_pwq", "tcp_bind_bucket", "tcp_bind2_bucket":
		return true
	}
	return false
}

// SlabSample is one reading of /proc/slabinfo: the bytes held by each
// socket cache (slabs × pages per slab × page size) and by all caches.
type SlabSample struct {
	Caches map[string]int64 `json:"caches"`
	Socket int64            `json:"socket_bytes"` // the sum of Caches
	All    int64            `json:"all_bytes"`    // every cache, kmalloc included
}

// ReadSlab reads /proc/slabinfo, which only root may read. It allocates.
func ReadSlab() (SlabSample, error) {
	b, err := os.ReadFile("/proc/slabinfo")
	if err != nil {
		return SlabSample{}, fmt.Errorf("sysstat: %w", err)
	}
	return parseSlabinfo(b, int64(os.Getpagesize()))
}

// parseSlabinfo parses a slabinfo 2.x file ("name active_objs num_objs
// objsize objperslab pagesperslab : tunables ... : slabdata active_slabs
// num_slabs sharedavail"); a cache holds num_slabs × pagesperslab pages.
func parseSlabinfo(b []byte, pageSize int64) (SlabSample, error) {
	s := SlabSample{Caches: make(map[string]int64)}
	lines := 0
	for line := range bytes.Lines(b) {
		lines++
		if lines == 1 {
			if !bytes.HasPrefix(line, []byte("slabinfo - version: 2.")) {
				return SlabSample{}, ErrSlabinfo
			}
			continue
		}
		if bytes.HasPrefix(line, []byte("#")) {
			continue
		}
		f := bytes.Fields(line)
		// name + 5 numbers, ": tunables" + 3, ": slabdata" + 3.
		if len(f) < 16 || string(f[6]) != ":" || string(f[11]) != ":" || string(f[12]) != "slabdata" {
			return SlabSample{}, ErrSlabinfo
		}
		pages, err1 := strconv.ParseInt(string(f[5]), 10, 64)
		slabs, err2 := strconv.ParseInt(string(f[14]), 10, 64)
		if err1 != nil || err2 != nil || pages < 0 || slabs < 0 {
			return SlabSample{}, ErrSlabinfo
		}
		n := slabs * pages * pageSize
		s.All += n
		if name := string(f[0]); isSocketSlab(name) {
			s.Caches[name] = n
			s.Socket += n
		}
	}
	if lines == 0 {
		return SlabSample{}, ErrSlabinfo
	}
	return s, nil
}

// Growth returns, per cache, what b holds more than a. It allocates the map.
func (a SlabSample) Growth(b SlabSample) map[string]int64 {
	m := make(map[string]int64, len(b.Caches))
	for k, v := range b.Caches {
		m[k] = v - a.Caches[k]
	}
	return m
}

// ProcSockets is what a process holds in sockets.
type ProcSockets struct {
	// Total counts the process's socket descriptors.
	Total int
	// Local counts its established TCP sockets whose local address is the
	// one asked for: for a proxy, the sessions it accepted there.
	Local int
}

// ReadSockets reads process pid's socket descriptors (0: this process)
// from /proc/PID/fd and counts them; with a valid local address, also
// those that are established TCP sockets on it (/proc/PID/net/tcp, tcp6;
// an unspecified address matches any with local's port). It reads every
// link in /proc/PID/fd, a few µs each, and allocates.
func ReadSockets(pid int, local netip.AddrPort) (ProcSockets, error) {
	dir := "/proc/self"
	if pid != 0 {
		dir = "/proc/" + strconv.Itoa(pid)
	}
	f, err := os.Open(dir + "/fd")
	if err != nil {
		return ProcSockets{}, fmt.Errorf("sysstat: %w", err)
	}
	names, err := f.Readdirnames(-1)
	_ = f.Close()
	if err != nil {
		return ProcSockets{}, fmt.Errorf("sysstat: %w", err)
	}
	var ps ProcSockets
	inodes := make(map[uint64]struct{})
	for _, name := range names {
		// A descriptor closed since the listing is skipped.
		l, err := os.Readlink(dir + "/fd/" + name)
		if err != nil {
			continue
		}
		if ino, ok := strings.CutPrefix(l, "socket:["); ok {
			ps.Total++
			if n, err := strconv.ParseUint(strings.TrimSuffix(ino, "]"), 10, 64); err == nil {
				inodes[n] = struct{}{}
			}
		}
	}
	if !local.IsValid() {
		return ps, nil
	}
	for _, table := range []string{"/net/tcp", "/net/tcp6"} {
		b, err := os.ReadFile(dir + table)
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				continue // no IPv6
			}
			return ps, fmt.Errorf("sysstat: %w", err)
		}
		ps.Local += countEstablished(b, local, inodes)
	}
	return ps, nil
}

// tcpEstablished is the state column of an established socket in
// /proc/net/tcp.
const tcpEstablished = "01"

// countEstablished counts the lines of a /proc/net/tcp or tcp6 table that
// are established sockets on local whose inode is in inodes. Addresses are
// hex: an IPv4 address as one 32-bit word, IPv6 as four, each word in host
// byte order, then ":" and the port in hex.
func countEstablished(b []byte, local netip.AddrPort, inodes map[uint64]struct{}) int {
	n := 0
	for line := range bytes.Lines(b) {
		f := bytes.Fields(line)
		// sl local rem st tx:rx tr:when retrnsmt uid timeout inode ...
		if len(f) < 10 || string(f[3]) != tcpEstablished {
			continue
		}
		addr, ok := parseProcNetAddr(f[1])
		if !ok || addr.Port() != local.Port() {
			continue
		}
		if ip := local.Addr(); !ip.IsUnspecified() && addr.Addr().Unmap() != ip.Unmap() {
			continue
		}
		ino, err := strconv.ParseUint(string(f[9]), 10, 64)
		if _, mine := inodes[ino]; err == nil && mine {
			n++
		}
	}
	return n
}

// parseProcNetAddr parses a /proc/net/tcp address: "0100007F:1F90" is
// 127.0.0.1:8080 (IPv6: 32 hex digits, four words).
func parseProcNetAddr(b []byte) (netip.AddrPort, bool) {
	host, port, ok := bytes.Cut(b, []byte(":"))
	if !ok {
		return netip.AddrPort{}, false
	}
	p, err := strconv.ParseUint(string(port), 16, 16)
	if err != nil {
		return netip.AddrPort{}, false
	}
	var raw [16]byte
	if len(host) != 8 && len(host) != 32 {
		return netip.AddrPort{}, false
	}
	for w := 0; w < len(host)/8; w++ {
		v, err := strconv.ParseUint(string(host[8*w:8*w+8]), 16, 32)
		if err != nil {
			return netip.AddrPort{}, false
		}
		binary.NativeEndian.PutUint32(raw[4*w:], uint32(v))
	}
	if len(host) == 8 {
		return netip.AddrPortFrom(netip.AddrFrom4([4]byte(raw[:4])), uint16(p)), true
	}
	return netip.AddrPortFrom(netip.AddrFrom16(raw), uint16(p)), true
}
