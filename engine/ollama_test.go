package engine_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/typhonbench/typhon/engine"
	"github.com/typhonbench/typhon/engine/enginetest"
	"github.com/typhonbench/typhon/schema"
)

// fakeOllama answers /api/chat in Ollama's NDJSON with the toy tokenizer of
// enginetest: one token per word, two for the template.
type fakeOllama struct {
	thinking  int    // tokens of thinking before the content
	failLine  string // sent as the stream's second line, when set
	defaultCt int    // context without num_ctx

	mu     sync.Mutex
	bodies []map[string]any
}

func (f *fakeOllama) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/version", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `{"version":"0.0.0"}`)
	})
	mux.HandleFunc("POST /api/chat", func(w http.ResponseWriter, r *http.Request) {
		var body map[string]any
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			http.Error(w, `{"error":"bad json"}`, 400)
			return
		}
		f.mu.Lock()
		f.bodies = append(f.bodies, body)
		f.mu.Unlock()
		opts, _ := body["options"].(map[string]any)
		numCtx := f.defaultCt
		if v, ok := opts["num_ctx"].(float64); ok {
			numCtx = int(v)
		}
		n := int(opts["num_predict"].(float64))
		user := body["messages"].([]any)[0].(map[string]any)["content"].(string)
		prompt := enginetest.Tokens(user) + enginetest.TemplateTokens
		if prompt > numCtx {
			if body["truncate"] == false {
				w.WriteHeader(http.StatusBadRequest)
				fmt.Fprint(w, `{"error":"the input length exceeds the context length"}`)
				return
			}
			prompt = numCtx // what Ollama's truncation would do
		}
		w.Header().Set("Content-Type", "application/x-ndjson")
		fl := w.(http.Flusher)
		line := func(v map[string]any) {
			v["model"] = "fake"
			b, _ := json.Marshal(v)
			w.Write(append(b, '\n'))
			fl.Flush()
		}
		const interval = time.Millisecond
		for i := range n {
			time.Sleep(interval)
			if i == f.thinking && i > 0 {
				// The first content well after the thinking: chunks that one
				// read brings share its time, and a busy machine can read
				// chunks 1 ms apart at once.
				time.Sleep(30 * interval)
			}
			msg := map[string]any{"role": "assistant", "content": " tok"}
			if i < f.thinking {
				msg = map[string]any{"role": "assistant", "content": "", "thinking": " hmm"}
			}
			line(map[string]any{"message": msg, "done": false})
			if i == 0 && f.failLine != "" {
				w.Write([]byte(f.failLine + "\n"))
				return
			}
		}
		line(map[string]any{"message": map[string]any{"role": "assistant", "content": ""}, "done": true,
			"done_reason": "length", "total_duration": 5e9, "load_duration": 1.5e9,
			"prompt_eval_count": prompt, "prompt_eval_duration": 2e8,
			"eval_count": n, "eval_duration": int64(n-1) * int64(2*interval)})
	})
	return mux
}

func TestOllamaNative(t *testing.T) {
	t.Parallel()
	f := &fakeOllama{thinking: 3, defaultCt: 2048}
	srv := httptest.NewServer(f.handler())
	defer srv.Close()
	e := newEngine(srv.URL, engine.KindOllama)
	e.Target.CtxSize = 2048
	tt := engine.Test{ID: "ctx_sweep_4096", Name: "Context sweep — 4,096 tokens", Category: schema.CategoryContextSweep,
		CtxSize: 4096, PromptTokens: 3712, MaxTokens: 20, Runs: 2}
	b := e.RunTest(t.Context(), tt)
	want(t, "successful_runs", b.SuccessfulRuns, 2)
	for i, r := range allRuns(b) {
		if !r.Success {
			t.Fatalf("run %d: %s", i, r.Error)
		}
		if off := float64(r.PromptTokens-tt.PromptTokens) / float64(tt.PromptTokens); off > 0.01 || off < -0.01 {
			t.Errorf("run %d: prompt_tokens %d, want within 1%% of %d", i, r.PromptTokens, tt.PromptTokens)
		}
		want(t, "load_s", r.LoadS, 1.5)
		want(t, "server_prompt_ms", r.ServerPromptMS, 200.0)
		if r.ServerTPS <= 0 || r.ServerPrefillTPS <= 0 {
			t.Errorf("run %d: server_tps %v, server_prefill_tps %v, want Ollama's eval figures", i, r.ServerTPS, r.ServerPrefillTPS)
		}
		if r.FirstContentS <= r.TTFTS {
			t.Errorf("run %d: first_content_s %v, want after ttft_s %v (thinking came first)", i, r.FirstContentS, r.TTFTS)
		}
		want(t, "cache_state", r.CacheState, "unknown")
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	timed := 0
	for _, body := range f.bodies {
		opts := body["options"].(map[string]any)
		if opts["num_predict"] == 1.0 {
			continue // calibration probe
		}
		timed++
		for k, v := range map[string]any{"num_ctx": 4096.0, "temperature": 0.0, "seed": float64(engine.DefaultSeed)} {
			if opts[k] != v {
				t.Errorf("options.%s = %v, want %v", k, opts[k], v)
			}
		}
		if body["truncate"] != false || body["stream"] != true {
			t.Errorf("truncate %v stream %v, want false and true", body["truncate"], body["stream"])
		}
	}
	want(t, "timed and warmup requests", timed, 3)
	if !strings.Contains(strings.Join(b.Notes, " "), "num_ctx 4,096") {
		t.Errorf("notes %q, want them to say num_ctx was set", b.Notes)
	}
}

func TestOllamaErrors(t *testing.T) {
	t.Parallel()
	t.Run("error line in the stream", func(t *testing.T) {
		t.Parallel()
		f := &fakeOllama{defaultCt: 8192, failLine: `{"error":"llama runner process has terminated"}`}
		srv := httptest.NewServer(f.handler())
		defer srv.Close()
		b := newEngine(srv.URL, engine.KindOllama).RunTest(t.Context(), baseTest(100, 8, 1))
		for i, r := range allRuns(b) {
			want(t, fmt.Sprint("run ", i, " error_kind"), r.ErrorKind, schema.ErrKindStreamBroken)
			if !strings.Contains(r.Error, "llama runner process has terminated") {
				t.Errorf("run %d error %q, want Ollama's message", i, r.Error)
			}
		}
	})
	t.Run("a prompt beyond num_ctx fails, never cut", func(t *testing.T) {
		t.Parallel()
		f := &fakeOllama{defaultCt: 8192}
		srv := httptest.NewServer(f.handler())
		defer srv.Close()
		tt := baseTest(3000, 8, 1)
		tt.CtxSize = 2048 // a plan mistake: the prompt cannot fit
		b := newEngine(srv.URL, engine.KindOllama).RunTest(t.Context(), tt)
		for i, r := range allRuns(b) {
			want(t, fmt.Sprint("run ", i, " error_kind"), r.ErrorKind, "http_400")
			if !strings.Contains(r.Error, "exceeds the context length") {
				t.Errorf("run %d error %q, want Ollama's message", i, r.Error)
			}
		}
	})
}
