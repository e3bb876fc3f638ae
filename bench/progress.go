package bench

import (
	"io"
	"strconv"
	"time"
)

// ProgressEvery is how often Progress.Run rewrites its line.
const ProgressEvery = time.Second

// Progress writes a run's progress line to a terminal, rewritten in place:
// sessions up, messages per second over the last interval, errors, and the
// time since it started. It is for a terminal only: callers check that w is
// one (and that no -json output was asked for).
type Progress struct {
	w     io.Writer
	live  *Live
	unit  string // "msgs/s", "handshakes/s"
	start time.Time
	last  LiveSample
	lastT time.Time
	buf   []byte
}

// NewProgress returns a progress line on w for live; unit names the rate of
// live's messages, e.g. "msgs/s". Its clock starts now.
func NewProgress(w io.Writer, live *Live, unit string) *Progress {
	now := time.Now()
	return &Progress{w: w, live: live, unit: unit, start: now, lastT: now}
}

// Run writes the line every `every` until stop is closed, then erases it.
// It is the Progress's only user while it runs.
func (p *Progress) Run(stop <-chan struct{}, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-stop:
			_, _ = io.WriteString(p.w, "\r\x1b[K")
			return
		case now := <-t.C:
			p.buf = p.line(p.buf[:0], p.live.Sample(), now)
			_, _ = p.w.Write(p.buf)
		}
	}
}

// line appends to dst the line for sample s taken at now, starting with a
// carriage return and ending by erasing the rest of the terminal line; the
// rate is over the time since the previous line.
func (p *Progress) line(dst []byte, s LiveSample, now time.Time) []byte {
	var rate float64
	if dt := now.Sub(p.lastT).Seconds(); dt > 0 && s.Msgs >= p.last.Msgs {
		rate = float64(s.Msgs-p.last.Msgs) / dt
	}
	p.last, p.lastT = s, now
	dst = append(dst, "\rup "...)
	dst = strconv.AppendInt(dst, s.Up, 10)
	dst = append(dst, "  "...)
	dst = append(dst, p.unit...)
	dst = append(dst, ' ')
	dst = strconv.AppendInt(dst, int64(rate+0.5), 10)
	dst = append(dst, "  errors "...)
	dst = strconv.AppendUint(dst, s.Errors, 10)
	dst = append(dst, "  elapsed "...)
	dst = append(dst, now.Sub(p.start).Truncate(time.Second).String()...)
	return append(dst, "\x1b[K"...)
}
