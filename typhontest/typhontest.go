// Package typhontest holds helpers for Go tests that guard a model or an LLM
// server against performance regressions: benchmark the server, compare the run
// with a baseline record kept in testdata, and fail when tokens/s dropped or time
// to first token grew beyond noise.
//
// # Usage
//
//	func TestServerDidNotGetSlower(t *testing.T) {
//		url := os.Getenv("TYPHON_URL")
//		if url == "" {
//			t.Skip("TYPHON_URL not set")
//		}
//		baseline, err := report.LoadFile("testdata/baseline.json")
//		if err != nil {
//			t.Fatal(err)
//		}
//		r := typhon.Runner{URL: url, Mode: typhon.ModeQuick, DataDir: t.TempDir()}
//		current, err := r.Run(t.Context(), nil)
//		if err != nil {
//			t.Fatal(err)
//		}
//		typhontest.RequireNoRegression(t, baseline, current, 0.05)
//	}
//
// The baseline is any record Typhon wrote (DataDir/runs/<run_id>.json or
// last_run.json) or a job saved from the HTTP API. A failing test prints a table
// of the regressions:
//
//	typhontest: 2 regressions beyond the 5% tolerance (baseline a3f1c820, current 5d2a9e07):
//	TEST            METRIC  BASELINE         CURRENT          CHANGE  VERDICT    WHY
//	ctx_sweep_8192  tps     68.00 ±0.2 n=3   61.20 ±0.18 n=3  -10.0%  regressed  Welch t=-43.77, ...
//
// Runs of another model, server build, GPU or mode are not comparable and fail
// the test; to judge an upgrade (a new llama.cpp build, say) allow the difference
// with [RequireNoRegressionWith] and [report.CompareOptions].
package typhontest

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/typhonbench/typhon/report"
	"github.com/typhonbench/typhon/schema"
)

// Errors of Check; the error returned wraps one of them.
var (
	// ErrRegressed: a metric got worse beyond noise and tolerance.
	ErrRegressed = errors.New("typhontest: regressed")
	// ErrNotComparable: the runs, or every benchmark of them, cannot be compared.
	ErrNotComparable = errors.New("typhontest: not comparable")
)

// Check compares current with baseline (report.Compare) and returns an error
// when current regressed (ErrRegressed, its text a table of the regressions),
// when the runs are not comparable or no benchmark could be compared
// (ErrNotComparable); else nil. The comparison is returned in every case. The
// caller chooses what a failure does: t.Error, t.Fatal, or a log line.
func Check(baseline, current *schema.Result, opts report.CompareOptions) (report.Comparison, error) {
	c := report.Compare(baseline, current, opts)
	if !c.Comparable {
		return c, fmt.Errorf("%w: the runs differ:\n  %s", ErrNotComparable, strings.Join(c.Reasons, "\n  "))
	}
	if regs := c.Regressions(); len(regs) > 0 {
		var b strings.Builder
		_ = report.WriteChanges(&b, regs) // a strings.Builder does not fail
		return c, fmt.Errorf("%w: %d regressions beyond the %g%% tolerance (baseline %s, current %s):\n%s",
			ErrRegressed, len(regs), 100*c.Tolerance, c.Baseline.RunID, c.Current.RunID, b.String())
	}
	if c.Verdict == report.VerdictNotComparable {
		var why []string
		for _, b := range c.Benchmarks {
			why = append(why, b.TestID+": "+b.Reason)
		}
		return c, fmt.Errorf("%w: no benchmark could be compared:\n  %s", ErrNotComparable, strings.Join(why, "\n  "))
	}
	return c, nil
}

// RequireNoRegression fails t (t.Fatal) when current regressed against
// baseline: a metric of a benchmark (tokens/s, time to first token, prefill
// tokens/s, peak VRAM, energy per token, failed runs) got worse beyond the runs'
// spread and beyond tolerance (0.05 is 5%; 0 means report.DefaultTolerance),
// when the two runs are not comparable, or when no benchmark could be compared.
// The failure message is a table of the regressions. See Check to choose
// another way to fail.
func RequireNoRegression(t testing.TB, baseline, current *schema.Result, tolerance float64) {
	t.Helper()
	RequireNoRegressionWith(t, baseline, current, report.CompareOptions{Tolerance: tolerance})
}

// RequireNoRegressionWith is RequireNoRegression with all the options of
// report.Compare. It returns the comparison when the test goes on, after
// logging its notes.
func RequireNoRegressionWith(t testing.TB, baseline, current *schema.Result, opts report.CompareOptions) report.Comparison {
	t.Helper()
	c, err := Check(baseline, current, opts)
	if err != nil {
		t.Fatalf("%v", err)
		return c
	}
	logNotes(t, c)
	return c
}

// logNotes logs what a passing comparison noted, left out, or judged weakly.
func logNotes(t testing.TB, c report.Comparison) {
	t.Helper()
	for _, n := range c.Notes {
		t.Logf("typhontest: note: %s", n)
	}
	weak := 0
	for _, b := range c.Benchmarks {
		switch b.Verdict {
		case report.VerdictNotComparable:
			t.Logf("typhontest: %s not compared: %s", b.TestID, b.Reason)
		case report.VerdictInconclusive:
			t.Logf("typhontest: %s inconclusive, no regression shown nor ruled out: %s", b.TestID, b.Reason)
		}
		for _, m := range b.Metrics {
			if m.Weak {
				weak++
			}
		}
	}
	if weak > 0 {
		t.Logf("typhontest: %d comparisons are weak (one timed run on a side); more runs make the check stricter", weak)
	}
	t.Logf("typhontest: %s against baseline %s: %s", c.Current.RunID, c.Baseline.RunID, c.Verdict)
}
