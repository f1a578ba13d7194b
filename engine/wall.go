package engine

import (
	"context"
	"fmt"
	"time"

	"github.com/typhonbench/typhon/gpu"
	"github.com/typhonbench/typhon/schema"
)

// Bounds of a memory wall search.
const (
	// MaxWallSteps bounds the sizes one memory wall search tries (a retry of a
	// transient failure is not a step).
	MaxWallSteps = 16
	// MaxWallTokens is the largest prompt a search tries when the server gives no
	// context to bound it.
	MaxWallTokens = 256 << 10
	// DefaultWallBudget bounds the time of one search when Engine.WallBudget is 0.
	DefaultWallBudget = 15 * time.Minute
	// WallStepTokens is the output of each step: enough to see a decode, small
	// enough that the prompt is what is measured.
	WallStepTokens = 16
	// wallMargin is what a step leaves free in the context beside its prompt and
	// output (the template's closing tokens, rounding).
	wallMargin = 8
)

// wallSearch is the state of one memory wall search.
type wallSearch struct {
	e      *Engine
	t      Test
	b      *schema.Benchmark
	mw     *schema.MemoryWall
	ollama bool
	out    int // output tokens of each step
	// bound is the largest context the search may fill (tokens); ctxBound says
	// it is a context (the server's or the model's), probePast that the search
	// sends one prompt past it to record how the server refuses it.
	bound               int
	ctxBound, probePast bool
	probed              bool
	lo, hi              int // largest prompt sent that worked, smallest that failed (0: none)
	loTokens            int // the server's count of the largest prompt that worked
	loCtx               int // the num_ctx of the step at lo
	failure, failKind   string
	failClass           string
	// cut says why the search ended before it could conclude (its time bound,
	// a server gone away), "" when it concluded.
	cut   string
	start time.Time
	itl   []float64
}

// memoryWall searches the largest prompt the server can take: it doubles the
// prompt from past the test's context until a step fails, then bisects between
// the largest size that worked and the smallest that failed. Each failure is
// classified (refused for its context, out of memory or crashed, transient,
// silently truncated); a transient one is retried once, and a prompt answered with
// far fewer prompt tokens than sent is a failure, never progress. The search is
// bounded in tokens (the server's advertised context, Ollama's trained context,
// else MaxWallTokens), in steps (MaxWallSteps) and in time (WallBudget). On Ollama
// each step raises num_ctx to fit its prompt, so the wall found is the memory's,
// and each step is warmed up once, untimed, so its TTFT holds no model load.
func (e *Engine) memoryWall(ctx context.Context, t Test, b *schema.Benchmark) {
	w := &wallSearch{e: e, t: t, b: b, mw: &schema.MemoryWall{Steps: []schema.MemoryWallStep{}},
		ollama: e.kind() == KindOllama, out: max(1, min(t.MaxTokens, WallStepTokens)), start: time.Now()}
	b.MemoryWall = w.mw
	w.setBound(ctx)
	var win *gpu.Window
	if e.GPU != nil {
		win = e.GPU.Open()
	}
	budget := e.wallBudget()
	// The time bound holds within a step too: a server that slows down without
	// failing would otherwise hold a step for its whole request deadline.
	bounded, cancel := context.WithDeadline(ctx, w.start.Add(budget))
	defer cancel()
	concluded := false
	for step := 0; step < MaxWallSteps && bounded.Err() == nil; step++ {
		p := w.next(step)
		if p <= 0 {
			concluded = true
			break
		}
		if !w.step(bounded, p) {
			break
		}
	}
	if !concluded && bounded.Err() != nil && ctx.Err() == nil {
		b.Notes = append(b.Notes, fmt.Sprintf("the search stopped at its time bound of %s", budget))
		w.cut = "its time bound"
	}
	if win != nil {
		b.GPUStats = win.Close()
	}
	w.finish(ctx)
}

func (e *Engine) wallBudget() time.Duration {
	if e.WallBudget > 0 {
		return e.WallBudget
	}
	return DefaultWallBudget
}

// setBound sets the largest context the search may fill.
func (w *wallSearch) setBound(ctx context.Context) {
	switch {
	case w.ollama:
		trained := w.e.Target.TrainedCtx
		if trained <= 0 {
			trained = w.e.ollamaTrainedCtx(ctx)
		}
		if trained > 0 {
			w.bound, w.ctxBound = trained, true
			w.mw.Bound = "the model's trained context (Ollama allocates the num_ctx each step asks for)"
		}
	case w.e.Target.CtxSize > 0:
		w.bound, w.ctxBound, w.probePast = w.e.Target.CtxSize, true, true
		w.mw.Bound = "the server's context per request"
	}
	if w.bound <= 0 {
		w.bound = MaxWallTokens
		w.mw.Bound = "Typhon's cap (the server advertises no context)"
	}
	w.mw.BoundTokens = w.bound
}

// maxFit is the largest prompt that fits the bound with its output.
func (w *wallSearch) maxFit() int { return w.bound - w.out - wallMargin }

// resolution is the gap between a success and a failure at which the bisection
// stops: under 1% of the size.
func (w *wallSearch) resolution() int { return max(8, w.lo/128) }

// next is the prompt size of the step, 0 when the search is done.
func (w *wallSearch) next(step int) int {
	fit := w.maxFit()
	switch {
	case step == 0:
		return min(max(2*w.t.CtxSize-w.out-64, 64), fit)
	case w.hi == 0 && w.lo >= fit:
		// The largest prompt within the bound worked: probe past the context once
		// to record the server's refusal.
		if w.probePast && !w.probed {
			w.probed = true
			return w.bound + max(16, w.bound/100) // surely past it, in any count
		}
		return 0
	case w.hi == 0:
		return min(w.lo*2, fit)
	case w.hi-w.lo <= w.resolution():
		return 0
	}
	p := (w.lo + w.hi) / 2
	for _, s := range w.mw.Steps {
		if s.PromptTokensSent == p {
			return 0 // no size twice
		}
	}
	return p
}

// stepCtx is the num_ctx of a step (Ollama), 0 elsewhere.
func (w *wallSearch) stepCtx(p int) int {
	if !w.ollama {
		return 0
	}
	return (p + w.out + 64 + 255) / 256 * 256
}
