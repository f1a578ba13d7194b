package engine_test

import (
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/typhonbench/typhon/engine"
	"github.com/typhonbench/typhon/engine/enginetest"
	"github.com/typhonbench/typhon/schema"
)

// wallTest is the memory wall test of the odd cases.
var wallTest = engine.Test{ID: engine.TestMemoryWall, Name: "Memory wall detection", Category: schema.CategoryMemoryWall,
	CtxSize: 1024, PromptTokens: 640, MaxTokens: engine.WallStepTokens, Runs: 1}

// TestMemoryWallOdd: failures the cases do not name. A server that
// answers 503 twice at a size says nothing about its memory; a model whose name
// holds "oom" (bloom) refusing a size for its context is a context limit; a
// server that restarts between steps is not a wall; a server that slows down
// without failing keeps the search within its time bound; a context too small
// for any prompt is an error, not a wall of 0 tokens.
func TestMemoryWallOdd(t *testing.T) {
	t.Parallel()
	ok := func(r enginetest.Request) enginetest.Response { return enginetest.Stream{Timings: true}.Response(r) }
	t.Run("503 twice at a size is no memory wall", func(t *testing.T) {
		t.Parallel()
		b := runWall(t, 8192, func(r enginetest.Request) enginetest.Response {
			if r.PromptTokens() >= 5000 {
				return enginetest.Response{Status: 503, Body: `{"error":{"message":"Service Unavailable"}}`}
			}
			return ok(r)
		})
		mw := b.MemoryWall
		t.Logf("wall_kind %s, wall_tokens %d, failed %d (%s); %q", mw.WallKind, mw.WallTokens, mw.FailedPromptTokens, mw.FailureClass, b.Notes)
		if mw.WallKind == schema.WallMemory || mw.WallKind == schema.WallContextLimit || mw.WallKind == schema.WallNone {
			t.Errorf("wall_kind = %s from 5xx answers without a cause, want %s", mw.WallKind, schema.WallUnknown)
		}
	})
	t.Run("a runner killed at a size (Ollama's words for a crash)", func(t *testing.T) {
		t.Parallel()
		b := runWall(t, 8192, func(r enginetest.Request) enginetest.Response {
			if r.PromptTokens() >= 6000 {
				return enginetest.Response{Status: 500, Body: `{"error":{"message":"llama runner process has terminated: signal: killed"}}`}
			}
			return ok(r)
		})
		mw := b.MemoryWall
		want(t, "failure_class", mw.FailureClass, schema.FailOutOfMemory)
		want(t, "wall_kind", mw.WallKind, schema.WallMemory)
	})
	t.Run("503 twice below a context refusal keeps the refusal", func(t *testing.T) {
		t.Parallel()
		b := runWall(t, 0, func(r enginetest.Request) enginetest.Response {
			switch p := r.PromptTokens(); {
			case p >= 7800:
				return enginetest.Response{Status: 400, Body: `{"error":{"message":"the request exceeds the available context size"}}`}
			case p >= 4500:
				return enginetest.Response{Status: 503, Body: `{"error":{"message":"Service Unavailable"}}`}
			}
			return ok(r)
		})
		mw := b.MemoryWall
		t.Logf("wall_kind %s, wall_tokens %d, failed %d (%s); %q", mw.WallKind, mw.WallTokens, mw.FailedPromptTokens, mw.FailureClass, b.Notes)
		want(t, "failure_class", mw.FailureClass, schema.FailContextRefused)
		want(t, "wall_kind", mw.WallKind, schema.WallContextLimit)
		if !strings.Contains(strings.Join(b.Notes, " "), "without naming a cause") {
			t.Errorf("notes %q do not name the size that failed without a cause", b.Notes)
		}
	})
	t.Run("bloom refusing its context", func(t *testing.T) {
		t.Parallel()
		b := runWall(t, 0, func(r enginetest.Request) enginetest.Response {
			if r.PromptTokens() >= 6000 {
				return enginetest.Response{Status: 400, Body: `{"error":{"message":"bloom-560m: not enough room in the context for this prompt"}}`}
			}
			return ok(r)
		})
		mw := b.MemoryWall
		want(t, "failure_class", mw.FailureClass, schema.FailContextRefused)
		want(t, "wall_kind", mw.WallKind, schema.WallContextLimit)
	})
	t.Run("a server that restarts between steps", func(t *testing.T) {
		t.Parallel()
		var n atomic.Int32
		var srv *enginetest.Server
		restarted := make(chan net.Listener, 1)
		srv = enginetest.NewServer(func(r enginetest.Request) enginetest.Response {
			if !probe(r) && n.Add(1) == 2 {
				// Goes away after this answer and is back 0.3 s later.
				addr := srv.Listener.Addr().String()
				srv.Listener.Close()
				go func() {
					time.Sleep(300 * time.Millisecond)
					ln, err := net.Listen("tcp", addr)
					if err != nil {
						t.Errorf("listen again: %v", err)
						close(restarted)
						return
					}
					restarted <- ln
					go srv.Config.Serve(ln)
				}()
			}
			if r.PromptTokens() >= 8192 {
				return enginetest.Response{Status: 400, Body: `{"error":{"message":"the request exceeds the available context size"}}`}
			}
			return ok(r)
		})
		srv.Config.SetKeepAlivesEnabled(false)
		defer srv.Close()
		e := newEngine(srv.URL, engine.KindLlamaCpp)
		e.Target.CtxSize = 8192
		b := e.RunTest(t.Context(), wallTest)
		if ln, ok := <-restarted; ok {
			defer ln.Close()
		}
		mw := b.MemoryWall
		t.Logf("wall_kind %s, wall_tokens %d, failed %d (%s %s); %q", mw.WallKind, mw.WallTokens, mw.FailedPromptTokens, mw.FailureClass, mw.FailureKind, b.Notes)
		want(t, "wall_kind", mw.WallKind, schema.WallContextLimit)
		if mw.WallTokens < 8000 {
			t.Errorf("wall_tokens = %d, want the server's context (8192) found after its restart", mw.WallTokens)
		}
	})
	t.Run("a slow-down without failure stays within the time bound", func(t *testing.T) {
		t.Parallel()
		srv := enginetest.NewServer(func(r enginetest.Request) enginetest.Response {
			resp := ok(r)
			if r.PromptTokens() >= 4000 {
				resp.HeaderDelay = time.Minute // a prefill that crawls (swapping), within the request deadline
			}
			return resp
		})
		defer srv.Close()
		e := newEngine(srv.URL, engine.KindLlamaCpp)
		e.WallBudget = 2 * time.Second
		start := time.Now()
		b := e.RunTest(t.Context(), wallTest)
		took := time.Since(start)
		mw := b.MemoryWall
		t.Logf("%.1f s: wall_kind %s, wall_tokens %d; %q", took.Seconds(), mw.WallKind, mw.WallTokens, b.Notes)
		if took > 20*time.Second {
			t.Errorf("the search took %s with a time bound of %s", took, e.WallBudget)
		}
		if !strings.Contains(strings.Join(b.Notes, " "), "time bound") {
			t.Errorf("notes %q do not say the search stopped at its time bound", b.Notes)
		}
		if mw.WallKind == schema.WallNone || mw.WallKind == schema.WallMemory {
			t.Errorf("wall_kind = %s: a search cut by time found no wall and no lack of it", mw.WallKind)
		}
	})
	t.Run("a context too small for any prompt", func(t *testing.T) {
		t.Parallel()
		b := runWall(t, 20, ok)
		mw := b.MemoryWall
		t.Logf("wall_kind %s, wall_tokens %d, %d steps, error %q", mw.WallKind, mw.WallTokens, len(mw.Steps), b.Error)
		if b.Error == "" {
			t.Errorf("no error with a context of 20 tokens: wall_kind %s, wall_tokens %d", mw.WallKind, mw.WallTokens)
		}
	})
}

// runWall runs wallTest against a fake server answering with h, its context
// ctx tokens (0: the server's default).
func runWall(t *testing.T, ctx int, h func(enginetest.Request) enginetest.Response) schema.Benchmark {
	t.Helper()
	srv := enginetest.NewServer(h)
	t.Cleanup(srv.Close)
	e := newEngine(srv.URL, engine.KindLlamaCpp)
	if ctx > 0 {
		e.Target.CtxSize = ctx
	}
	return e.RunTest(t.Context(), wallTest)
}
