package regression_test

// The harness proven on the test bed's real llama-server (package
// internal/testbed; skips when it is not provisioned, unless
// TYPHON_REQUIRE_SERVERS=1): the same server twice is no regression, a server
// of a model with a four times wider embedding and twice the layers is one.
//
// The machine is a loaded two-core box shared with other packages' tests, so the
// check is built to hold under load, not to be sensitive:
//   - the larger model decodes 11 to 20 times slower (measured with -race: 5-9% of
//     the tiny model's tokens/s idle and with two busy loops beside; 5-14% when
//     the servers ran at normal priority);
//   - the servers run at high priority (highPriority) and the compared runs are
//     taken back to back (tiny, tiny, larger), so the load changes little;
//   - the tolerance is 65%: a drop of tokens/s counts only below 35% of the
//     baseline. Between two adjacent runs of the tiny model, load moved its
//     tokens/s by -13% to +63% at high priority (-40% to +151% at normal
//     priority, busy loops starting and stopping); the larger model sits below
//     a tenth;
//   - enough timed runs (6 and 5) that Welch's test sees the drop through the
//     tiny model's scatter (up to 40% between runs of one test under load);
//   - time to first token is judged only when it moved by more than 150 ms: the
//     tiny model's is 10-30 ms, where a scheduler hiccup is a large share.

import (
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/typhonbench/typhon"
	"github.com/typhonbench/typhon/engine"
	"github.com/typhonbench/typhon/internal/testbed"
	"github.com/typhonbench/typhon/internal/testmodel"
	"github.com/typhonbench/typhon/report"
	"github.com/typhonbench/typhon/schema"
	"github.com/typhonbench/typhon/typhontest"
)

// testbedPlan is a plan made for CPU decoding: short prompts, so that a run of the
// larger model stays within seconds, and enough timed runs that Welch's test sees
// the drop through the tiny model's scatter under load (with three runs a side, a
// 90% drop would have been inside it once in our trials).
func testbedPlan() *engine.Plan {
	return &engine.Plan{Mode: "regression", Tests: []engine.Test{
		{ID: "short_output", Name: "Short prompt, 64 tokens out", Category: schema.CategoryBaseline,
			CtxSize: 2048, PromptTokens: 64, MaxTokens: 64, Runs: 6},
		{ID: "long_output", Name: "Short prompt, 128 tokens out", Category: schema.CategoryStress,
			CtxSize: 2048, PromptTokens: 64, MaxTokens: 128, Runs: 5},
	}}
}

// largerModel is the tiny model with a four times wider embedding and
// feed-forward and twice the layers: 27 M parameters (108 MB) against 1 M.
var largerModel = testmodel.Config{Embd: 4 * testmodel.DefaultEmbd, Layers: 2 * testmodel.DefaultLayers,
	Heads: 8, FF: 4 * testmodel.DefaultFF}

// highPriority runs llama-server's threads at high priority (llama.cpp's --prio 2,
// a negative nice value; the test bed runs it as root), so that the other
// packages' tests and compilers beside it take little of its core. With two busy
// loops beside it, the larger model decoded at 147-177 tok/s with it (175 idle)
// and at 71-108 without.
var highPriority = []string{"--prio", "2", "--prio-batch", "2"}

// testbedOptions are the options of both comparisons.
var testbedOptions = report.CompareOptions{Tolerance: 0.65, TTFTFloor: 150 * time.Millisecond}

// fatalRecorder is a testing.TB whose Fatalf records the failure instead of
// ending the test, to check that a helper fails and with what message.
type fatalRecorder struct {
	testing.TB
	failed bool
	msg    string
}

func (r *fatalRecorder) Helper() {}
func (r *fatalRecorder) Fatalf(format string, args ...any) {
	r.failed = true
	r.msg = fmt.Sprintf(format, args...)
}
func (r *fatalRecorder) Logf(format string, args ...any) { r.TB.Logf("(recorded) "+format, args...) }

func runPlan(t *testing.T, srv *testbed.Server, label string) *schema.Result {
	t.Helper()
	r := typhon.Runner{URL: srv.URL, Model: srv.Model, Plan: testbedPlan(), DataDir: t.TempDir()}
	start := time.Now()
	res, err := r.Run(t.Context(), nil)
	if err != nil {
		t.Fatalf("%s: run against %s: %v", label, srv.URL, err)
	}
	t.Logf("%s: %v", label, time.Since(start).Round(time.Millisecond))
	logRun(t, res)
	for _, b := range res.Benchmarks {
		if b.SuccessfulRuns != b.NRuns || b.NRuns == 0 {
			var errs []string
			for i, r := range append([]schema.RunSample{*b.WarmupRun}, b.Runs...) {
				if !r.Success {
					errs = append(errs, fmt.Sprintf("run %d: %s: %s", i, r.ErrorKind, r.Error))
				}
			}
			t.Fatalf("%s: %s: %d of %d runs ok %s: %s", label, b.TestID, b.SuccessfulRuns, b.NRuns, b.Error, strings.Join(errs, "; "))
		}
	}
	return res
}

func TestHarnessFindsSlowerModelOnTestBed(t *testing.T) {
	modelPath := filepath.Join(t.TempDir(), "larger.gguf")
	if err := testmodel.WriteFile(modelPath, largerModel); err != nil {
		t.Fatal(err)
	}
	tiny := testbed.LlamaServer(t, testbed.Options{CtxSize: 2048, ExtraArgs: highPriority})
	larger := testbed.LlamaServer(t, testbed.Options{CtxSize: 2048, ModelPath: modelPath, ExtraArgs: highPriority})
	if tiny.Model != larger.Model {
		t.Fatalf("model names %q and %q: the servers should serve the same alias", tiny.Model, larger.Model)
	}

	// Back to back: the baseline, the same server again, the larger model.
	first := runPlan(t, tiny, "tiny model, first run")
	second := runPlan(t, tiny, "tiny model, second run")
	slower := runPlan(t, larger, "larger model")
	for _, b := range first.Benchmarks {
		s := findBench(slower, b.TestID)
		t.Logf("figure: %s: the larger model decodes at %.1f%% of the tiny model's speed (%.0f against %.0f tok/s)",
			b.TestID, 100*s.AvgTPS/findBench(second, b.TestID).AvgTPS, s.AvgTPS, findBench(second, b.TestID).AvgTPS)
	}

	t.Run("same server twice: no regression", func(t *testing.T) {
		c := typhontest.RequireNoRegressionWith(t, first, second, testbedOptions)
		if c.Verdict == report.VerdictNotComparable {
			t.Errorf("verdict %q, want a comparison", c.Verdict)
		}
		logTable(t, c)
	})

	t.Run("larger model: regression found with the test names", func(t *testing.T) {
		rec := &fatalRecorder{TB: t}
		c := typhontest.RequireNoRegressionWith(rec, second, slower, testbedOptions)
		logTable(t, c)
		if !c.Comparable {
			t.Fatalf("the runs are not comparable: %v", c.Reasons)
		}
		if !rec.failed {
			t.Fatalf("RequireNoRegression passed: the larger model's run is not a regression")
		}
		t.Logf("RequireNoRegression failed with:\n%s", rec.msg)
		var tpsRegressed []string
		for _, m := range c.Regressions() {
			if m.Metric == report.MetricTPS {
				tpsRegressed = append(tpsRegressed, m.TestID)
				if !(m.ChangePct < -100*testbedOptions.Tolerance) || !m.BeyondNoise {
					t.Errorf("%s tps: change %.1f%%, beyond noise %v: want a drop beyond %g%% and noise",
						m.TestID, m.ChangePct, m.BeyondNoise, 100*testbedOptions.Tolerance)
				}
			}
		}
		for _, b := range testbedPlan().Tests {
			if !slices.Contains(tpsRegressed, b.ID) {
				t.Errorf("%s: tps not found regressed; regressed: %v", b.ID, tpsRegressed)
			}
			// The failure message is a table naming each test with its metric.
			if !strings.Contains(rec.msg, b.ID) || !containsRow(rec.msg, b.ID, report.MetricTPS, "regressed") {
				t.Errorf("the failure message has no row for %s tps regressed:\n%s", b.ID, rec.msg)
			}
		}
		if c.Verdict != report.VerdictRegressed {
			t.Errorf("verdict %q, want %q", c.Verdict, report.VerdictRegressed)
		}
	})
}

func findBench(res *schema.Result, id string) *schema.Benchmark {
	for i := range res.Benchmarks {
		if res.Benchmarks[i].TestID == id {
			return &res.Benchmarks[i]
		}
	}
	return &schema.Benchmark{AvgTPS: math.NaN()}
}

// containsRow reports whether a line of table starts with the test id and names
// the metric and the verdict.
func containsRow(table, id, metric, verdict string) bool {
	for _, l := range strings.Split(table, "\n") {
		f := strings.Fields(l)
		if len(f) >= 2 && f[0] == id && f[1] == metric && slices.Contains(f, verdict) {
			return true
		}
	}
	return false
}

func logTable(t *testing.T, c report.Comparison) {
	t.Helper()
	var b strings.Builder
	if err := c.WriteTable(&b); err != nil {
		t.Errorf("WriteTable: %v", err)
	}
	t.Logf("comparison:\n%s", b.String())
}
