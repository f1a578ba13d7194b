package engine

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/typhonbench/typhon/schema"
)

// Modes of a plan.
const (
	ModeQuick = "quick"
	ModeFull  = "full"
)

// Plan constants. Context sweep sizes come in tiers of the first GPU's memory.
const (
	// SweepReserve is how much of a sweep's context the prompt leaves free: the
	// 256 output tokens and a margin for the chat template.
	SweepReserve = 384
	// BaselinePromptTokens is the short prompt of the baseline and stress tests.
	BaselinePromptTokens = 128
	// BaselineCtx is the context the baseline and stress tests ask Ollama for.
	BaselineCtx = 2048
	// QuickSweeps is how many sweep sizes a quick plan keeps.
	QuickSweeps = 3
	// WarmupMaxTokens caps the output of a warmup request: the warmup loads the
	// model and allocates the context; a long decode adds nothing to it.
	WarmupMaxTokens = 64
)

// Test IDs and categories of the plan.
const (
	TestBaseline   = "baseline_short"
	TestLongGen    = "long_gen"
	TestMemoryWall = "memory_wall"
	// SweepPrefix precedes the context size in a sweep's ID: ctx_sweep_4096.
	SweepPrefix = "ctx_sweep_"
)

// Test is one test of a plan.
type Test struct {
	ID       string // e.g. "ctx_sweep_4096"
	Name     string // e.g. "Context sweep — 4,096 tokens"
	Category string // schema.Category*
	// CtxSize is the context size the test is about (also the num_ctx Typhon asks
	// Ollama for).
	CtxSize int
	// PromptTokens is the target prompt length in tokens.
	PromptTokens int
	MaxTokens    int
	// Runs is the number of timed runs, after one warmup.
	Runs int
	// WarmCache asks for a warm prompt cache on purpose: every request of the test
	// sends the same prompt and the server may cache it. By default every request
	// is unique at its first token and llama.cpp is asked not to cache.
	WarmCache bool
	// SkipReason, when not empty, records the test as skipped: it is never sent.
	SkipReason string
}

// Plan is the ordered list of tests of one run.
type Plan struct {
	Mode  string
	Tests []Test
}

// Runs per test and mode.
var runs = map[string]struct{ baseline, sweep, longGen, wall int }{
	ModeQuick: {baseline: 5, sweep: 2, longGen: 1},
	ModeFull:  {baseline: 10, sweep: 5, longGen: 3, wall: 1},
}

// SweepSizes returns the context sizes of the sweep for the first GPU's memory in
// MiB (0: no GPU, the smallest tier): 2,048, 4,096 and 8,192 tokens, plus 16,384
// from 8 GiB, 32,768 from 16 GiB and 65,536 from 24 GiB.
func SweepSizes(vramMB float64) []int {
	sizes := []int{2048, 4096, 8192}
	for _, tier := range []struct {
		minMB float64
		ctx   int
	}{{8 * 1024, 16384}, {16 * 1024, 32768}, {24 * 1024, 65536}} {
		if vramMB >= tier.minMB {
			sizes = append(sizes, tier.ctx)
		}
	}
	return sizes
}

// BuildPlan builds the quick or full plan. serverCtx is the largest context a
// request can get (0 = unknown): tests that need more are kept in the plan as
// skipped, with the reason. For Ollama, which allocates the num_ctx a request asks
// for, pass the model's own context length (or 0), not the server's default.
// vramMB is the first GPU's memory in MiB (0 = no GPU: the smallest tier).
//
// Quick: baseline_short (5 runs), the first three sweep sizes (2 runs each),
// long_gen (1 run). Full: baseline_short (10), every sweep size of the tier (5),
// long_gen (3) and memory_wall. Every test has one warmup besides.
func BuildPlan(mode string, serverCtx int, vramMB float64) (Plan, error) {
	r, ok := runs[mode]
	if !ok {
		return Plan{}, fmt.Errorf("%w %q: want quick or full", ErrInvalidMode, mode)
	}
	if serverCtx < 0 {
		serverCtx = 0
	}
	sizes := SweepSizes(vramMB)
	if mode == ModeQuick && len(sizes) > QuickSweeps {
		sizes = sizes[:QuickSweeps]
	}
	smallCtx := BaselineCtx
	if serverCtx > 0 && serverCtx < smallCtx {
		smallCtx = serverCtx
	}
	p := Plan{Mode: mode}
	p.Tests = append(p.Tests, Test{
		ID: TestBaseline, Name: "Baseline (short prompt)", Category: schema.CategoryBaseline,
		CtxSize: smallCtx, PromptTokens: BaselinePromptTokens, MaxTokens: 64, Runs: r.baseline,
	})
	largest := 0
	for _, n := range sizes {
		t := Test{
			ID:           SweepPrefix + strconv.Itoa(n),
			Name:         "Context sweep — " + Thousands(n) + " tokens",
			Category:     schema.CategoryContextSweep,
			CtxSize:      n,
			PromptTokens: n - SweepReserve,
			MaxTokens:    256,
			Runs:         r.sweep,
		}
		if serverCtx > 0 && n > serverCtx {
			t.SkipReason = fmt.Sprintf("needs %s tokens of context; the server gives a request %s",
				Thousands(n), Thousands(serverCtx))
		} else {
			largest = n
		}
		p.Tests = append(p.Tests, t)
	}
	p.Tests = append(p.Tests, Test{
		ID: TestLongGen, Name: "Long generation stress", Category: schema.CategoryStress,
		CtxSize: smallCtx, PromptTokens: BaselinePromptTokens, MaxTokens: 1024, Runs: r.longGen,
	})
	if r.wall > 0 {
		if largest == 0 {
			largest = sizes[0]
		}
		p.Tests = append(p.Tests, Test{
			ID: TestMemoryWall, Name: "Memory wall detection", Category: schema.CategoryMemoryWall,
			CtxSize: largest, PromptTokens: largest - SweepReserve, MaxTokens: 512, Runs: r.wall,
		})
	}
	for i := range p.Tests {
		t := &p.Tests[i]
		if t.SkipReason == "" && serverCtx > 0 && t.Category != schema.CategoryMemoryWall &&
			t.PromptTokens+t.MaxTokens > serverCtx {
			t.SkipReason = fmt.Sprintf("needs %s tokens of context (%s prompt + %s output); the server gives a request %s",
				Thousands(t.PromptTokens+t.MaxTokens), Thousands(t.PromptTokens), Thousands(t.MaxTokens), Thousands(serverCtx))
		}
	}
	return p, nil
}

// PlanCtx returns the serverCtx to build a plan for: the context a request gets
// (ctxSize, from detect), except for Ollama, which allocates the num_ctx each
// request asks for: there it is the model's training context (trainCtx; 0 when
// unknown, and then no test is skipped for its size).
func PlanCtx(kind string, ctxSize, trainCtx int) int {
	if strings.EqualFold(kind, KindOllama) {
		return max(trainCtx, 0)
	}
	return max(ctxSize, 0)
}

// Thousands formats n with commas between thousands: 8192 -> "8,192".
func Thousands(n int) string {
	s := strconv.Itoa(n)
	neg := ""
	if n < 0 {
		neg, s = "-", s[1:]
	}
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return neg + s
}
