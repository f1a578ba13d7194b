package typhon_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/typhonbench/typhon"
	"github.com/typhonbench/typhon/engine/enginetest"
)

// startManager runs m in the background until the test ends.
func startManager(t *testing.T, m *typhon.Manager) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("Manager.Run() = %v, want context.Canceled", err)
		}
	})
}

// waitJobs polls until every job has finished.
func waitJobs(t *testing.T, m *typhon.Manager, ids []string) []*typhon.Job {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		var jobs []*typhon.Job
		for _, id := range ids {
			j, err := m.Get(id)
			if err != nil {
				t.Fatal(err)
			}
			if j.Status == typhon.StatusDone || j.Status == typhon.StatusError {
				jobs = append(jobs, j)
			}
		}
		if len(jobs) == len(ids) {
			return jobs
		}
		if time.Now().After(deadline) {
			t.Fatalf("jobs not finished after a minute: %d of %d", len(jobs), len(ids))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestManagerRunTwice: a second Run while one executes the queue returns
// ErrManagerRunning at once, so two jobs never run together; once the first has
// returned, Run may start again.
func TestManagerRunTwice(t *testing.T) {
	t.Parallel()
	srv := enginetest.NewServer(enginetest.Stream{Tokens: 2, Hang: true}.Response) // a job runs until cancelled
	defer srv.Close()
	m := &typhon.Manager{Runner: typhon.Runner{URL: srv.URL, DataDir: t.TempDir(), GPU: fakeGPU(), Plan: fakePlan(1)}}
	a, err := m.Submit("")
	if err != nil {
		t.Fatal(err)
	}
	b, err := m.Submit("")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	first := make(chan error, 1)
	go func() { first <- m.Run(ctx) }()
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(5 * time.Millisecond) {
		if j, _ := m.Get(a.ID); j.Status == typhon.StatusRunning {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the first job did not start")
		}
	}
	second, stop := context.WithTimeout(context.Background(), 10*time.Second)
	defer stop()
	if err := m.Run(second); !errors.Is(err, typhon.ErrManagerRunning) {
		t.Errorf("second Run() = %v, want ErrManagerRunning", err)
	}
	if j, _ := m.Get(b.ID); j.Status != typhon.StatusPending {
		t.Errorf("second job is %s while the first runs, want pending", j.Status)
	}
	if n := srv.MaxInFlight(); n > 1 {
		t.Errorf("%d requests in flight at once, want 1", n)
	}
	cancel()
	if err := <-first; !errors.Is(err, context.Canceled) {
		t.Errorf("first Run() = %v, want context.Canceled", err)
	}
	again, stopAgain := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer stopAgain()
	if err := m.Run(again); errors.Is(err, typhon.ErrManagerRunning) {
		t.Errorf("Run() after the first returned = %v, want it to run", err)
	}
}

// TestManagerTemplateRunID: a RunID on the template Runner prefixes each job's
// record id; each job has its own record, and the Manager's Store lists them all.
func TestManagerTemplateRunID(t *testing.T) {
	t.Parallel()
	srv := enginetest.NewServer(nil)
	defer srv.Close()
	m := &typhon.Manager{Runner: typhon.Runner{URL: srv.URL, DataDir: t.TempDir(), GPU: fakeGPU(), Plan: fakePlan(1),
		RunID: "nightly"}}
	var ids []string
	for range 3 {
		j, err := m.Submit(typhon.ModeQuick)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, j.ID)
	}
	startManager(t, m)
	seen := map[string]bool{}
	for _, j := range waitJobs(t, m, ids) {
		if j.Status != typhon.StatusDone || j.Result == nil {
			t.Fatalf("job %s = %s %q, want done with a result", j.ID, j.Status, j.Error)
		}
		if !strings.HasPrefix(j.RunID, "nightly-") || j.Result.RunID != j.RunID || seen[j.RunID] {
			t.Errorf("job %s: run id %q (result %q), want a new id with the template's prefix", j.ID, j.RunID, j.Result.RunID)
		}
		seen[j.RunID] = true
		if j.Progress.Done != 1 || j.Progress.Total != 1 || j.Progress.CurrentTest != "" {
			t.Errorf("job %s: final progress %+v, want 1 of 1 done, nothing running", j.ID, j.Progress)
		}
	}
	items, total, err := m.Store().List(0, 10)
	if err != nil || total != 3 {
		t.Fatalf("Store().List = %d records (%v), want 3", total, err)
	}
	for _, it := range items {
		if !seen[it.RunID] {
			t.Errorf("record %s belongs to no job", it.RunID)
		}
	}
}

// TestManagerOutcome: the Manager's Outcome decides each job's status and error
// text; a nil Outcome keeps the run's own error text.
func TestManagerOutcome(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		outcome typhon.Outcome
		want    string
	}{
		{"plain", nil, "every test failed: test_a"},
		{"custom", func(err error, cancelled bool) (typhon.Status, string) {
			if errors.Is(err, typhon.ErrAllTestsFailed) && !cancelled {
				return typhon.StatusError, "all failed"
			}
			return typhon.PlainOutcome(err, cancelled)
		}, "all failed"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := enginetest.NewServer(func(enginetest.Request) enginetest.Response {
				return enginetest.Response{Status: 500, Body: "boom"}
			})
			defer srv.Close()
			m := &typhon.Manager{Runner: typhon.Runner{URL: srv.URL, DataDir: t.TempDir(), GPU: fakeGPU(), Plan: fakePlan(1)},
				Outcome: tc.outcome}
			j, err := m.Submit("")
			if err != nil {
				t.Fatal(err)
			}
			startManager(t, m)
			got := waitJobs(t, m, []string{j.ID})[0]
			if got.Status != typhon.StatusError || !strings.HasPrefix(got.Error, tc.want) || got.Result == nil {
				t.Errorf("job = %s %q (result %v), want error %q... with the failed test kept", got.Status, got.Error,
					got.Result != nil, tc.want)
			}
		})
	}
}
