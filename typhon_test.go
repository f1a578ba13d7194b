package typhon_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/typhonbench/typhon"
	"github.com/typhonbench/typhon/engine"
	"github.com/typhonbench/typhon/internal/testbed"
	"github.com/typhonbench/typhon/report"
	"github.com/typhonbench/typhon/schema"
)

// ourGoroutines lists the goroutines running Typhon code (not the test's own).
func ourGoroutines() []string {
	buf := make([]byte, 1<<20)
	n := runtime.Stack(buf, true)
	var out []string
	for _, g := range strings.Split(string(buf[:n]), "\n\n") {
		if strings.Contains(g, "typhonbench/typhon.") || strings.Contains(g, "typhonbench/typhon/engine") ||
			strings.Contains(g, "typhonbench/typhon/gpu") || strings.Contains(g, "typhonbench/typhon/detect") {
			if !strings.Contains(g, "typhon_test.") && !strings.Contains(g, "internal/testbed") {
				out = append(out, g)
			}
		}
	}
	return out
}

// TestRunCancel: cancelling ctx during a run against the real llama-server returns
// within 1 s with a wrapped context.Canceled, the finished tests kept in the
// result and on disk, and no goroutine of Run left behind.
func TestRunCancel(t *testing.T) {
	srv := testbed.LlamaServer(t, testbed.Options{CtxSize: 2048})
	data := t.TempDir()
	r := typhon.Runner{URL: srv.URL, Model: srv.Model, DataDir: data, Mode: typhon.ModeQuick}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	progress := make(chan typhon.Progress, 64)
	type out struct {
		res *typhon.Result
		err error
		at  time.Time
	}
	done := make(chan out, 1)
	go func() {
		res, err := r.Run(ctx, progress)
		done <- out{res, err, time.Now()}
	}()
	// Cancel in the middle of the second test, while a request is in flight.
	var cancelledAt time.Time
	for cancelledAt.IsZero() {
		select {
		case p := <-progress:
			if p.Done == 1 {
				time.Sleep(300 * time.Millisecond)
				cancelledAt = time.Now()
				cancel()
			}
		case o := <-done:
			t.Fatalf("run ended before it could be cancelled: %v", o.err)
		case <-time.After(3 * time.Minute):
			t.Fatal("no progress")
		}
	}
	o := <-done
	took := o.at.Sub(cancelledAt)
	t.Logf("Run returned %v after cancel", took)
	if took > time.Second {
		t.Errorf("Run returned %v after cancel, want within 1 s", took)
	}
	if !errors.Is(o.err, context.Canceled) {
		t.Errorf("err = %v, want a wrapped context.Canceled", o.err)
	}
	if o.res == nil || len(o.res.Benchmarks) < 1 || o.res.Benchmarks[0].SuccessfulRuns == 0 {
		t.Fatalf("finished test not kept: %+v", o.res)
	}
	if o.res.Status != schema.StatusCancelled {
		t.Errorf("status = %q, want %q", o.res.Status, schema.StatusCancelled)
	}
	rec, err := (&report.Store{Dir: data}).Load(o.res.RunID)
	if err != nil {
		t.Fatalf("record: %v", err)
	}
	if rec.Status != schema.StatusCancelled || len(rec.Benchmarks) != len(o.res.Benchmarks) {
		t.Errorf("record on disk: status %q with %d tests, want %q with %d", rec.Status, len(rec.Benchmarks),
			schema.StatusCancelled, len(o.res.Benchmarks))
	}
	// No goroutine of Run outlives it (idle HTTP connections of the client are
	// the transport's, not Run's; give exiting goroutines a moment).
	var left []string
	for i := 0; i < 50; i++ {
		if left = ourGoroutines(); len(left) == 0 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if len(left) > 0 {
		t.Errorf("%d goroutines of Run still running:\n%s", len(left), strings.Join(left, "\n\n"))
	}
}

// TestManagerOneAtATime submits three jobs at once against the real llama-server
// with a tiny plan; they run one at a time, in submission order.
func TestManagerOneAtATime(t *testing.T) {
	srv := testbed.LlamaServer(t, testbed.Options{CtxSize: 2048})
	plan := &engine.Plan{Tests: []engine.Test{{
		ID: "baseline_short", Name: "Baseline (short prompt)", Category: schema.CategoryBaseline,
		CtxSize: 2048, PromptTokens: 32, MaxTokens: 16, Runs: 2,
	}}}
	m := &typhon.Manager{Runner: typhon.Runner{URL: srv.URL, Model: srv.Model, DataDir: t.TempDir(), Plan: plan}}
	var ids []string
	for i := 0; i < 3; i++ {
		j, err := m.Submit(typhon.ModeQuick)
		if err != nil {
			t.Fatal(err)
		}
		if j.Status != typhon.StatusPending {
			t.Errorf("submitted job is %s, want pending", j.Status)
		}
		ids = append(ids, j.ID)
	}
	if _, err := m.Submit("turbo"); !errors.Is(err, typhon.ErrInvalidMode) {
		t.Errorf("Submit(turbo) err = %v, want ErrInvalidMode", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	runDone := make(chan error, 1)
	go func() { runDone <- m.Run(ctx) }()
	defer func() {
		cancel()
		<-runDone
	}()
	deadline := time.Now().Add(3 * time.Minute)
	var jobs []*typhon.Job
	for {
		jobs = jobs[:0]
		finished := 0
		for _, id := range ids {
			j, err := m.Get(id)
			if err != nil {
				t.Fatal(err)
			}
			jobs = append(jobs, j)
			if j.Status == typhon.StatusDone || j.Status == typhon.StatusError {
				finished++
			}
		}
		if finished == len(ids) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("jobs not finished: %+v", jobs)
		}
		time.Sleep(50 * time.Millisecond)
	}
	for i, j := range jobs {
		if j.Status != typhon.StatusDone {
			t.Errorf("job %d: %s %q", i, j.Status, j.Error)
			continue
		}
		if i > 0 && j.StartedAt.Before(*jobs[i-1].FinishedAt) {
			t.Errorf("job %d started %v before job %d finished %v", i, j.StartedAt, i-1, jobs[i-1].FinishedAt)
		}
	}
	if list := m.List(); len(list) != 3 || list[0].Result != nil {
		t.Errorf("List() = %d jobs (first result %v), want 3 without results", len(list), list[0].Result)
	}
	if _, err := m.Get("nope"); !errors.Is(err, typhon.ErrJobNotFound) {
		t.Errorf("Get(nope) err = %v, want ErrJobNotFound", err)
	}
	if _, err := m.Cancel(ids[0]); !errors.Is(err, typhon.ErrJobFinished) {
		t.Errorf("Cancel(finished) err = %v, want ErrJobFinished", err)
	}
}

func TestManagerQueueLimitAndCancelPending(t *testing.T) {
	t.Parallel()
	m := &typhon.Manager{QueueLimit: 2} // no Run: jobs stay pending
	a, err := m.Submit("")
	if err != nil {
		t.Fatal(err)
	}
	if a.Mode != typhon.ModeQuick {
		t.Errorf("default mode = %q, want quick", a.Mode)
	}
	if _, err := m.Submit(typhon.ModeFull); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Submit(typhon.ModeFull); !errors.Is(err, typhon.ErrQueueFull) {
		t.Errorf("third Submit err = %v, want ErrQueueFull", err)
	}
	j, err := m.Cancel(a.ID)
	if err != nil {
		t.Fatal(err)
	}
	if j.Status != typhon.StatusError || j.Error != typhon.CancelledMessage || j.FinishedAt == nil {
		t.Errorf("cancelled pending job = %s %q finished %v, want error %q with finished_at", j.Status, j.Error, j.FinishedAt,
			typhon.CancelledMessage)
	}
	if _, err := m.Submit(typhon.ModeQuick); err != nil {
		t.Errorf("Submit after a cancel freed a slot: %v", err)
	}
}

func TestJobError(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"no server keeps the contract's text", fmt.Errorf("scan: %w", typhon.ErrNoServer), "No LLM server detected or benchmark produced no results."},
		{"cancelled", fmt.Errorf("run: %w", context.Canceled), "cancelled"},
		{"other errors keep their text", fmt.Errorf("%w: baseline_short: http_400", typhon.ErrAllTestsFailed), "every test failed: baseline_short: http_400"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := typhon.JobError(tc.err); got != tc.want {
				t.Errorf("JobError() = %q, want %q", got, tc.want)
			}
		})
	}
}

func ExampleValidMode() {
	fmt.Println(typhon.ValidMode("quick"))
	fmt.Println(typhon.ValidMode("turbo"))
	// Output:
	// <nil>
	// invalid mode "turbo": want quick, full, zeus or load
}

func ExampleManager_Submit() {
	var m typhon.Manager // jobs wait until m.Run(ctx) runs them, one at a time
	job, err := m.Submit(typhon.ModeQuick)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(len(job.ID), job.Status, job.Mode)
	_, err = m.Get("00000000")
	fmt.Println(errors.Is(err, typhon.ErrJobNotFound))
	// Output:
	// 8 pending quick
	// true
}
