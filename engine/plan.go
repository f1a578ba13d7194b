package engine

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/typhonbench/typhon/schema"
)

// Modes of a plan, defined in package schema.
const (
	ModeQuick = schema.ModeQuick
	ModeFull  = schema.ModeFull
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
	// ConcurrencyPrefix precedes the number of users in a concurrency test's ID:
	// concurrency_4.
	ConcurrencyPrefix = "concurrency_"
)

// Concurrency tests.
const (
	// ConcurrencyMaxTokens is each request's output in a concurrency test: long
	// enough that the users decode together for most of a round.
	ConcurrencyMaxTokens = 128
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
	// Concurrency, in the concurrency category, is how many requests each round
	// sends at once (Runs is then the number of rounds).
	Concurrency int
	// Load, in the load category, is a load sweep: Engine.RunLoad runs it and
	// records one Benchmark per level.
	Load *LoadOptions
	// WarmupPromptTokens, when above 0, is the warmup's prompt length instead of
	// PromptTokens (a long-context test need not prefill twice).
	WarmupPromptTokens int
}

// Plan is the ordered list of tests of one run.
type Plan struct {
	Mode  schema.Mode
	Tests []Test
}

// Runs per test and mode.
// concurrency is the rounds of a concurrency test; a quick plan has none unless
// WithConcurrency adds them.
var runs = map[schema.Mode]struct{ baseline, sweep, longGen, wall, concurrency int }{
	ModeQuick: {baseline: 5, sweep: 2, longGen: 1, concurrency: 2},
	ModeFull:  {baseline: 10, sweep: 5, longGen: 3, wall: 1, concurrency: 3},
}

// sweepSizes returns the context sizes of the sweep for the first GPU's memory in
// MiB (0: no GPU, the smallest tier): 2,048, 4,096 and 8,192 tokens, plus 16,384
// from 8 GiB, 32,768 from 16 GiB and 65,536 from 24 GiB.
func sweepSizes(vramMB float64) []int {
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

// BuildPlan builds the quick or full plan (mode zeus: ZeusPlan). serverCtx is the largest context a
// request can get (0 = unknown): tests that need more are kept in the plan as
// skipped, with the reason. For Ollama, which allocates the num_ctx a request asks
// for, pass the model's own context length (or 0), not the server's default.
// vramMB is the first GPU's memory in MiB (0 = no GPU: the smallest tier).
//
// Quick: baseline_short (5 runs), the first three sweep sizes (2 runs each),
// long_gen (1 run). Full: baseline_short (10), every sweep size of the tier (5),
// load_sweep (a short sweep of users, 1 to 8 when the slots are unknown), long_gen
// (3) and memory_wall. Every test has one warmup besides. WithLoadSweep sizes
// the sweep for the server's slot count; WithConcurrency adds the older
// concurrency tests of fixed rounds.
func BuildPlan(mode schema.Mode, serverCtx int, vramMB float64) (Plan, error) {
	if mode == ModeZeus {
		return ZeusPlan(serverCtx), nil
	}
	r, ok := runs[mode]
	if !ok {
		return Plan{}, fmt.Errorf("%w %q: want quick, full or zeus", ErrInvalidMode, mode)
	}
	if serverCtx < 0 {
		serverCtx = 0
	}
	sizes := sweepSizes(vramMB)
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
	if mode == ModeFull {
		p.Tests = append(p.Tests, planSweep(0, smallCtx))
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
			CtxSize: largest, PromptTokens: largest - SweepReserve, MaxTokens: WallStepTokens, Runs: r.wall,
		})
	}
	for i := range p.Tests {
		skipUnfit(&p.Tests[i], serverCtx)
	}
	return p, nil
}

// skipUnfit marks t skipped when its prompt and output exceed serverCtx (known).
func skipUnfit(t *Test, serverCtx int) {
	if t.SkipReason == "" && serverCtx > 0 && t.Category != schema.CategoryMemoryWall &&
		t.PromptTokens+t.MaxTokens > serverCtx {
		t.SkipReason = fmt.Sprintf("needs %s tokens of context (%s prompt + %s output); the server gives a request %s",
			Thousands(t.PromptTokens+t.MaxTokens), Thousands(t.PromptTokens), Thousands(t.MaxTokens), Thousands(serverCtx))
	}
}

// concurrencyTest is the test of n users at once: rounds rounds of n requests with
// the baseline's short prompt.
func concurrencyTest(n, rounds, ctx int) Test {
	return Test{
		ID: ConcurrencyPrefix + strconv.Itoa(n), Name: fmt.Sprintf("Concurrency — %d users", n),
		Category: schema.CategoryConcurrency, CtxSize: ctx, PromptTokens: BaselinePromptTokens,
		MaxTokens: ConcurrencyMaxTokens, Runs: rounds, Concurrency: n,
	}
}

// ConcurrencyLevels returns the numbers of users to test for a server with slots
// parallel slots (0 = unknown): 2 and 4 always (on a one-slot server they show
// the queueing) and the slot count itself. Sorted, without repeats.
func ConcurrencyLevels(slots int) []int {
	levels := []int{2, 4}
	if slots >= 2 {
		levels = append(levels, slots)
	}
	return normLevels(levels)
}

// normLevels drops levels below 2 (one user is the baseline), sorts them and
// removes repeats.
func normLevels(levels []int) []int {
	var out []int
	for _, n := range levels {
		if n >= 2 {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// WithConcurrency returns p with its concurrency tests replaced by one test per
// level (numbers of users; those below 2 dropped,
// repeats removed, in ascending order), placed before the long generation and
// memory wall tests (where a crash is likeliest). Each has the plan mode's rounds
// (full 3, quick 2, else 1), the baseline's short prompt and context, and
// ConcurrencyMaxTokens of output; like BuildPlan it records a test as skipped
// when that does not fit the baseline's context. No level removes the
// concurrency tests. p itself is not modified.
//
//	plan = engine.WithConcurrency(plan, engine.ConcurrencyLevels(slots))
func WithConcurrency(p Plan, levels []int) Plan {
	rounds := 1
	if r, ok := runs[p.Mode]; ok {
		rounds = r.concurrency
	}
	drop := func(c string) bool { return c == schema.CategoryConcurrency }
	return spliceBeforeStress(p, drop, func(ctx int) []Test {
		var add []Test
		for _, n := range normLevels(levels) {
			add = append(add, concurrencyTest(n, rounds, ctx))
		}
		return add
	})
}

// spliceBeforeStress returns p without the tests whose category drop names and
// with the tests of add placed before the long generation and memory wall tests
// (where a crash is likeliest). add is given the baseline's context, and a test
// that does not fit it is recorded as skipped. p itself is not modified.
func spliceBeforeStress(p Plan, drop func(category string) bool, add func(ctx int) []Test) Plan {
	ctx := BaselineCtx
	for _, t := range p.Tests {
		if t.Category == schema.CategoryBaseline && t.CtxSize > 0 {
			ctx = t.CtxSize
			break
		}
	}
	out := Plan{Mode: p.Mode, Tests: make([]Test, 0, len(p.Tests)+1)}
	at := -1
	for _, t := range p.Tests {
		if drop(t.Category) {
			continue
		}
		if at < 0 && (t.Category == schema.CategoryStress || t.Category == schema.CategoryMemoryWall) {
			at = len(out.Tests)
		}
		out.Tests = append(out.Tests, t)
	}
	if at < 0 {
		at = len(out.Tests)
	}
	tests := add(ctx)
	for i := range tests {
		skipUnfit(&tests[i], ctx)
	}
	out.Tests = slices.Insert(out.Tests, at, tests...)
	return out
}

// PlanCtx returns the serverCtx to build a plan for: the context a request gets
// (ctxSize, from detect), except for Ollama, which allocates the num_ctx each
// request asks for: there it is the model's training context (trainCtx; 0 when
// unknown, and then no test is skipped for its size).
func PlanCtx(kind schema.Kind, ctxSize, trainCtx int) int {
	if strings.EqualFold(string(kind), string(KindOllama)) {
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
