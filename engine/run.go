package engine

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/typhonbench/typhon/gpu"
	"github.com/typhonbench/typhon/schema"
)

// MaxWallSteps bounds the requests of one memory wall search.
const MaxWallSteps = 12

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
	b.Notes = append(b.Notes, e.calibration().source)
	if e.kind() == KindOllama {
		b.Notes = append(b.Notes, fmt.Sprintf("Ollama's native /api/chat with num_ctx %s, so the test's context is really allocated (truncate and shift off: a prompt that does not fit fails instead of being cut)", Thousands(t.CtxSize)))
	}
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
		itl = append(itl, runITL...)
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

type promptSeed struct {
	nonce string
	seed  uint64
}

type runOpts struct {
	warmup bool
	fixed  *promptSeed // the same prompt for every request (warm cache)
	series *seriesRec
	// prompt and ctx override the test's (memory wall steps).
	prompt, ctx int
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
	if o.warmup {
		p.maxTokens = min(p.maxTokens, WarmupMaxTokens)
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
	rs, itl := m.sample(sampleSpec{promptTarget: p.target, promptPredicted: r.promptTokens, maxTokens: p.maxTokens, warm: t.WarmCache})
	rs.Warnings = append(rs.Warnings, m.warnings...)
	if e.afterRun != nil {
		e.afterRun(o.warmup, m, rs)
	}
	e.logger().Debug("run", "test", t.ID, "warmup", o.warmup, "success", rs.Success, "kind", rs.ErrorKind,
		"prompt", rs.PromptTokens, "target", p.target, "out", rs.OutputTokens, "ttft_s", rs.TTFTS, "tps", rs.TPS,
		"server_tps", rs.ServerTPS, "err", rs.Error)
	return rs, itl, m
}

// aggregate fills a Benchmark's averages and statistics from its timed runs.
func aggregate(b *schema.Benchmark, itl []float64) {
	var tps, ttft, elapsed, prefill, server []float64
	b.SuccessfulRuns = 0
	for _, r := range b.Runs {
		if !r.Success {
			continue
		}
		b.SuccessfulRuns++
		elapsed = append(elapsed, r.ElapsedS)
		if r.TTFTS > 0 {
			ttft = append(ttft, r.TTFTS)
		}
		if r.TPS > 0 {
			tps = append(tps, r.TPS)
		}
		if r.PrefillTPS > 0 {
			prefill = append(prefill, r.PrefillTPS)
		}
		if r.ServerTPS > 0 {
			server = append(server, r.ServerTPS)
		}
	}
	b.AvgTPS = round(Mean(tps), 3)
	if len(tps) > 0 {
		b.BestTPS = slices.Max(tps)
	}
	b.AvgElapsedS = round(Mean(elapsed), 6)
	b.AvgTTFTS = round(Mean(ttft), 6)
	b.AvgPrefillTPS = round(Mean(prefill), 3)
	b.AvgServerTPS = round(Mean(server), 3)
	if b.SuccessfulRuns > 0 {
		st := &schema.Stats{
			TTFTP50S: round(Percentile(ttft, 50), 6),
			TTFTP90S: round(Percentile(ttft, 90), 6),
			TTFTP99S: round(Percentile(ttft, 99), 6),
		}
		if len(tps) > 0 {
			st.TPSMin = slices.Min(tps)
			st.TPSMedian = round(Median(tps), 3)
			st.TPSStdev = round(Stdev(tps), 3)
		}
		if len(itl) > 0 {
			st.ITLP50MS = round(Percentile(itl, 50), 3)
			st.ITLP90MS = round(Percentile(itl, 90), 3)
			st.ITLP99MS = round(Percentile(itl, 99), 3)
		}
		b.Stats = st
	}
	if b.SuccessfulRuns == 0 && len(b.Runs) > 0 && b.Error == "" {
		kinds := map[string]int{}
		for _, r := range b.Runs {
			kinds[r.ErrorKind]++
		}
		var parts []string
		for _, k := range slices.Sorted(mapsKeys(kinds)) {
			parts = append(parts, fmt.Sprintf("%d %s", kinds[k], k))
		}
		b.Error = fmt.Sprintf("every run failed (%s); first: %s", strings.Join(parts, ", "), b.Runs[0].Error)
	}
}

func mapsKeys(m map[string]int) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
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

// memoryWall grows the prompt past the test's context by doubling until a request
// fails, then bisects between the last size that worked and the first that failed.
// Where the server's context is known (not Ollama, which allocates what it is
// asked for), the search stops at it: the largest prompt that fits with its output
// is tried, then one that cannot fit, to record how the server refuses it.
func (e *Engine) memoryWall(ctx context.Context, t Test, b *schema.Benchmark) {
	mw := &schema.MemoryWall{Steps: []schema.MemoryWallStep{}}
	b.MemoryWall = mw
	limit := 0
	if e.kind() != KindOllama {
		limit = e.Target.CtxSize
	}
	const margin = 64
	maxFit := 0
	if limit > 0 {
		maxFit = limit - t.MaxTokens - 8
	}
	ollama := e.kind() == KindOllama
	var win *gpu.Window
	if e.GPU != nil {
		win = e.GPU.Open()
	}
	lo, hi := 0, 0 // largest prompt that worked, smallest that failed
	triedLimit := false
	failure := ""
	p := 2*t.CtxSize - t.MaxTokens - margin
	var itl []float64
	for step := 0; step < MaxWallSteps && ctx.Err() == nil; step++ {
		if step > 0 {
			switch {
			case hi == 0 && limit > 0 && lo >= maxFit:
				// The largest prompt that fits worked: probe past the context once.
				if triedLimit {
					p = 0
				} else {
					p, triedLimit = limit, true
				}
			case hi == 0:
				p = lo * 2
				if limit > 0 && p > maxFit {
					p = maxFit
				}
			default:
				if hi-lo <= max(256, lo/16) || (limit > 0 && hi >= limit && lo >= maxFit) {
					p = 0
				} else {
					p = (lo + hi) / 2
				}
			}
		} else if limit > 0 && p > maxFit {
			p = maxFit
		}
		if p <= 0 {
			break
		}
		ctxSize := 0
		if ollama {
			ctxSize = (p + t.MaxTokens + margin + 255) / 256 * 256
		}
		var sw *gpu.Window
		if e.GPU != nil {
			sw = e.GPU.Open()
		}
		rs, runITL := e.runOnce(ctx, t, runOpts{prompt: p, ctx: ctxSize})
		st := schema.MemoryWallStep{PromptTokens: p, Success: rs.Success, ErrorKind: rs.ErrorKind, Error: rs.Error, TTFTS: rs.TTFTS}
		if rs.Success && rs.PromptTokens > 0 {
			st.PromptTokens = rs.PromptTokens
		}
		if sw != nil {
			if g := sw.Close(); g.PeakVRAMUsedMB != nil {
				st.PeakVRAMMB = g.PeakVRAMUsedMB
			}
		}
		if rs.ErrorKind == schema.ErrKindCancelled {
			break
		}
		mw.Steps = append(mw.Steps, st)
		b.Runs = append(b.Runs, rs)
		itl = append(itl, runITL...)
		if rs.Success {
			lo = max(lo, st.PromptTokens)
			if limit > 0 && p >= limit {
				// The server took a prompt as long as its reported context: the
				// context was not the limit after all.
				limit, maxFit = 0, 0
			}
			continue
		}
		hi = p
		if hi <= lo {
			hi = lo + 1
		}
		mw.FailedPromptTokens, mw.FailureKind = p, rs.ErrorKind
		failure = rs.Error
		if rs.ErrorKind == schema.ErrKindConnectionRefused {
			b.Error = "the server stopped accepting connections during the search: " + rs.Error
			break
		}
	}
	if win != nil {
		b.GPUStats = win.Close()
	}
	mw.LastOKPromptTokens = lo
	mw.Failure = failure
	b.NRuns = len(b.Runs)
	switch {
	case ctx.Err() != nil && b.Error == "":
		b.Error = "cancelled during the search: " + ctx.Err().Error()
	case hi == 0 && b.Error == "" && len(mw.Steps) > 0:
		b.Notes = append(b.Notes, fmt.Sprintf("no wall found within %d steps: the largest prompt tried (%s tokens) worked", len(mw.Steps), Thousands(lo)))
	case hi > 0 && limit > 0 && hi >= limit:
		b.Notes = append(b.Notes, fmt.Sprintf("wall between %s and %s prompt tokens (%s): the server's context of %s tokens per request",
			Thousands(lo), Thousands(mw.FailedPromptTokens), mw.FailureKind, Thousands(limit)))
	case hi > 0:
		b.Notes = append(b.Notes, fmt.Sprintf("wall between %s and %s prompt tokens (%s)", Thousands(lo), Thousands(mw.FailedPromptTokens), mw.FailureKind))
	}
	aggregate(b, itl)
	if b.SuccessfulRuns == 0 && len(b.Runs) > 0 {
		// Failing is how a search ends; only a search without any success is an error.
		b.Error = "no prompt size worked: " + b.Runs[0].Error
	}
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
