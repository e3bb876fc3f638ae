package procs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// workerEnv makes this test binary a worker process (see TestMain): "serve"
// runs Serve with testRun; "hang" never answers.
const workerEnv = "PROCS_TEST_WORKER"

func TestMain(m *testing.M) {
	switch os.Getenv(workerEnv) {
	case "":
		os.Exit(m.Run())
	case "serve":
		n := 0
		if err := Serve(context.Background(), os.Stdin, os.Stdout, testRun, func() any { n++; return n }); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	case "hang":
		// A stuck worker: the parent must kill it at its deadline.
		time.Sleep(2 * time.Minute)
	}
	os.Exit(4)
}

// testJob is the job of a test worker.
type testJob struct {
	N    int  `json:"n"`
	Fail bool `json:"fail,omitempty"`
}

// testRun is the test workers' Job: once told to go, it reports N doubled,
// or fails without a result.
func testRun(ctx context.Context, line json.RawMessage, ready func(context.Context)) (any, any, error) {
	var job testJob
	if err := json.Unmarshal(line, &job); err != nil {
		return nil, nil, err
	}
	if job.Fail {
		return nil, nil, errors.New("told to fail")
	}
	ready(ctx)
	return map[string]int{"double": 2 * job.N}, []int{job.N}, nil
}

// testConfig returns a Config whose workers are this test binary in mode.
func testConfig(procs int, mode string) Config {
	return Config{
		Procs:   procs,
		Command: []string{os.Args[0], "-test.run=^$"},
		Env:     append(os.Environ(), workerEnv+"="+mode),
	}
}

func TestRunServe(t *testing.T) {
	var readies, goes atomic.Int32
	var lives atomic.Int32
	res, err := Run(context.Background(), testConfig(3, "serve"), Plan{
		Jobs:     []any{testJob{N: 1}, testJob{N: 2}, testJob{N: 3}},
		ReadyBy:  10 * time.Second,
		RunFor:   10 * time.Second,
		StopWait: time.Second,
		OnReady:  func(context.Context) { readies.Add(1) },
		OnGo:     func(context.Context) { goes.Add(1) },
		OnLive:   func(int, json.RawMessage) { lives.Add(1) },
	})
	if err != nil {
		t.Fatalf("Run = %v", err)
	}
	if readies.Load() != 1 || goes.Load() != 1 || lives.Load() < 3 {
		t.Errorf("got %d OnReady, %d OnGo, %d OnLive; want 1, 1, at least 3", readies.Load(), goes.Load(), lives.Load())
	}
	for i, r := range res {
		want := fmt.Sprintf(`{"double":%d}`, 2*(i+1))
		if r.Worker != i || string(r.Result) != want || string(r.Hist) != fmt.Sprintf("[%d]", i+1) {
			t.Errorf("result %d = %d, %s, %s; want %d, %s, [%d]", i, r.Worker, r.Result, r.Hist, i, want, i+1)
		}
	}
}

func TestRunFailures(t *testing.T) {
	tests := []struct {
		name    string
		pc      Config
		jobs    []any
		readyBy time.Duration
		want    error
		msg     string
	}{
		{"no command", Config{Procs: 1}, []any{testJob{}}, time.Second, ErrCommand, ""},
		{"worker fails", testConfig(2, "serve"), []any{testJob{N: 1}, testJob{Fail: true}}, 20 * time.Second, ErrWorker, "told to fail"},
		{"worker hangs", testConfig(1, "hang"), []any{testJob{}}, 300 * time.Millisecond, ErrWorker, "not connected after 300ms"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Run(context.Background(), tt.pc, Plan{Jobs: tt.jobs, ReadyBy: tt.readyBy, RunFor: time.Minute, StopWait: time.Second})
			if !errors.Is(err, tt.want) || !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("Run = %v; want %v mentioning %q", err, tt.want, tt.msg)
			}
		})
	}
}

func TestServeBadJob(t *testing.T) {
	for _, in := range []string{"", "idle please\n"} {
		var out strings.Builder
		if err := Serve(context.Background(), strings.NewReader(in), &out, testRun, nil); !errors.Is(err, ErrProtocol) {
			t.Errorf("Serve(%q) = %v, want %v", in, err, ErrProtocol)
		}
	}
}

// TestProcsStopKillsEveryHungWorker is a regression test: stop must kill
// every worker still running once its deadline passes, not only the first,
// and so return within the deadline and some slack rather than when the
// hung workers would exit (minutes).
func TestProcsStopKillsEveryHungWorker(t *testing.T) {
	const (
		wait  = 300 * time.Millisecond
		slack = 10 * time.Second
	)
	pc := testConfig(2, "hang")
	r := &procsRun{failed: make(chan struct{})}
	for i := range pc.Procs {
		w, err := r.start(pc, i, testJob{N: i})
		if w != nil {
			r.ws = append(r.ws, w)
		}
		if err != nil {
			r.stop(0)
			t.Fatalf("start worker %d = %v", i, err)
		}
	}
	start := time.Now()
	r.stop(wait)
	if d := time.Since(start); d < wait || d > wait+slack {
		t.Errorf("stop took %v; want between %v and %v", d, wait, wait+slack)
	}
	for i, w := range r.ws {
		select {
		case <-w.done:
		default:
			t.Errorf("worker %d still running after stop", i)
		}
	}
}
