package main

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/typhonbench/typhon"
	"github.com/typhonbench/typhon/internal/testbed"
	"github.com/typhonbench/typhon/schema"
)

// TestLoadJobCancel: POST /jobs/run?mode=load against the real llama-server,
// then DELETE in the middle of the sweep: the job stops within a second, and
// the levels that finished are kept with the capacity of the sweep so far.
func TestLoadJobCancel(t *testing.T) {
	srv := testbed.LlamaServer(t, testbed.Options{CtxSize: 2048, Parallel: 2})
	mgr := &typhon.Manager{Runner: typhon.Runner{URL: srv.URL, Model: srv.Model, DataDir: t.TempDir(), RequestTimeout: fixedTimeout}}
	base := startAPI(t, mgr, "")
	var sub map[string]any
	if code := doJSON(t, "POST", base+"/jobs/run?mode=load&users=1,2,4&duration=2s&ramp_up=0s&input=32&output=64", &sub); code != http.StatusAccepted {
		t.Fatalf("POST: status %d (%v)", code, sub)
	}
	id := sub["job_id"].(string)
	if sub["mode"] != "load" {
		t.Errorf("mode %v, want load", sub["mode"])
	}
	deadline := time.Now().Add(2 * time.Minute)
	for {
		var j jobView
		doJSON(t, "GET", base+"/jobs/"+id, &j)
		if j.Status == "running" && strings.Contains(j.Progress.CurrentTest, "2 users done") {
			break
		}
		if j.Status == "done" || j.Status == "error" || time.Now().After(deadline) {
			t.Fatalf("job is %s (%q, progress %+v) before it could be cancelled mid-sweep", j.Status, j.Error, j.Progress)
		}
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(500 * time.Millisecond) // into the level of 4 users
	sent := time.Now()
	if code := doJSON(t, "DELETE", base+"/jobs/"+id, nil); code != http.StatusAccepted {
		t.Fatalf("DELETE: status %d", code)
	}
	j := pollJob(t, base, id, time.Minute, nil)
	stop := j.FinishedAt.Sub(sent)
	t.Logf("DELETE -> job finished_at: %v", stop.Round(time.Millisecond))
	if j.Status != "error" || j.Error != "cancelled" {
		t.Fatalf("status %q error %q, want error, cancelled", j.Status, j.Error)
	}
	if stop > time.Second {
		t.Errorf("the sweep stopped %v after DELETE, want within 1 s", stop)
	}
	res := j.Result
	if res == nil || len(res.Benchmarks) < 2 {
		t.Fatalf("result %+v: want the finished levels", res)
	}
	for _, b := range res.Benchmarks[:2] {
		if b.Category != schema.CategoryLoad || b.LoadLevel == nil || b.LoadLevel.Completed == 0 || b.Error != "" {
			t.Errorf("%s: category %s, level %+v, error %q: want a finished load level", b.TestID, b.Category, b.LoadLevel, b.Error)
		}
	}
	if c := res.Capacity; c == nil || c.StoppedBy != schema.StopCancelled || c.Peak == nil {
		t.Errorf("capacity %+v, want stopped_by cancelled with a peak", c)
	}
	for _, b := range res.Benchmarks {
		t.Logf("%s: %d completed, %d incomplete, %.1f tokens/s, error %q", b.TestID, b.LoadLevel.Completed, b.LoadLevel.Incomplete, b.LoadLevel.OutputTPS, b.Error)
	}
}
