package procs

import (
	"encoding/json"
	"errors"
)

// What a parent and its worker processes say to each other, one JSON value
// or word per line:
//
//	parent → worker (stdin):  the job, later "go"; EOF: stop
//	worker → parent (stdout): Msg lines: progress now and then,
//	                          ready once connected, done with the result

// ErrProtocol is returned for a line of the worker protocol that cannot be
// read.
var ErrProtocol = errors.New("procs: bad message between parent and worker")

// goLine is the line that starts the held or measured time.
const goLine = "go"

// Msg is one line a worker writes.
type Msg struct {
	Live  json.RawMessage `json:"live,omitempty"`  // progress, as the caller encodes it
	Ready bool            `json:"ready,omitempty"` // connected; waiting for go
	Done  bool            `json:"done,omitempty"`  // the last line
	// With Done: the result (null if the run could not start), its latency
	// histogram, and the run's error.
	Result json.RawMessage `json:"result,omitempty"`
	Hist   json.RawMessage `json:"hist,omitempty"`
	Err    string          `json:"err,omitempty"`
}
