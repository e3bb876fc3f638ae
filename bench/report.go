package bench

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"runtime"
	"slices"
	"strings"
	"text/tabwriter"

	"golang.org/x/sys/unix"

	"github.com/throngproxy/throng/bench/sysstat"
)

// WriteJSON writes v as one indented JSON object and a newline.
func WriteJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// reportTable writes "key  value" rows, aligned.
type reportTable struct {
	tw  *tabwriter.Writer
	err error
}

func newReportTable(w io.Writer) *reportTable {
	return &reportTable{tw: tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)}
}

// newReportHead returns a table writing to w that starts with the mode and
// URL rows of a timed report.
func newReportHead(w io.Writer, mode, url string) *reportTable {
	t := newReportTable(w)
	t.row("mode", "%s", mode)
	t.row("url", "%s", url)
	return t
}

// row writes one row; the value is formatted with fmt.
func (t *reportTable) row(key, format string, args ...any) {
	if t.err != nil {
		return
	}
	_, t.err = fmt.Fprintf(t.tw, "%s\t"+format+"\n", append([]any{key}, args...)...)
}

// flush ends the table and returns the first error.
func (t *reportTable) flush() error {
	if t.err != nil {
		return t.err
	}
	return t.tw.Flush()
}

// machineRows writes the machine rows.
func (t *reportTable) machineRows(m sysstat.Machine) {
	t.row("go", "%s", m.GoVersion)
	t.row("kernel", "%s", m.Kernel)
	t.row("cpu", "%s × %d", m.CPUModel, m.CPUs)
}

// targetRows writes one sampled process's rows: its CPU time with perCPU
// units of work (named by per, e.g. "msgs") per CPU-second, RSS and error.
func (t *reportTable) targetRows(pid int, cpu, perCPU float64, per string, rss int64, err string) {
	p := fmt.Sprintf("pid %d ", pid)
	t.row(p+"cpu", "%.2fs (%.0f %s per cpu-second)", cpu, perCPU, per)
	t.row(p+"rss", "%s", mib(rss))
	if err != "" {
		t.row(p+"error", "%s", err)
	}
}

// clientCPUs is how many CPUs this process may run on: its affinity mask
// (taskset), else every CPU.
func clientCPUs() int {
	var set unix.CPUSet
	if unix.SchedGetaffinity(0, &set) == nil && set.Count() > 0 {
		return set.Count()
	}
	return runtime.NumCPU()
}

// cpuBoundShare is the share of its CPUs past which the load generator
// counts as CPU-bound.
const cpuBoundShare = 0.9

// cpuBound reports whether the load generator used at least cpuBoundShare
// of the CPUs it may run on over seconds of wall time: its figures then
// measure itself as much as the target, and the report says so.
func cpuBound(cpu, seconds float64) bool {
	return seconds > 0 && cpu >= cpuBoundShare*seconds*float64(clientCPUs())
}

// endRows writes the rows that end every timed report and flushes.
func (t *reportTable) endRows(clientCPU float64, bound, interrupted bool) error {
	t.cpuRow(clientCPU, bound)
	if interrupted {
		t.row("interrupted", "yes")
	}
	return t.flush()
}

// cpuRow writes the load generator's CPU time, flagged when CPU-bound.
func (t *reportTable) cpuRow(clientCPU float64, bound bool) {
	if bound {
		t.row("client cpu", "%.2fs  CPU-BOUND: the load generator saturated its %d CPU(s); the target may be faster than shown", clientCPU, clientCPUs())
		return
	}
	t.row("client cpu", "%.2fs", clientCPU)
}

// latencyRow writes a latency distribution.
func (t *reportTable) latencyRow(l Latency) {
	t.row("latency µs", "p50 %.1f  p90 %.1f  p99 %.1f  p99.9 %.1f  max %.1f", l.P50, l.P90, l.P99, l.P999, l.Max)
}

// failRows writes the failures by kind, sorted, or "none".
func (t *reportTable) failRows(fails map[string]uint64) {
	if len(fails) == 0 {
		t.row("failed", "0")
		return
	}
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(fails)) {
		if b.Len() > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s=%d", k, fails[k])
	}
	t.row("failed", "%s", b.String())
}

// clientSourcesString formats a source list for reports: its size and ends.
func clientSourcesString(ss []string) string {
	switch len(ss) {
	case 0:
		return "kernel's choice"
	case 1:
		return ss[0]
	default:
		return fmt.Sprintf("%s-%s (%d)", ss[0], ss[len(ss)-1], len(ss))
	}
}

// mib formats bytes as MiB.
func mib(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

// procsRow writes how many worker processes a merged report comes from;
// nothing for a run in this process alone.
func (t *reportTable) procsRow(procs int) {
	if procs > 1 {
		t.row("processes", "%d workers, results merged (histograms merged, counts and rates summed)", procs)
	}
}

// slabGrowthString formats the growth of slab caches, largest first.
func slabGrowthString(g map[string]int64) string {
	keys := slices.SortedFunc(maps.Keys(g), func(a, b string) int {
		if g[a] != g[b] {
			return cmp.Compare(g[b], g[a])
		}
		return strings.Compare(a, b)
	})
	var b strings.Builder
	for _, k := range keys {
		if b.Len() > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s %+.1f MiB", k, float64(g[k])/(1<<20))
	}
	if b.Len() == 0 {
		return "none"
	}
	return b.String()
}
