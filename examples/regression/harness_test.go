package regression_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/typhonbench/typhon/report"
	"github.com/typhonbench/typhon/schema"
)

// Unit tests of the harness's own parts: no server needed.

func TestCompareOptions(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		tol, allow string
		want       report.CompareOptions
		wantErr    string
	}{
		{name: "defaults", want: report.CompareOptions{Tolerance: report.DefaultTolerance}},
		{name: "percent", tol: "12.5%", want: report.CompareOptions{Tolerance: 0.125}},
		{name: "fraction", tol: " 0.2 ", want: report.CompareOptions{Tolerance: 0.2}},
		{name: "allow all", tol: "5%", allow: "model, Server,gpu,mode,",
			want: report.CompareOptions{Tolerance: 0.05, AllowDifferentModel: true, AllowDifferentServer: true,
				AllowDifferentGPU: true, AllowDifferentMode: true}},
		{name: "allow server", allow: "server",
			want: report.CompareOptions{Tolerance: report.DefaultTolerance, AllowDifferentServer: true}},
		{name: "zero tolerance", tol: "0", wantErr: "TYPHON_TOLERANCE: bad tolerance"},
		{name: "negative tolerance", tol: "-5%", wantErr: "bad tolerance"},
		{name: "words", tol: "five", wantErr: "bad tolerance"},
		{name: "unknown difference", allow: "driver", wantErr: `TYPHON_ALLOW_DIFFERENT: unknown difference "driver"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := compareOptions(tt.tol, tt.allow)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("options (-want +got):\n%s", diff)
			}
		})
	}
}

func cleanRun() *schema.Result {
	return &schema.Result{
		SchemaVersion: schema.Version, RunID: "20250601T142201Z-00000001", Status: schema.StatusComplete,
		Mode: "regression", Model: "tiny",
		Benchmarks: []schema.Benchmark{{
			TestID: "short_prompt", NRuns: 2, SuccessfulRuns: 2, MaxTokens: 64, AvgTPS: 100,
			Runs: []schema.RunSample{{Success: true, TPS: 99, TTFTS: 0.1}, {Success: true, TPS: 101, TTFTS: 0.1}},
		}},
	}
}

func TestWriteBaseline(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "testdata", "baseline.json")
	res := cleanRun()
	if err := writeBaseline(path, res); err != nil {
		t.Fatal(err)
	}
	got, err := report.LoadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(res, got); diff != "" {
		t.Errorf("baseline read back (-want +got):\n%s", diff)
	}
	entries, err := os.ReadDir(filepath.Dir(path))
	if err != nil || len(entries) != 1 {
		t.Errorf("testdata holds %d entries (err %v), want only the baseline", len(entries), err)
	}
}

func TestWriteBaselineRefusesUncleanRuns(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		modify func(*schema.Result)
		want   string
	}{
		{"failed run", func(r *schema.Result) { r.Status, r.Error = schema.StatusFailed, "every test failed" }, `status "failed"`},
		{"cancelled run", func(r *schema.Result) { r.Status = schema.StatusCancelled }, `status "cancelled"`},
		{"a failed timed run", func(r *schema.Result) {
			r.Benchmarks[0].SuccessfulRuns = 1
			r.Benchmarks[0].Runs[1] = schema.RunSample{Error: "timeout", ErrorKind: schema.ErrKindTimeout}
		}, "short_prompt did not run cleanly (1 of 2 runs ok"},
		{"a skipped test", func(r *schema.Result) {
			r.Benchmarks[0].Skipped, r.Benchmarks[0].SkipReason = true, "needs more context"
		}, "short_prompt did not run cleanly"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			res := cleanRun()
			tt.modify(res)
			path := filepath.Join(t.TempDir(), "baseline.json")
			err := writeBaseline(path, res)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err %v, want one containing %q", err, tt.want)
			}
			if _, serr := os.Stat(path); !os.IsNotExist(serr) {
				t.Errorf("a baseline was written (stat: %v)", serr)
			}
		})
	}
}

// TestCommittedBaseline checks that testdata/baseline.json is a clean record of
// the regression plan, so that a team's first comparison does not fail on the
// file itself.
func TestCommittedBaseline(t *testing.T) {
	t.Parallel()
	base, err := report.LoadFile(DefaultBaseline)
	if err != nil {
		t.Fatal(err)
	}
	plan := Plan()
	if base.Mode != plan.Mode || base.Status != schema.StatusComplete {
		t.Errorf("mode %q, status %q; want %q, complete", base.Mode, base.Status, plan.Mode)
	}
	if len(base.Benchmarks) != len(plan.Tests) {
		t.Fatalf("%d benchmarks, want the plan's %d", len(base.Benchmarks), len(plan.Tests))
	}
	for i, want := range plan.Tests {
		b := base.Benchmarks[i]
		if b.TestID != want.ID || b.MaxTokens != want.MaxTokens || b.CtxSize != want.CtxSize || b.NRuns != want.Runs ||
			b.SuccessfulRuns != b.NRuns || b.AvgTPS <= 0 {
			t.Errorf("benchmark %d: %s, max_tokens %d, ctx %d, %d/%d runs ok, %.0f tok/s; want %s, %d, %d, %d/%d, a speed",
				i, b.TestID, b.MaxTokens, b.CtxSize, b.SuccessfulRuns, b.NRuns, b.AvgTPS, want.ID, want.MaxTokens, want.CtxSize, want.Runs, want.Runs)
		}
	}
	// The same record is no regression against itself.
	c := report.Compare(base, base, report.CompareOptions{})
	if !c.Comparable || len(c.Regressions()) != 0 || c.Verdict != report.VerdictUnchanged {
		t.Errorf("baseline against itself: comparable %v, %d regressions, verdict %q", c.Comparable, len(c.Regressions()), c.Verdict)
	}
}
