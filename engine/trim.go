package engine

import "runtime/debug"

// trimAfter is how many session set-ups a burst must have made before its
// end triggers a trim.
const trimAfter = 1024

// trimEvery is how often, in ticks, the ticker checks for a finished burst:
// a burst has ended when no connection was accepted for that long.
const trimEvery = 5

// memoryTrimmer returns the heap a burst of session set-ups left behind to
// the OS once the burst is over. Dialling and enrolling make short-lived
// garbage while an idle session keeps little; without a trim the RSS stays
// at the GC's heap goal, up to (1 + GOGC/100) × live, until the next burst.
// (HAProxy trims its allocator after reloads for the same reason.) Only the
// ticker goroutine uses it.
type memoryTrimmer struct {
	lastTrim uint64 // accepted connections at the last trim
	lastSeen uint64 // accepted connections at the last check
}

// check is called every trimEvery ticks with the accepted-connection count
// and reports whether it trimmed.
func (m *memoryTrimmer) check(accepted uint64) bool {
	quiet := accepted == m.lastSeen
	m.lastSeen = accepted
	if !quiet || accepted-m.lastTrim < trimAfter {
		return false
	}
	m.lastTrim = accepted
	debug.FreeOSMemory()
	return true
}
