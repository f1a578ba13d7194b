package main

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/typhonbench/typhon"
	"github.com/typhonbench/typhon/engine/enginetest"
)

// TestZeusJobCancelDuringPrefill: DELETE of a zeus job while the server is on
// the 128K prompt (no answer yet; current_test says so) ends the job within a
// second, cancelled, with the baseline kept and the 128K request given up.
func TestZeusJobCancelDuringPrefill(t *testing.T) {
	srv := enginetest.NewServer(func(r enginetest.Request) enginetest.Response {
		if r.PromptTokens() > 100000 {
			return enginetest.Response{HeaderDelay: time.Hour}
		}
		return enginetest.Stream{}.Response(r)
	})
	defer srv.Close()
	base := startAPI(t, &typhon.Manager{Runner: typhon.Runner{URL: srv.URL, DataDir: t.TempDir()}}, "")
	id := submitZeus(t, base)
	deadline := time.Now().Add(2 * time.Minute)
	for {
		reqs := srv.Requests()
		if srv.InFlight() > 0 && len(reqs) > 0 && reqs[len(reqs)-1].PromptTokens() > 100000 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the 128K request never arrived")
		}
		time.Sleep(20 * time.Millisecond)
	}
	var j jobView
	doJSON(t, "GET", base+"/jobs/"+id, &j)
	if !strings.Contains(j.Progress.CurrentTest, "131,072") {
		t.Errorf("current_test %q during the 128K prefill", j.Progress.CurrentTest)
	}
	sent := time.Now()
	if code := doJSON(t, "DELETE", base+"/jobs/"+id, nil); code != http.StatusAccepted {
		t.Fatalf("DELETE: status %d, want 202", code)
	}
	j = pollJob(t, base, id, time.Minute, nil)
	if j.Status != "error" || j.Error != "cancelled" || j.FinishedAt == nil || j.FinishedAt.Sub(sent) > time.Second {
		t.Fatalf("job %s (%s) finished %v after DELETE; want error, cancelled, within 1 s", j.Status, j.Error, j.FinishedAt.Sub(sent))
	}
	if j.Result == nil || len(j.Result.Benchmarks) == 0 || j.Result.Benchmarks[0].SuccessfulRuns == 0 {
		t.Errorf("the baseline is not kept: %+v", j.Result)
	}
	for time.Since(sent) < 5*time.Second && srv.InFlight() > 0 {
		time.Sleep(20 * time.Millisecond)
	}
	if srv.InFlight() != 0 {
		t.Errorf("%d requests still in flight 5 s after DELETE", srv.InFlight())
	}
	t.Logf("cancelled %v after DELETE", j.FinishedAt.Sub(sent).Round(time.Millisecond))
}
