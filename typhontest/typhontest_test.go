package typhontest

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/typhonbench/typhon/report"
	"github.com/typhonbench/typhon/schema"
)

// fakeTB records what a helper reports. Fatalf ends the helper by panicking with
// fatalSignal, which run recovers, as t.FailNow ends a test goroutine.
type fakeTB struct {
	testing.TB // methods not overridden here are not called by the helpers
	fatal      string
	logs       []string
}

type fatalSignal struct{}

func (f *fakeTB) Helper() {}
func (f *fakeTB) Fatalf(format string, args ...any) {
	f.fatal = fmt.Sprintf(format, args...)
	panic(fatalSignal{})
}
func (f *fakeTB) Logf(format string, args ...any) {
	f.logs = append(f.logs, fmt.Sprintf(format, args...))
}

func (f *fakeTB) run(fn func(testing.TB)) {
	defer func() {
		if r := recover(); r != nil {
			if _, ok := r.(fatalSignal); !ok {
				panic(r)
			}
		}
	}()
	fn(f)
}

var t0 = time.Date(2025, 6, 1, 14, 22, 1, 0, time.UTC)

func result(id, model string, tps ...[]float64) *schema.Result {
	res := &schema.Result{
		SchemaVersion: schema.Version, RunID: id, RunAt: t0, Status: schema.StatusComplete, Mode: "quick", Model: model,
		Server: schema.ServerInfo{Name: "llama.cpp (llama-server)", Kind: "llama.cpp", Version: "b5000"},
	}
	for i, runs := range tps {
		b := schema.Benchmark{TestID: fmt.Sprintf("ctx_sweep_%d", 2048<<i), Category: schema.CategoryContextSweep,
			CtxSize: 2048 << i, MaxTokens: 256, NRuns: len(runs), SuccessfulRuns: len(runs)}
		for _, v := range runs {
			b.Runs = append(b.Runs, schema.RunSample{Success: true, TPS: v, TTFTS: 0.2, PromptTokens: 1600, OutputTokens: 256})
		}
		res.Benchmarks = append(res.Benchmarks, b)
	}
	return res
}

func TestRequireNoRegression(t *testing.T) {
	t.Parallel()
	tight := []float64{100, 101, 99}
	tests := []struct {
		name      string
		base, cur *schema.Result
		tolerance float64
		wantFatal []string // substrings of the failure; nil: the test must pass
		wantLog   string
	}{
		{
			name: "no regression passes",
			base: result("base", "m", tight, tight),
			cur:  result("cur", "m", []float64{100.5, 100, 99.5}, tight),
		},
		{
			name:    "an improvement passes",
			base:    result("base", "m", tight),
			cur:     result("cur", "m", []float64{120, 121, 119}),
			wantLog: "cur against baseline base: improved",
		},
		{
			name:      "a 10% drop fails with a table",
			base:      result("base", "m", tight, tight),
			cur:       result("cur", "m", tight, []float64{90, 91, 89}),
			tolerance: 0.05,
			wantFatal: []string{"1 regressions beyond the 5% tolerance (baseline base, current cur)", "TEST", "METRIC",
				"ctx_sweep_4096", "tps", "100.0 ±1.00 n=3", "90.00 ±1.00 n=3", "-10.0%", "regressed"},
		},
		{
			name:      "a larger tolerance lets the same drop pass",
			base:      result("base", "m", tight, tight),
			cur:       result("cur", "m", tight, []float64{90, 91, 89}),
			tolerance: 0.2,
		},
		{
			name:      "another model fails as not comparable",
			base:      result("base", "m", tight),
			cur:       result("cur", "other", tight),
			wantFatal: []string{"not comparable", `different model: "m" in the baseline, "other" now`},
		},
		{
			name:      "nothing to compare fails",
			base:      result("base", "m", tight),
			cur:       result("cur", "m"),
			wantFatal: []string{"no benchmark could be compared", "ctx_sweep_2048: not in the current run"},
		},
		{
			name:      "a missing baseline fails",
			base:      nil,
			cur:       result("cur", "m", tight),
			wantFatal: []string{"no baseline record"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := &fakeTB{}
			f.run(func(tb testing.TB) { RequireNoRegression(tb, tt.base, tt.cur, tt.tolerance) })
			if tt.wantFatal == nil {
				if f.fatal != "" {
					t.Errorf("failed, want pass:\n%s", f.fatal)
				}
				if tt.wantLog != "" && !strings.Contains(strings.Join(f.logs, "\n"), tt.wantLog) {
					t.Errorf("logs %q lack %q", f.logs, tt.wantLog)
				}
				return
			}
			if f.fatal == "" {
				t.Fatalf("passed, want a failure")
			}
			for _, w := range tt.wantFatal {
				if !strings.Contains(f.fatal, w) {
					t.Errorf("failure message lacks %q:\n%s", w, f.fatal)
				}
			}
		})
	}
}

func TestRequireNoRegressionWithAllowsAnUpgrade(t *testing.T) {
	t.Parallel()
	base := result("base", "m", []float64{100, 101, 99})
	cur := result("cur", "m", []float64{100, 101, 99})
	cur.Server.Version = "b5100"
	f := &fakeTB{}
	var c report.Comparison
	f.run(func(tb testing.TB) {
		c = RequireNoRegressionWith(tb, base, cur, report.CompareOptions{AllowDifferentServer: true})
	})
	if f.fatal != "" {
		t.Fatalf("failed: %s", f.fatal)
	}
	if c.Verdict != report.VerdictUnchanged {
		t.Errorf("verdict = %q, want unchanged", c.Verdict)
	}
	if !strings.Contains(strings.Join(f.logs, "\n"), `note: different server version: "b5000" in the baseline, "b5100" now (allowed)`) {
		t.Errorf("logs %q lack the allowed difference", f.logs)
	}
}
