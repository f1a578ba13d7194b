package report

import (
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/typhonbench/typhon/schema"
)

// TestMergeRefusesOtherRuns: records that name one run but cannot be parts of
// one load (other parameters, server, model, clock), or whose own figures do
// not hold together, are refused with the reason; before, each merged into a
// result that looked whole.
func TestMergeRefusesOtherRuns(t *testing.T) {
	t.Parallel()
	rec := func(i int) *schema.Result {
		r := fleetRecord(t, i, 2, 0, []float64{1, 2}, []float64{0.1, 0.2}, 0)
		r.Mode, r.Model = schema.ModeLoad, "tiny"
		r.Server = schema.ServerInfo{Kind: schema.KindLlamaCpp, APIBase: "http://127.0.0.1:8080"}
		r.Worker.Levels[0].TotalUsers = 8
		return r
	}
	tests := []struct {
		name   string
		change func(r *schema.Result)
		want   string
	}{
		{"other input tokens", func(r *schema.Result) { r.Benchmarks[0].LoadLevel.InputTokens = 64 }, "different input tokens"},
		{"other output tokens", func(r *schema.Result) { r.Benchmarks[0].LoadLevel.OutputTokens = 64 }, "different output tokens"},
		{"other window", func(r *schema.Result) {
			r.Benchmarks[0].LoadLevel.WindowS = 20
			r.Worker.Levels[0].WindowEnd = r.Worker.Levels[0].WindowStart.Add(20 * time.Second)
			l := r.Benchmarks[0].LoadLevel
			l.RequestThroughput, l.Goodput, l.OutputTPS, l.TotalTPS = 0.1, 0.1, 1, 3
			r.Benchmarks[0].AggregateTPS = 1
		}, "different windows"},
		{"other whole load", func(r *schema.Result) {
			r.Worker.Levels[0].TotalUsers = 12
			r.Worker.Levels[0].Users, r.Benchmarks[0].LoadLevel.Users = 6, 6
		}, "whole loads of users"},
		{"alone: a share that is not its own", func(r *schema.Result) { r.Worker.Levels[0].TotalUsers = 10 }, "takes 5 of 10"},
		{"worker level beside its level", func(r *schema.Result) { r.Worker.Levels[0].Users = 5 }, "the level ran 4"},
		{"other model", func(r *schema.Result) { r.Model = "big" }, `model "tiny"`},
		{"other server", func(r *schema.Result) { r.Server.APIBase = "http://10.0.0.9:8000" }, "against server"},
		{"other server kind", func(r *schema.Result) { r.Server.Kind = schema.KindOllama }, "against server"},
		{"other clock", func(r *schema.Result) { r.Worker.StartAt = time.Date(2026, 1, 2, 14, 0, 0, 0, time.UTC) }, "on the clock"},
		{"other mode", func(r *schema.Result) { r.Mode = schema.ModeQuick }, "mode"},
		{"objectives on one worker", func(r *schema.Result) { v := 1.0; r.Benchmarks[0].LoadLevel.SLOMet = &v }, "objectives"},
		{"alone: index beyond count", func(r *schema.Result) { r.Worker.Index = 5 }, "want 0 <= index < count"},
		{"alone: count beyond bound", func(r *schema.Result) { r.Worker.Count = 1 << 40 }, "want 0 <= index < count"},
		{"alone: run name with a path", func(r *schema.Result) { r.Worker.Run = "../f" }, "cannot name a record"},
		{"run id is the run's name", func(r *schema.Result) { r.RunID = "f" }, "carries its run's name"},
		{"negative completed", func(r *schema.Result) { r.Benchmarks[0].LoadLevel.Completed = -1 }, "negative"},
		{"output_tps 1e20", func(r *schema.Result) {
			r.Benchmarks[0].LoadLevel.OutputTPS, r.Benchmarks[0].LoadLevel.TotalTPS = 1e20, 1e20
			r.Benchmarks[0].AggregateTPS = 1e20
		}, "the window's requests make"},
		{"negative throughput", func(r *schema.Result) { r.Benchmarks[0].LoadLevel.RequestThroughput = -3 }, "negative"},
		{"mean ttft beyond its requests", func(r *schema.Result) {
			r.Benchmarks[0].LoadLevel.Latency.TTFTS.Mean, r.Benchmarks[0].AvgTTFTS = 50, 50
		}, "outside its requests"},
		{"avg_ttft_s beside the level's", func(r *schema.Result) { r.Benchmarks[0].AvgTTFTS = 9 }, "avg_ttft_s"},
		{"a histogram of other samples", func(r *schema.Result) {
			r.Benchmarks[0].LoadLevel.HDR["ttft_s"] = encodeHDR(t, []float64{3000, 3000})
		}, "histogram ttft_s: p50/p90/p99"},
		{"latency samples beyond the requests", func(r *schema.Result) {
			l := r.Benchmarks[0].LoadLevel
			l.Latency.TTFTS.N = 1 << 40
			delete(l.HDR, "ttft_s") // else its count would not match either
		}, "samples for 2 completed requests"},
		{"completed not the ok requests", func(r *schema.Result) {
			q := r.Benchmarks[0].LoadLevel.Requests
			q.OK[0] = false
		}, "completed requests in the columns"},
	}
	for _, tt := range tests {
		b := rec(1)
		tt.change(b)
		recs := []*schema.Result{rec(0), b}
		if strings.HasPrefix(tt.name, "alone: ") {
			recs = recs[1:] // what a worker's own record says
		}
		_, err := Merge(recs)
		if err == nil || !strings.Contains(err.Error(), tt.want) || !errors.Is(err, ErrMerge) {
			t.Errorf("%s: error %v, want ErrMerge saying %q", tt.name, err, tt.want)
		}
	}
	if _, err := Merge([]*schema.Result{rec(0), rec(1)}); err != nil {
		t.Errorf("the unchanged workers: %v", err)
	}
	// Levels: two complete workers with different numbers of levels were
	// given different levels; a worker cancelled after the first is merged.
	long := func(i int) *schema.Result {
		r := rec(i)
		b := r.Benchmarks[0]
		b.TestID = "load_users_4b"
		r.Benchmarks = append(r.Benchmarks, b)
		wl := r.Worker.Levels[0]
		wl.TestID = "load_users_4b"
		r.Worker.Levels = append(r.Worker.Levels, wl)
		return r
	}
	if _, err := Merge([]*schema.Result{long(0), rec(1)}); err == nil || !strings.Contains(err.Error(), "levels numbering 2") {
		t.Errorf("complete workers of 2 and 1 levels: %v, want refused", err)
	}
	cut := rec(1)
	cut.Status = schema.StatusCancelled
	if m, err := Merge([]*schema.Result{long(0), cut}); err != nil || len(m.Benchmarks) != 2 || m.Status != schema.StatusCancelled {
		t.Errorf("a worker cancelled after level 1: %v, want 2 levels merged, status cancelled", err)
	}
}

// TestMergeRateFigures: a rate level's throughputs, which merge as the
// workers' own figures, cannot exceed what the worker's requests make.
func TestMergeRateFigures(t *testing.T) {
	t.Parallel()
	rec := func(i int) *schema.Result {
		r := fleetRecord(t, i, 2, 0, []float64{1, 2}, []float64{0.1, 0.2}, 0)
		l := r.Benchmarks[0].LoadLevel
		l.Shape, l.Users, l.Rate, l.AchievedRate = schema.LoadRate, 0, 0.2, 0.2
		wl := &r.Worker.Levels[0]
		wl.Users, wl.Rate, wl.TotalRate = 0, 0.2, 0.4
		return r
	}
	if _, err := Merge([]*schema.Result{rec(0), rec(1)}); err != nil {
		t.Fatalf("the unchanged workers: %v", err)
	}
	for _, c := range []struct {
		name    string
		rt, out float64
		all     int
		want    string
	}{
		{"output_tps 1e20", 0.2, 1e20, 20, "tokens in the window"},
		{"tokens claimed for the whole level too", 0.2, 1e15, 1 << 62, "more tokens than"},
		{"request_throughput 1e20", 1e20, 2, 20, "requests in a 10 s window"},
	} {
		b := rec(1)
		l := b.Benchmarks[0].LoadLevel
		l.RequestThroughput, l.Goodput, l.OutputTPS, l.TotalTPS, l.AllOutputTokens = c.rt, c.rt, c.out, c.out*3, c.all
		b.Benchmarks[0].AggregateTPS = c.out
		_, err := Merge([]*schema.Result{rec(0), b})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want %q", c.name, err, c.want)
		}
	}
}

// TestMergeWorkerWithoutRequests: a worker that completed nothing at a level
// (no samples, no histograms) merges; the level counts the others'.
func TestMergeWorkerWithoutRequests(t *testing.T) {
	t.Parallel()
	a := fleetRecord(t, 0, 2, 0, []float64{1, 2, 3}, []float64{0.1, 0.2, 0.3}, 0)
	b := fleetRecord(t, 1, 2, 0, []float64{1}, []float64{0.1}, 0)
	b.Benchmarks[0].LoadLevel = &schema.LoadLevel{Shape: schema.LoadUsers, Users: 4, WindowS: 10,
		WindowStart: b.Worker.Levels[0].WindowStart, Requests: &schema.LoadRequests{}}
	b.Benchmarks[0].AvgTTFTS, b.Benchmarks[0].AvgElapsedS, b.Benchmarks[0].AggregateTPS = 0, 0, 0
	m, err := Merge([]*schema.Result{a, b})
	if err != nil {
		t.Fatal(err)
	}
	l := m.Benchmarks[0].LoadLevel
	if l.Completed != 3 || l.Latency.TTFTS.N != 3 || l.Latency.TTFTS.P50 == 0 {
		t.Errorf("completed %d, ttft n %d p50 %g: want worker 0's 3 requests", l.Completed, l.Latency.TTFTS.N, l.Latency.TTFTS.P50)
	}
}

// TestMissingWorkers: the merged error names missing workers compactly, even
// when the count is large.
func TestMissingWorkers(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		have  []int
		count int
		want  string
	}{
		{[]int{0, 1}, 2, ""},
		{[]int{0}, 2, "worker 1: no record"},
		{[]int{1}, 4, "workers 0, 2, 3: no record"},
		{[]int{0}, schema.MaxWorkers, "workers 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, and 4085 more: no record"},
	} {
		have := map[int]bool{}
		for _, i := range c.have {
			have[i] = true
		}
		if got := missingWorkers(have, c.count); got != c.want {
			t.Errorf("%v of %d: %q, want %q", c.have, c.count, got, c.want)
		}
	}
}

// TestValidateClassicFigures: a record's summary figures must be ones its own
// timed runs can have made; the golden record passes, an avg_tps of 1e20, a
// best_tps above every run, or a negative average is refused.
func TestValidateClassicFigures(t *testing.T) {
	t.Parallel()
	golden, err := os.ReadFile("testdata/result.golden.json")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := DecodeStrict(golden); err != nil {
		t.Fatalf("golden: %v", err)
	}
	for _, c := range []struct{ old, new, want string }{
		{`"avg_tps": 82.5,`, `"avg_tps": 1e20,`, "avg_tps 1e+20"},
		{`"best_tps": 83,`, `"best_tps": 840,`, "best_tps 840"},
		{`"avg_ttft_s": 0.118,`, `"avg_ttft_s": -0.118,`, "negative"},
	} {
		bad := strings.Replace(string(golden), c.old, c.new, 1)
		if bad == string(golden) {
			t.Fatalf("golden has no %s", c.old)
		}
		if _, err := DecodeStrict([]byte(bad)); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", c.new, err, c.want)
		}
	}
}
