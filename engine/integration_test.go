package engine

// Integration tests against the test bed's real llama-server and Ollama (package
// internal/testbed; they skip when it is not provisioned, unless
// TYPHON_REQUIRE_SERVERS=1). They run one after another, before the unit tests,
// so that their timings are not disturbed by this package's parallel tests.
//
// The fidelity figures (our clock against the server's) are printed with -v:
//
//	go test -run Fidelity -v ./engine

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/typhonbench/typhon/internal/stats"
	"github.com/typhonbench/typhon/internal/testbed"
	"github.com/typhonbench/typhon/schema"
)

// integrationTests returns the baseline and sweep tests of a quick plan made small:
// one timed run each, and a short output for the sweep.
func integrationTests(t *testing.T, sweepCtx int) (baseline, sweep Test) {
	t.Helper()
	p, err := BuildPlan(ModeQuick, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range p.Tests {
		switch tt.ID {
		case TestBaseline:
			baseline = tt
		case fmt.Sprint(SweepPrefix, sweepCtx):
			sweep = tt
		}
	}
	if baseline.ID == "" || sweep.ID == "" {
		t.Fatalf("quick plan lacks %s or the %d sweep", TestBaseline, sweepCtx)
	}
	baseline.Runs = 2
	sweep.Runs = 1
	sweep.MaxTokens = 32
	return baseline, sweep
}

// checkExact checks that every run of b succeeded with exactly the asked output
// and a prompt within 1% of the target (for prompts long enough to reach it).
func checkExact(t *testing.T, b schema.Benchmark, perChunkCounts bool) {
	t.Helper()
	if b.SuccessfulRuns != b.NRuns || b.NRuns == 0 {
		t.Errorf("%s: %d of %d runs succeeded; error %q", b.TestID, b.SuccessfulRuns, b.NRuns, b.Error)
	}
	runs := append([]schema.RunSample{*b.WarmupRun}, b.Runs...)
	for i, r := range runs {
		name := fmt.Sprintf("%s run %d", b.TestID, i)
		if !r.Success {
			t.Errorf("%s failed: %s: %s", name, r.ErrorKind, r.Error)
			continue
		}
		if r.OutputTokens != r.MaxTokens || r.StoppedEarly {
			t.Errorf("%s: output_tokens %d, want exactly %d", name, r.OutputTokens, r.MaxTokens)
		}
		if perChunkCounts && r.ChunkTokens != r.OutputTokens {
			t.Errorf("%s: chunk_tokens %d, usage %d: want equal", name, r.ChunkTokens, r.OutputTokens)
		}
		if b.Category == schema.CategoryContextSweep {
			if off := float64(r.PromptTokens-r.PromptTokensTarget) / float64(r.PromptTokensTarget); off > 0.01 || off < -0.01 {
				t.Errorf("%s: prompt_tokens %d, %+.2f%% off the target %d, want within 1%%", name, r.PromptTokens, off*100, r.PromptTokensTarget)
			}
		}
		buffered := r.Excluded == schema.ExcludedBuffered // no decode speed of ours, said below
		if !(r.TTFTS > 0 && r.TTFTS <= r.ElapsedS) || (r.TPS <= 0 && !buffered) || r.ServerTPS <= 0 {
			t.Errorf("%s: ttft_s %v, elapsed_s %v, tps %v, server_tps %v: want 0 < ttft < elapsed and speeds", name, r.TTFTS, r.ElapsedS, r.TPS, r.ServerTPS)
		}
		switch {
		case r.Excluded == schema.ExcludedBuffered:
			// On two shared cores the client can be kept off the CPU while a tiny
			// model decodes a whole answer: the tokens then wait in the socket and
			// come in one read. The engine must say so and keep the run out.
			t.Logf("%s: excluded as buffered (the client did not run while the server decoded): %q", name, r.Warnings)
		case r.Excluded != "":
			t.Errorf("%s: excluded as %s: %q", name, r.Excluded, r.Warnings)
		case len(r.Warnings) > 0:
			t.Errorf("%s: warnings %q", name, r.Warnings)
		}
		t.Logf("%s: prompt %d/%d, out %d, ttft %.4f s, tps %.1f (server %.1f), prefill %.0f/s, cache %s",
			name, r.PromptTokens, r.PromptTokensTarget, r.OutputTokens, r.TTFTS, r.TPS, r.ServerTPS, r.PrefillTPS, r.CacheState)
	}
}

func TestIntegrationLlamaServer(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test")
	}
	srv := testbed.LlamaServer(t, testbed.Options{CtxSize: 2048})
	e := &Engine{Target: Target{BaseURL: srv.URL, Model: srv.Model, Kind: srv.Kind, CtxSize: 2048}}
	if err := e.Prepare(t.Context()); err != nil {
		t.Fatalf("Prepare: %v", err)
	}
	if cal := e.calibration(); !cal.tokenize || cal.tokStyle != tokStyleLlamaChat {
		t.Errorf("calibration %+v, want llama.cpp's /apply-template + /tokenize", cal)
	}

	t.Run("baseline and sweep exact", func(t *testing.T) {
		baseline, sweep := integrationTests(t, 2048)
		for _, tt := range []Test{baseline, sweep} {
			b := e.RunTest(t.Context(), tt)
			checkExact(t, b, true)
			for _, r := range append([]schema.RunSample{*b.WarmupRun}, b.Runs...) {
				if r.CacheState != "cold" || r.CachedPromptTokens == nil || *r.CachedPromptTokens != 0 {
					t.Errorf("%s: cache_state %q, cached %v, want cold with 0 cached", tt.ID, r.CacheState, r.CachedPromptTokens)
				}
				if r.PromptTokens != r.PromptTokensTarget && tt.Category == schema.CategoryContextSweep {
					t.Logf("%s: prompt_tokens %d, target %d (a word is several tokens in the tiny vocabulary)", tt.ID, r.PromptTokens, r.PromptTokensTarget)
				}
			}
		}
	})

	t.Run("identical requests are not cached", func(t *testing.T) {
		nonce, seed := e.nonce.next()
		text, _, _, predicted, err := e.buildPrompt(t.Context(), nonce, seed, 600)
		if err != nil {
			t.Fatal(err)
		}
		for i := range 2 {
			m := e.do(t.Context(), request{user: text, maxTokens: 4, promptTokens: predicted})
			if m.err != nil {
				t.Fatalf("request %d: %s: %v", i, m.kind, m.err)
			}
			if m.cached == nil || *m.cached != 0 {
				t.Errorf("request %d of two identical ones: cached prompt tokens %v, want 0 (cache_prompt false)", i, m.cached)
			}
			if m.server.promptN != m.promptTokens {
				t.Errorf("request %d: the server processed %d of %d prompt tokens, want all", i, m.server.promptN, m.promptTokens)
			}
		}
	})

	t.Run("too long a prompt is http_400 with the server's reason", func(t *testing.T) {
		tt := Test{ID: "too_long", Category: schema.CategoryContextSweep, CtxSize: 4096, PromptTokens: 3000, MaxTokens: 8, Runs: 1}
		b := e.RunTest(t.Context(), tt)
		r := b.WarmupRun
		if r == nil || r.ErrorKind != "http_400" || !strings.Contains(r.Error, "context") {
			t.Errorf("warmup %+v, want http_400 naming the context", r)
		}
	})
}

func TestIntegrationOllama(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test")
	}
	// Ollama's default context (2,048) is smaller than the 4,096 sweep: the engine
	// must ask for num_ctx, or the prompt would be cut.
	srv := testbed.Ollama(t, testbed.Options{CtxSize: 2048})
	e := &Engine{Target: Target{BaseURL: srv.URL, Model: srv.Model, Kind: srv.Kind, CtxSize: 2048}}
	if err := e.Prepare(t.Context()); err != nil {
		t.Fatalf("Prepare: %v", err)
	}
	baseline, sweep := integrationTests(t, 4096)
	b := e.RunTest(t.Context(), baseline)
	checkExact(t, b, false)
	if !strings.Contains(strings.Join(b.Notes, " "), "num_ctx "+Thousands(baseline.CtxSize)) {
		t.Errorf("%s notes %q, want num_ctx said", baseline.ID, b.Notes)
	}
	// One request of the 4,096 sweep (Ollama prefills the tiny model slowly on
	// CPU): calibrated on the probes alone, as a timed run sends it.
	r, _ := e.runOnce(t.Context(), sweep, runOpts{})
	b = schema.Benchmark{TestID: sweep.ID, Category: sweep.Category, NRuns: 1, WarmupRun: &r, Runs: []schema.RunSample{r}}
	aggregate(&b, nil)
	checkExact(t, b, false)
}

func TestIntegrationCrash(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test")
	}
	srv := testbed.LlamaServer(t, testbed.Options{CtxSize: 2048})
	e := &Engine{Target: Target{BaseURL: srv.URL, Model: srv.Model, Kind: srv.Kind, CtxSize: 2048}}
	if err := e.Alive(t.Context()); err != nil {
		t.Fatalf("Alive before the crash: %v", err)
	}
	nonce, seed := e.nonce.next()
	text, _, _, predicted, err := e.buildPrompt(t.Context(), nonce, seed, 200)
	if err != nil {
		t.Fatal(err)
	}
	// Kill the server while it streams a long answer.
	killed := make(chan error, 1)
	r := request{user: text, maxTokens: 1500, promptTokens: predicted}
	var once bool
	r.onTokens = func(_ time.Time, n int) {
		if n >= 5 && !once {
			once = true
			go func() { killed <- srv.Kill() }()
		}
	}
	m := e.do(t.Context(), r)
	if err := <-killed; err != nil {
		t.Fatalf("Kill: %v", err)
	}
	if m.err == nil || !slices.Contains([]string{schema.ErrKindStreamBroken, schema.ErrKindConnectionRefused}, m.kind) {
		t.Errorf("request during the crash: %s %v, want stream_broken or connection_refused", m.kind, m.err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	m = e.do(ctx, request{user: text, maxTokens: 4, promptTokens: predicted})
	if m.kind != schema.ErrKindConnectionRefused {
		t.Errorf("request after the crash: %s %v, want connection_refused", m.kind, m.err)
	}
	if err := e.Alive(ctx); err == nil {
		t.Error("Alive after the crash = nil, want an error")
	}
}

// fidelityFigures compare our clock with the server's over the timed runs of one
// test: decode speed ratio and how much our TTFT exceeds the server's prompt time.
type fidelityFigures struct {
	runs              int
	ratioMedian       float64 // median of tps / server_tps
	ratioMin          float64
	ratioMax          float64
	ratioAdjMedian    float64 // against the server's (n-1)/duration where it reports n/duration (Ollama)
	ratioStampMedian  float64 // against the server's own stamps of the first and last token chunks (Ollama's created_at), 0 if none
	excessMedianMS    float64 // median of ttft - server prompt time
	excessMinMS       float64
	excessMaxMS       float64
	tpsMedian         float64
	serverTPSMedian   float64
	promptMSMedian    float64
	negativeExcessRun string // a run whose TTFT was shorter than the server's prompt time
}

func (f fidelityFigures) String() string {
	s := fmt.Sprintf("%d runs: tps/server_tps median %.4f (min %.4f, max %.4f; against (n-1)/duration %.4f",
		f.runs, f.ratioMedian, f.ratioMin, f.ratioMax, f.ratioAdjMedian)
	if f.ratioStampMedian > 0 {
		s += fmt.Sprintf("; against the server's own chunk stamps %.4f", f.ratioStampMedian)
	}
	return s + fmt.Sprintf("); ttft - server prompt time: median %.2f ms (min %.2f, max %.2f); tps median %.1f, server %.1f; server prompt %.2f ms",
		f.excessMedianMS, f.excessMinMS, f.excessMaxMS, f.tpsMedian, f.serverTPSMedian, f.promptMSMedian)
}

// fidelity runs a short-prompt test of runs timed runs with 256 output tokens and
// compares our figures with the server's.
func fidelity(tb testing.TB, e *Engine, runs int, serverCountsFirst bool) fidelityFigures {
	tb.Helper()
	tt := Test{ID: "fidelity", Name: "Fidelity", Category: schema.CategoryBaseline, CtxSize: BaselineCtx,
		PromptTokens: BaselinePromptTokens, MaxTokens: 256, Runs: runs}
	var stamped []float64
	e.afterRun = func(warmup bool, m *measurement, rs schema.RunSample) {
		if warmup || !rs.Success || m.serverFirst.IsZero() || !m.serverLast.After(m.serverFirst) {
			return
		}
		n := float64(rs.OutputTokens)
		stamped = append(stamped, rs.TPS/((n-1)/m.serverLast.Sub(m.serverFirst).Seconds()))
	}
	defer func() { e.afterRun = nil }()
	b := e.RunTest(tb.Context(), tt)
	var ratio, adj, excess, tps, server, prompt []float64
	f := fidelityFigures{}
	for i, r := range b.Runs {
		if !r.Success {
			tb.Fatalf("run %d: %s: %s", i, r.ErrorKind, r.Error)
		}
		if r.ServerTPS <= 0 || r.ServerPromptMS <= 0 {
			tb.Fatalf("run %d: no server figures: %+v", i, r)
		}
		ratio = append(ratio, r.TPS/r.ServerTPS)
		n := float64(r.OutputTokens)
		if serverCountsFirst {
			adj = append(adj, r.TPS/(r.ServerTPS*(n-1)/n))
		} else {
			adj = append(adj, r.TPS/r.ServerTPS)
		}
		ex := r.TTFTS*1000 - r.ServerPromptMS
		excess = append(excess, ex)
		if ex < -0.002 && f.negativeExcessRun == "" {
			f.negativeExcessRun = fmt.Sprintf("run %d: ttft %.6f s < server prompt time %.3f ms", i, r.TTFTS, r.ServerPromptMS)
		}
		tps = append(tps, r.TPS)
		server = append(server, r.ServerTPS)
		prompt = append(prompt, r.ServerPromptMS)
	}
	f.runs = len(ratio)
	f.ratioMedian, f.ratioMin, f.ratioMax = stats.Median(ratio), slices.Min(ratio), slices.Max(ratio)
	f.ratioAdjMedian = stats.Median(adj)
	f.ratioStampMedian = stats.Median(stamped)
	f.excessMedianMS, f.excessMinMS, f.excessMaxMS = stats.Median(excess), slices.Min(excess), slices.Max(excess)
	f.tpsMedian, f.serverTPSMedian, f.promptMSMedian = stats.Median(tps), stats.Median(server), stats.Median(prompt)
	return f
}

// checkFidelity asserts what does not depend on the machine's load: the server
// cannot have spent longer on the prompt than we waited for the first token, and
// our decode speed matches the server's clock. The tolerance leaves room for a
// loaded machine; 1% is the goal, and the figures are printed. The 10 ms TTFT
// excess is a speed goal: printed, not asserted.
func checkFidelity(t *testing.T, f fidelityFigures, ratio, tolerance float64) {
	t.Helper()
	t.Logf("fidelity: %s", f)
	if f.negativeExcessRun != "" {
		t.Errorf("our clock is wrong: %s", f.negativeExcessRun)
	}
	if d := ratio - 1; d > tolerance || d < -tolerance {
		t.Errorf("median tps / server tps = %.4f, want within %.0f%% of 1 (1%% is the goal)", ratio, tolerance*100)
	}
}

func TestFidelityLlamaServer(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test")
	}
	srv := testbed.LlamaServer(t, testbed.Options{CtxSize: 2048})
	e := &Engine{Target: Target{BaseURL: srv.URL, Model: srv.Model, Kind: srv.Kind, CtxSize: 2048}}
	f := fidelity(t, e, 10, false)
	checkFidelity(t, f, f.ratioMedian, 0.02)
}

func TestFidelityOllama(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test")
	}
	srv := testbed.Ollama(t, testbed.Options{CtxSize: 2048})
	e := &Engine{Target: Target{BaseURL: srv.URL, Model: srv.Model, Kind: srv.Kind, CtxSize: 2048}}
	f := fidelity(t, e, 6, true)
	// Ollama's eval_duration sums only its decode calls over eval_count-1 tokens:
	// sampling and the way from its runner through its HTTP server are outside it,
	// and inside our clock, so tps / server_tps sits a few percent under 1 (printed).
	// The check is against the same interval on Ollama's own clock: the created_at
	// stamps of the first and last token chunks.
	if f.ratioStampMedian == 0 {
		t.Fatalf("no created_at stamps in Ollama's chunks: %s", f)
	}
	checkFidelity(t, f, f.ratioStampMedian, 0.02)
}

// BenchmarkFidelity reports the fidelity figures as metrics:
//
//	go test -run '^$' -bench Fidelity -benchtime 1x ./engine
func BenchmarkFidelity(b *testing.B) {
	for _, kind := range []string{testbed.KindLlama, testbed.KindOllama} {
		b.Run(kind, func(b *testing.B) {
			var srv *testbed.Server
			if kind == testbed.KindLlama {
				srv = testbed.LlamaServer(b, testbed.Options{CtxSize: 2048})
			} else {
				srv = testbed.Ollama(b, testbed.Options{CtxSize: 2048})
			}
			e := &Engine{Target: Target{BaseURL: srv.URL, Model: srv.Model, Kind: srv.Kind, CtxSize: 2048}}
			var f fidelityFigures
			for b.Loop() {
				f = fidelity(b, e, 10, kind == testbed.KindOllama)
			}
			b.ReportMetric(f.ratioMedian, "tps/server")
			b.ReportMetric(f.ratioAdjMedian, "tps/server(n-1)")
			if f.ratioStampMedian > 0 {
				b.ReportMetric(f.ratioStampMedian, "tps/server-stamps")
			}
			b.ReportMetric(f.excessMedianMS, "ttft-excess-ms")
			b.ReportMetric(f.excessMinMS, "ttft-excess-min-ms")
			b.ReportMetric(f.tpsMedian, "tps")
			b.Logf("%s fidelity: %s", kind, f)
		})
	}
}
