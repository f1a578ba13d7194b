package main

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/typhonbench/typhon"
	"github.com/typhonbench/typhon/internal/testbed"
	"github.com/typhonbench/typhon/report"
	"github.com/typhonbench/typhon/schema"
)

// TestServerKilledMidJob is the chaos test: llama-server is killed with SIGKILL
// mid-job. The job ends in error with the reason well within the request deadline
// and keeps the test that finished, in its result and on disk; once the server is
// restarted on the same port the next job succeeds.
func TestServerKilledMidJob(t *testing.T) {
	srv := testbed.LlamaServer(t, testbed.Options{CtxSize: 2048})
	data := t.TempDir()
	mgr := &typhon.Manager{Runner: typhon.Runner{
		URL: srv.URL, Model: srv.Model, DataDir: data, RequestTimeout: fixedTimeout,
		// The kill lands in "long": 6 runs of 512 tokens.
		Plan: tinyPlan(tinyTest("first", 1, 8), tinyTest("long", 6, 512), tinyTest("last", 1, 8)),
	}}
	base := startAPI(t, mgr, "")
	submit := func() string {
		var raw map[string]any
		if code := doJSON(t, "POST", base+"/jobs/run", &raw); code != http.StatusAccepted {
			t.Fatalf("POST /jobs/run: status %d (%v)", code, raw)
		}
		return raw["job_id"].(string)
	}

	id := submit()
	var killedAt time.Time
	j := pollJob(t, base, id, 2*time.Minute, func(j jobView) {
		if killedAt.IsZero() && j.Status == "running" && j.Progress.Done >= 1 {
			if err := srv.Kill(); err != nil {
				t.Fatalf("kill: %v", err)
			}
			killedAt = time.Now()
		}
	})
	if killedAt.IsZero() {
		t.Fatalf("job ended (%s %q) before the first test finished; nothing was killed", j.Status, j.Error)
	}
	if j.Status != "error" || j.FinishedAt == nil {
		t.Fatalf("job = %s (finished_at %v), want error", j.Status, j.FinishedAt)
	}
	took := j.FinishedAt.Sub(killedAt)
	t.Logf("kill -> job error: %v; error: %s", took.Round(time.Millisecond), j.Error)
	if took > requestTimeout {
		t.Errorf("job ended %v after the kill, beyond the request deadline %v", took, requestTimeout)
	}
	if !strings.Contains(j.Error, "connection_refused") || !strings.Contains(j.Error, srv.URL) {
		t.Errorf("error %q does not say that the server at %s went away (connection_refused)", j.Error, srv.URL)
	}
	if j.Result == nil || len(j.Result.Benchmarks) == 0 || j.Result.Benchmarks[0].TestID != "first" || j.Result.Benchmarks[0].SuccessfulRuns != 1 {
		t.Fatalf("the test that ran before the kill is not in the result: %+v", j.Result)
	}
	rec, err := (&report.Store{Dir: data}).Load(j.RunID)
	if err != nil {
		t.Fatalf("record on disk: %v", err)
	}
	if rec.Status != schema.StatusFailed || rec.Error != j.Error {
		t.Errorf("record status %q error %q, want %q and the job's error %q", rec.Status, rec.Error, schema.StatusFailed, j.Error)
	}
	if diff := cmp.Diff(j.Result.Benchmarks[0], rec.Benchmarks[0]); diff != "" {
		t.Errorf("first test on disk differs (-job +disk):\n%s", diff)
	}
	checkDataDir(t, data)

	// Restarted on the same port, the server serves the next job.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := srv.Restart(ctx); err != nil {
		t.Fatalf("restart: %v", err)
	}
	next := pollJob(t, base, submit(), 3*time.Minute, nil)
	if next.Status != "done" {
		t.Fatalf("job after the restart: %s %q, want done", next.Status, next.Error)
	}
	for _, b := range next.Result.Benchmarks {
		if b.SuccessfulRuns != b.NRuns {
			t.Errorf("after the restart, %s: %d of %d runs succeeded", b.TestID, b.SuccessfulRuns, b.NRuns)
		}
	}
}
