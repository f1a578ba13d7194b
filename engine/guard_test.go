package engine_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/typhonbench/typhon/engine"
	"github.com/typhonbench/typhon/engine/enginetest"
	"github.com/typhonbench/typhon/schema"
)

const tok = `{"choices":[{"index":0,"delta":{"content":" a"}}]}`

// TestImplausibleServerFigures (issue 14, defects 1 and 11): 1e306 in the
// server's timings is dropped with a warning instead of overflowing the record,
// and a usage count far past max_tokens fails the run.
func TestImplausibleServerFigures(t *testing.T) {
	t.Parallel()
	finish := func(usage, timings string) enginetest.Script {
		return func(r enginetest.Request) enginetest.Response {
			chunks := []enginetest.Chunk{{Data: tok}, {Data: tok}, {Data: tok},
				{Data: `{"choices":[{"index":0,"delta":{},"finish_reason":"length"}],"usage":` + usage + `,"timings":` + timings + `}`},
				{Data: "[DONE]"}}
			return enginetest.Response{Chunks: chunks}
		}
	}
	t.Run("1e306 timings", func(t *testing.T) {
		srv := enginetest.NewServer(finish(`{"prompt_tokens":20,"completion_tokens":3}`,
			`{"prompt_n":20,"prompt_ms":1e306,"predicted_n":3,"predicted_ms":-5,"predicted_per_second":1e306,"prompt_per_second":1e306}`))
		defer srv.Close()
		b := newEngine(srv.URL, engine.KindLlamaCpp).RunTest(t.Context(), baseTest(20, 3, 2))
		want(t, "successful_runs", b.SuccessfulRuns, 2)
		for _, r := range b.Runs {
			if r.ServerTPS != 0 || r.ServerPromptMS != 0 || r.ServerPredictedMS != 0 || r.ServerPrefillTPS != 0 {
				t.Errorf("server figures kept: %+v", r)
			}
			if !strings.Contains(strings.Join(r.Warnings, "; "), "server_tps = 1e+306, which no server can measure") {
				t.Errorf("no warning names the dropped figure: %q", r.Warnings)
			}
		}
	})
	t.Run("4e15 output tokens", func(t *testing.T) {
		srv := enginetest.NewServer(finish(`{"prompt_tokens":20,"completion_tokens":4000000000000000}`, `{}`))
		defer srv.Close()
		b := newEngine(srv.URL, engine.KindLlamaCpp).RunTest(t.Context(), baseTest(20, 3, 2))
		want(t, "successful_runs", b.SuccessfulRuns, 0)
		for _, r := range allRuns(b) {
			want(t, "error_kind", r.ErrorKind, schema.ErrKindBadResponse)
			if r.TPS != 0 || !strings.Contains(r.Error, "output tokens") {
				t.Errorf("run tps %v, error %q; want no speed and the count named", r.TPS, r.Error)
			}
		}
	})
}

// TestStreamBudget (issue 14, defect 3): a stream without end is cut at the
// request's budget (derived from max_tokens), the 1-token calibration probe
// included, long before the deadline.
func TestStreamBudget(t *testing.T) {
	t.Parallel()
	var probes atomic.Int32
	srv := enginetest.NewServer(func(r enginetest.Request) enginetest.Response {
		if probe(r) {
			probes.Add(1)
		}
		chunks := make([]enginetest.Chunk, 200_000)
		for i := range chunks {
			chunks[i] = enginetest.Chunk{Data: tok}
		}
		return enginetest.Response{Chunks: chunks, Hang: true}
	})
	defer srv.Close()
	e := newEngine(srv.URL, engine.KindLlamaCpp)
	start := time.Now()
	err := e.Prepare(t.Context())
	if err == nil || !strings.Contains(err.Error(), "budget") {
		t.Errorf("Prepare on an endless probe: %v, want the budget named", err)
	}
	b := e.RunTest(t.Context(), baseTest(20, 16, 2))
	if took := time.Since(start); took > 30*time.Second {
		t.Errorf("took %s", took)
	}
	for _, r := range allRuns(b) {
		want(t, "error_kind", r.ErrorKind, schema.ErrKindBadResponse)
		if !strings.Contains(r.Error, "budget for max_tokens") {
			t.Errorf("error %q, want the budget named", r.Error)
		}
	}
}

// TestRedirectNotFollowed (issue 14, defect 9): a 307 on the chat request is a
// failure naming the redirect; the other server never sees the request nor the
// API key; the error is a *ServerError.
func TestRedirectNotFollowed(t *testing.T) {
	t.Parallel()
	var leaked atomic.Int32
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { leaked.Add(1) }))
	defer other.Close()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/health" {
			http.Redirect(w, r, other.URL+"/health", http.StatusTemporaryRedirect)
			return
		}
		http.Redirect(w, r, other.URL+r.URL.Path, http.StatusTemporaryRedirect)
	}))
	defer srv.Close()
	for _, client := range []*http.Client{nil, {}} {
		e := newEngine(srv.URL, engine.KindLlamaCpp)
		e.Target.APIKey = "k"
		e.Client = client
		b := e.RunTest(t.Context(), baseTest(20, 4, 1))
		for _, r := range allRuns(b) {
			want(t, "error_kind", r.ErrorKind, "http_307")
			if !strings.Contains(r.Error, "redirects to "+other.URL) {
				t.Errorf("error %q, want the redirect named", r.Error)
			}
		}
		err := e.Alive(t.Context())
		var se *engine.ServerError
		if !errors.As(err, &se) || se.Status != http.StatusTemporaryRedirect || !errors.Is(err, engine.ErrServerUnavailable) {
			t.Errorf("Alive = %v, want a *ServerError with status 307", err)
		}
	}
	if n := leaked.Load(); n != 0 {
		t.Errorf("the other server got %d requests", n)
	}
}

// TestServerErrorAs: an HTTP failure of the server is a *ServerError with its
// status, URL and message.
func TestServerErrorAs(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, `{"error":{"message":"model not loaded"}}`, http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	err := newEngine(srv.URL, engine.KindLlamaCpp).Prepare(t.Context())
	var se *engine.ServerError
	if !errors.As(err, &se) {
		t.Fatalf("Prepare = %v, want a *ServerError inside", err)
	}
	if se.Status != 503 || se.Body != "model not loaded" || se.URL != srv.URL+"/v1/chat/completions" || se.Method != "POST" {
		t.Errorf("ServerError = %+v", se)
	}
	if got := se.Error(); got != "HTTP 503 from POST /v1/chat/completions: model not loaded" {
		t.Errorf("text %q", got)
	}
}

// TestNoAnswerFailsFast (issue 14, defect 4): once a request got no answer for
// its whole deadline, the next wait only DefaultNoAnswerTimeout-like (here
// scaled down through RequestTimeout), and a warmup that got none skips the
// timed runs.
func TestNoAnswerFailsFast(t *testing.T) {
	t.Parallel()
	srv := enginetest.NewServer(func(r enginetest.Request) enginetest.Response {
		return enginetest.Response{HeaderDelay: time.Hour}
	})
	defer srv.Close()
	e := newEngine(srv.URL, engine.KindLlamaCpp)
	e.RequestTimeout = func(int) time.Duration { return 300 * time.Millisecond }
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	start := time.Now()
	b := e.RunTest(ctx, baseTest(20, 16, 5))
	took := time.Since(start)
	if len(b.Runs) != 0 || !engine.Unanswered(b) || !strings.Contains(b.Error, "the timed runs were not sent") {
		t.Errorf("runs %d, unanswered %v, error %q; want the warmup alone, unanswered", len(b.Runs), engine.Unanswered(b), b.Error)
	}
	// Calibration probe + warmup, each at most the 300 ms deadline.
	if took > 5*time.Second {
		t.Errorf("the test took %s", took)
	}
	t.Log(fmt.Sprintf("a test against a silent server ended in %.2f s: %s", took.Seconds(), b.Error))
}
