package sysstat

import (
	"bytes"
	"os"
	"runtime"

	"golang.org/x/sys/unix"
)

// Machine describes where a run happened.
type Machine struct {
	GoVersion string `json:"go_version"`
	Kernel    string `json:"kernel"`
	CPUModel  string `json:"cpu_model"`
	CPUs      int    `json:"cpus"`
}

// ReadMachine returns the Go version, kernel release (uname -r), CPU model
// (/proc/cpuinfo) and CPU count (runtime.NumCPU: the affinity mask). It
// allocates; unknown fields are left empty.
func ReadMachine() Machine {
	m := Machine{GoVersion: runtime.Version(), CPUs: runtime.NumCPU()}
	var u unix.Utsname
	if unix.Uname(&u) == nil {
		m.Kernel = unix.ByteSliceToString(u.Release[:])
	}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		m.CPUModel = parseCPUModel(b)
	}
	return m
}

// parseCPUModel returns the first "model name" of a /proc/cpuinfo file.
func parseCPUModel(b []byte) string {
	for line := range bytes.Lines(b) {
		name, value, ok := bytes.Cut(line, []byte(":"))
		if ok && string(bytes.TrimSpace(name)) == "model name" {
			return string(bytes.TrimSpace(value))
		}
	}
	return ""
}
