package engine_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/typhonbench/typhon/engine"
	"github.com/typhonbench/typhon/engine/enginetest"
	"github.com/typhonbench/typhon/gpu"
	"github.com/typhonbench/typhon/gpu/gputest"
	"github.com/typhonbench/typhon/internal/leaktest"
	"github.com/typhonbench/typhon/schema"
)

func newEngine(url string, kind schema.Kind) *engine.Engine {
	return &engine.Engine{Target: engine.Target{BaseURL: url, Model: "fake", Kind: kind}}
}

func baseTest(prompt, maxTokens, runs int) engine.Test {
	return engine.Test{ID: "t", Name: "T", Category: schema.CategoryBaseline, CtxSize: 4096,
		PromptTokens: prompt, MaxTokens: maxTokens, Runs: runs}
}

// probe reports whether a request is one of the engine's calibration probes (one
// output token).
func probe(r enginetest.Request) bool { return r.MaxTokens == 1 }

// allRuns returns the warmup and the timed runs.
func allRuns(b schema.Benchmark) []schema.RunSample {
	var out []schema.RunSample
	if b.WarmupRun != nil {
		out = append(out, *b.WarmupRun)
	}
	return append(out, b.Runs...)
}

func TestRunTestStreams(t *testing.T) {
	t.Parallel()
	const maxTokens = 24
	tests := []struct {
		name   string
		stream enginetest.Stream
		engine func(e *engine.Engine)
		check  func(t *testing.T, r schema.RunSample)
	}{
		{
			name:   "one token per chunk with llama.cpp timings",
			stream: enginetest.Stream{Timings: true, Interval: time.Millisecond, CachedTokens: new(0)},
			check: func(t *testing.T, r schema.RunSample) {
				want(t, "chunks", r.Chunks, r.OutputTokens)
				want(t, "chunk_tokens", r.ChunkTokens, r.OutputTokens)
				want(t, "cache_state", r.CacheState, "cold")
				if r.ServerTPS <= 0 {
					t.Errorf("server_tps = %v, want the server's figure", r.ServerTPS)
				}
			},
		},
		{
			name:   "four tokens per chunk",
			stream: enginetest.Stream{Timings: true, TokensPerChunk: 4, Interval: time.Millisecond},
			check: func(t *testing.T, r schema.RunSample) {
				want(t, "chunks", r.Chunks, (r.MaxTokens+3)/4)
				want(t, "chunk_tokens", r.ChunkTokens, r.MaxTokens)
			},
		},
		{
			// The role chunk comes at once, the first token after 30 ms: TTFT must
			// be the token's.
			name:   "role-only first chunk",
			stream: enginetest.Stream{RoleChunk: true, FirstDelay: 30 * time.Millisecond, Timings: true},
			check: func(t *testing.T, r schema.RunSample) {
				if r.TTFTS < 0.03 {
					t.Errorf("ttft_s = %v, want at least the 0.03 s before the first token (the role chunk is no token)", r.TTFTS)
				}
				want(t, "chunks", r.Chunks, r.OutputTokens)
			},
		},
		{
			name:   "reasoning before content",
			stream: enginetest.Stream{Reasoning: 5, Interval: 2 * time.Millisecond, Timings: true},
			check: func(t *testing.T, r schema.RunSample) {
				if r.FirstContentS <= r.TTFTS {
					t.Errorf("first_content_s = %v, want after ttft_s %v (reasoning came first)", r.FirstContentS, r.TTFTS)
				}
				want(t, "output_tokens", r.OutputTokens, r.MaxTokens)
			},
		},
		{
			name:   "no usage at all",
			stream: enginetest.Stream{NoUsage: true},
			check: func(t *testing.T, r schema.RunSample) {
				want(t, "output_tokens", r.OutputTokens, r.MaxTokens)
				if r.PromptTokens <= 0 {
					t.Errorf("prompt_tokens = %d, want Typhon's own count", r.PromptTokens)
				}
				wantWarning(t, r, "no usage")
			},
		},
		{
			name:   "no usage, several tokens per chunk",
			stream: enginetest.Stream{NoUsage: true, TokensPerChunk: 3},
			check: func(t *testing.T, r schema.RunSample) {
				// Without counts the engine can only count chunks, and must say so.
				want(t, "output_tokens", r.OutputTokens, r.MaxTokens/3)
				wantWarning(t, r, "counted as chunks")
				// Fewer tokens than asked, as far as the engine can tell: kept
				// out of the averages.
				want(t, "excluded", r.Excluded, schema.ExcludedStoppedEarly)
			},
		},
		{
			name:   "usage without timings, several tokens per chunk",
			stream: enginetest.Stream{TokensPerChunk: 3, Interval: time.Millisecond},
			check: func(t *testing.T, r schema.RunSample) {
				want(t, "output_tokens", r.OutputTokens, r.MaxTokens)
				want(t, "chunks", r.Chunks, r.MaxTokens/3)
				wantWarning(t, r, "evenly spread")
			},
		},
		{
			// A server that never closes a finished stream: the run ends at the
			// stall timeout, a success timed to its last chunk.
			name:   "the stream stays open after the finish",
			stream: enginetest.Stream{Timings: true, NoDone: true, Hang: true},
			engine: func(e *engine.Engine) { e.StallTimeout = time.Second },
			check: func(t *testing.T, r schema.RunSample) {
				want(t, "output_tokens", r.OutputTokens, r.MaxTokens)
				if r.ElapsedS >= 1 {
					t.Errorf("elapsed_s = %v, want the last chunk's time, not the stall timeout's", r.ElapsedS)
				}
			},
		},
		{
			name:   "no [DONE]",
			stream: enginetest.Stream{NoDone: true, Timings: true},
			check: func(t *testing.T, r schema.RunSample) {
				want(t, "output_tokens", r.OutputTokens, r.MaxTokens)
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := enginetest.NewServer(tc.stream.Response)
			defer srv.Close()
			e := newEngine(srv.URL, engine.KindLlamaCpp)
			if tc.engine != nil {
				tc.engine(e)
			}
			b := e.RunTest(t.Context(), baseTest(60, maxTokens, 2))
			want(t, "successful_runs", b.SuccessfulRuns, 2)
			want(t, "runs", len(b.Runs), 2)
			if b.WarmupRun == nil {
				t.Fatal("no warmup_run")
			}
			for i, r := range allRuns(b) {
				t.Run(fmt.Sprint("run ", i), func(t *testing.T) {
					if !r.Success {
						t.Fatalf("run failed: %s: %s", r.ErrorKind, r.Error)
					}
					if !(r.TTFTS > 0 && r.TTFTS <= r.LastTokenS && r.LastTokenS <= r.ElapsedS) {
						t.Errorf("times out of order: ttft %v, last token %v, elapsed %v", r.TTFTS, r.LastTokenS, r.ElapsedS)
					}
					if r.FirstByteS <= 0 || r.FirstByteS > r.TTFTS {
						t.Errorf("first_byte_s = %v, want in (0, ttft %v]", r.FirstByteS, r.TTFTS)
					}
					if r.TPS <= 0 || r.PrefillTPS <= 0 {
						t.Errorf("tps = %v, prefill_tps = %v, want both > 0", r.TPS, r.PrefillTPS)
					}
					tc.check(t, r)
				})
			}
			if b.ValidRuns == 0 {
				want(t, "avg_tps", b.AvgTPS, 0)
			} else if b.AvgTPS <= 0 || b.BestTPS < b.AvgTPS || b.Stats == nil || b.Stats.TPSMedian <= 0 {
				t.Errorf("avg_tps %v, best_tps %v, stats %+v: want averages over the runs", b.AvgTPS, b.BestTPS, b.Stats)
			}
		})
	}
}

func TestRunTestErrors(t *testing.T) {
	t.Parallel()
	ok := enginetest.Stream{Timings: true}
	failTimed := func(fail enginetest.Response) enginetest.Script {
		return func(r enginetest.Request) enginetest.Response {
			if probe(r) {
				return ok.Response(r)
			}
			return fail
		}
	}
	long := strings.Repeat("x", 10_000)
	tests := []struct {
		name         string
		script       enginetest.Script
		engine       func(e *engine.Engine)
		kind         string
		errContains  string
		errLacks     string
		maxErrLength int
		// warmupOnly: a warmup that timed out ends the test (issue 14).
		warmupOnly bool
	}{
		{
			name: "http 400 keeps the server's message",
			script: failTimed(enginetest.Response{Status: 400,
				Body: `{"error":{"code":400,"message":"the request exceeds the available context size, try increasing it","type":"exceed_context_size_error"}}`}),
			kind:        "http_400",
			errContains: "the request exceeds the available context size",
		},
		{
			name:         "http 500 with a huge body is cut",
			script:       failTimed(enginetest.Response{Status: 500, Body: long}),
			kind:         "http_500",
			errContains:  "xxxx",
			maxErrLength: engine.MaxErrorBody + 100,
		},
		{
			name: "a stall after the first chunk",
			script: failTimed(enginetest.Response{Hang: true, Chunks: []enginetest.Chunk{
				{Data: `{"choices":[{"index":0,"delta":{"role":"assistant","content":null}}]}`},
			}}),
			engine:      func(e *engine.Engine) { e.StallTimeout = 200 * time.Millisecond },
			kind:        schema.ErrKindStreamBroken,
			errContains: "stalled",
			errLacks:    "refused",
		},
		{
			// Headers then silence is what a long prefill looks like on llama-server.
			name:        "silence after the headers until the deadline",
			script:      failTimed(enginetest.Response{Hang: true}),
			engine:      func(e *engine.Engine) { e.RequestTimeout = func(int) time.Duration { return 300 * time.Millisecond } },
			kind:        schema.ErrKindTimeout,
			errContains: "response headers came after",
			warmupOnly:  true,
			errLacks:    "refused",
		},
		{
			name:        "no headers before the deadline",
			script:      failTimed(enginetest.Response{HeaderDelay: 5 * time.Second}),
			engine:      func(e *engine.Engine) { e.RequestTimeout = func(int) time.Duration { return 200 * time.Millisecond } },
			kind:        schema.ErrKindTimeout,
			errContains: "deadline",
			warmupOnly:  true,
		},
		{
			// Tokens flowed, then the deadline passed: slow, not broken.
			name: "the deadline passes while tokens flow",
			script: failTimed(enginetest.Response{Hang: true, Chunks: []enginetest.Chunk{
				{Data: `{"choices":[{"index":0,"delta":{"content":" a"}}]}`},
				{Delay: 50 * time.Millisecond, Data: `{"choices":[{"index":0,"delta":{"content":" b"}}]}`},
				{Delay: 50 * time.Millisecond, Data: `{"choices":[{"index":0,"delta":{"content":" c"}}]}`},
			}}),
			engine: func(e *engine.Engine) {
				e.RequestTimeout = func(int) time.Duration { return 300 * time.Millisecond }
				e.StallTimeout = time.Minute
			},
			kind:        schema.ErrKindTimeout,
			errContains: "passed after",
			warmupOnly:  true,
		},
		{
			name: "the stream ends without finishing",
			script: failTimed(enginetest.Response{Chunks: []enginetest.Chunk{
				{Data: `{"choices":[{"index":0,"delta":{"content":" a"}}]}`},
				{Data: `{"choices":[{"index":0,"delta":{"content":" b"}}]}`},
			}}),
			kind:        schema.ErrKindStreamBroken,
			errContains: "before the completion finished",
		},
		{
			name: "an error inside the stream",
			script: failTimed(enginetest.Response{Chunks: []enginetest.Chunk{
				{Data: `{"choices":[{"index":0,"delta":{"content":" a"}}]}`},
				{Data: `{"error":{"message":"out of memory while decoding"}}`},
			}}),
			kind:        schema.ErrKindStreamBroken,
			errContains: "out of memory while decoding",
		},
		{
			name:        "a chunk that is not JSON",
			script:      failTimed(enginetest.Response{Chunks: []enginetest.Chunk{{Data: `<html>`}}}),
			kind:        schema.ErrKindBadResponse,
			errContains: "not JSON",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := enginetest.NewServer(tc.script)
			defer srv.Close()
			e := newEngine(srv.URL, engine.KindLlamaCpp)
			if tc.engine != nil {
				tc.engine(e)
			}
			b := e.RunTest(t.Context(), baseTest(60, 16, 2))
			runs := allRuns(b)
			if tc.warmupOnly {
				want(t, "requests recorded", len(runs), 1)
				if !strings.Contains(b.Error, "the timed runs were not sent") {
					t.Errorf("test error = %q, want it to say the timed runs were not sent", b.Error)
				}
			} else {
				want(t, "requests recorded", len(runs), 3)
			}
			want(t, "successful_runs", b.SuccessfulRuns, 0)
			for i, r := range runs {
				if r.Success {
					t.Errorf("run %d succeeded, want failure", i)
					continue
				}
				want(t, fmt.Sprint("run ", i, " error_kind"), r.ErrorKind, tc.kind)
				if !strings.Contains(r.Error, tc.errContains) {
					t.Errorf("run %d error = %q, want it to contain %q", i, r.Error, tc.errContains)
				}
				if tc.errLacks != "" && strings.Contains(r.Error, tc.errLacks) {
					t.Errorf("run %d error = %q, want no %q", i, r.Error, tc.errLacks)
				}
				if tc.maxErrLength > 0 && len(r.Error) > tc.maxErrLength {
					t.Errorf("run %d error is %d bytes, want at most %d", i, len(r.Error), tc.maxErrLength)
				}
			}
			if b.Error == "" {
				t.Error("benchmark error is empty, want why every run failed")
			}
		})
	}
}

func TestRunTestConnectionRefused(t *testing.T) {
	t.Parallel()
	url := closedURL(t)
	e := newEngine(url, engine.KindLlamaCpp)
	b := e.RunTest(t.Context(), baseTest(60, 16, 3))
	if b.WarmupRun == nil {
		t.Fatal("no warmup_run")
	}
	want(t, "warmup error_kind", b.WarmupRun.ErrorKind, schema.ErrKindConnectionRefused)
	want(t, "timed runs sent to a dead server", len(b.Runs), 0)
	if !strings.Contains(b.Error, "refused") {
		t.Errorf("benchmark error = %q, want the refusal", b.Error)
	}
	if err := e.Alive(t.Context()); !errors.Is(err, engine.ErrServerUnavailable) {
		t.Errorf("Alive = %v, want ErrServerUnavailable", err)
	}
}

func TestRunTestServerDiesMidTest(t *testing.T) {
	t.Parallel()
	var srv *enginetest.Server
	var once sync.Once
	ok := enginetest.Stream{Timings: true}
	srv = enginetest.NewServer(func(r enginetest.Request) enginetest.Response {
		if !probe(r) && r.N >= 3 { // the first timed run
			// Like a crash: the port closes and the connections break.
			once.Do(func() {
				go func() {
					srv.Listener.Close()
					srv.CloseClientConnections()
					srv.Close()
				}()
			})
			return enginetest.Response{Hang: true}
		}
		return ok.Response(r)
	})
	defer srv.Close()
	e := newEngine(srv.URL, engine.KindLlamaCpp)
	b := e.RunTest(t.Context(), baseTest(60, 16, 5))
	if len(b.Runs) == 0 || len(b.Runs) == 5 {
		t.Fatalf("%d timed runs, want the engine to stop sending after the refusal", len(b.Runs))
	}
	last := b.Runs[len(b.Runs)-1]
	want(t, "last run error_kind", last.ErrorKind, schema.ErrKindConnectionRefused)
	for _, r := range b.Runs {
		if r.ErrorKind == "" || r.Success {
			t.Errorf("run %+v succeeded on a dead server", r)
		}
	}
}

func TestAlive(t *testing.T) {
	t.Parallel()
	srv := enginetest.NewServer(nil)
	defer srv.Close()
	for _, kind := range []schema.Kind{engine.KindLlamaCpp, engine.KindVLLM, ""} {
		if err := newEngine(srv.URL, kind).Alive(t.Context()); err != nil {
			t.Errorf("Alive(%q) = %v, want nil", kind, err)
		}
	}
	loading := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, `{"error":{"message":"Loading model"}}`, http.StatusServiceUnavailable)
	}))
	defer loading.Close()
	err := newEngine(loading.URL, engine.KindLlamaCpp).Alive(t.Context())
	if !errors.Is(err, engine.ErrServerUnavailable) || !strings.Contains(err.Error(), "Loading model") {
		t.Errorf("Alive on a loading server = %v, want ErrServerUnavailable with its message", err)
	}
}

func TestRequestsUniqueAndDeterministic(t *testing.T) {
	t.Parallel()
	srv := enginetest.NewServer(enginetest.Stream{Timings: true}.Response)
	defer srv.Close()
	e := newEngine(srv.URL, engine.KindLlamaCpp)
	b := e.RunTest(t.Context(), baseTest(80, 8, 6))
	want(t, "successful_runs", b.SuccessfulRuns, 6)
	var timed []enginetest.Request
	for _, r := range srv.Requests() {
		if !probe(r) {
			timed = append(timed, r)
		}
	}
	want(t, "requests", len(timed), 7)
	for i, r := range timed {
		for k, v := range map[string]any{"cache_prompt": false, "ignore_eos": true, "temperature": 0.0,
			"seed": float64(engine.DefaultSeed), "stream": true, "timings_per_token": true} {
			if r.Body[k] != v {
				t.Errorf("request %d: %s = %v, want %v", i, k, r.Body[k], v)
			}
		}
		if r.Body["n_predict"] != r.Body["max_tokens"] {
			t.Errorf("request %d: n_predict %v, max_tokens %v, want equal", i, r.Body["n_predict"], r.Body["max_tokens"])
		}
		if so, _ := r.Body["stream_options"].(map[string]any); so["include_usage"] != true {
			t.Errorf("request %d: stream_options = %v, want include_usage", i, r.Body["stream_options"])
		}
		if i > 0 {
			prev, cur := strings.Fields(timed[i-1].User)[0], strings.Fields(r.User)[0]
			if prev[0] == cur[0] {
				t.Errorf("requests %d and %d start with %q and %q: want different first letters", i-1, i, prev, cur)
			}
		}
	}

	// A warm cache on purpose: the same prompt every time, cache allowed.
	srv2 := enginetest.NewServer(enginetest.Stream{Timings: true, CachedTokens: new(70)}.Response)
	defer srv2.Close()
	tw := baseTest(80, 8, 3)
	tw.WarmCache = true
	b = newEngine(srv2.URL, engine.KindLlamaCpp).RunTest(t.Context(), tw)
	var users []string
	for _, r := range srv2.Requests() {
		if !probe(r) {
			users = append(users, r.User)
			if r.Body["cache_prompt"] != true {
				t.Errorf("warm cache request: cache_prompt = %v, want true", r.Body["cache_prompt"])
			}
		}
	}
	want(t, "warm requests", len(users), 4)
	for i := range users {
		if users[i] != users[0] {
			t.Errorf("warm request %d differs from the first", i)
		}
	}
	for _, r := range b.Runs {
		want(t, "cache_state", r.CacheState, "warm")
		if len(r.Warnings) > 0 {
			t.Errorf("warnings %q on a cache hit that was asked for", r.Warnings)
		}
	}
}

func TestPromptFitting(t *testing.T) {
	t.Parallel()
	tests := []struct {
		kind      schema.Kind
		tolerance float64 // fraction of the target
	}{
		{engine.KindLlamaCpp, 0},    // /apply-template + /tokenize: exact
		{engine.KindLMStudio, 0.01}, // calibrated on usage
		{engine.KindOpenAI, 0},      // tries llama.cpp's endpoints, which the fake has
		{engine.KindSGLang, 0.01},   // no /tokenize of prompts in the fake's style: falls back
	}
	for _, tc := range tests {
		t.Run(string(tc.kind), func(t *testing.T) {
			t.Parallel()
			srv := enginetest.NewServer(enginetest.Stream{Timings: true}.Response)
			defer srv.Close()
			e := newEngine(srv.URL, tc.kind)
			if err := e.Prepare(t.Context()); err != nil {
				t.Fatalf("Prepare: %v", err)
			}
			for _, target := range []int{128, 1664, 3712, 7808} {
				b := e.RunTest(t.Context(), baseTest(target, 4, 2))
				for i, r := range allRuns(b) {
					if !r.Success {
						t.Fatalf("target %d run %d: %s", target, i, r.Error)
					}
					off := float64(r.PromptTokens-target) / float64(target)
					if off > tc.tolerance || off < -tc.tolerance {
						t.Errorf("target %d run %d: prompt_tokens %d, %+.2f%% off, want within %.0f%%",
							target, i, r.PromptTokens, off*100, tc.tolerance*100)
					}
					want(t, "prompt_tokens_target", r.PromptTokensTarget, target)
				}
			}
		})
	}
}

func TestRunTestCancel(t *testing.T) {
	t.Parallel()
	started := make(chan struct{}, 8)
	srv := enginetest.NewServer(func(r enginetest.Request) enginetest.Response {
		if probe(r) {
			return enginetest.Stream{}.Response(r)
		}
		started <- struct{}{}
		return enginetest.Response{Hang: true, Chunks: []enginetest.Chunk{
			{Data: `{"choices":[{"index":0,"delta":{"content":" a"}}]}`},
		}}
	})
	defer srv.Close()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan schema.Benchmark)
	go func() { done <- newEngine(srv.URL, engine.KindLlamaCpp).RunTest(ctx, baseTest(60, 16, 3)) }()
	<-started
	cancel()
	select {
	case b := <-done:
		if b.WarmupRun == nil || b.WarmupRun.ErrorKind != schema.ErrKindCancelled {
			t.Errorf("warmup = %+v, want cancelled", b.WarmupRun)
		}
		want(t, "timed runs after cancel", len(b.Runs), 0)
		if !strings.Contains(b.Error, "cancel") {
			t.Errorf("benchmark error = %q, want it to say cancelled", b.Error)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("RunTest did not return after cancel")
	}
}

func TestRunTestSkipped(t *testing.T) {
	t.Parallel()
	srv := enginetest.NewServer(nil)
	defer srv.Close()
	tt := baseTest(60, 16, 3)
	tt.SkipReason = "needs 8,192 tokens of context"
	b := newEngine(srv.URL, engine.KindLlamaCpp).RunTest(t.Context(), tt)
	if !b.Skipped || b.SkipReason != tt.SkipReason {
		t.Errorf("skipped = %v, reason %q, want skipped with %q", b.Skipped, b.SkipReason, tt.SkipReason)
	}
	want(t, "requests", len(srv.Requests()), 0)
	want(t, "n_runs", b.NRuns, 3)
	if b.Runs == nil {
		t.Error("runs is nil, want an empty list")
	}
}

func TestMemoryWall(t *testing.T) {
	t.Parallel()
	const wall = 5000
	wallScript := func(limit int) enginetest.Script {
		return func(r enginetest.Request) enginetest.Response {
			if r.PromptTokens() >= limit {
				return enginetest.Response{Status: 400, Body: `{"error":{"message":"the request exceeds the available context size"}}`}
			}
			return enginetest.Stream{Timings: true}.Response(r)
		}
	}
	tt := engine.Test{ID: engine.TestMemoryWall, Name: "Memory wall detection", Category: schema.CategoryMemoryWall,
		CtxSize: 1024, PromptTokens: 640, MaxTokens: 8, Runs: 1}

	t.Run("unknown context", func(t *testing.T) {
		t.Parallel()
		srv := enginetest.NewServer(wallScript(wall))
		defer srv.Close()
		b := newEngine(srv.URL, engine.KindLlamaCpp).RunTest(t.Context(), tt)
		mw := b.MemoryWall
		if mw == nil {
			t.Fatal("no memory_wall")
		}
		if !(mw.LastOKPromptTokens < wall && mw.FailedPromptTokens >= wall) {
			t.Errorf("wall between %d and %d, want it to bracket %d", mw.LastOKPromptTokens, mw.FailedPromptTokens, wall)
		}
		if gap := mw.FailedPromptTokens - mw.LastOKPromptTokens; gap > max(256, mw.LastOKPromptTokens/16)+1 {
			t.Errorf("search stopped with a gap of %d tokens", gap)
		}
		want(t, "failure_kind", mw.FailureKind, "http_400")
		if !strings.Contains(mw.Failure, "exceeds the available context size") {
			t.Errorf("failure = %q, want the server's message", mw.Failure)
		}
		if len(mw.Steps) < 4 || len(mw.Steps) > engine.MaxWallSteps {
			t.Errorf("%d steps, want a doubling then a bisection within %d", len(mw.Steps), engine.MaxWallSteps)
		}
		if mw.Steps[0].PromptTokens <= tt.CtxSize || !mw.Steps[0].Success {
			t.Errorf("first step %+v, want a success past the largest sweep (%d)", mw.Steps[0], tt.CtxSize)
		}
		want(t, "runs", len(b.Runs), len(mw.Steps))
		if b.Error != "" {
			t.Errorf("error = %q, want none: a failure ends the search", b.Error)
		}
	})
	t.Run("known context", func(t *testing.T) {
		t.Parallel()
		const ctx = 3000
		srv := enginetest.NewServer(wallScript(ctx))
		defer srv.Close()
		e := newEngine(srv.URL, engine.KindLlamaCpp)
		e.Target.CtxSize = ctx
		b := e.RunTest(t.Context(), tt)
		mw := b.MemoryWall
		if mw == nil {
			t.Fatal("no memory_wall")
		}
		// The largest prompt that fits with its output, then one past the context.
		if mw.LastOKPromptTokens > ctx-tt.MaxTokens || mw.LastOKPromptTokens < ctx-tt.MaxTokens-16 {
			t.Errorf("last_ok_prompt_tokens = %d, want just under %d", mw.LastOKPromptTokens, ctx-tt.MaxTokens)
		}
		// One probe just past the context records how the server refuses it.
		probe := ctx + max(16, ctx/100)
		if mw.FailedPromptTokens < ctx || mw.FailedPromptTokens > probe {
			t.Errorf("failed_prompt_tokens = %d, want in [%d, %d]", mw.FailedPromptTokens, ctx, probe)
		}
		want(t, "failure_kind", mw.FailureKind, "http_400")
		want(t, "wall_kind", mw.WallKind, schema.WallContextLimit)
		for _, s := range mw.Steps {
			if s.PromptTokensSent > probe {
				t.Errorf("step %+v beyond the server's context %d and its probe", s, ctx)
			}
		}
	})
}

func TestLongGenSeries(t *testing.T) {
	t.Parallel()
	srv := enginetest.NewServer(enginetest.Stream{Timings: true, Interval: time.Millisecond}.Response)
	defer srv.Close()
	sampler := &gputest.Sampler{Script: []gputest.Step{{Readings: []gpu.Reading{{
		Index: 0, TempC: gputest.F(71), PowerW: gputest.F(250), SMClockMHz: gputest.F(1755), MemUsedMB: gputest.F(9000),
	}}}}}
	rec := &gpu.Recorder{Sampler: sampler, Interval: 5 * time.Millisecond}
	ctx, cancel := context.WithCancel(t.Context())
	recDone := make(chan error)
	go func() { recDone <- rec.Run(ctx) }()
	defer func() {
		cancel()
		<-recDone
	}()
	for rec.Latest() == nil {
		select {
		case <-t.Context().Done():
			t.Fatal("no GPU reading")
		case <-time.After(5 * time.Millisecond):
		}
	}
	e := newEngine(srv.URL, engine.KindLlamaCpp)
	e.GPU = rec
	e.SeriesInterval = 10 * time.Millisecond
	tt := engine.Test{ID: engine.TestLongGen, Name: "Long generation stress", Category: schema.CategoryStress,
		CtxSize: 2048, PromptTokens: 60, MaxTokens: 150, Runs: 2}
	b := e.RunTest(t.Context(), tt)
	want(t, "successful_runs", b.SuccessfulRuns, 2)
	if len(b.Series) < 2 {
		t.Fatalf("series has %d points, want several over two runs of 150 tokens at 1 ms each", len(b.Series))
	}
	for i, p := range b.Series {
		if p.TPS <= 0 || p.Tokens <= 0 || p.Tokens > tt.MaxTokens {
			t.Errorf("point %d = %+v, want tokens in (0, %d] and tps > 0", i, p, tt.MaxTokens)
		}
		if i > 0 && p.T < b.Series[i-1].T {
			t.Errorf("point %d goes back in time: %v after %v", i, p.T, b.Series[i-1].T)
		}
		if p.TempC == nil || *p.TempC != 71 || p.PowerW == nil || *p.PowerW != 250 || p.SMClockMHz == nil {
			t.Errorf("point %d GPU figures temp %v power %v clock %v, want the sampler's", i, p.TempC, p.PowerW, p.SMClockMHz)
		}
	}
	if b.GPUStats.PeakVRAMUsedMB == nil {
		t.Errorf("gpu_stats = %+v, want the window's figures", b.GPUStats)
	}
}

// closedURL returns the URL of a port where nothing listens.
func closedURL(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return "http://" + addr
}

func want[T comparable](t *testing.T, what string, got, want T) {
	t.Helper()
	if got != want {
		t.Errorf("%s = %v, want %v", what, got, want)
	}
}

func wantWarning(t *testing.T, r schema.RunSample, s string) {
	t.Helper()
	for _, w := range r.Warnings {
		if strings.Contains(w, s) {
			return
		}
	}
	t.Errorf("warnings %q, want one about %q", r.Warnings, s)
}

// TestNoGoroutineLeft runs alone (not parallel): after RunTest, Prepare and Alive
// return, no goroutine of theirs is left, idle connections included.
func TestNoGoroutineLeft(t *testing.T) {
	srv := enginetest.NewServer(enginetest.Stream{Timings: true}.Response)
	before := runtime.NumGoroutine() // the server's, and the test's
	e := newEngine(srv.URL, engine.KindLlamaCpp)
	if err := e.Prepare(t.Context()); err != nil {
		t.Fatal(err)
	}
	b := e.RunTest(t.Context(), baseTest(60, 8, 2))
	want(t, "successful_runs", b.SuccessfulRuns, 2)
	if err := e.Alive(t.Context()); err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	if err := leaktest.Settle(before, 10*time.Second, nil); err != nil {
		t.Error(err)
	}
}
