package engine_test

import (
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/typhonbench/typhon/engine"
	"github.com/typhonbench/typhon/engine/enginetest"
	"github.com/typhonbench/typhon/schema"
)

// TestMemoryWallHostile: servers that fail once, cut prompts silently, or crash at
// a size; the wall comes out right in each, within its bounds, and no size is
// tried twice.
func TestMemoryWallHostile(t *testing.T) {
	t.Parallel()
	const ctx = 8192 // the servers' context where they have one
	refuse := func(r enginetest.Request) (enginetest.Response, bool) {
		if r.PromptTokens() >= ctx {
			return enginetest.Response{Status: 400, Body: `{"error":{"message":"the request exceeds the available context size"}}`}, true
		}
		return enginetest.Response{}, false
	}
	tests := []struct {
		name      string
		serverCtx int // what the server advertises (Target.CtxSize)
		script    func(first *atomic.Bool) enginetest.Script
		kind      string // wall_kind
		class     string // failure_class
		wall      int    // where the wall truly is (prompt tokens)
		retried   bool
	}{{
		// One 503 on the first step, then a server limited only by its context.
		name: "one transient 503", serverCtx: ctx,
		script: func(first *atomic.Bool) enginetest.Script {
			return func(r enginetest.Request) enginetest.Response {
				if resp, ok := refuse(r); ok {
					return resp
				}
				if !probe(r) && r.MaxTokens == engine.WallStepTokens && first.CompareAndSwap(false, true) {
					return enginetest.Response{Status: 503, Body: `{"error":{"message":"Service Unavailable"}}`}
				}
				return enginetest.Stream{Timings: true}.Response(r)
			}
		},
		kind: schema.WallContextLimit, class: schema.FailContextRefused, wall: ctx, retried: true,
	}, {
		// Takes anything and keeps the last 3,000 tokens, and says it has no limit.
		name: "silent truncation",
		script: func(*atomic.Bool) enginetest.Script {
			return func(r enginetest.Request) enginetest.Response {
				return enginetest.Stream{Timings: true, PromptTokens: min(r.PromptTokens(), 3000)}.Response(r)
			}
		},
		kind: schema.WallContextLimit, class: schema.FailTruncated, wall: 3000,
	}, {
		// Crashes (drops the connection) from 5,000 tokens on, below its context.
		name: "crash at a size", serverCtx: ctx,
		script: func(*atomic.Bool) enginetest.Script {
			return func(r enginetest.Request) enginetest.Response {
				if r.PromptTokens() >= 5000 {
					return enginetest.Response{Drop: true}
				}
				return enginetest.Stream{Timings: true}.Response(r)
			}
		},
		kind: schema.WallMemory, class: schema.FailOutOfMemory, wall: 5000,
	}, {
		name: "out of memory in its own words", serverCtx: ctx,
		script: func(*atomic.Bool) enginetest.Script {
			return func(r enginetest.Request) enginetest.Response {
				if r.PromptTokens() >= 6000 {
					return enginetest.Response{Status: 500, Body: `{"error":{"message":"CUDA error: out of memory"}}`}
				}
				return enginetest.Stream{Timings: true}.Response(r)
			}
		},
		kind: schema.WallMemory, class: schema.FailOutOfMemory, wall: 6000,
	}}
	tt := engine.Test{ID: engine.TestMemoryWall, Name: "Memory wall detection", Category: schema.CategoryMemoryWall,
		CtxSize: 1024, PromptTokens: 640, MaxTokens: engine.WallStepTokens, Runs: 1}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var first atomic.Bool
			srv := enginetest.NewServer(tc.script(&first))
			defer srv.Close()
			e := newEngine(srv.URL, engine.KindLlamaCpp)
			e.Target.CtxSize = tc.serverCtx
			start := time.Now()
			b := e.RunTest(t.Context(), tt)
			took := time.Since(start)
			mw := b.MemoryWall
			if mw == nil {
				t.Fatal("no memory_wall")
			}
			t.Logf("%s: wall_kind %s, wall_tokens %d, failed at %d (%s, %s), %d steps in %.2f s; %q",
				tc.name, mw.WallKind, mw.WallTokens, mw.FailedPromptTokens, mw.FailureClass, mw.FailureKind, len(mw.Steps), took.Seconds(), b.Notes)
			want(t, "wall_kind", mw.WallKind, tc.kind)
			want(t, "failure_class", mw.FailureClass, tc.class)
			if mw.WallTokens > tc.wall || float64(mw.WallTokens) < 0.98*float64(tc.wall) {
				t.Errorf("wall_tokens = %d, want within 2%% at or under %d", mw.WallTokens, tc.wall)
			}
			if mw.FailedPromptTokens < tc.wall {
				t.Errorf("failed_prompt_tokens = %d, below the wall at %d", mw.FailedPromptTokens, tc.wall)
			}
			seen := map[int]bool{}
			retried := false
			for _, s := range mw.Steps {
				if seen[s.PromptTokensSent] {
					t.Errorf("size %d tried twice: %+v", s.PromptTokensSent, mw.Steps)
				}
				seen[s.PromptTokensSent] = true
				retried = retried || s.Retried
			}
			want(t, "a step retried", retried, tc.retried)
			if len(mw.Steps) > engine.MaxWallSteps || took > 30*time.Second {
				t.Errorf("%d steps in %s: want at most %d steps, bounded time", len(mw.Steps), took, engine.MaxWallSteps)
			}
			if b.Error != "" {
				t.Errorf("error = %q, want none: a failure ends the search", b.Error)
			}
			if tc.class == schema.FailContextRefused && !strings.Contains(mw.Failure, "exceeds the available context") {
				t.Errorf("failure = %q, want the server's own words", mw.Failure)
			}
		})
	}
}
