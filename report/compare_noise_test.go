package report

import (
	"math/rand/v2"
	"testing"

	"github.com/typhonbench/typhon/schema"
)

// noisyRun is a record of a server whose figures are noise around fixed truths:
// decode speed 5% spread, time to first token 4%, a failure now and then.
func noisyRun(rng *rand.Rand, id string) *schema.Result {
	var benches []schema.Benchmark
	for i, ctx := range []int{512, 1024, 2048, 4096, 8192, 16384} {
		b := schema.Benchmark{TestID: "ctx_sweep_" + string(rune('a'+i)), Name: "sweep", Category: schema.CategoryContextSweep,
			CtxSize: ctx, MaxTokens: 64, NRuns: 5}
		for range 5 {
			r := schema.RunSample{Success: rng.Float64() > 0.03, TPS: 100 * (1 + 0.05*rng.NormFloat64()),
				TTFTS: float64(ctx) / 4000 * (1 + 0.04*rng.NormFloat64()), PromptTokens: ctx - 64, OutputTokens: 64}
			if !r.Success {
				r.ErrorKind, r.Error = schema.ErrKindTimeout, "timeout"
			}
			b.Runs = append(b.Runs, r)
		}
		benches = append(benches, b)
	}
	c := schema.Benchmark{TestID: "concurrency_4", Name: "4 users", Category: schema.CategoryConcurrency, CtxSize: 4096,
		MaxTokens: 64, Concurrency: 4, NRuns: 12}
	for round := 1; round <= 3; round++ {
		c.AggregateTPSRounds = append(c.AggregateTPSRounds, 300*(1+0.05*rng.NormFloat64()))
		for range 4 {
			c.Runs = append(c.Runs, schema.RunSample{Success: true, TPS: 80 * (1 + 0.05*rng.NormFloat64()),
				TTFTS: 0.3 * (1 + 0.1*rng.NormFloat64()), PromptTokens: 128, OutputTokens: 64, Round: round})
		}
	}
	return run(id, append(benches, c)...)
}

// TestCompareIdenticalServers: two runs of the same server, compared 20 times,
// give no more false regressions than the family-wise error rate allows (5% of
// 20 comparisons: 1), with the default tolerance and with next to none.
func TestCompareIdenticalServers(t *testing.T) {
	t.Parallel()
	for _, tol := range []float64{0, 1e-9} {
		rng := rand.New(rand.NewPCG(12, uint64(tol*1e12)+7))
		false1, pairs := 0, 0
		for i := range 20 {
			c := Compare(noisyRun(rng, "a"), noisyRun(rng, "b"), CompareOptions{Tolerance: tol})
			if i == 0 {
				for _, b := range c.Benchmarks {
					pairs += len(b.Metrics)
				}
				t.Logf("method: %s", c.Method)
			}
			if c.Verdict == VerdictRegressed {
				false1++
				t.Logf("tolerance %g, comparison %d: false regression: %+v", tol, i, c.Regressions())
			}
		}
		t.Logf("tolerance %g: %d false regressions in 20 comparisons of %d metric-test pairs each", tol, false1, pairs)
		if max := int(FamilyAlpha * 20); false1 > max {
			t.Errorf("tolerance %g: %d false regressions in 20 comparisons, want at most %d (%g%% family-wise)", tol, false1, max, 100*FamilyAlpha)
		}
	}
}
