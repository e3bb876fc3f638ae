package bench

import (
	"fmt"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/throngproxy/throng/bench/procs"
)

// A worker's job (procs.Serve's first line) is a workerJob; its result
// the mode's report, and its histogram a histWire.

// Worker modes: the load generators that can be split over processes.
const (
	workerModeIdle      = "idle"
	workerModeEcho      = "echo"
	workerModeHandshake = "handshake"
	workerModeFanout    = "fanout"
)

// workerJob is a worker's share of a run: its mode and that mode's config.
type workerJob struct {
	Mode      string           `json:"mode"`
	Idle      *IdleConfig      `json:"idle,omitempty"`
	Echo      *EchoConfig      `json:"echo,omitempty"`
	Handshake *HandshakeConfig `json:"handshake,omitempty"`
	Fanout    *FanoutConfig    `json:"fanout,omitempty"`
}

// histWire is a latency histogram (newClientHistogram's) on the wire,
// lossless: hdrhistogram's snapshot, with every run of zero counts
// shortened to one negative number (-n: n zeros), as HdrHistogram's V2
// encoding does.
type histWire struct {
	Lowest  int64   `json:"lowest"`
	Highest int64   `json:"highest"`
	Digits  int64   `json:"digits"`
	Counts  []int64 `json:"counts"`
}

// encodeHist returns h on the wire; nil for a nil h.
func encodeHist(h *hdrhistogram.Histogram) *histWire {
	if h == nil {
		return nil
	}
	s := h.Export()
	w := &histWire{Lowest: s.LowestTrackableValue, Highest: s.HighestTrackableValue, Digits: s.SignificantFigures}
	zeros := int64(0)
	for _, c := range s.Counts {
		if c == 0 {
			zeros++
			continue
		}
		if zeros > 0 {
			w.Counts = append(w.Counts, -zeros)
			zeros = 0
		}
		w.Counts = append(w.Counts, c)
	}
	if zeros > 0 {
		w.Counts = append(w.Counts, -zeros)
	}
	return w
}

// decodeHist rebuilds a histogram from the wire. It must have
// newClientHistogram's range and precision, and as many counts.
func decodeHist(w *histWire) (*hdrhistogram.Histogram, error) {
	ref := newClientHistogram().Export() // all counts zero
	if w == nil || w.Lowest != ref.LowestTrackableValue || w.Highest != ref.HighestTrackableValue ||
		w.Digits != ref.SignificantFigures {
		return nil, fmt.Errorf("%w: histogram of another shape", procs.ErrProtocol)
	}
	n, i := len(ref.Counts), 0
	for _, c := range w.Counts {
		switch {
		case c >= 0 && i < n:
			ref.Counts[i] = c
			i++
		case c < 0 && c >= -int64(n-i):
			i += int(-c)
		default:
			return nil, fmt.Errorf("%w: histogram has more than %d counts", procs.ErrProtocol, n)
		}
	}
	if i != n {
		return nil, fmt.Errorf("%w: histogram has %d counts, want %d", procs.ErrProtocol, i, n)
	}
	return hdrhistogram.Import(ref), nil
}
