package sysstat

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
)

// clockTicks is USER_HZ, the unit of utime and stime in /proc/PID/stat: 100
// on every Linux architecture Go supports (the kernel reports in it whatever
// its internal HZ).
const clockTicks = 100

// /proc parse errors.
var (
	ErrProcStat     = errors.New("sysstat: malformed /proc/PID/stat")
	ErrProcStatus   = errors.New("sysstat: no VmRSS in /proc/PID/status")
	ErrProcSockstat = errors.New("sysstat: no TCP mem in /proc/net/sockstat")
)

// ProcSample is one reading of a process's resident memory and CPU time.
type ProcSample struct {
	RSSBytes   int64   `json:"rss_bytes"`
	CPUSeconds float64 `json:"cpu_seconds"` // utime + stime
}

// ReadProc samples process pid (0: this process) from /proc/PID/status
// (VmRSS) and /proc/PID/stat (utime + stime). It allocates.
func ReadProc(pid int) (ProcSample, error) {
	dir := "/proc/self"
	if pid != 0 {
		dir = "/proc/" + strconv.Itoa(pid)
	}
	status, err := os.ReadFile(dir + "/status")
	if err != nil {
		return ProcSample{}, fmt.Errorf("sysstat: %w", err)
	}
	stat, err := os.ReadFile(dir + "/stat")
	if err != nil {
		return ProcSample{}, fmt.Errorf("sysstat: %w", err)
	}
	rss, err := parseVmRSS(status)
	if err != nil {
		return ProcSample{}, err
	}
	ticks, err := parseStatTicks(stat)
	if err != nil {
		return ProcSample{}, err
	}
	return ProcSample{RSSBytes: rss, CPUSeconds: float64(ticks) / clockTicks}, nil
}

// ReadTCPMemBytes returns the kernel memory of all TCP sockets: the "mem"
// pages of the TCP line of /proc/net/sockstat times the page size. It
// allocates.
func ReadTCPMemBytes() (int64, error) {
	b, err := os.ReadFile("/proc/net/sockstat")
	if err != nil {
		return 0, fmt.Errorf("sysstat: %w", err)
	}
	pages, err := parseSockstatTCPMem(b)
	if err != nil {
		return 0, err
	}
	return pages * int64(os.Getpagesize()), nil
}

// parseVmRSS returns the VmRSS line of a /proc/PID/status file in bytes.
func parseVmRSS(b []byte) (int64, error) {
	for line := range bytes.Lines(b) {
		rest, ok := bytes.CutPrefix(line, []byte("VmRSS:"))
		if !ok {
			continue
		}
		f := bytes.Fields(rest)
		if len(f) != 2 || string(f[1]) != "kB" {
			return 0, ErrProcStatus
		}
		kb, err := strconv.ParseInt(string(f[0]), 10, 64)
		if err != nil || kb < 0 {
			return 0, ErrProcStatus
		}
		return kb << 10, nil
	}
	return 0, ErrProcStatus
}

// parseStatTicks returns utime + stime (fields 14 and 15) of a
// /proc/PID/stat file, in clock ticks. The command name (field 2) is in
// parentheses and may hold spaces and parentheses: fields are counted from
// the last ')'.
func parseStatTicks(b []byte) (uint64, error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, ErrProcStat
	}
	f := bytes.Fields(b[i+1:]) // f[0] is field 3 (state)
	if len(f) < 13 {
		return 0, ErrProcStat
	}
	utime, err1 := strconv.ParseUint(string(f[11]), 10, 64)
	stime, err2 := strconv.ParseUint(string(f[12]), 10, 64)
	if err1 != nil || err2 != nil {
		return 0, ErrProcStat
	}
	return utime + stime, nil
}

// parseSockstatTCPMem returns the "mem" value (pages) of the "TCP:" line of
// /proc/net/sockstat.
func parseSockstatTCPMem(b []byte) (int64, error) {
	for line := range bytes.Lines(b) {
		rest, ok := bytes.CutPrefix(line, []byte("TCP:"))
		if !ok {
			continue
		}
		f := bytes.Fields(rest)
		for i := 0; i+1 < len(f); i += 2 {
			if string(f[i]) == "mem" {
				n, err := strconv.ParseInt(string(f[i+1]), 10, 64)
				if err != nil || n < 0 {
					return 0, ErrProcSockstat
				}
				return n, nil
			}
		}
	}
	return 0, ErrProcSockstat
}
