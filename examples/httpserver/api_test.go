package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/typhonbench/typhon"
	"github.com/typhonbench/typhon/detect"
	"github.com/typhonbench/typhon/internal/testbed"
	"github.com/typhonbench/typhon/internal/testmodel"
)

// startAPI serves the API for mgr on a free loopback port and returns its base URL.
func startAPI(t *testing.T, mgr *typhon.Manager, token string) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = mgr.Run(ctx)
	}()
	ts := httptest.NewServer(newAPI(mgr, token, slog.New(slog.NewTextHandler(io.Discard, nil))))
	t.Cleanup(func() {
		ts.Close()
		cancel()
		<-done
	})
	return ts.URL
}

type jobView struct {
	JobID      string          `json:"job_id"`
	Status     string          `json:"status"`
	Mode       string          `json:"mode"`
	Progress   typhon.Progress `json:"progress"`
	StartedAt  *time.Time      `json:"started_at"`
	FinishedAt *time.Time      `json:"finished_at"`
	RunID      string          `json:"run_id"`
	Result     *typhon.Result  `json:"result"`
	Error      string          `json:"error"`
}

func doJSON(t *testing.T, method, url string, out any) int {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("%s %s: Content-Type = %q, want application/json", method, url, ct)
	}
	if out != nil {
		if err := json.Unmarshal(body, out); err != nil {
			t.Fatalf("%s %s: decoding %q: %v", method, url, body, err)
		}
	}
	return resp.StatusCode
}

// pollJob polls a job until it ends, calling seen with every state observed.
func pollJob(t *testing.T, base, id string, limit time.Duration, seen func(jobView)) jobView {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		var j jobView
		if code := doJSON(t, "GET", base+"/jobs/"+id, &j); code != http.StatusOK {
			t.Fatalf("GET /jobs/%s: status %d", id, code)
		}
		if seen != nil {
			seen(j)
		}
		if j.Status == "done" || j.Status == "error" {
			return j
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %s still %s after %v (progress %+v)", id, j.Status, limit, j.Progress)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestQuickJobRealServers runs a quick job through the HTTP API against the test
// bed's real llama-server and Ollama.
func TestQuickJobRealServers(t *testing.T) {
	for _, kind := range []string{"llama.cpp", "ollama"} {
		t.Run(kind, func(t *testing.T) {
			var srv *testbed.Server
			if kind == "ollama" {
				// Typhon asks Ollama for each test's context, up to the model's
				// training context: a model trained on 2,048 tokens keeps the
				// plan as short as llama-server's below.
				model := filepath.Join(t.TempDir(), "tiny-2k.gguf")
				if err := testmodel.WriteFile(model, testmodel.Config{Context: 2048}); err != nil {
					t.Fatal(err)
				}
				srv = testbed.Ollama(t, testbed.Options{CtxSize: 2048, ModelPath: model})
			} else {
				srv = testbed.LlamaServer(t, testbed.Options{CtxSize: 2048})
			}
			data := t.TempDir()
			mgr := &typhon.Manager{Runner: typhon.Runner{URL: srv.URL, Model: srv.Model, DataDir: data}}
			base := startAPI(t, mgr, "")

			var sub struct{ JobID, Status, Mode string }
			var raw map[string]any
			if code := doJSON(t, "POST", base+"/jobs/run?mode=quick", &raw); code != http.StatusAccepted {
				t.Fatalf("POST /jobs/run: status %d, want 202 (%v)", code, raw)
			}
			sub.JobID, _ = raw["job_id"].(string)
			sub.Status, _ = raw["status"].(string)
			sub.Mode, _ = raw["mode"].(string)
			if len(sub.JobID) != 8 || strings.Trim(sub.JobID, "0123456789abcdef") != "" {
				t.Errorf("job_id = %q, want 8 lowercase hex characters", sub.JobID)
			}
			if sub.Status != "pending" || sub.Mode != "quick" {
				t.Errorf("submit answer = %v, want status pending, mode quick", raw)
			}

			states := map[string]bool{sub.Status: true}
			totalWhileZero := false
			j := pollJob(t, base, sub.JobID, 5*time.Minute, func(j jobView) {
				states[j.Status] = true
				if j.Status == "running" && j.Progress.Done == 0 && j.Progress.Total > 0 {
					totalWhileZero = true
				}
			})
			if j.Status != "done" {
				t.Fatalf("job ended %s: %s", j.Status, j.Error)
			}
			for _, s := range []string{"pending", "running", "done"} {
				if !states[s] {
					t.Errorf("state %q never observed (saw %v)", s, states)
				}
			}
			if !totalWhileZero {
				t.Errorf("never saw progress.total set while done was 0")
			}
			if j.FinishedAt == nil || j.StartedAt == nil {
				t.Errorf("started_at/finished_at = %v/%v, want both set", j.StartedAt, j.FinishedAt)
			}
			res := j.Result
			if res == nil || len(res.Benchmarks) == 0 {
				t.Fatalf("job result has no benchmarks: %+v", res)
			}
			if j.Progress.Done != j.Progress.Total || j.Progress.Total != len(res.Benchmarks) {
				t.Errorf("final progress %+v, want done = total = %d", j.Progress, len(res.Benchmarks))
			}
			ran := 0
			for _, b := range res.Benchmarks {
				if b.Skipped {
					continue
				}
				ran++
				if b.AvgTPS <= 0 {
					t.Errorf("%s: avg_tps = %v, want > 0", b.TestID, b.AvgTPS)
				}
				if b.SuccessfulRuns != b.NRuns {
					t.Errorf("%s: successful_runs = %d, want n_runs = %d (runs %+v)", b.TestID, b.SuccessfulRuns, b.NRuns, b.Runs)
				}
				for i, r := range b.Runs {
					if !(r.TTFTS < r.ElapsedS) {
						t.Errorf("%s run %d: ttft_s %v not < elapsed_s %v", b.TestID, i, r.TTFTS, r.ElapsedS)
					}
				}
			}
			if ran == 0 {
				t.Fatal("every benchmark was skipped")
			}

			// The record on disk equals the job's result.
			var onDisk typhon.Result
			if code := doJSON(t, "GET", base+"/results/"+j.RunID, &onDisk); code != http.StatusOK {
				t.Fatalf("GET /results/%s: status %d", j.RunID, code)
			}
			if diff := cmp.Diff(*res, onDisk); diff != "" {
				t.Errorf("record on disk differs from the job's result (-job +disk):\n%s", diff)
			}
			b, err := os.ReadFile(filepath.Join(data, "chronicle.jsonl"))
			if err != nil {
				t.Fatalf("chronicle: %v", err)
			}
			if !bytes.Contains(b, []byte(j.RunID)) {
				t.Errorf("chronicle.jsonl does not mention run %s", j.RunID)
			}
			var list []jobView
			doJSON(t, "GET", base+"/jobs", &list)
			if len(list) != 1 || list[0].Result != nil || list[0].JobID != sub.JobID {
				t.Errorf("GET /jobs = %+v, want the one job without its result", list)
			}
		})
	}
}

// TestNoServer: with nothing listening on any probed port the job ends error with
// the contract's exact message and a finished_at.
func TestNoServer(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close() // nothing listens there now
	mgr := &typhon.Manager{Runner: typhon.Runner{
		DataDir: t.TempDir(),
		Detect:  detect.Options{NoDefaults: true, Ports: []int{port}},
	}}
	base := startAPI(t, mgr, "")
	var raw map[string]any
	if code := doJSON(t, "POST", base+"/jobs/run?mode=quick", &raw); code != http.StatusAccepted {
		t.Fatalf("status %d", code)
	}
	j := pollJob(t, base, raw["job_id"].(string), time.Minute, nil)
	want := "No LLM server detected or benchmark produced no results."
	if j.Status != "error" || j.Error != want {
		t.Errorf("job = %s %q, want error %q", j.Status, j.Error, want)
	}
	if j.FinishedAt == nil {
		t.Error("finished_at not set")
	}
}

// TestPythonClient runs the polling client of spec/jobs.md, unchanged, against the
// HTTP example on its default address 127.0.0.1:8000.
func TestPythonClient(t *testing.T) {
	python := pythonWithRequests(t)
	srv := testbed.LlamaServer(t, testbed.Options{CtxSize: 2048})
	data := t.TempDir()

	var ln net.Listener
	var err error
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(200 * time.Millisecond) {
		if ln, err = net.Listen("tcp", "127.0.0.1:8000"); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("port 8000 stays busy: %v", err)
		}
	}
	ln.Close()
	ctx, cancel := context.WithCancel(context.Background())
	var out, errOut bytes.Buffer
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"-addr", "127.0.0.1:8000", "-data", data, "-url", srv.URL, "-model", srv.Model}, &out, &errOut)
	}()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("server: %v\n%s", err, errOut.String())
		}
	}()
	waitHTTP(t, "http://127.0.0.1:8000/health")

	cmd := exec.Command(python, filepath.Join("testdata", "poll_client.py"))
	got, err := cmd.CombinedOutput()
	t.Logf("client output:\n%s", got)
	if err != nil {
		t.Fatalf("python client: %v", err)
	}
	for _, want := range []string{"Job started: ", "Baseline (short prompt): ", " TPS"} {
		if !strings.Contains(string(got), want) {
			t.Errorf("client output lacks %q", want)
		}
	}
	if strings.Contains(string(got), "Failed:") {
		t.Errorf("client reports a failed job")
	}
}

// TestPythonClientIsTheSpecs checks testdata/poll_client.py against the client in
// spec/jobs.md, when the spec is beside the checkout.
func TestPythonClientIsTheSpecs(t *testing.T) {
	t.Parallel()
	spec, err := os.ReadFile(filepath.Join("..", "..", "..", "shared", "spec", "jobs.md"))
	if err != nil {
		t.Skipf("spec/jobs.md not beside the checkout: %v", err)
	}
	ours, err := os.ReadFile(filepath.Join("testdata", "poll_client.py"))
	if err != nil {
		t.Fatal(err)
	}
	norm := func(s string) string { return strings.Join(strings.Fields(s), " ") }
	if !strings.Contains(norm(string(spec)), norm(string(ours))) {
		t.Errorf("testdata/poll_client.py is not the client of spec/jobs.md")
	}
}

func pythonWithRequests(t *testing.T) string {
	for _, p := range []string{"python3", "/usr/bin/python3"} {
		if err := exec.Command(p, "-c", "import requests").Run(); err == nil {
			return p
		}
	}
	if os.Getenv("TYPHON_REQUIRE_SERVERS") == "1" {
		t.Fatal("no python3 with the requests module (apt-get install python3-requests)")
	}
	t.Skip("no python3 with the requests module (apt-get install python3-requests)")
	return ""
}

func waitHTTP(t *testing.T, url string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not answering: %v", url, errors.Join(err, fmt.Errorf("deadline")))
		}
		time.Sleep(50 * time.Millisecond)
	}
}
