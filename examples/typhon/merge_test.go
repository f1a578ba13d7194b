package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
	"github.com/typhonbench/typhon/report"
	"github.com/typhonbench/typhon/schema"
)

// workerFile writes worker i of 2 of run "fleet-x" into dir/runs and returns
// its path: one level of 2 users, two completed requests.
func workerFile(t *testing.T, dir string, i int) string {
	t.Helper()
	h := hdrhistogram.New(1, 3600e6, 3)
	for _, us := range []int64{100000, 200000} {
		_ = h.RecordValue(us + int64(i))
	}
	enc, err := h.Encode(hdrhistogram.V2CompressedEncodingCookieBase)
	if err != nil {
		t.Fatal(err)
	}
	he := hdrhistogram.New(1, 3600e6, 3)
	_ = he.RecordValues(1000000, 2)
	encE2E, err := he.Encode(hdrhistogram.V2CompressedEncodingCookieBase)
	if err != nil {
		t.Fatal(err)
	}
	ws := time.Date(2026, 1, 2, 15, 0, 0, 0, time.UTC)
	res := &schema.Result{SchemaVersion: schema.Version, RunID: fmt.Sprintf("fleet-x-w%d", i), RunAt: ws, Status: schema.StatusComplete,
		Mode: "load", Benchmarks: []schema.Benchmark{{TestID: "load_users_2", Category: schema.CategoryLoad, Runs: []schema.RunSample{},
			AvgTTFTS: 0.15, AvgElapsedS: 1, AggregateTPS: 2,
			LoadLevel: &schema.LoadLevel{Shape: schema.LoadUsers, Users: 2, WindowS: 10, WindowStart: ws, Completed: 2,
				RequestThroughput: 0.2, Goodput: 0.2, OutputTPS: 2, TotalTPS: 3, AllOutputTokens: 20,
				Latency: schema.LoadLatency{TTFTS: schema.Dist{N: 2, Mean: 0.15, P50: 0.15, P90: 0.19, P95: 0.195, P99: 0.199},
					E2ES: schema.Dist{N: 2, Mean: 1, P50: 1, P90: 1, P95: 1, P99: 1}},
				HDR: map[string]string{"ttft_s": string(enc), "e2e_s": string(encE2E)},
				Requests: &schema.LoadRequests{StartS: []float64{1, 2}, TTFTS: []float64{0.1, 0.2}, E2ES: []float64{1, 1},
					OutputTokens: []int{10, 10}, PromptTokens: []int{5, 5}, OK: []bool{true, true}}}}},
		Worker: &schema.Worker{Run: "fleet-x", Index: i, Count: 2, Levels: []schema.WorkerLevel{{TestID: "load_users_2", Users: 2,
			WindowStart: ws, WindowEnd: ws.Add(10 * time.Second)}}}}
	if err := (&report.Store{Dir: dir}).Save(res); err != nil {
		t.Fatal(err)
	}
	return filepath.Join(dir, report.RunsDir, res.RunID+".json")
}

func TestMerge(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	a, b := workerFile(t, dir, 0), workerFile(t, dir, 1)
	out := filepath.Join(t.TempDir(), "fleet.json")
	code, stdout, stderr, err := runCLI(t, "merge", "-o", out, a, b)
	if code != 0 || !strings.Contains(stdout, "merged 2 workers of run fleet-x") {
		t.Fatalf("merge files: exit %d, %v\n%s%s", code, err, stdout, stderr)
	}
	res, err := report.LoadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if res.RunID != "fleet-x" || len(res.Workers) != 2 || res.Benchmarks[0].TestID != "load_users_4" || res.Benchmarks[0].Completed != 4 {
		t.Errorf("merged %s: %d workers, %s with %d completed; want fleet-x, 2, load_users_4, 4",
			res.RunID, len(res.Workers), res.Benchmarks[0].TestID, res.Benchmarks[0].Completed)
	}
	// The dashboard, the summary and compare read the merged record like any other.
	for _, args := range [][]string{{"dashboard", "-o", "-", out}, {"summary", out}, {"compare", out, out}} {
		if code, stdout, stderr, err := runCLI(t, args...); code != 0 || stdout == "" {
			t.Errorf("%s of the merged record: exit %d (%v)\n%s", args[0], code, err, stderr)
		}
	}
	// By run name, from the data directory, saved there too.
	code, stdout, _, err = runCLI(t, "merge", "-data", dir, "-save", "fleet-x")
	if code != 0 || !strings.Contains(stdout, `"workers"`) {
		t.Fatalf("merge by run: exit %d, %v", code, err)
	}
	if _, err := os.Stat(filepath.Join(dir, report.RunsDir, "fleet-x.json")); err != nil {
		t.Errorf("-save: %v", err)
	}
}

func TestMergeAndWorkerUsage(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	a := workerFile(t, dir, 0)
	plain := writeRecord(t, t.TempDir(), "plain.json", record("20250601T142201Z-00000001", t0, "tiny", 100))
	for _, tt := range []struct {
		name       string
		args       []string
		wantCode   int
		wantStderr string
	}{
		{"merge: nothing", []string{"merge"}, 2, "want the workers' record files"},
		{"merge: not a worker", []string{"merge", a, plain}, 1, ""},
		{"merge: unknown run", []string{"merge", "-data", dir, "fleet-none"}, 1, ""},
		{"run: worker out of range", []string{"run", "-mode", "load", "-users", "12", "-worker", "3/3"}, 2, "want INDEX/COUNT"},
		{"run: worker of a plan", []string{"run", "-mode", "quick", "-worker", "0/3"}, 2, "-worker needs -mode load"},
		{"run: clock without a worker", []string{"run", "-mode", "load", "-start-at", "2026-01-02T15:04:05Z"}, 2, "need -worker"},
		{"run: bad clock", []string{"run", "-mode", "load", "-users", "12", "-worker", "0/3", "-start-at", "soon"}, 2, "bad -start-at"},
		{"run: run name with a path", []string{"run", "-mode", "load", "-users", "12", "-worker", "0/3", "-run-name", "../x"}, 2, "bad -run-name"},
		{"run: clock a century ahead", []string{"run", "-mode", "load", "-url", "http://127.0.0.1:1", "-users", "12", "-worker", "0/3",
			"-start-at", "2126-01-02T15:04:05Z", "-data", t.TempDir()}, 1, "ahead: at most 24h"},
		{"run: clock long past", []string{"run", "-mode", "load", "-url", "http://127.0.0.1:1", "-users", "12", "-worker", "0/3",
			"-start-at", "2020-01-02T15:04:05Z", "-data", t.TempDir()}, 1, "give a start time ahead"},
	} {
		code, _, stderr, err := runCLI(t, tt.args...)
		if err != nil {
			stderr += err.Error() // main prints it
		}
		if code != tt.wantCode || !strings.Contains(stderr, tt.wantStderr) {
			t.Errorf("%s: exit %d (%v), stderr %q; want %d and %q", tt.name, code, err, stderr, tt.wantCode, tt.wantStderr)
		}
	}
}

// TestWorkerHalfEnvironment: an Indexed Job's index without the worker count
// (or the count without the index) is refused; before, every pod ran the whole
// load as if it were alone.
func TestWorkerHalfEnvironment(t *testing.T) {
	for _, env := range [][2]string{{"JOB_COMPLETION_INDEX", "1"}, {"TYPHON_WORKERS", "3"}} {
		t.Run(env[0], func(t *testing.T) {
			t.Setenv(env[0], env[1])
			code, _, stderr, _ := runCLI(t, "run", "-mode", "load", "-url", "http://127.0.0.1:1", "-users", "12", "-data", t.TempDir())
			if code != 2 || !strings.Contains(stderr, "a worker needs both") {
				t.Errorf("%s=%s alone: exit %d, stderr %q; want 2, a worker needs both", env[0], env[1], code, stderr)
			}
		})
	}
}

// TestMergeSaveKeepsOtherRecords: -save under a run name that is the id of
// another record (a run id given as -run-name) refuses instead of overwriting
// it; saving the merge again replaces the earlier merge.
func TestMergeSaveKeepsOtherRecords(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	workerFile(t, dir, 0)
	workerFile(t, dir, 1)
	store := &report.Store{Dir: dir}
	plain := record("fleet-x", t0, "tiny", 100)
	if err := store.Finish(plain); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(filepath.Join(dir, report.RunsDir, "fleet-x.json"))
	code, _, stderr, err := runCLI(t, "merge", "-data", dir, "-save", "fleet-x")
	if err != nil {
		stderr += err.Error()
	}
	if code != 1 || !strings.Contains(stderr, "not overwritten") {
		t.Errorf("merge -save over another record: exit %d, %q; want 1, not overwritten", code, stderr)
	}
	if after, _ := os.ReadFile(filepath.Join(dir, report.RunsDir, "fleet-x.json")); !bytes.Equal(before, after) {
		t.Errorf("the other record changed")
	}
	if err := os.Remove(filepath.Join(dir, report.RunsDir, "fleet-x.json")); err != nil {
		t.Fatal(err)
	}
	for try := range 2 {
		if code, _, _, err := runCLI(t, "merge", "-data", dir, "-save", "fleet-x"); code != 0 {
			t.Errorf("merge -save (%d): exit %d, %v", try+1, code, err)
		}
	}
}
