package main

// The admin listener through the real binary: metric values after a
// scripted run match what happened, /healthz, /readyz (503 while draining),
// /api/v1/status, reload counters; a real Prometheus scrapes it; and the
// shipped alerts and dashboard name only metrics that /metrics exports.

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/throngproxy/throng/engine/enginetest"
)

// httpGet fetches url and returns the status and body.
func httpGet(t testing.TB, u string) (int, string) {
	t.Helper()
	c := http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(u)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// scrape parses /metrics of the admin listener at addr.
func scrape(t testing.TB, addr string) map[string]*dto.MetricFamily {
	t.Helper()
	code, body := httpGet(t, "http://"+addr+"/metrics")
	if code != 200 {
		t.Fatalf("/metrics: %d %s", code, body)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	return mfs
}

// metricValue is the value of family name's series with exactly labels
// (pairs of name, value); -1 when there is none.
func metricValue(mfs map[string]*dto.MetricFamily, name string, labels ...string) float64 {
	mf := mfs[name]
	if mf == nil {
		return -1
	}
next:
	for _, m := range mf.GetMetric() {
		got := map[string]string{}
		for _, l := range m.GetLabel() {
			got[l.GetName()] = l.GetValue()
		}
		for i := 0; i+1 < len(labels); i += 2 {
			if got[labels[i]] != labels[i+1] {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue()
		case m.Gauge != nil:
			return m.Gauge.GetValue()
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount())
		}
	}
	return -1
}

// adminSetup starts an echo backend and a throng with an admin listener;
// extra joins the config.
func adminSetup(t *testing.T, extra string) (th *throng, admin string) {
	t.Helper()
	return adminSetupOn(t, newHost(), extra)
}

// adminSetupOn is adminSetup on host; extra may start with [server] keys,
// as basicConfig's extra does.
func adminSetupOn(t *testing.T, host, extra string) (th *throng, admin string) {
	t.Helper()
	backend, listen := net.JoinHostPort(host, "19001"), net.JoinHostPort(host, "18080")
	admin = net.JoinHostPort(host, "19901")
	startBackend(t, backend)
	server, rest := "", extra
	if s, ok := strings.CutPrefix(extra, "[server]\n"); ok {
		server, rest = "[server]\n"+s, ""
		if i := strings.Index(s, "\n["); i >= 0 {
			server, rest = "[server]\n"+s[:i+1], s[i+1:]
		}
	}
	cfg := basicConfig(listen, []string{backend}, fmt.Sprintf("%s[admin]\nlisten = %q\n\n%s", server, admin, rest))
	th = startThrong(t, listen, cfg)
	return th, admin
}

// TestMetricsMatchAScriptedRun: sessions, close reasons, refusals, exact
// byte and message counts, histograms, after a run whose every byte the
// test knows.
func TestMetricsMatchAScriptedRun(t *testing.T) {
	th, admin := adminSetup(t, "[limits]\nmax_frame_bytes = \"4KiB\"\n")
	const sessions, msgs = 5, 7
	var bytesIn, bytesOut int
	for i := range sessions {
		c := dialWS(t, th.addr, "/")
		for m := range msgs {
			p := bytes.Repeat([]byte{byte('a' + m)}, 10+i*100+m*300) // some need 16-bit lengths
			frame := wireFrame(true, 0, ws.OpBinary, true, p)
			if _, err := c.Write(frame); err != nil {
				t.Fatal(err)
			}
			got, _, err := wsutil.ReadServerData(c)
			if err != nil || !bytes.Equal(got, p) {
				t.Fatalf("echo: %v", err)
			}
			bytesIn += len(frame)
			bytesOut += len(frame) - 4 // the echo is unmasked
		}
		closeFrame := wireFrame(true, 0, ws.OpClose, true, []byte{0x03, 0xe8})
		if _, err := c.Write(closeFrame); err != nil {
			t.Fatal(err)
		}
		if code := expectClose(t, c, 5*time.Second); code != 1000 {
			t.Fatalf("close %d", code)
		}
		bytesIn += len(closeFrame)
		bytesOut += len(closeFrame) - 4
		c.Close()
	}
	// One session sends a frame over max_frame_bytes: 1009.
	big := dialWS(t, th.addr, "/")
	if _, err := big.Write(wireFrame(true, 0, ws.OpBinary, true, make([]byte, 5000))); err != nil {
		t.Fatal(err)
	}
	if code := expectClose(t, big, 5*time.Second); code != 1009 {
		t.Fatalf("oversize frame: close %d, want 1009", code)
	}
	big.Close()
	// Two refusals of the proxy's own.
	if code, _ := rawRequest(t, th.addr, strings.Replace(upgradeRequest("x", "/"), "GET", "POST", 1)); code != 405 {
		t.Fatalf("POST upgrade: %d, want 405", code)
	}
	if code, _ := rawRequest(t, th.addr, "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\r\n"); code != 400 {
		t.Fatalf("upgrade without a key: %d, want 400", code)
	}

	var mfs map[string]*dto.MetricFamily
	route := []string{"route", "*/", "upstream", "main"}
	// A refusal is counted when its session ends, after the linger that
	// follows the answer, so the client can read the status first.
	enginetest.WaitFor(t, "every session finished", func() bool {
		mfs = scrape(t, admin)
		return metricValue(mfs, "throng_sessions_open", route...) == 0 &&
			metricValue(mfs, "throng_refusals_total", "status", "405") >= 1 &&
			metricValue(mfs, "throng_refusals_total", "status", "400") >= 1
	})
	want := []struct {
		name   string
		labels []string
		value  float64
	}{
		{"throng_sessions_total", route, sessions + 1},
		{"throng_sessions_closed_total", []string{"reason", "client_close"}, sessions},
		{"throng_sessions_closed_total", []string{"reason", "too_big"}, 1},
		{"throng_sessions_closed_total", []string{"reason", "backend_close"}, 0},
		{"throng_refusals_total", []string{"status", "405"}, 1},
		{"throng_refusals_total", []string{"status", "400"}, 1},
		{"throng_messages_total", []string{"route", "*/", "direction", "in"}, sessions * msgs},
		{"throng_messages_total", []string{"route", "*/", "direction", "out"}, sessions * msgs},
		{"throng_bytes_total", []string{"route", "*/", "direction", "in"}, float64(bytesIn)},
		{"throng_bytes_total", []string{"route", "*/", "direction", "out"}, float64(bytesOut)},
		{"throng_handshake_duration_seconds", nil, sessions + 1},
		{"throng_upstream_connect_duration_seconds", nil, sessions + 1},
		{"throng_connections_accepted_total", nil, -2}, // and the harness's probe: checked below
		{"throng_backend_up", nil, 1},
		{"throng_protocol_errors_total", nil, 1},
		{"throng_session_cap", nil, -2}, // any value: checked below
	}
	for _, w := range want {
		got := metricValue(mfs, w.name, w.labels...)
		if w.value == -2 {
			if got <= 0 {
				t.Errorf("%s = %v, want > 0", w.name, got)
			}
			continue
		}
		if got != w.value {
			t.Errorf("%s%v = %v, want %v", w.name, w.labels, got, w.value)
		}
	}
	if got := metricValue(mfs, "throng_connections_accepted_total"); got < sessions+3 {
		t.Errorf("throng_connections_accepted_total = %v, want at least %d", got, sessions+3)
	}
	for _, name := range []string{"go_goroutines", "process_resident_memory_bytes", "throng_descriptors_in_use", "throng_loop_sessions", "throng_config_info", "throng_build_info"} {
		if mfs[name] == nil {
			t.Errorf("/metrics lacks %s", name)
		}
	}
}

// TestAdminEndpoints: /healthz, /readyz, /api/v1/status, pprof, reloads
// counted (a failed one keeps serving), and /readyz 503 while draining.
func TestAdminEndpoints(t *testing.T) {
	host := newHost()
	backend, listen := net.JoinHostPort(host, "19001"), net.JoinHostPort(host, "18080")
	admin := net.JoinHostPort(host, "19901")
	// A backend that never answers a Close keeps a drained session for
	// timeouts.close, long enough to see /readyz during the drain.
	fakeBackend(t, backend, func(c net.Conn) {
		if _, err := ws.Upgrade(c); err == nil {
			_, _ = io.Copy(io.Discard, c)
		}
	})
	cfg := withTimeouts(basicConfig(listen, []string{backend}, fmt.Sprintf("[admin]\nlisten = %q\n", admin)), `drain = "10s"`)
	cfg = strings.Replace(cfg, `close = "1s"`, `close = "3s"`, 1)
	th := startThrong(t, listen, cfg)

	if code, body := httpGet(t, "http://"+admin+"/healthz"); code != 200 {
		t.Errorf("/healthz: %d %s", code, body)
	}
	if code, body := httpGet(t, "http://"+admin+"/readyz"); code != 200 {
		t.Errorf("/readyz: %d %s", code, body)
	}
	if code, _ := httpGet(t, "http://"+admin+"/debug/pprof/cmdline"); code != 200 {
		t.Errorf("/debug/pprof/cmdline: %d", code)
	}
	c := dialWS(t, th.addr, "/")
	defer c.Close()
	code, body := httpGet(t, "http://"+admin+"/api/v1/status")
	var st struct {
		Version string `json:"version"`
		Config  struct {
			Path, SHA256 string
		} `json:"config"`
		Sessions   int64 `json:"sessions"`
		SessionCap int64 `json:"session_cap"`
		Loops      []struct{ Loop, Sessions int64 }
		Upstreams  []struct {
			Name     string
			Backends []struct {
				Addr, State string
				Sessions    int64
			}
		}
	}
	if err := json.Unmarshal([]byte(body), &st); code != 200 || err != nil {
		t.Fatalf("/api/v1/status: %d %v\n%s", code, err, body)
	}
	data, _ := os.ReadFile(th.cfg)
	sum := sha256.Sum256(data)
	if st.Config.SHA256 != hex.EncodeToString(sum[:]) || st.Config.Path != th.cfg {
		t.Errorf("config %+v, want path %s and its sha256", st.Config, th.cfg)
	}
	if st.Sessions != 1 || st.SessionCap <= 0 || len(st.Loops) == 0 {
		t.Errorf("sessions %d, cap %d, loops %v", st.Sessions, st.SessionCap, st.Loops)
	}
	if len(st.Upstreams) != 1 || st.Upstreams[0].Name != "main" || len(st.Upstreams[0].Backends) != 1 ||
		st.Upstreams[0].Backends[0].Addr != backend || st.Upstreams[0].Backends[0].State != "healthy" ||
		st.Upstreams[0].Backends[0].Sessions != 1 {
		t.Errorf("upstreams %+v", st.Upstreams)
	}

	// A reload that fails is counted, and the old configuration serves.
	if err := os.WriteFile(th.cfg, []byte("[server\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_ = th.cmd.Process.Signal(syscall.SIGHUP)
	enginetest.WaitFor(t, "the failed reload counted", func() bool {
		return metricValue(scrape(t, admin), "throng_config_reloads_total", "result", "failed") == 1
	})
	if !upgrades(th.addr) {
		t.Error("no upgrade after a failed reload")
	}
	if err := os.WriteFile(th.cfg, []byte(cfg+"\n# changed\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_ = th.cmd.Process.Signal(syscall.SIGHUP)
	enginetest.WaitFor(t, "the good reload counted", func() bool {
		return metricValue(scrape(t, admin), "throng_config_reloads_total", "result", "ok") == 1
	})
	data, _ = os.ReadFile(th.cfg)
	sum = sha256.Sum256(data)
	if metricValue(scrape(t, admin), "throng_config_info", "sha256", hex.EncodeToString(sum[:])) != 1 {
		t.Error("throng_config_info does not carry the reloaded file's sha256")
	}

	// SIGTERM: /readyz answers 503 while the open session drains.
	_ = th.cmd.Process.Signal(syscall.SIGTERM)
	enginetest.WaitFor(t, "/readyz 503 while draining", func() bool {
		code, _ := httpGet(t, "http://"+admin+"/readyz")
		return code == 503
	})
}

// TestReadyzWithoutBackend: a route whose only backend is down makes
// /readyz answer 503 and say which route.
func TestReadyzWithoutBackend(t *testing.T) {
	host := newHost()
	listen, admin := net.JoinHostPort(host, "18080"), net.JoinHostPort(host, "19901")
	dead := net.JoinHostPort(host, "19001") // nothing listens
	cfg := basicConfig(listen, []string{dead}, fmt.Sprintf("[admin]\nlisten = %q\n", admin))
	cfg = strings.Replace(cfg, "backends = [", "max_fails = 1\nbackends = [", 1)
	th := startThrong(t, listen, cfg)
	_ = upgrades(th.addr) // fails, and ejects the backend
	enginetest.WaitFor(t, "/readyz 503", func() bool {
		code, body := httpGet(t, "http://"+admin+"/readyz")
		return code == 503 && strings.Contains(body, "route */")
	})
}

// promtool and prometheus come from Debian's prometheus package, which
// make test installs; without it (and without THRONG_REQUIRE_PROMETHEUS=1)
// these tests are skipped.
func requireProm(t *testing.T, bin string) string {
	t.Helper()
	p, err := exec.LookPath(bin)
	if err != nil {
		if os.Getenv("THRONG_REQUIRE_PROMETHEUS") == "1" {
			t.Fatalf("%s not found (THRONG_REQUIRE_PROMETHEUS=1; apt-get install prometheus)", bin)
		}
		t.Skipf("%s not found; apt-get install prometheus", bin)
	}
	return p
}

// TestPrometheusScrapes: a real Prometheus scrapes throng and answers a
// query about what happened.
func TestPrometheusScrapes(t *testing.T) {
	prom := requireProm(t, "prometheus")
	th, admin := adminSetup(t, "")
	for range 3 {
		c := dialWS(t, th.addr, "/")
		echo(t, c, ws.OpText, []byte("scraped"))
		c.Close()
	}
	dir := t.TempDir()
	promAddr := net.JoinHostPort(strings.Split(admin, ":")[0], "19090")
	cfg := fmt.Sprintf("global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: throng\n    static_configs:\n      - targets: [%q]\n", admin)
	if err := os.WriteFile(filepath.Join(dir, "prometheus.yml"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	p := launch(t, nil, prom, "--config.file="+filepath.Join(dir, "prometheus.yml"),
		"--storage.tsdb.path="+filepath.Join(dir, "data"), "--web.listen-address="+promAddr)
	t.Cleanup(func() {
		p.stop(t)
		if t.Failed() {
			t.Logf("prometheus output:\n%s", tail(p.Output()))
		}
	})
	waitAccepting(t, p, promAddr)
	q := url.Values{"query": {`sum(throng_sessions_total{job="throng"})`}}
	var last string
	enginetest.WaitForWithin(t, 30*time.Second, "Prometheus to have scraped 3 sessions", func() bool {
		_, last = httpGet(t, "http://"+promAddr+"/api/v1/query?"+q.Encode())
		var r struct {
			Data struct {
				Result []struct {
					Value []any `json:"value"`
				} `json:"result"`
			} `json:"data"`
		}
		if json.Unmarshal([]byte(last), &r) != nil || len(r.Data.Result) != 1 || len(r.Data.Result[0].Value) != 2 {
			return false
		}
		return r.Data.Result[0].Value[1] == "3"
	})
	_, up := httpGet(t, "http://"+promAddr+"/api/v1/query?"+url.Values{"query": {`up{job="throng"}`}}.Encode())
	if !strings.Contains(up, `"1"]`) {
		t.Errorf("target not up: %s", up)
	}
}

// metricNameRE finds metric names in PromQL expressions.
var metricNameRE = regexp.MustCompile(`\bthrong_[a-z0-9_]+`)

// TestAlertsAndDashboard: promtool accepts the alert rules, and every
// throng_ metric the rules and the dashboard use is one /metrics exports.
func TestAlertsAndDashboard(t *testing.T) {
	promtool := requireProm(t, "promtool")
	rules := filepath.Join("..", "..", "deploy", "prometheus", "alerts.yml")
	if out, err := exec.Command(promtool, "check", "rules", rules).CombinedOutput(); err != nil {
		t.Fatalf("promtool check rules: %v\n%s", err, out)
	}
	// A TLS listener too, so that its per-certificate series exist.
	ca := enginetest.NewCA(t, "test CA")
	certPath, keyPath := ca.Issue(t, "localhost", []string{"localhost"}, enginetest.ECDSA, false).WriteFiles(t, t.TempDir(), "site")
	host := newHost()
	th, admin := adminSetupOn(t, host, fmt.Sprintf("[server]\nlisten_tls = [%q]\n[[tls.certificates]]\ncert = %q\nkey = %q\n",
		net.JoinHostPort(host, "18443"), certPath, keyPath))
	// A refusal, so that the refusals family has a series.
	rawRequest(t, th.addr, strings.Replace(upgradeRequest("x", "/"), "GET", "POST", 1))
	mfs := scrape(t, admin)
	exported := func(name string) bool {
		for _, suffix := range []string{"", "_bucket", "_sum", "_count"} {
			if base, ok := strings.CutSuffix(name, suffix); ok && mfs[base] != nil {
				return true
			}
		}
		return false
	}
	for _, file := range []string{rules, filepath.Join("..", "..", "deploy", "grafana", "throng.json")} {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		names := metricNameRE.FindAllString(string(b), -1)
		if len(names) == 0 {
			t.Errorf("%s names no metric", file)
		}
		slices.Sort(names)
		for _, n := range slices.Compact(names) {
			if !exported(n) {
				t.Errorf("%s uses %s, which /metrics does not export", file, n)
			}
		}
	}
}
