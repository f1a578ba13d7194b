package engine

import (
	"fmt"
	"strconv"

	"github.com/typhonbench/typhon/schema"
)

// ModeZeus is the long-context torture plan: see ZeusPlan.
const ModeZeus = schema.ModeZeus

// Zeus tests.
const (
	// ZeusPrefix precedes the context size in a zeus test's ID: zeus_131072.
	ZeusPrefix = "zeus_"
	// ZeusMaxTokens is the output of a zeus test: enough to measure decode speed
	// at the depth of the prompt.
	ZeusMaxTokens = 128
	// ZeusReserve is how much of the context a zeus prompt leaves free: the
	// output and a margin for the chat template.
	ZeusReserve = ZeusMaxTokens + 256
	// ZeusBaselineRuns is how many timed runs the zeus plan's baseline has: it
	// warms the server up and gives the decode speed at a short context.
	ZeusBaselineRuns = 3
)

// ZeusSizes are the contexts of the zeus tests: 131,072 and 262,144 tokens.
var ZeusSizes = []int{131072, 262144}

// ZeusPlan builds the zeus plan: baseline_short (the decode speed at a short
// context, and the model warmed up), then one test per size of ZeusSizes whose
// single timed request fills the context but ZeusReserve tokens and decodes
// ZeusMaxTokens at that depth. Its warmup sends a short prompt (the model is
// loaded and, on Ollama, the context allocated, without a second long
// prefill).
//
// serverCtx is the largest context a request can get (0 = unknown), as for
// BuildPlan: llama-server's context per slot; for Ollama, which allocates the
// num_ctx a request asks for, the model's training context. A size beyond it is
// recorded as skipped, never sent, with the limit as the reason.
func ZeusPlan(serverCtx int) Plan {
	p := Plan{Mode: ModeZeus}
	small := BaselineCtx
	if serverCtx > 0 && serverCtx < small {
		small = serverCtx
	}
	p.Tests = append(p.Tests, Test{
		ID: TestBaseline, Name: "Baseline (short prompt)", Category: schema.CategoryBaseline,
		CtxSize: small, PromptTokens: BaselinePromptTokens, MaxTokens: 64, Runs: ZeusBaselineRuns,
	})
	skipUnfit(&p.Tests[0], serverCtx)
	for _, n := range ZeusSizes {
		t := Test{
			ID:                 ZeusPrefix + strconv.Itoa(n),
			Name:               "Zeus — " + Thousands(n) + " tokens",
			Category:           schema.CategoryZeus,
			CtxSize:            n,
			PromptTokens:       n - ZeusReserve,
			MaxTokens:          ZeusMaxTokens,
			Runs:               1,
			WarmupPromptTokens: BaselinePromptTokens,
		}
		if serverCtx > 0 && n > serverCtx {
			t.SkipReason = fmt.Sprintf("needs %s tokens of context; the server gives a request at most %s", Thousands(n), Thousands(serverCtx))
		}
		p.Tests = append(p.Tests, t)
	}
	return p
}

// ZeusStop says why the zeus tests larger than b should not be sent, "" when
// they may be: b is a zeus test that was sent and none of whose runs
// succeeded (the server ran out of memory or context, dropped the request, or
// ran out of time), and a larger prompt needs more of each. A cancelled test
// says nothing: the run ends anyway.
func ZeusStop(b schema.Benchmark) string {
	if b.Category != schema.CategoryZeus || b.Skipped {
		return ""
	}
	if b.SuccessfulRuns > 0 {
		return zeusTruncated(b)
	}
	failed := b.WarmupRun
	for i := range b.Runs {
		if !b.Runs[i].Success {
			failed = &b.Runs[i]
			break
		}
	}
	if failed == nil || failed.Success || failed.ErrorKind == schema.ErrKindCancelled {
		return ""
	}
	what := map[string]string{schema.FailOutOfMemory: "out of memory or crashed", schema.FailContextRefused: "refused for its context",
		schema.FailTruncated: "truncated"}[classifyWallFailure(*failed)]
	if what == "" {
		what = "failed"
	}
	return fmt.Sprintf("not run: %s %s (%s: %s); a larger context needs more of the server", b.TestID, what,
		failed.ErrorKind, truncate(failed.Error, 300))
}

// zeusTruncated is ZeusStop's reason when every successful run of b was
// truncated: the server took a fraction of the prompt, so it holds less.
func zeusTruncated(b schema.Benchmark) string {
	took := 0
	for _, r := range b.Runs {
		if !r.Success {
			continue
		}
		if r.Excluded != schema.ExcludedTruncated {
			return ""
		}
		took = max(took, r.PromptTokens)
	}
	return fmt.Sprintf("not run: the server took %s of the %s prompt tokens of %s (it truncates silently); a larger prompt would be cut too",
		Thousands(took), Thousands(b.PromptTokensTarget), b.TestID)
}
