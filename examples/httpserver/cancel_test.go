package main

import (
	"net/http"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/typhonbench/typhon"
	"github.com/typhonbench/typhon/internal/testbed"
	"github.com/typhonbench/typhon/schema"
)

// TestCancel: DELETE /jobs/{id} against the real llama-server. A pending job ends
// at once; a running one stops within a second with its finished tests in a
// record marked cancelled; the next queued job then runs and succeeds.
func TestCancel(t *testing.T) {
	srv := testbed.LlamaServer(t, testbed.Options{CtxSize: 2048})
	mgr := &typhon.Manager{Runner: typhon.Runner{
		URL: srv.URL, Model: srv.Model, DataDir: t.TempDir(), RequestTimeout: fixedTimeout,
		// The cancel lands in "long": 6 runs of 512 tokens.
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
	a, b, c := submit(), submit(), submit()

	// Wait until A has finished its first test and runs the long one.
	deadline := time.Now().Add(2 * time.Minute)
	for {
		var j jobView
		doJSON(t, "GET", base+"/jobs/"+a, &j)
		if j.Status == "running" && j.Progress.Done >= 1 {
			break
		}
		if j.Status == "done" || j.Status == "error" || time.Now().After(deadline) {
			t.Fatalf("job A is %s (%q, progress %+v) before it could be cancelled mid-run", j.Status, j.Error, j.Progress)
		}
		time.Sleep(10 * time.Millisecond)
	}

	// C is pending: it ends at once.
	var jc jobView
	if code := doJSON(t, "DELETE", base+"/jobs/"+c, &jc); code != http.StatusAccepted {
		t.Fatalf("DELETE pending job: status %d, want 202", code)
	}
	if jc.Status != "error" || jc.Error != "cancelled" || jc.FinishedAt == nil || jc.StartedAt != nil {
		t.Errorf("cancelled pending job = status %q error %q started_at %v finished_at %v, want error, cancelled, never started, finished",
			jc.Status, jc.Error, jc.StartedAt, jc.FinishedAt)
	}

	// A is running: it stops within a second.
	sent := time.Now()
	var ja jobView
	if code := doJSON(t, "DELETE", base+"/jobs/"+a, &ja); code != http.StatusAccepted {
		t.Fatalf("DELETE running job: status %d, want 202", code)
	}
	ja = pollJob(t, base, a, time.Minute, nil)
	seen := time.Since(sent)
	if ja.Status != "error" || ja.Error != "cancelled" || ja.FinishedAt == nil {
		t.Fatalf("cancelled running job = status %q error %q finished_at %v, want error, cancelled, set", ja.Status, ja.Error, ja.FinishedAt)
	}
	stop := ja.FinishedAt.Sub(sent)
	t.Logf("DELETE -> job finished_at: %v (client saw status error after %v)", stop.Round(time.Millisecond), seen.Round(time.Millisecond))
	if stop > time.Second {
		t.Errorf("running job stopped %v after DELETE, want within 1 s", stop)
	}

	// Its finished test is kept, in a record marked cancelled.
	if ja.Result == nil || len(ja.Result.Benchmarks) == 0 || ja.Result.Benchmarks[0].TestID != "first" || ja.Result.Benchmarks[0].SuccessfulRuns != 1 {
		t.Fatalf("the finished test is not in the cancelled job's result: %+v", ja.Result)
	}
	var rec typhon.Result
	if code := doJSON(t, "GET", base+"/results/"+ja.RunID, &rec); code != http.StatusOK {
		t.Fatalf("GET /results/%s: status %d", ja.RunID, code)
	}
	if rec.Status != schema.StatusCancelled || rec.Error != "cancelled" {
		t.Errorf("record status %q error %q, want %q, %q", rec.Status, rec.Error, schema.StatusCancelled, "cancelled")
	}
	if diff := cmp.Diff(ja.Result.Benchmarks[0], rec.Benchmarks[0]); diff != "" {
		t.Errorf("finished test on disk differs from the job's (-job +disk):\n%s", diff)
	}

	// The next queued job starts and succeeds.
	jb := pollJob(t, base, b, 3*time.Minute, nil)
	if jb.Status != "done" {
		t.Fatalf("job B after the cancel: %s %q, want done", jb.Status, jb.Error)
	}
	if jb.StartedAt == nil || jb.StartedAt.Before(*ja.FinishedAt) {
		t.Errorf("job B started %v, before job A finished %v", jb.StartedAt, ja.FinishedAt)
	}
	for _, bm := range jb.Result.Benchmarks {
		t.Logf("job B %s: %d/%d runs, avg_tps %.0f, avg_elapsed_s %.3f", bm.TestID, bm.SuccessfulRuns, bm.NRuns, bm.AvgTPS, bm.AvgElapsedS)
	}
	if n := len(jb.Result.Benchmarks); n != 3 {
		t.Errorf("job B has %d benchmarks, want 3", n)
	}

	// Finished jobs cannot be cancelled again.
	for _, id := range []string{a, c, b} {
		var body map[string]string
		if code := doJSON(t, "DELETE", base+"/jobs/"+id, &body); code != http.StatusConflict || body["detail"] == "" {
			t.Errorf("DELETE finished job %s: status %d %v, want 409 with a detail", id, code, body)
		}
	}
}
