package engine

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/typhonbench/typhon/internal/testbed"
	"github.com/typhonbench/typhon/report"
	"github.com/typhonbench/typhon/schema"
)

// fullWallTest is the memory_wall test of a full plan for a server of ctx tokens.
func fullWallTest(t *testing.T, ctx int) Test {
	t.Helper()
	p, err := BuildPlan(ModeFull, ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range p.Tests {
		if tt.ID == TestMemoryWall {
			return tt
		}
	}
	t.Fatal("the full plan has no memory_wall")
	return Test{}
}

// checkMarker checks that two consecutive requests' prompts, in tokens after
// the chat template, begin to differ right after its fixed prefix: no cache can
// serve more of one from the other.
func checkMarker(t *testing.T, e *Engine) {
	t.Helper()
	var toks [2][]string
	for i := range toks {
		nonce, seed := e.nonce.next()
		ids, err := e.chatTokenIDs(t.Context(), e.calibration().tokStyle, promptText(nonce, seed, 40))
		if err != nil {
			t.Fatalf("token ids: %v", err)
		}
		for _, id := range ids {
			toks[i] = append(toks[i], string(id))
		}
	}
	n := 0
	for n < len(toks[0]) && n < len(toks[1]) && toks[0][n] == toks[1][n] {
		n++
	}
	t.Logf("consecutive prompts share %d tokens; the template prefix is %d", n, e.calibration().prefix)
	if n != e.calibration().prefix {
		t.Errorf("consecutive prompts share %d tokens, want exactly the template prefix %d", n, e.calibration().prefix)
	}
}

func logWall(t *testing.T, b schema.Benchmark, took time.Duration) {
	t.Helper()
	mw := b.MemoryWall
	t.Logf("memory_wall: wall_kind %s, wall_tokens %d, failed at %d (%s, %s: %q), bound %d (%s), %d steps in %.1f s",
		mw.WallKind, mw.WallTokens, mw.FailedPromptTokens, mw.FailureClass, mw.FailureKind, mw.Failure, mw.BoundTokens, mw.Bound,
		len(mw.Steps), took.Seconds())
	for i, s := range mw.Steps {
		t.Logf("  step %d: sent %d, prompt %d, num_ctx %d, ok %v, ttft %.3f s, warm-up load_s %.3f, timed load_s %.3f, class %q, retried %v",
			i, s.PromptTokensSent, s.PromptTokens, s.CtxSize, s.Success, s.TTFTS, s.LoadS, b.Runs[i].LoadS, s.FailureClass, s.Retried)
	}
	for _, n := range b.Notes {
		t.Logf("  note: %s", n)
	}
}

// TestIntegrationTruthLlamaServer: on a real llama-server, a full plan's memory
// wall is the per-slot context (context_limit, within 2%), and timed runs are
// cold with no more cached tokens than the chat template's prefix.
func TestIntegrationTruthLlamaServer(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test")
	}
	const ctx = 2048
	srv := testbed.LlamaServer(t, testbed.Options{CtxSize: ctx, Parallel: 1})
	e := &Engine{Target: Target{BaseURL: srv.URL, Model: srv.Model, Kind: srv.Kind, CtxSize: ctx}}
	if err := e.Prepare(t.Context()); err != nil {
		t.Fatalf("Prepare: %v", err)
	}
	prefix := e.calibration().prefix
	if prefix <= 0 {
		t.Errorf("template prefix %d, want it measured", prefix)
	}
	checkMarker(t, e)
	baseline, _ := integrationTests(t, 2048)
	b := e.RunTest(t.Context(), baseline)
	if b.TemplatePrefixTokens != prefix || b.ValidRuns == 0 {
		t.Errorf("template_prefix_tokens %d (measured %d), valid_runs %d", b.TemplatePrefixTokens, prefix, b.ValidRuns)
	}
	for i, r := range b.Runs {
		if r.CachedPromptTokens == nil || *r.CachedPromptTokens > prefix || r.CacheState != "cold" {
			t.Errorf("run %d: cached %v, cache_state %s; want at most the template's %d and cold", i, r.CachedPromptTokens, r.CacheState, prefix)
			continue
		}
		t.Logf("run %d: cached %d of %d prompt tokens (template prefix %d), %s, prefill_tps %.0f over %d computed",
			i, *r.CachedPromptTokens, r.PromptTokens, prefix, r.CacheState, r.PrefillTPS, r.ComputedPromptTokens)
	}

	wall := fullWallTest(t, ctx)
	start := time.Now()
	b = e.RunTest(t.Context(), wall)
	logWall(t, b, time.Since(start))
	mw := b.MemoryWall
	if mw.WallKind != schema.WallContextLimit || mw.FailureClass != schema.FailContextRefused {
		t.Errorf("wall_kind %s (%s), want context_limit refused by the server", mw.WallKind, mw.FailureClass)
	}
	if off := float64(ctx-mw.WallTokens) / ctx; off < 0 || off > 0.02 {
		t.Errorf("wall_tokens %d, %.1f%% under the per-slot context %d: want within 2%%", mw.WallTokens, 100*off, ctx)
	}
}

// TestIntegrationTruthOllama: on a real Ollama, the wall search raises num_ctx
// step by step, warms each step up before timing it (load_s kept beside a TTFT
// free of it), and says where it stopped and why. The search is bounded at a
// trained context of 4,096 tokens (the tiny model's 32,768 would take minutes of
// CPU prefill).
func TestIntegrationTruthOllama(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test")
	}
	srv := testbed.Ollama(t, testbed.Options{CtxSize: 2048})
	e := &Engine{Target: Target{BaseURL: srv.URL, Model: srv.Model, Kind: srv.Kind, CtxSize: 2048, TrainedCtx: 4096}}
	if err := e.Prepare(t.Context()); err != nil {
		t.Fatalf("Prepare: %v", err)
	}
	if trained := e.ollamaTrainedCtx(t.Context()); trained <= 0 {
		t.Errorf("the model's trained context from /api/show: %d, want it read", trained)
	}
	if p := e.calibration().prefix; p <= 0 {
		t.Errorf("template prefix %d, want it measured (Ollama's /api/generate context)", p)
	}
	checkMarker(t, e)
	wall := fullWallTest(t, 2048)
	start := time.Now()
	b := e.RunTest(t.Context(), wall)
	logWall(t, b, time.Since(start))
	mw := b.MemoryWall
	if mw.WallKind == "" || len(mw.Steps) < 2 || mw.Bound == "" {
		t.Fatalf("wall %+v: want a search that says where it stopped and why", mw)
	}
	loads, prev := 0, 0
	for i, s := range mw.Steps {
		if s.CtxSize < s.PromptTokensSent || s.CtxSize < prev {
			t.Errorf("step %d: num_ctx %d for %d prompt tokens (previous %d): want it raised to fit", i, s.CtxSize, s.PromptTokensSent, prev)
		}
		prev = s.CtxSize
		if s.LoadS > 0 {
			loads++
		}
	}
	if loads == 0 {
		t.Errorf("no step reported a load in its warm-up: load_s not kept")
	}
	if mw.WallKind == schema.WallContextLimit && mw.WallTokens < 4096*9/10 {
		t.Errorf("context_limit at %d tokens, want near the 4,096 bound", mw.WallTokens)
	}
	for i, r := range b.Runs {
		// The warm-up took the load: the timed request's own load is nil.
		if r.LoadS > 0.05 {
			t.Errorf("step %d: the timed request reports a load of %.3f s: its TTFT holds it", i, r.LoadS)
		}
	}
	checkWallFinding(t, &schema.Result{Server: schema.ServerInfo{Kind: srv.Kind, CtxSize: 2048}, Benchmarks: []schema.Benchmark{b}})
}

// checkWallFinding: the shared findings of a record with a memory wall say
// where it stopped from wall_kind and wall_tokens, with the rule of its kind.
func checkWallFinding(t *testing.T, res *schema.Result) {
	t.Helper()
	mw := res.Benchmarks[0].MemoryWall
	rules := map[string][]string{
		schema.WallContextLimit: {report.RuleWallAtLimit, report.RuleWallBelowContext},
		schema.WallMemory:       {report.RuleWallBelowContext, report.RuleWallClose, report.RuleWallMemory},
		schema.WallNone:         {report.RuleWallNone},
	}[mw.WallKind]
	var n int
	for _, f := range report.Findings(res) {
		if !strings.HasPrefix(f.Rule, "wall_") {
			continue
		}
		n++
		t.Logf("finding %s (%s, %v %s): %s", f.Rule, f.Severity, f.Value, f.Unit, f.Text)
		if !slices.Contains(rules, f.Rule) || f.Value != float64(mw.WallTokens) || !strings.Contains(f.Text, "`wall_kind` "+mw.WallKind) {
			t.Errorf("wall finding %s of %v tokens for wall_kind %s at %d tokens: want one of %v", f.Rule, f.Value, mw.WallKind, mw.WallTokens, rules)
		}
	}
	if n != 1 {
		t.Errorf("%d wall findings, want 1", n)
	}
}
