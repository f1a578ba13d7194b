package engine

import (
	"testing"

	"github.com/typhonbench/typhon/internal/testbed"
	"github.com/typhonbench/typhon/schema"
)

// TestIntegrationConcurrency runs concurrency_4 against a llama-server with four
// parallel slots: every request succeeds with its exact output, and the users
// together get more tokens per second than one request decodes (the slots decode
// in one batch). The figures are printed with -v:
//
//	go test -run IntegrationConcurrency -v ./engine
func TestIntegrationConcurrency(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test")
	}
	const slots, ctxSize = 4, 4096
	srv := testbed.LlamaServer(t, testbed.Options{Parallel: slots, CtxSize: ctxSize})
	e := &Engine{Target: Target{BaseURL: srv.URL, Model: srv.Model, Kind: srv.Kind, CtxSize: ctxSize / slots}}
	p, err := BuildPlan(ModeQuick, e.Target.CtxSize, 0)
	if err != nil {
		t.Fatal(err)
	}
	p = WithConcurrency(p, ConcurrencyLevels(slots))
	var tt Test
	for _, c := range p.Tests {
		if c.ID == ConcurrencyPrefix+"4" {
			tt = c
		}
	}
	if tt.ID == "" || tt.SkipReason != "" {
		t.Fatalf("plan %+v: want concurrency_4, not skipped", p.Tests)
	}
	tt.Runs = 2
	b := e.RunTest(t.Context(), tt)
	checkExact(t, b, true)
	if b.Concurrency != slots || len(b.Runs) != slots*tt.Runs {
		t.Errorf("concurrency %d with %d runs, want %d and %d", b.Concurrency, len(b.Runs), slots, slots*tt.Runs)
	}
	for i, r := range b.Runs {
		if r.CacheState != "cold" {
			t.Errorf("run %d: cache_state %q, want cold (every prompt its own)", i, r.CacheState)
		}
	}
	if b.Stats == nil {
		t.Fatalf("no stats; error %q", b.Error)
	}
	t.Logf("%s on %d slots, %d rounds of %d requests (prompt %d, output %d tokens):", b.TestID, slots, tt.Runs, slots, tt.PromptTokens, tt.MaxTokens)
	t.Logf("  aggregate_tps %.1f, avg_tps %.1f per request (server %.1f), best %.1f, x%.2f", b.AggregateTPS, b.AvgTPS, b.AvgServerTPS, b.BestTPS, b.AggregateTPS/b.AvgTPS)
	t.Logf("  ttft p50 %.4f s, p90 %.4f s, p99 %.4f s; itl p50 %.2f ms, p99 %.2f ms; avg elapsed %.3f s",
		b.Stats.TTFTP50S, b.Stats.TTFTP90S, b.Stats.TTFTP99S, b.Stats.ITLP50MS, b.Stats.ITLP99MS, b.AvgElapsedS)
	if w := b.WarmupRun; w != nil {
		t.Logf("  for reference, the warmup alone (one user, %d tokens): tps %.1f, ttft %.4f s", w.OutputTokens, w.TPS, w.TTFTS)
	}
	for _, n := range b.Notes {
		t.Logf("  note: %s", n)
	}
	if b.AggregateTPS <= b.AvgTPS {
		t.Errorf("aggregate_tps %.1f <= avg_tps %.1f: four slots should decode together faster than one request", b.AggregateTPS, b.AvgTPS)
	}
	if b.Category != schema.CategoryConcurrency {
		t.Errorf("category %q, want %q", b.Category, schema.CategoryConcurrency)
	}
}
