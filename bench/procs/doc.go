// Package procs runs one load split over worker processes: one process
// holds at most RLIMIT_NOFILE sockets, so a run of more sessions starts
// several workers, gives each its job, starts their held or measured time
// together once all are connected, and collects their results.
//
// The parent calls Run; each worker calls Serve. They speak JSON lines
// (wire.go). What a job is, and how results merge, is the caller's: this
// package moves opaque JSON and knows nothing of scenarios, so it imports
// neither bench nor the proxy.
package procs
