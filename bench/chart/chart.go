// Package chart draws the side-by-side results of bench/scripts/compare.sh
// as SVG bar charts (gonum.org/v1/plot, the field's Go plotting library):
// idle memory per session, messages per proxy CPU-second by scenario,
// handshakes per proxy CPU-second, and latency percentiles. It reads the
// JSON reports compare.sh keeps, one per scenario and proxy
// (NAME-PROXY.json, as throng-bench -json writes them).
package chart

import (
	"encoding/json"
	"errors"
	"fmt"
	"image/color"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
)

// Proxies are the proxies compare.sh runs, in the charts' order.
var Proxies = []string{"throng", "nginx", "haproxy"}

// colors are the proxies' bar colours, in Proxies' order.
var colors = []color.Color{
	color.RGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff},
	color.RGBA{R: 0x2c, G: 0xa0, B: 0x2c, A: 0xff},
	color.RGBA{R: 0xd6, G: 0x27, B: 0x28, A: 0xff},
}

// ErrNoResults reports a directory without any report to draw.
var ErrNoResults = errors.New("chart: no compare.sh reports")

// Results are the reports of one compare.sh run: by scenario name (echo64,
// echo4k, echo4kw, handshake, fanout, idle), then by proxy.
type Results map[string]map[string]map[string]any

// Load reads every NAME-PROXY.json in dir.
func Load(dir string) (Results, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*-*.json"))
	if err != nil {
		return nil, err
	}
	r := Results{}
	for _, f := range files {
		name, proxy, ok := strings.Cut(strings.TrimSuffix(filepath.Base(f), ".json"), "-")
		if !ok {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		var doc map[string]any
		if err := json.Unmarshal(b, &doc); err != nil || doc == nil {
			continue // a run that failed leaves null
		}
		if r[name] == nil {
			r[name] = map[string]map[string]any{}
		}
		r[name][proxy] = doc
	}
	if len(r) == 0 {
		return nil, fmt.Errorf("%w in %s", ErrNoResults, dir)
	}
	return r, nil
}

// Value reads a number at path (keys; "0" indexes an array) from the
// report of scenario and proxy; ok is false when it is missing.
func (r Results) Value(scenario, proxy string, path ...string) (float64, bool) {
	var v any = r[scenario][proxy]
	for _, k := range path {
		switch x := v.(type) {
		case map[string]any:
			v = x[k]
		case []any:
			if k != "0" || len(x) == 0 {
				return 0, false
			}
			v = x[0]
		default:
			return 0, false
		}
	}
	f, ok := v.(float64)
	return f, ok
}

// group is one cluster of bars: a label and a report path.
type group struct {
	label, scenario string
	path            []string
}

// bars draws one bar per proxy for each group, and saves the chart.
func (r Results) bars(file, title, yLabel string, groups []group) error {
	p := plot.New()
	p.Title.Text = title
	p.Y.Label.Text = yLabel
	p.Legend.Top = true
	w := vg.Points(14)
	labels := make([]string, len(groups))
	for i, g := range groups {
		labels[i] = g.label
	}
	drawn, top := 0, 0.0
	for i, proxy := range Proxies {
		vals := make(plotter.Values, len(groups))
		have := false
		for j, g := range groups {
			if v, ok := r.Value(g.scenario, proxy, g.path...); ok {
				vals[j], have = v, true
				top = max(top, v)
			}
		}
		if !have {
			continue
		}
		b, err := plotter.NewBarChart(vals, w)
		if err != nil {
			return fmt.Errorf("chart %s: %w", file, err)
		}
		b.Color = colors[i]
		b.LineStyle.Width = 0
		b.Offset = w * vg.Length(i-1)
		p.Add(b)
		p.Legend.Add(proxy, b)
		drawn++
	}
	if drawn == 0 {
		return fmt.Errorf("chart %s: %w", file, ErrNoResults)
	}
	p.NominalX(labels...)
	// Room above the tallest bar for the legend.
	p.Y.Min, p.Y.Max = 0, top*1.3
	p.Y.Tick.Marker = wholeTicks{}
	width := vg.Points(float64(160 + 110*len(groups)))
	return p.Save(width, 300, file)
}

// Files are the charts Draw writes, by file name.
var Files = []string{"idle-memory.svg", "msgs-per-cpu.svg", "handshakes-per-cpu.svg",
	"latency-echo.svg", "latency-handshake.svg", "latency-fanout.svg"}

// Draw writes the charts (Files) into out.
func Draw(r Results, out string) error {
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	target := []string{"targets", "0"}
	at := func(k string) []string { return append(append([]string(nil), target...), k) }
	charts := []struct {
		file, title, y string
		groups         []group
	}{
		{"idle-memory.svg", "Idle sessions: proxy memory per session", "RSS per session (bytes)",
			[]group{{"idle sessions", "idle", at("rss_per_session_bytes")}}},
		{"msgs-per-cpu.svg", "Echo: messages per proxy CPU-second", "messages per CPU-second",
			[]group{
				{"64 B, window 1", "echo64", at("msgs_per_cpu_second")},
				{"4 KiB, window 1", "echo4k", at("msgs_per_cpu_second")},
				{"4 KiB x 1,000, window 16", "echo4kw", at("msgs_per_cpu_second")},
			}},
		{"handshakes-per-cpu.svg", "Handshakes per proxy CPU-second", "handshakes per CPU-second",
			[]group{{"connect + upgrade + close", "handshake", at("handshakes_per_cpu_second")}}},
		{"latency-echo.svg", "Echo, 100 x 64 B, window 1: latency", "microseconds",
			[]group{
				{"p50", "echo64", []string{"latency", "p50_us"}},
				{"p99", "echo64", []string{"latency", "p99_us"}},
			}},
		{"latency-handshake.svg", "Handshake latency", "microseconds",
			[]group{
				{"p50", "handshake", []string{"latency", "p50_us"}},
				{"p99", "handshake", []string{"latency", "p99_us"}},
			}},
		{"latency-fanout.svg", "Fan-out delivery latency", "microseconds",
			[]group{
				{"p50", "fanout", []string{"latency", "p50_us"}},
				{"p99", "fanout", []string{"latency", "p99_us"}},
			}},
	}
	for _, c := range charts {
		if err := r.bars(filepath.Join(out, c.file), c.title, c.y, c.groups); err != nil {
			return err
		}
	}
	return nil
}

// wholeTicks are gonum's default ticks labelled as whole numbers with
// thousands separators (250,000 rather than 250000.00).
type wholeTicks struct{}

func (wholeTicks) Ticks(lo, hi float64) []plot.Tick {
	ticks := plot.DefaultTicks{}.Ticks(lo, hi)
	for i := range ticks {
		if ticks[i].Label != "" {
			ticks[i].Label = thousands(int64(math.Round(ticks[i].Value)))
		}
	}
	return ticks
}

// thousands formats n with a comma between each group of three digits.
func thousands(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}
