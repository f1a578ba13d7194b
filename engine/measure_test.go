package engine

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/typhonbench/typhon/schema"
)

// script builds a measurement from chunk arrivals given in ms after the start;
// each has its token count (0: the server did not say) and kind.
type arrival struct {
	ms      float64
	n       int
	content bool // visible content (else reasoning)
	cum     bool // the chunk carries a cumulative count
}

func measure(arrivals []arrival, end float64) *measurement {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	at := func(ms float64) time.Time { return t0.Add(time.Duration(ms * float64(time.Millisecond))) }
	m := &measurement{start: t0, firstByte: at(1), end: at(end), finished: true, finish: "length"}
	cum := 0
	for _, a := range arrivals {
		c := -1
		if a.cum {
			cum += a.n
			c = cum
		}
		m.tokenEvent(at(a.ms), true, a.content, c)
		m.events++
	}
	return m
}

func TestSampleFigures(t *testing.T) {
	t.Parallel()
	ignore := cmpopts.IgnoreFields(schema.RunSample{}, "StartedAt", "Warnings")
	tests := []struct {
		name     string
		m        func() *measurement
		spec     sampleSpec
		want     schema.RunSample
		wantWarn []string
	}{
		{
			name: "one token per chunk with usage",
			m: func() *measurement {
				m := measure([]arrival{{100, 1, true, true}, {110, 1, true, true}, {120, 1, true, true}, {130, 1, true, true}, {140, 1, true, true}}, 150)
				m.haveUsage, m.promptTokens, m.completionTokens = true, 200, 5
				return m
			},
			spec: sampleSpec{promptTarget: 200, maxTokens: 5},
			want: schema.RunSample{
				Success: true, TPS: 100, ElapsedS: 0.15, TTFTS: 0.1, PromptTokens: 200, PromptTokensTarget: 200,
				OutputTokens: 5, MaxTokens: 5, FinishReason: "length", FirstByteS: 0.001, LastTokenS: 0.14,
				PrefillTPS: 2000, ITLP50MS: 10, Chunks: 5, ChunkTokens: 5, CacheState: "unknown",
			},
		},
		{
			// 9 tokens in chunks of 3, 3, 3 at 100, 130, 160 ms: the 6 tokens after the
			// first chunk took 60 ms, 100 tokens/s, and each gap of 30 ms holds 3 tokens.
			name: "several tokens per chunk",
			m: func() *measurement {
				m := measure([]arrival{{100, 3, true, true}, {130, 3, true, true}, {160, 3, true, true}}, 170)
				m.haveUsage, m.promptTokens, m.completionTokens = true, 50, 9
				return m
			},
			spec: sampleSpec{promptTarget: 50, maxTokens: 9},
			want: schema.RunSample{
				Success: true, TPS: 100, ElapsedS: 0.17, TTFTS: 0.1, PromptTokens: 50, PromptTokensTarget: 50,
				OutputTokens: 9, MaxTokens: 9, FinishReason: "length", FirstByteS: 0.001, LastTokenS: 0.16,
				PrefillTPS: 500, ITLP50MS: 10, Chunks: 3, ChunkTokens: 9, CacheState: "unknown",
			},
		},
		{
			name: "reasoning before content",
			m: func() *measurement {
				m := measure([]arrival{{100, 1, false, true}, {110, 1, false, true}, {120, 1, true, true}, {130, 1, true, true}}, 140)
				m.haveUsage, m.promptTokens, m.completionTokens = true, 100, 4
				return m
			},
			spec: sampleSpec{promptTarget: 100, maxTokens: 4},
			want: schema.RunSample{
				Success: true, TPS: 100, ElapsedS: 0.14, TTFTS: 0.1, FirstContentS: 0.12, PromptTokens: 100, PromptTokensTarget: 100,
				OutputTokens: 4, MaxTokens: 4, FinishReason: "length", FirstByteS: 0.001, LastTokenS: 0.13,
				PrefillTPS: 1000, ITLP50MS: 10, Chunks: 4, ChunkTokens: 4, CacheState: "unknown",
			},
		},
		{
			// No usage and no counts: 4 chunks are counted as 4 tokens, and flagged.
			name: "no usage at all",
			m: func() *measurement {
				return measure([]arrival{{100, 0, true, false}, {110, 0, true, false}, {120, 0, true, false}, {130, 0, true, false}}, 140)
			},
			spec: sampleSpec{promptTarget: 100, promptPredicted: 101, maxTokens: 4},
			want: schema.RunSample{
				Success: true, TPS: 100, ElapsedS: 0.14, TTFTS: 0.1, PromptTokens: 101, PromptTokensTarget: 100,
				OutputTokens: 4, MaxTokens: 4, FinishReason: "length", FirstByteS: 0.001, LastTokenS: 0.13,
				PrefillTPS: 1010, ITLP50MS: 10, Chunks: 4, CacheState: "unknown",
			},
			wantWarn: []string{"no usage", "counted as chunks"},
		},
		{
			// Usage but no per-chunk counts, 9 tokens in 3 chunks: the first chunk
			// is taken to hold 9/3 tokens, so 6 tokens in 60 ms; ITL spreads each
			// gap over 3 tokens.
			name: "usage without per-chunk counts",
			m: func() *measurement {
				m := measure([]arrival{{100, 0, true, false}, {130, 0, true, false}, {160, 0, true, false}}, 170)
				m.haveUsage, m.promptTokens, m.completionTokens = true, 100, 9
				return m
			},
			spec: sampleSpec{promptTarget: 100, maxTokens: 9},
			want: schema.RunSample{
				Success: true, TPS: 100, ElapsedS: 0.17, TTFTS: 0.1, PromptTokens: 100, PromptTokensTarget: 100,
				OutputTokens: 9, MaxTokens: 9, FinishReason: "length", FirstByteS: 0.001, LastTokenS: 0.16,
				PrefillTPS: 1000, ITLP50MS: 10, Chunks: 3, CacheState: "unknown",
			},
			wantWarn: []string{"evenly spread"},
		},
		{
			name: "stopped early, prompt cut, cache hit",
			m: func() *measurement {
				m := measure([]arrival{{100, 1, true, true}, {110, 1, true, true}}, 120)
				m.haveUsage, m.promptTokens, m.completionTokens = true, 2048, 2
				m.finish = "stop"
				c := 12
				m.cached = &c
				return m
			},
			spec: sampleSpec{promptTarget: 3712, maxTokens: 256},
			want: schema.RunSample{
				Success: true, TPS: 100, ElapsedS: 0.12, TTFTS: 0.1, PromptTokens: 2048, PromptTokensTarget: 3712,
				OutputTokens: 2, MaxTokens: 256, FinishReason: "stop", StoppedEarly: true, FirstByteS: 0.001, LastTokenS: 0.11,
				PrefillTPS: 20360, Chunks: 2, ChunkTokens: 2,
				CachedPromptTokens: ptr(12), CacheState: "warm", ComputedPromptTokens: 2036, Excluded: schema.ExcludedCacheHit,
			},
			// Excluded for the first reason found: the cache hit.
			wantWarn: []string{"prompt cache", "below the 3712 asked", "stopped after 2 of the 256"},
		},
		{
			name: "failed run keeps its reason and partial times",
			m: func() *measurement {
				m := measure([]arrival{{100, 1, true, true}, {110, 1, true, true}}, 5000)
				m.finished = false
				m.fail(schema.ErrKindStreamBroken, errors.New("the stream stalled"))
				return m
			},
			spec: sampleSpec{promptTarget: 100, promptPredicted: 100, maxTokens: 64},
			want: schema.RunSample{
				Error: "the stream stalled", ErrorKind: schema.ErrKindStreamBroken,
				ElapsedS: 5, TTFTS: 0.1, PromptTokens: 100, PromptTokensTarget: 100, OutputTokens: 2, MaxTokens: 64,
				FinishReason: "length", FirstByteS: 0.001, LastTokenS: 0.11, PrefillTPS: 1000,
				Chunks: 2, ChunkTokens: 2, CacheState: "unknown",
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, _ := tc.m().sample(tc.spec)
			if diff := cmp.Diff(tc.want, got, ignore); diff != "" {
				t.Errorf("sample (-want +got):\n%s", diff)
			}
			warnings := strings.Join(got.Warnings, "\n")
			for _, w := range tc.wantWarn {
				if !strings.Contains(warnings, w) {
					t.Errorf("warnings %q lack %q", got.Warnings, w)
				}
			}
			if len(tc.wantWarn) == 0 && len(got.Warnings) > 0 {
				t.Errorf("unexpected warnings %q", got.Warnings)
			}
		})
	}
}

func TestSampleCacheState(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		cached *int
		warm   bool
		want   string
		warn   bool
	}{
		{"not reported", nil, false, "unknown", false},
		{"zero", ptr(0), false, "cold", false},
		{"hit not asked for", ptr(40), false, "warm", true},
		{"hit asked for", ptr(40), true, "warm", false},
	}
	for _, tc := range tests {
		m := measure([]arrival{{10, 1, true, true}, {20, 1, true, true}}, 30)
		m.haveUsage, m.promptTokens, m.completionTokens, m.cached = true, 50, 2, tc.cached
		got, _ := m.sample(sampleSpec{promptTarget: 50, maxTokens: 2, warm: tc.warm})
		if got.CacheState != tc.want {
			t.Errorf("%s: CacheState = %q, want %q", tc.name, got.CacheState, tc.want)
		}
		if hasWarn := len(got.Warnings) > 0; hasWarn != tc.warn {
			t.Errorf("%s: warnings %q, want some: %v", tc.name, got.Warnings, tc.warn)
		}
	}
}

func ptr[T any](v T) *T { return &v }
