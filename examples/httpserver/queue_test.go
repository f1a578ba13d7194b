package main

import (
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/typhonbench/typhon"
	"github.com/typhonbench/typhon/internal/testbed"
)

// TestQueueLimit: beyond the limit of pending jobs (default 16) POST /jobs/run
// answers 429 with a JSON detail; a cancelled pending job frees its place.
func TestQueueLimit(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		limit int // Manager.QueueLimit
		want  int // jobs accepted
	}{
		{"default", 0, typhon.DefaultQueueLimit},
		{"three", 3, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			// No Run loop: every accepted job stays pending.
			mgr := &typhon.Manager{Runner: typhon.Runner{DataDir: t.TempDir()}, QueueLimit: tc.limit}
			ts := httptest.NewServer(newAPI(mgr, "", slog.New(slog.NewTextHandler(io.Discard, nil))))
			defer ts.Close()
			var ids []string
			for i := range tc.want {
				var raw map[string]any
				if code := doJSON(t, "POST", ts.URL+"/jobs/run?mode=quick", &raw); code != http.StatusAccepted {
					t.Fatalf("job %d of %d: status %d (%v), want 202", i+1, tc.want, code, raw)
				}
				ids = append(ids, raw["job_id"].(string))
			}
			var body map[string]string
			if code := doJSON(t, "POST", ts.URL+"/jobs/run?mode=quick", &body); code != http.StatusTooManyRequests {
				t.Fatalf("job %d: status %d, want 429", tc.want+1, code)
			}
			want := fmt.Sprintf("job queue full: %d jobs pending", tc.want)
			if body["detail"] != want {
				t.Errorf("detail = %q, want %q", body["detail"], want)
			}
			if code := doJSON(t, "DELETE", ts.URL+"/jobs/"+ids[0], nil); code != http.StatusAccepted {
				t.Fatalf("DELETE pending job: status %d", code)
			}
			if code := doJSON(t, "POST", ts.URL+"/jobs/run?mode=quick", nil); code != http.StatusAccepted {
				t.Errorf("after a cancel: status %d, want 202", code)
			}
			if got := len(mgr.List()); got != tc.want+1 {
				t.Errorf("%d jobs listed, want %d", got, tc.want+1)
			}
		})
	}
}

// TestConcurrentSubmit: 200 concurrent POST /jobs/run against a running server
// and the real llama-server: every answer is 202 or 429, the accepted jobs all
// succeed, and no two ran at once (their started_at..finished_at never overlap,
// and no snapshot of GET /jobs shows two running).
func TestConcurrentSubmit(t *testing.T) {
	srv := testbed.LlamaServer(t, testbed.Options{CtxSize: 2048})
	mgr := &typhon.Manager{Runner: typhon.Runner{
		URL: srv.URL, Model: srv.Model, DataDir: t.TempDir(), RequestTimeout: fixedTimeout,
		Plan: tinyPlan(tinyTest("tiny", 1, 16)),
	}}
	base := startAPI(t, mgr, "")

	const n = 200
	client := &http.Client{Timeout: time.Minute}
	codes := make([]int, n)
	ids := make([]string, n)
	errs := make([]error, n)
	stopWatch := make(chan struct{})
	watchDone := make(chan int)
	go func() { // counts the running jobs in every GET /jobs until told to stop
		most := 0
		defer func() { watchDone <- most }()
		for {
			select {
			case <-stopWatch:
				return
			default:
			}
			resp, err := client.Get(base + "/jobs")
			if err != nil {
				continue
			}
			var jobs []jobView
			_ = decodeBody(resp, &jobs)
			running := 0
			for _, j := range jobs {
				if j.Status == "running" {
					running++
				}
			}
			most = max(most, running)
		}
	}()
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			resp, err := client.Post(base+"/jobs/run?mode=quick", "", nil)
			if err != nil {
				errs[i] = err
				return
			}
			var raw map[string]any
			errs[i] = decodeBody(resp, &raw)
			codes[i] = resp.StatusCode
			if id, ok := raw["job_id"].(string); ok {
				ids[i] = id
			} else if _, ok := raw["detail"].(string); !ok {
				errs[i] = fmt.Errorf("answer %v has neither job_id nor detail", raw)
			}
		}()
	}
	close(start)
	wg.Wait()

	count := map[int]int{}
	var accepted []string
	for i := range n {
		if errs[i] != nil {
			t.Errorf("request %d: %v", i, errs[i])
		}
		count[codes[i]]++
		switch codes[i] {
		case http.StatusAccepted:
			accepted = append(accepted, ids[i])
		case http.StatusTooManyRequests:
		default:
			t.Errorf("request %d: status %d, want 202 or 429", i, codes[i])
		}
	}
	t.Logf("answers: %v", count)
	if len(accepted) < typhon.DefaultQueueLimit || len(accepted) > n-1 {
		t.Errorf("%d jobs accepted, want at least the queue limit %d and some refused", len(accepted), typhon.DefaultQueueLimit)
	}

	var jobs []jobView
	for _, id := range accepted {
		j := pollJob(t, base, id, 5*time.Minute, nil)
		if j.Status != "done" {
			t.Errorf("job %s: %s %q, want done", id, j.Status, j.Error)
		}
		if j.StartedAt == nil || j.FinishedAt == nil {
			t.Fatalf("job %s: started_at %v finished_at %v, want both", id, j.StartedAt, j.FinishedAt)
		}
		jobs = append(jobs, j)
	}
	close(stopWatch)
	if most := <-watchDone; most > 1 {
		t.Errorf("GET /jobs showed %d jobs running at once", most)
	}
	sort.Slice(jobs, func(i, k int) bool { return jobs[i].StartedAt.Before(*jobs[k].StartedAt) })
	for i := 1; i < len(jobs); i++ {
		prev, cur := jobs[i-1], jobs[i]
		if cur.StartedAt.Before(*prev.FinishedAt) {
			t.Errorf("job %s started %v before job %s finished %v", cur.JobID, cur.StartedAt, prev.JobID, prev.FinishedAt)
		}
	}
	first, last := jobs[0], jobs[len(jobs)-1]
	t.Logf("%d jobs ran one after another in %v", len(jobs), last.FinishedAt.Sub(*first.StartedAt).Round(time.Millisecond))
}
