package engine

import (
	"context"
	"fmt"
	"time"

	"github.com/typhonbench/typhon/gpu"
	"github.com/typhonbench/typhon/schema"
)

// RunTest runs one test: a warmup request (Benchmark.WarmupRun, not in the
// averages; its output is capped at WarmupMaxTokens), then t.Runs timed runs inside
// a GPU window. Failed runs are kept with their error and kind. A test with a
// SkipReason is recorded as skipped without a request. The memory_wall category
// runs a search instead (see MemoryWall in package schema); the stress category
// records a time series of decode speed (and GPU temperature, power and clock when
// a recorder is set) so throttling shows. The concurrency category sends
// t.Concurrency requests at once in each of t.Runs rounds after the warmup, keeps
// every request in Runs (NRuns = Concurrency x Runs) and sets Concurrency and
// AggregateTPS; AvgTPS stays the mean decode speed of one request.
//
// After a refused connection the remaining runs of the test are not sent. When ctx
// is cancelled RunTest returns promptly with what it has, the request in flight
// closed and recorded as cancelled.
func (e *Engine) RunTest(ctx context.Context, t Test) schema.Benchmark {
	b := schema.Benchmark{
		TestID:             t.ID,
		Name:               t.Name,
		Category:           t.Category,
		CtxSize:            t.CtxSize,
		MaxTokens:          t.MaxTokens,
		NRuns:              t.Runs,
		PromptTokensTarget: t.PromptTokens,
		Runs:               []schema.RunSample{},
		StartedAt:          time.Now().UTC(),
	}
	defer func() { b.FinishedAt = time.Now().UTC() }()
	defer e.closeIdle()
	if t.SkipReason != "" {
		b.Skipped, b.SkipReason = true, t.SkipReason
		return b
	}
	if err := ctx.Err(); err != nil {
		b.Error = "cancelled before the test started: " + err.Error()
		return b
	}
	if err := e.Prepare(ctx); err != nil {
		if ctx.Err() != nil {
			b.Error = "cancelled before the test started: " + ctx.Err().Error()
			return b
		}
		b.Notes = append(b.Notes, "calibration failed ("+err.Error()+"); prompt lengths are estimated")
	}
	e.noteSetup(t, &b)
	switch t.Category {
	case schema.CategoryMemoryWall:
		e.memoryWall(ctx, t, &b)
		return b
	case schema.CategoryConcurrency:
		e.concurrency(ctx, t, &b)
		return b
	}

	fixed, ok := e.warmup(ctx, t, &b)
	if !ok {
		return b
	}

	var win *gpu.Window
	if e.GPU != nil {
		win = e.GPU.Open()
	}
	var series *seriesRec
	if t.Category == schema.CategoryStress {
		series = &seriesRec{t0: time.Now(), interval: e.seriesInterval(), gpu: e.GPU}
	}
	var itl []float64
	for i := 0; i < t.Runs; i++ {
		if err := ctx.Err(); err != nil {
			break
		}
		rs, runITL := e.runOnce(ctx, t, runOpts{fixed: fixed, series: series})
		b.Runs = append(b.Runs, rs)
		if valid(rs) {
			itl = append(itl, runITL...)
		}
		if rs.ErrorKind == schema.ErrKindConnectionRefused {
			b.Error = fmt.Sprintf("run %d of %d: %s; the remaining runs were not sent", i+1, t.Runs, rs.Error)
			break
		}
	}
	if win != nil {
		b.GPUStats = win.Close()
	}
	if series != nil {
		b.Series = series.points
	}
	if err := ctx.Err(); err != nil && b.Error == "" {
		b.Error = fmt.Sprintf("cancelled after %d of %d runs: %v", len(b.Runs), t.Runs, err)
	}
	aggregate(&b, itl)
	return b
}

// noteSetup records how prompts were sized, the template prefix, and what the
// server could be asked.
func (e *Engine) noteSetup(t Test, b *schema.Benchmark) {
	b.Notes = append(b.Notes, e.calibration().source)
	b.TemplatePrefixTokens = e.calibration().prefix
	if note := e.exactLengthNote(); note != "" {
		b.Notes = append(b.Notes, note)
	}
	if e.kind() == KindOllama {
		b.Notes = append(b.Notes, fmt.Sprintf("Ollama's native /api/chat with num_ctx %s, so the test's context is really allocated (truncate and shift off: a prompt that does not fit fails instead of being cut)", Thousands(t.CtxSize)))
	}
}

type promptSeed struct {
	nonce string
	seed  uint64
}

type runOpts struct {
	warmup bool
	fixed  *promptSeed // the same prompt for every request (warm cache)
	series *seriesRec
	// prompt, ctx and maxTokens override the test's (memory wall steps).
	prompt, ctx, maxTokens int
}

// runOnce sends one request of test t.
func (e *Engine) runOnce(ctx context.Context, t Test, o runOpts) (schema.RunSample, []float64) {
	var nonce string
	var seed uint64
	if o.fixed != nil {
		nonce, seed = o.fixed.nonce, o.fixed.seed
	} else {
		nonce, seed = e.nonce.next()
	}
	pr, err := e.prepareRun(ctx, t, o, nonce, seed)
	if err != nil {
		return pr.cancelled(err), nil
	}
	rs, itl, _ := e.sendRun(ctx, t, o, pr)
	return rs, itl
}

// preparedRun is a request of a test with its prompt built, ready to send.
type preparedRun struct {
	target, maxTokens int
	words, userTokens int // the prompt's filler words and own token count
	r                 request
}

// cancelled is the sample of a run whose prompt could not be built (ctx done).
func (p preparedRun) cancelled(err error) schema.RunSample {
	return schema.RunSample{
		PromptTokensTarget: p.target, MaxTokens: p.maxTokens,
		Error: "cancelled: " + err.Error(), ErrorKind: schema.ErrKindCancelled,
	}
}

// prepareRun builds the prompt of one request of test t from a marker and seed.
func (e *Engine) prepareRun(ctx context.Context, t Test, o runOpts, nonce string, seed uint64) (preparedRun, error) {
	p := preparedRun{target: t.PromptTokens, maxTokens: t.MaxTokens}
	ctxSize := t.CtxSize
	if o.prompt > 0 {
		p.target, ctxSize = o.prompt, o.ctx
	}
	if o.maxTokens > 0 {
		p.maxTokens = o.maxTokens
	}
	if o.warmup {
		p.maxTokens = min(p.maxTokens, WarmupMaxTokens)
		if t.WarmupPromptTokens > 0 {
			p.target = t.WarmupPromptTokens
		}
	}
	text, words, userTokens, predicted, err := e.buildPrompt(ctx, nonce, seed, p.target)
	if err != nil {
		return p, err
	}
	p.words, p.userTokens = words, userTokens
	p.r = request{user: text, maxTokens: p.maxTokens, ctxSize: ctxSize, warm: t.WarmCache, promptTokens: predicted}
	return p, nil
}

// sendRun sends a prepared request and measures it. It is safe to call from
// several goroutines at once when o.series is nil.
func (e *Engine) sendRun(ctx context.Context, t Test, o runOpts, p preparedRun) (schema.RunSample, []float64, *measurement) {
	r := p.r
	if o.series != nil {
		o.series.begin()
		r.onTokens = o.series.on
	}
	m := e.do(ctx, r)
	if o.series != nil {
		o.series.end(m)
	}
	if m.err == nil && m.haveUsage {
		e.learn(p.words, p.userTokens, m.promptTokens)
	}
	rs, itl := m.sample(sampleSpec{promptTarget: p.target, promptPredicted: r.promptTokens, maxTokens: p.maxTokens, warm: t.WarmCache,
		templatePrefix: e.calibration().prefix})
	rs.Warnings = append(rs.Warnings, m.warnings...)
	if e.afterRun != nil {
		e.afterRun(o.warmup, m, rs)
	}
	e.logger().Debug("run", "test", t.ID, "warmup", o.warmup, "success", rs.Success, "kind", rs.ErrorKind,
		"prompt", rs.PromptTokens, "target", p.target, "out", rs.OutputTokens, "ttft_s", rs.TTFTS, "tps", rs.TPS,
		"server_tps", rs.ServerTPS, "err", rs.Error)
	return rs, itl, m
}

// seriesRec collects a stress test's time series across its timed runs.
type seriesRec struct {
	t0       time.Time
	interval time.Duration
	gpu      *gpu.Recorder

	lastAt  time.Time
	lastTok int
	points  []schema.SeriesPoint
}

func (s *seriesRec) begin() { s.lastAt, s.lastTok = time.Time{}, 0 }

func (s *seriesRec) on(at time.Time, tokens int) {
	if s.lastAt.IsZero() {
		s.lastAt, s.lastTok = at, tokens
		return
	}
	if at.Sub(s.lastAt) < s.interval {
		return
	}
	s.add(at, tokens)
}

// end adds the request's last stretch when it holds tokens.
func (s *seriesRec) end(m *measurement) {
	if m.err != nil || s.lastAt.IsZero() || m.lastToken.IsZero() {
		return
	}
	if n := m.tokensSoFar(); n > s.lastTok && m.lastToken.After(s.lastAt) {
		s.add(m.lastToken, n)
	}
}

func (s *seriesRec) add(at time.Time, tokens int) {
	p := schema.SeriesPoint{
		T:      round(at.Sub(s.t0).Seconds(), 3),
		Tokens: tokens,
		TPS:    round(float64(tokens-s.lastTok)/at.Sub(s.lastAt).Seconds(), 3),
	}
	if s.gpu != nil {
		p.TempC, p.PowerW, p.SMClockMHz = gpuNow(s.gpu)
	}
	s.points = append(s.points, p)
	s.lastAt, s.lastTok = at, tokens
}

// gpuNow summarises the latest readings of the recorder's GPUs (those in its
// Indexes): the hottest
// temperature, the summed power and the mean SM clock.
func gpuNow(r *gpu.Recorder) (temp, power, clock *float64) {
	var tMax, pSum, cSum float64
	var nT, nP, nC int
	for _, rd := range r.Latest() {
		if rd.TempC != nil {
			if nT == 0 || *rd.TempC > tMax {
				tMax = *rd.TempC
			}
			nT++
		}
		if rd.PowerW != nil {
			pSum += *rd.PowerW
			nP++
		}
		if rd.SMClockMHz != nil {
			cSum += *rd.SMClockMHz
			nC++
		}
	}
	if nT > 0 {
		temp = &tMax
	}
	if nP > 0 {
		power = &pSum
	}
	if nC > 0 {
		c := cSum / float64(nC)
		clock = &c
	}
	return temp, power, clock
}

// warmup sends a test's warmup request into b.WarmupRun. It returns the fixed
// prompt seed when the test asks for a warm cache, and false when the test must
// end there (server refused or run cancelled), with b already summarised.
func (e *Engine) warmup(ctx context.Context, t Test, b *schema.Benchmark) (*promptSeed, bool) {
	var fixed *promptSeed
	if t.WarmCache {
		nonce, seed := e.nonce.next()
		fixed = &promptSeed{nonce: nonce, seed: seed}
		b.Notes = append(b.Notes, "warm cache asked for: every request sends the same prompt and the server may cache it")
	}
	warm, _ := e.runOnce(ctx, t, runOpts{warmup: true, fixed: fixed})
	b.WarmupRun = &warm
	switch warm.ErrorKind {
	case schema.ErrKindConnectionRefused, schema.ErrKindCancelled:
		b.Error = "warmup failed: " + warm.Error
		aggregate(b, nil)
		return fixed, false
	case schema.ErrKindTimeout:
		// A warmup of at most WarmupMaxTokens tokens that ran out of time says
		// the timed runs would too: they are not sent.
		b.Error = "warmup failed: " + warm.Error + "; the timed runs were not sent"
		aggregate(b, nil)
		return fixed, false
	}
	return fixed, true
}
