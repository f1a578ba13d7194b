package engine

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/typhonbench/typhon/gpu"
	"github.com/typhonbench/typhon/schema"
)

// step sends one size (retrying a transient failure once) and records it. It
// reports whether the search may go on.
func (w *wallSearch) step(ctx context.Context, p int) bool {
	st := schema.MemoryWallStep{PromptTokens: p, PromptTokensSent: p, CtxSize: w.stepCtx(p)}
	var sw *gpu.Window
	if w.e.GPU != nil {
		sw = w.e.GPU.Open()
	}
	rs, itl, class := w.attempt(ctx, p, &st)
	if class == schema.FailTransient && ctx.Err() == nil && sleepCtx(ctx, time.Second) {
		st.Retried = true
		rs, itl, class = w.attempt(ctx, p, &st)
	}
	if sw != nil {
		if g := sw.Close(); g.PeakVRAMUsedMB != nil {
			st.PeakVRAMMB = g.PeakVRAMUsedMB
		}
	}
	if rs.ErrorKind == schema.ErrKindCancelled || ctx.Err() != nil {
		return false
	}
	st.Success, st.FailureClass = class == "", class
	st.ErrorKind, st.Error, st.TTFTS = rs.ErrorKind, rs.Error, rs.TTFTS
	if rs.PromptTokens > 0 && rs.Success {
		st.PromptTokens = rs.PromptTokens // the server's count
	}
	if class == schema.FailTruncated {
		st.Error = fmt.Sprintf("answered with %d prompt tokens of the %d sent: the server cut the prompt without a word", rs.PromptTokens, p)
	}
	w.mw.Steps = append(w.mw.Steps, st)
	w.b.Runs = append(w.b.Runs, rs)
	if st.Success {
		w.itl = append(w.itl, itl...)
		if p > w.lo {
			w.lo, w.loTokens, w.loCtx = p, st.PromptTokens, st.CtxSize
		}
		if st.PromptTokens > w.bound && !w.ollama {
			// The server took a prompt as long as its advertised context: that
			// context was not its limit after all.
			w.bound, w.ctxBound, w.probePast = MaxWallTokens, false, false
			w.mw.Bound, w.mw.BoundTokens = "Typhon's cap (the server took a prompt past its advertised context)", MaxWallTokens
		}
		return true
	}
	if neverReached(rs) {
		// Refused before the request was sent, retry included: this size never
		// reached the server, so it says nothing of the size.
		w.b.Notes = append(w.b.Notes, fmt.Sprintf("the server stopped accepting connections before the step of %s tokens reached it (it crashed earlier, or went away): the search ends here", Thousands(p)))
		w.cut = "a server gone away"
		return false
	}
	if class == schema.FailTransient && w.hi > 0 && w.failClass != schema.FailTransient {
		// No cause below a failure that named one: keep that one, and stop
		// rather than bisect on answers that say nothing.
		w.b.Notes = append(w.b.Notes, fmt.Sprintf("%s tokens failed twice without naming a cause (%s): the search stops at the last failure that named one (%s tokens, %s)",
			Thousands(p), rs.ErrorKind, Thousands(w.hi), w.failClass))
		return false
	}
	w.hi = max(p, w.lo+1)
	w.failure, w.failKind, w.failClass = st.Error, st.ErrorKind, class
	if rs.ErrorKind == schema.ErrKindConnectionRefused {
		w.b.Notes = append(w.b.Notes, "the server stopped accepting connections at this size (crashed): the search ends here")
		return false
	}
	return true
}

// neverReached reports whether a request was refused at connect: the server was
// not listening (restarting, gone), unlike a connection that broke under the
// request and was then refused (a crash of this request).
func neverReached(rs schema.RunSample) bool {
	return rs.ErrorKind == schema.ErrKindConnectionRefused && strings.HasPrefix(rs.Error, "connection refused:")
}

// attempt sends one request of p prompt tokens (on Ollama after an untimed
// warm-up at the step's num_ctx, whose load time goes to st.LoadS) and
// classifies its outcome: "" for a success, else a schema.Fail* class.
func (w *wallSearch) attempt(ctx context.Context, p int, st *schema.MemoryWallStep) (schema.RunSample, []float64, string) {
	if w.ollama {
		nonce, seed := w.e.nonce.next()
		warm := w.e.do(ctx, request{user: promptText(nonce, seed, 8), maxTokens: 1, ctxSize: st.CtxSize, probe: true})
		st.LoadS = round(warm.server.loadS, 6)
		if warm.err != nil {
			rs, _ := warm.sample(sampleSpec{promptTarget: p, maxTokens: 1})
			return rs, nil, classifyWallFailure(rs)
		}
	}
	rs, itl := w.e.runOnce(ctx, w.t, runOpts{prompt: p, ctx: st.CtxSize, maxTokens: w.out})
	if !rs.Success {
		return rs, itl, classifyWallFailure(rs)
	}
	if rs.PromptTokens > 0 && p-rs.PromptTokens > max(PromptSlack, p/50) {
		// Far fewer prompt tokens than sent (prompts hit their size within 1%):
		// a failure, never progress.
		return rs, itl, schema.FailTruncated
	}
	return rs, itl, ""
}

// Words by which servers say a size does not fit their context or memory.
var (
	contextWords = []string{"context", "exceed", "too long", "n_ctx", "too many tokens", "input length", "maximum"}
	memoryWords  = []string{"out of memory", "cuda error", "failed to allocate", "unable to allocate",
		"insufficient memory", "not enough memory", "more system memory", "cudamalloc", "memory",
		// A crash in the server's words (Ollama's runner killed by the kernel's
		// OOM killer, a segfault): the size took it down.
		"process has terminated", "signal: killed", "segmentation fault", "core dumped"}
)

// hasWord reports whether msg holds w as a word of its own ("oom", not "room"
// or a model called bloom).
func hasWord(msg, w string) bool {
	letter := func(b byte) bool { return b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' }
	for i := 0; ; {
		j := strings.Index(msg[i:], w)
		if j < 0 {
			return false
		}
		at, end := i+j, i+j+len(w)
		if (at == 0 || !letter(msg[at-1])) && (end == len(msg) || !letter(msg[end])) {
			return true
		}
		i = at + 1
	}
}

// classifyWallFailure names why a step failed, from the server's own words first,
// then from how it failed.
func classifyWallFailure(rs schema.RunSample) string {
	msg := strings.ToLower(rs.Error)
	has := func(words []string) bool {
		for _, w := range words {
			if strings.Contains(msg, w) {
				return true
			}
		}
		return false
	}
	status := 0
	if code, ok := strings.CutPrefix(rs.ErrorKind, "http_"); ok {
		fmt.Sscan(code, &status)
	}
	switch {
	case has(memoryWords) || hasWord(msg, "oom"):
		return schema.FailOutOfMemory
	case neverReached(rs):
		return schema.FailTransient // a server restarting: a retry may reach it
	case rs.ErrorKind == schema.ErrKindConnectionRefused || rs.ErrorKind == schema.ErrKindStreamBroken:
		return schema.FailOutOfMemory // the server crashed or dropped the request mid-way
	case status >= 400 && status < 500 || has(contextWords) && status < 500:
		return schema.FailContextRefused
	}
	return schema.FailTransient // a 5xx without a reason, a timeout
}

// finish fills the wall's figures and notes and summarises the runs.
func (w *wallSearch) finish(ctx context.Context) {
	mw, b := w.mw, w.b
	mw.LastOKPromptTokens, mw.WallTokens, mw.ContextTokens = w.loTokens, w.loTokens, w.loCtx
	if w.hi > 0 {
		mw.FailedPromptTokens, mw.FailureKind, mw.Failure, mw.FailureClass = w.hi, w.failKind, w.failure, w.failClass
	}
	mw.ElapsedS = round(time.Since(w.start).Seconds(), 3)
	b.NRuns = len(b.Runs)
	switch {
	case w.hi > 0 && (w.failClass == schema.FailContextRefused || w.failClass == schema.FailTruncated):
		mw.WallKind = schema.WallContextLimit
	case w.hi > 0 && w.failClass == schema.FailOutOfMemory:
		mw.WallKind = schema.WallMemory
	case w.hi > 0:
		// 5xx or timeouts that a retry did not cure name no cause: not a wall of
		// memory, nor of context.
		mw.WallKind = schema.WallUnknown
		b.Notes = append(b.Notes, fmt.Sprintf("the smallest failing size failed twice without naming a cause (%s): no wall can be claimed from it", w.failKind))
	case w.ctxBound && w.lo >= w.maxFit()-w.resolution() && w.lo > 0:
		mw.WallKind = schema.WallContextLimit
	case w.cut != "" || len(mw.Steps) == 0:
		mw.WallKind = schema.WallUnknown // cut short before any bound was reached
	default:
		mw.WallKind = schema.WallNone
	}
	b.Notes = append(b.Notes, w.summary())
	aggregate(b, w.itl)
	switch {
	case ctx.Err() != nil && b.Error == "":
		b.Error = "cancelled during the search: " + ctx.Err().Error()
	case len(mw.Steps) == 0 && b.Error == "" && w.cut == "":
		b.Error = fmt.Sprintf("no prompt size was tried: a bound of %s tokens leaves no room for a prompt beside %d output tokens",
			Thousands(w.bound), w.out)
	case b.SuccessfulRuns == 0 && len(b.Runs) > 0:
		// Failing is how a search ends; only a search without any success is an error.
		b.Error = "no prompt size worked: " + b.Runs[0].Error
	}
}

// summary says in a sentence what the search found.
func (w *wallSearch) summary() string {
	mw := w.mw
	s := fmt.Sprintf("%s in %d steps and %.1f s (bound: %s tokens, %s): ", mw.WallKind, len(mw.Steps), mw.ElapsedS,
		Thousands(mw.BoundTokens), mw.Bound)
	switch {
	case w.hi > 0:
		s += fmt.Sprintf("the largest prompt that worked had %s tokens; %s failed (%s, %s)", Thousands(w.loTokens),
			Thousands(w.hi), w.failClass, w.failKind)
	default:
		s += fmt.Sprintf("every size worked, up to %s prompt tokens", Thousands(w.loTokens))
	}
	if w.ollama && w.loCtx > 0 {
		s += fmt.Sprintf("; num_ctx %s at the wall, each step warmed up once before it was timed", Thousands(w.loCtx))
	}
	return s
}

// sleepCtx waits d or until ctx is done; it reports whether d passed.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// ollamaTrainedCtx asks Ollama for the model's trained context (0 when unknown).
func (e *Engine) ollamaTrainedCtx(ctx context.Context) int {
	var show struct {
		ModelInfo map[string]any `json:"model_info"`
	}
	if err := e.post(ctx, "/api/show", map[string]any{"model": e.Target.Model}, &show); err != nil {
		return 0
	}
	arch, _ := show.ModelInfo["general.architecture"].(string)
	for k, v := range show.ModelInfo {
		if f, ok := v.(float64); ok && (k == arch+".context_length" || arch == "" && strings.HasSuffix(k, ".context_length")) {
			return int(f)
		}
	}
	return 0
}
