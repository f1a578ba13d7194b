package typhon_test

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/typhonbench/typhon"
	"github.com/typhonbench/typhon/internal/testbed"
	"github.com/typhonbench/typhon/report"
	"github.com/typhonbench/typhon/schema"
)

// TestIntegrationFullPlanWall runs a full plan against a real llama-server of
// 2,048 tokens per slot: its memory_wall is the per-slot context (context_limit,
// wall_tokens within 2% of it), found by the Runner's own detection; the
// shared findings, the summary and the dashboard say so from wall_kind and
// wall_tokens.
func TestIntegrationFullPlanWall(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test")
	}
	const ctx = 2048
	srv := testbed.LlamaServer(t, testbed.Options{CtxSize: ctx})
	start := time.Now()
	res, err := (&typhon.Runner{URL: srv.URL, Mode: typhon.ModeFull, DataDir: t.TempDir()}).Run(t.Context(), nil)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	t.Logf("full plan: %d tests in %.1f s, server ctx %d", len(res.Benchmarks), time.Since(start).Seconds(), res.Server.CtxSize)
	var wall *schema.Benchmark
	for i := range res.Benchmarks {
		b := &res.Benchmarks[i]
		t.Logf("  %s: valid %d of %d, avg_tps %.1f, error %q", b.TestID, b.ValidRuns, b.NRuns, b.AvgTPS, b.Error)
		if b.Category == schema.CategoryMemoryWall {
			wall = b
		}
	}
	if wall == nil || wall.MemoryWall == nil {
		t.Fatal("no memory_wall in the full plan")
	}
	mw := wall.MemoryWall
	t.Logf("memory_wall: %s, wall_tokens %d, failed at %d (%s: %q), %d steps in %.1f s",
		mw.WallKind, mw.WallTokens, mw.FailedPromptTokens, mw.FailureClass, mw.Failure, len(mw.Steps), mw.ElapsedS)
	if mw.WallKind != schema.WallContextLimit {
		t.Errorf("wall_kind %s, want context_limit", mw.WallKind)
	}
	if off := float64(ctx-mw.WallTokens) / ctx; off < 0 || off > 0.02 {
		t.Errorf("wall_tokens %d, %.1f%% under the per-slot context %d: want within 2%%", mw.WallTokens, 100*off, ctx)
	}
	checkWallReport(t, res, wall)
}

// checkWallReport checks that the findings, the Markdown summary and the
// dashboard of a record with a context_limit wall read it from wall_kind and
// wall_tokens.
func checkWallReport(t *testing.T, res *schema.Result, wall *schema.Benchmark) {
	t.Helper()
	mw := wall.MemoryWall
	var got *report.Finding
	for _, f := range report.Findings(res) {
		if strings.HasPrefix(f.Rule, "wall_") {
			t.Logf("finding %s (%s, %v %s): %s", f.Rule, f.Severity, f.Value, f.Unit, f.Text)
			if got != nil {
				t.Errorf("a second wall finding: %s", f.Rule)
			}
			got = &f
		}
	}
	if got == nil || got.Rule != report.RuleWallAtLimit || got.Value != float64(mw.WallTokens) || got.TestID != wall.TestID ||
		!strings.Contains(got.Text, "`wall_kind` context_limit") {
		t.Errorf("wall finding = %+v, want %s with wall_tokens %d", got, report.RuleWallAtLimit, mw.WallTokens)
	}
	var md, page bytes.Buffer
	if err := report.Markdown(&md, res); err != nil {
		t.Fatal(err)
	}
	if err := report.Dashboard(&page, res); err != nil {
		t.Fatal(err)
	}
	if want := "`wall_kind` context_limit: the largest prompt that worked was"; !strings.Contains(md.String(), want) {
		t.Errorf("summary lacks %q", want)
	}
	if want := "Wall: context_limit at "; !strings.Contains(page.String(), want) || !strings.Contains(page.String(), `data-chart="memory_wall"`) {
		t.Errorf("dashboard lacks the memory wall chart or %q", want)
	}
}
