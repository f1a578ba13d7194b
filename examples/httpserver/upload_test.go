package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
	"github.com/typhonbench/typhon"
	"github.com/typhonbench/typhon/report"
	"github.com/typhonbench/typhon/schema"
)

// hdrOf encodes xs (seconds) as the engine does: microseconds, 3 digits.
func hdrOf(t *testing.T, xs []float64) string {
	t.Helper()
	h := hdrhistogram.New(1, 3600e6, 3)
	for _, x := range xs {
		if err := h.RecordValue(max(1, int64(math.Round(x*1e6)))); err != nil {
			t.Fatal(err)
		}
	}
	b, err := h.Encode(hdrhistogram.V2CompressedEncodingCookieBase)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// workerRecord is worker i of 3 of run "fleet-up": one level of 4 users, three
// completed requests and one failed one.
func workerRecord(t *testing.T, i int) *schema.Result {
	t.Helper()
	start := time.Date(2026, 1, 2, 15, 4, 5, 0, time.UTC)
	ttft := []float64{0.1 + 0.01*float64(i), 0.2, 0.3}
	e2e := []float64{1.1, 1.2, 1.3 + 0.01*float64(i)}
	lvl := &schema.LoadLevel{Shape: schema.LoadUsers, Users: 4, RampUpS: 1, WindowS: 10, WindowStart: start,
		Completed: 3, Failed: 1, ErrorKinds: map[string]int{"http_503": 1}, FirstError: "HTTP 503",
		RequestThroughput: 0.3, OutputTPS: 9.6, TotalTPS: 28.8, AllOutputTokens: 96,
		Latency: schema.LoadLatency{TTFTS: schema.Dist{N: 3, Mean: 0.2, P50: 0.2, P90: 0.28, P95: 0.29, P99: 0.298},
			E2ES: schema.Dist{N: 3, Mean: 1.2, P50: 1.2, P90: 1.28 + 0.008*float64(i), P95: 1.29 + 0.009*float64(i), P99: 1.298 + 0.0098*float64(i)}},
		Requests: &schema.LoadRequests{StartS: []float64{0, 1, 2, 3}, TTFTS: []float64{ttft[0], ttft[1], ttft[2], 0},
			E2ES: []float64{e2e[0], e2e[1], e2e[2], 0.01}, OutputTokens: []int{32, 32, 32, 0}, PromptTokens: []int{64, 64, 64, 64},
			OK: []bool{true, true, true, false}},
		HDR: map[string]string{"ttft_s": hdrOf(t, ttft), "e2e_s": hdrOf(t, e2e)}}
	return &schema.Result{SchemaVersion: schema.Version, RunID: fmt.Sprintf("fleet-up-w%d", i), RunAt: start,
		FinishedAt: start.Add(15 * time.Second), Status: schema.StatusComplete, Mode: "load", Model: "tiny",
		Benchmarks: []schema.Benchmark{{TestID: "load_users_4", Category: schema.CategoryLoad, Runs: []schema.RunSample{}, LoadLevel: lvl,
			AvgTTFTS: 0.2, AvgElapsedS: 1.2, AggregateTPS: 9.6}},
		Worker: &schema.Worker{Run: "fleet-up", Index: i, Count: 3, StartAt: start.Add(-time.Second),
			Levels: []schema.WorkerLevel{{TestID: "load_users_4", Users: 4, TotalUsers: 12, WindowStart: start, WindowEnd: start.Add(10 * time.Second)}}}}
}

func recordBytes(t *testing.T, res *schema.Result) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := report.WriteJSON(&b, res); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func newCollector(t *testing.T, token string) (string, string) {
	t.Helper()
	data := t.TempDir()
	a := newAPI(&typhon.Manager{Runner: typhon.Runner{DataDir: data}}, token, slog.New(slog.NewTextHandler(io.Discard, nil)))
	ts := httptest.NewServer(a)
	t.Cleanup(ts.Close)
	return ts.URL, data
}

// TestUploadThreeWorkers: three workers upload at once to one collector, whose
// data directory then merges; a duplicate upload changes nothing.
func TestUploadThreeWorkers(t *testing.T) {
	t.Parallel()
	url, data := newCollector(t, "s3cret")
	var wg sync.WaitGroup
	codes := make([]int, 3)
	for i := range 3 {
		wg.Go(func() {
			codes[i], _, _ = doRaw(t, "POST", url+"/results", "s3cret", bytes.NewReader(recordBytes(t, workerRecord(t, i))))
		})
	}
	wg.Wait()
	for i, c := range codes {
		if c != http.StatusCreated {
			t.Errorf("worker %d: status %d, want 201", i, c)
		}
	}
	chronicle, err := os.ReadFile(filepath.Join(data, report.ChronicleFile))
	if err != nil {
		t.Fatal(err)
	}
	code, body, _ := doRaw(t, "POST", url+"/results", "s3cret", bytes.NewReader(recordBytes(t, workerRecord(t, 1))))
	if code != http.StatusOK || !strings.Contains(string(body), "already stored") {
		t.Errorf("duplicate upload: %d %s, want 200 already stored", code, body)
	}
	again, _ := os.ReadFile(filepath.Join(data, report.ChronicleFile))
	if !bytes.Equal(chronicle, again) {
		t.Errorf("a duplicate upload changed the chronicle")
	}
	other := workerRecord(t, 1)
	other.Model = "another"
	if code, body, _ := doRaw(t, "POST", url+"/results", "s3cret", bytes.NewReader(recordBytes(t, other))); code != http.StatusConflict {
		t.Errorf("another record under a stored run id: %d %s, want 409", code, body)
	}
	recs, err := (&report.Store{Dir: data}).WorkerRecords("fleet-up")
	if err != nil || len(recs) != 3 {
		t.Fatalf("worker records on disk: %d, %v; want 3", len(recs), err)
	}
	merged, err := report.Merge(recs)
	if err != nil {
		t.Fatal(err)
	}
	if l := merged.Benchmarks[0].LoadLevel; l.Users != 12 || l.Completed != 9 || l.Failed != 3 || l.ErrorKinds["http_503"] != 3 {
		t.Errorf("merged level: %d users, %d completed, %d failed, %v; want 12, 9, 3, 3 http_503", l.Users, l.Completed, l.Failed, l.ErrorKinds)
	}
	if len(merged.Workers) != 3 || merged.Workers[2].Levels[0].Failed != 1 {
		t.Errorf("workers: %+v, want 3 with their failures", merged.Workers)
	}
}

// TestUploadRefused: tampered, malformed, oversized and unauthenticated uploads
// are refused and leave nothing on disk.
func TestUploadRefused(t *testing.T) {
	t.Parallel()
	url, data := newCollector(t, "s3cret")
	good := recordBytes(t, workerRecord(t, 0))
	tamper := func(f func(*schema.Result)) []byte {
		r := workerRecord(t, 0)
		f(r)
		return recordBytes(t, r)
	}
	tests := []struct {
		name  string
		token string
		body  io.Reader
		want  int
	}{
		{"no token", "", bytes.NewReader(good), http.StatusUnauthorized},
		{"wrong token", "guess", bytes.NewReader(good), http.StatusUnauthorized},
		{"completed raised", "s3cret", bytes.NewReader(tamper(func(r *schema.Result) { r.Benchmarks[0].Completed++ })), http.StatusBadRequest},
		{"histogram of another level", "s3cret", bytes.NewReader(tamper(func(r *schema.Result) {
			r.Benchmarks[0].HDR["ttft_s"] = hdrOf(t, []float64{1})
		})), http.StatusBadRequest},
		{"histogram not decoding", "s3cret", bytes.NewReader(tamper(func(r *schema.Result) { r.Benchmarks[0].HDR["e2e_s"] = "AAAA" })), http.StatusBadRequest},
		{"status running", "s3cret", bytes.NewReader(tamper(func(r *schema.Result) { r.Status = schema.StatusRunning })), http.StatusBadRequest},
		{"run id with a slash", "s3cret", bytes.NewReader(tamper(func(r *schema.Result) { r.RunID = "../x" })), http.StatusBadRequest},
		{"unknown field", "s3cret", strings.NewReader(strings.Replace(string(good), `"mode"`, `"moed": 1, "mode"`, 1)), http.StatusBadRequest},
		{"two records", "s3cret", io.MultiReader(bytes.NewReader(good), bytes.NewReader(good)), http.StatusBadRequest},
		{"not JSON", "s3cret", strings.NewReader("<html>"), http.StatusBadRequest},
		{"oversized", "s3cret", bytes.NewReader(bytes.Repeat([]byte(" "), maxUploadBytes+1)), http.StatusRequestEntityTooLarge},
		{"oversized without a length", "s3cret", io.MultiReader(bytes.NewReader(bytes.Repeat([]byte(" "), maxUploadBytes)), strings.NewReader("{}")),
			http.StatusRequestEntityTooLarge},
	}
	for _, tt := range tests {
		code, body, _ := doRaw(t, "POST", url+"/results", tt.token, tt.body)
		if code != tt.want {
			t.Errorf("%s: status %d (%s), want %d", tt.name, code, body, tt.want)
		}
		var d map[string]string
		if err := json.Unmarshal(body, &d); err != nil || d["detail"] == "" {
			t.Errorf("%s: answer %q has no detail", tt.name, body)
		}
	}
	if entries, _ := os.ReadDir(filepath.Join(data, report.RunsDir)); len(entries) != 0 {
		t.Errorf("refused uploads left %d files", len(entries))
	}
	// A collector without a token takes no upload.
	open, _ := newCollector(t, "")
	if code, _, _ := doRaw(t, "POST", open+"/results", "", bytes.NewReader(good)); code != http.StatusUnauthorized {
		t.Errorf("collector without a token: status %d, want 401", code)
	}
}
