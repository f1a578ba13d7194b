package advice

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/typhonbench/typhon/schema"
)

const (
	testKey     = "sk-typhon-advice-test-4c1d"
	testDataDir = "/home/alice/.local/share/typhon"
)

// record is a run whose text holds what a summary must not carry.
func record(t *testing.T) *schema.Result {
	host, _ := os.Hostname()
	return &schema.Result{
		SchemaVersion: schema.Version, RunID: "20261201T101500Z-1a2b3c4d", Status: schema.StatusComplete,
		Mode: "quick", Model: "llama-8b", RunAt: time.Date(2026, 12, 1, 10, 15, 0, 0, time.UTC),
		Error: "cannot write record: open " + testDataDir + "/runs/x.json: no space left on device (on " + host + ")",
		Server: schema.ServerInfo{Name: "llama.cpp", Kind: "llama.cpp", Port: 8080, APIBase: "http://gpu-box.lan:8080",
			Version: "b11669", CtxSize: 8192, Settings: map[string]string{"model_path": "/home/alice/models/llama-8b.Q8_0.gguf"}},
		Benchmarks: []schema.Benchmark{
			{TestID: "baseline_short", Category: schema.CategoryBaseline, CtxSize: 2048, NRuns: 5, SuccessfulRuns: 5,
				AvgTPS: 123.456, AvgTTFTS: 0.0789, Runs: []schema.RunSample{{Success: true, TPS: 123.456, PromptTokens: 130}}},
			{TestID: "ctx_sweep_4096", Category: schema.CategoryContextSweep, CtxSize: 4096, NRuns: 2, SuccessfulRuns: 2,
				AvgTPS: 98.765, AvgTTFTS: 1.25, Runs: []schema.RunSample{{Success: true, TPS: 98.765, PromptTokens: 3700}}},
			{TestID: "ctx_sweep_8192", Category: schema.CategoryContextSweep, CtxSize: 8192, NRuns: 2,
				Runs: []schema.RunSample{{Error: "POST http://gpu-box.lan:8080/v1/chat/completions: connection refused by 10.1.2.3:8080",
					ErrorKind: "connection_refused"}}},
		},
	}
}

// fakeLLM answers chat completions with a stream and keeps the requests.
type fakeLLM struct {
	mu     sync.Mutex
	bodies []string
	auth   []string
	handle func(w http.ResponseWriter, r *http.Request)
}

func (f *fakeLLM) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	f.bodies = append(f.bodies, string(b))
	f.auth = append(f.auth, r.Header.Get("Authorization"))
	f.mu.Unlock()
	if r.URL.Path != "/v1/chat/completions" {
		http.NotFound(w, r)
		return
	}
	f.handle(w, r)
}

func stream(pieces ...string) func(w http.ResponseWriter, r *http.Request) {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		for _, p := range pieces {
			c, _ := json.Marshal(map[string]any{"choices": []any{map[string]any{"delta": map[string]string{"content": p}}}})
			fmt.Fprintf(w, "data: %s\n\n", c)
			w.(http.Flusher).Flush()
		}
		fmt.Fprint(w, "data: [DONE]\n\n")
	}
}

func TestAskSendsSummaryWithoutSecrets(t *testing.T) {
	t.Parallel()
	f := &fakeLLM{handle: stream("Use ", "-fa on", " and -c 4096.")}
	srv := httptest.NewServer(f)
	defer srv.Close()
	var out strings.Builder
	res := record(t)
	answer, err := Ask(t.Context(), res, Target{BaseURL: srv.URL, APIKey: testKey, Secrets: []string{testDataDir},
		Question: "Why does 8K fail?"}, &out)
	if err != nil || answer != "Use -fa on and -c 4096." || out.String() != answer {
		t.Fatalf("answer %q (streamed %q), err %v", answer, out.String(), err)
	}
	body := f.bodies[0]
	var req struct {
		Model    string
		Messages []struct{ Role, Content string }
	}
	if err := json.Unmarshal([]byte(body), &req); err != nil || len(req.Messages) != 2 {
		t.Fatalf("request %s: %v", body, err)
	}
	user := req.Messages[1].Content
	for _, want := range []string{"123.456", "98.765", "0.0789", "ctx_sweep_8192", "connection_refused", "Why does 8K fail?", "llama-8b.Q8_0.gguf"} {
		if !strings.Contains(user, want) {
			t.Errorf("the summary sent lacks %q:\n%s", want, user)
		}
	}
	for _, s := range []string{testKey, testDataDir, "/home/alice", "alice", "gpu-box", "10.1.2.3", ":8080", "http://"} {
		if strings.Contains(body, s) {
			t.Errorf("the request body holds %q:\n%s", s, body)
		}
	}
	// The host name is in the record's error; a short one is searched as a word.
	if h, err := os.Hostname(); err == nil && regexp.MustCompile(`\b`+regexp.QuoteMeta(h)+`\b`).MatchString(user) {
		t.Errorf("the summary holds the host name %q:\n%s", h, user)
	}
	if req.Model != "llama-8b" || f.auth[0] != "Bearer "+testKey || req.Messages[0].Role != "system" {
		t.Errorf("model %q, auth %q, first role %q; want the run's model, the key as bearer, a system prompt", req.Model, f.auth[0], req.Messages[0].Role)
	}
	t.Logf("user message (%d bytes): %.400s", len(user), user)
}

func TestAskErrors(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		handle  func(w http.ResponseWriter, r *http.Request)
		timeout time.Duration
		max     int
		want    func(answer string, err error) bool
	}{
		{"http error keeps the body", func(w http.ResponseWriter, _ *http.Request) {
			http.Error(w, `{"error":{"message":"model not found"}}`, http.StatusNotFound)
		}, 0, 0, func(_ string, err error) bool {
			var se *ServerError
			return errors.As(err, &se) && se.Status == 404 && strings.Contains(se.Body, "model not found") && errors.Is(err, ErrServer)
		}},
		{"error in the stream", func(w http.ResponseWriter, _ *http.Request) {
			fmt.Fprint(w, "data: {\"error\":{\"message\":\"context full\"}}\n\n")
		}, 0, 0, func(_ string, err error) bool {
			return errors.Is(err, ErrServer) && strings.Contains(err.Error(), "context full")
		}},
		{"empty answer", stream(), 0, 0, func(_ string, err error) bool {
			return errors.Is(err, ErrServer) && strings.Contains(err.Error(), "empty")
		}},
		{"answer cut at the size bound", stream(strings.Repeat("a", 300), strings.Repeat("b", 300), "never"), 0, 500,
			func(a string, err error) bool { return err == nil && len(a) == 500 }},
		{"server that never answers", func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-r.Context().Done():
			case <-time.After(5 * time.Second):
			}
		}, 300 * time.Millisecond, 0,
			func(_ string, err error) bool { return errors.Is(err, context.DeadlineExceeded) }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			srv := httptest.NewServer(&fakeLLM{handle: c.handle})
			defer srv.Close()
			start := time.Now()
			a, err := Ask(t.Context(), record(t), Target{BaseURL: srv.URL, Timeout: c.timeout, MaxAnswerBytes: c.max}, nil)
			if !c.want(a, err) {
				t.Errorf("answer %d bytes, err %v", len(a), err)
			}
			if d := time.Since(start); d > 4*time.Second {
				t.Errorf("took %v", d)
			}
		})
	}
	if _, err := Ask(t.Context(), &schema.Result{}, Target{}, nil); !errors.Is(err, ErrNoTarget) {
		t.Errorf("no server: %v, want ErrNoTarget", err)
	}
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()
	if _, err := Ask(t.Context(), record(t), Target{BaseURL: closed.URL}, nil); !errors.Is(err, ErrServer) {
		t.Errorf("refused: %v, want ErrServer", err)
	}
}
