package chart

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// writeReports writes compare.sh-like reports into a directory.
func writeReports(t *testing.T, reports map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, doc := range reports {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(doc), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestLoadAndValue(t *testing.T) {
	dir := writeReports(t, map[string]string{
		"echo64-throng.json": `{"latency":{"p50_us":120.5},"targets":[{"msgs_per_cpu_second":64829}]}`,
		"echo64-nginx.json":  `{"targets":[{"msgs_per_cpu_second":71156}]}`,
		"idle-haproxy.json":  `null`, // a failed run
		"notes.txt":          `not a report`,
	})
	r, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		scenario, proxy string
		path            []string
		want            float64
		ok              bool
	}{
		{"echo64", "throng", []string{"targets", "0", "msgs_per_cpu_second"}, 64829, true},
		{"echo64", "nginx", []string{"targets", "0", "msgs_per_cpu_second"}, 71156, true},
		{"echo64", "throng", []string{"latency", "p50_us"}, 120.5, true},
		{"echo64", "throng", []string{"latency", "p99_us"}, 0, false},
		{"echo64", "haproxy", []string{"targets", "0", "msgs_per_cpu_second"}, 0, false},
		{"idle", "haproxy", []string{"targets", "0", "rss_per_session_bytes"}, 0, false},
		{"echo64", "throng", []string{"targets", "1", "msgs_per_cpu_second"}, 0, false},
	}
	for _, tt := range tests {
		got, ok := r.Value(tt.scenario, tt.proxy, tt.path...)
		if got != tt.want || ok != tt.ok {
			t.Errorf("Value(%s, %s, %v) = %v, %v; want %v, %v", tt.scenario, tt.proxy, tt.path, got, ok, tt.want, tt.ok)
		}
	}
}

func TestLoadEmpty(t *testing.T) {
	if _, err := Load(t.TempDir()); !errors.Is(err, ErrNoResults) {
		t.Errorf("Load of an empty directory: %v, want ErrNoResults", err)
	}
}

// TestDraw draws every chart from a full set of reports and checks that
// each is an SVG naming every proxy.
func TestDraw(t *testing.T) {
	reports := map[string]string{}
	for i, p := range Proxies {
		v := func(x int) string { return strings.Repeat("1", 1) + strings.Repeat("0", x+i%2) }
		reports["idle-"+p+".json"] = `{"targets":[{"rss_per_session_bytes":` + v(3) + `}]}`
		for _, s := range []string{"echo64", "echo4k", "echo4kw"} {
			reports[s+"-"+p+".json"] = `{"latency":{"p50_us":` + v(2) + `,"p99_us":` + v(3) + `},"targets":[{"msgs_per_cpu_second":` + v(4) + `}]}`
		}
		reports["handshake-"+p+".json"] = `{"latency":{"p50_us":` + v(3) + `,"p99_us":` + v(4) + `},"targets":[{"handshakes_per_cpu_second":` + v(3) + `}]}`
		reports["fanout-"+p+".json"] = `{"latency":{"p50_us":` + v(4) + `,"p99_us":` + v(5) + `}}`
	}
	r, err := Load(writeReports(t, reports))
	if err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	if err := Draw(r, out); err != nil {
		t.Fatal(err)
	}
	for _, f := range Files {
		b, err := os.ReadFile(filepath.Join(out, f))
		if err != nil {
			t.Fatal(err)
		}
		svg := string(b)
		if !strings.Contains(svg, "<svg") {
			t.Errorf("%s is not an SVG", f)
		}
		for _, p := range Proxies {
			if !strings.Contains(svg, ">"+p+"<") {
				t.Errorf("%s has no legend entry %s", f, p)
			}
		}
	}
}

func TestThousands(t *testing.T) {
	for _, tt := range []struct {
		n    int64
		want string
	}{{0, "0"}, {999, "999"}, {1000, "1,000"}, {250000, "250,000"}, {1234567, "1,234,567"}, {-4500, "-4,500"}} {
		if got := thousands(tt.n); got != tt.want {
			t.Errorf("thousands(%d) = %q, want %q", tt.n, got, tt.want)
		}
	}
}
