package engine_test

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/typhonbench/typhon/engine"
	"github.com/typhonbench/typhon/schema"
)

// oddLine is one OpenAI-style token chunk, with extra fields after choices.
func oddLine(content, extra string) string {
	return `data: {"choices":[{"index":0,"delta":{"content":"` + content + `"},"finish_reason":null}]` + extra + "}\n\n"
}

const oddFinish = `data: {"choices":[{"index":0,"delta":{},"finish_reason":"length"}],"usage":{"prompt_tokens":100,"completion_tokens":32}}` +
	"\n\ndata: [DONE]\n\n"

const oddOllamaToken = `{"message":{"content":" tok"},"done":false}` + "\n"

// oddTokens writes n token chunks gap apart, flushed.
func oddTokens(w http.ResponseWriter, n int, gap time.Duration) {
	for range n {
		fmt.Fprint(w, oddLine(" tok", ""))
		w.(http.Flusher).Flush()
		time.Sleep(gap)
	}
}

// noneValid: no run is averaged (each failed or excluded) and every failure or
// exclusion says why in at most maxErr bytes.
func noneValid(maxErr int) func(t *testing.T, b schema.Benchmark) {
	return func(t *testing.T, b schema.Benchmark) {
		t.Helper()
		if b.ValidRuns != 0 || b.AvgTPS != 0 {
			t.Errorf("valid_runs %d, avg_tps %v: a figure from a stream that cannot give one", b.ValidRuns, b.AvgTPS)
		}
		for i, r := range allRuns(b) {
			if r.Success && r.Excluded == "" {
				t.Errorf("run %d: success, not excluded, tps %v", i, r.TPS)
			}
			if len(r.Error) > maxErr {
				t.Errorf("run %d: error of %d bytes, want at most %d: %.300q", i, len(r.Error), maxErr, r.Error)
			}
			if !r.Success && r.Error == "" {
				t.Errorf("run %d failed without an error", i)
			}
		}
	}
}

// errorSays: every run failed with an error that holds each of words.
func errorSays(words ...string) func(t *testing.T, b schema.Benchmark) {
	return func(t *testing.T, b schema.Benchmark) {
		t.Helper()
		noneValid(2000)(t, b)
		for i, r := range allRuns(b) {
			for _, w := range words {
				if !strings.Contains(r.Error, w) {
					t.Errorf("run %d: error %q, want it to say %q", i, r.Error, w)
				}
			}
		}
	}
}

// measured: every run is averaged with a decode speed and, when warning is
// not empty, says so in a warning.
func measured(warning string) func(t *testing.T, b schema.Benchmark) {
	return func(t *testing.T, b schema.Benchmark) {
		t.Helper()
		if b.ValidRuns != len(b.Runs) || len(b.Runs) == 0 {
			t.Errorf("valid_runs %d of %d (error %q)", b.ValidRuns, len(b.Runs), b.Error)
		}
		for i, r := range allRuns(b) {
			if !r.Success || r.Excluded != "" || r.TPS <= 0 {
				t.Errorf("run %d: success %v, excluded %q, tps %v, error %q", i, r.Success, r.Excluded, r.TPS, r.Error)
			}
			if warning != "" && !strings.Contains(strings.Join(r.Warnings, "; "), warning) {
				t.Errorf("run %d: warnings %q, want one that says %q", i, r.Warnings, warning)
			}
		}
	}
}

// oddCounted writes 32 token chunks 5 ms apart, each with extra(i) after the
// choices, then the finish.
func oddCounted(extra func(i int) string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		for i := range 32 {
			fmt.Fprint(w, oddLine(" tok", extra(i)))
			w.(http.Flusher).Flush()
			time.Sleep(5 * time.Millisecond)
		}
		fmt.Fprint(w, oddFinish)
	}
}

// probesAnswered answers the engine's one-token calibration probes with one
// token, other paths than the chat with 404, and every other request with h.
func probesAnswered(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/chat/completions" {
			http.NotFound(w, r)
			return
		}
		var body struct {
			MaxTokens int `json:"max_tokens"`
		}
		data, _ := io.ReadAll(r.Body)
		if json.Unmarshal(data, &body) == nil && body.MaxTokens == 1 {
			fmt.Fprint(w, oddLine(" tok", "")+strings.Replace(oddFinish, `"completion_tokens":32`, `"completion_tokens":1`, 1))
			return
		}
		h(w, r)
	}
}

// TestOddStreams: streams a hostile or broken server can send that are not in
// the other hostile suites end in a clear error or an excluded run, never in a
// figure averaged in, within a bounded time.
func TestOddStreams(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		kind    schema.Kind
		handler http.HandlerFunc
		check   func(t *testing.T, b schema.Benchmark)
		timeout time.Duration // the request deadline; 0 = 10 s
	}{{
		name: "the finish chunk first, no token chunk, usage 32",
		handler: func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprint(w, oddFinish)
		},
		check: noneValid(500),
	}, {
		name: "Ollama: done first, then tokens",
		kind: engine.KindOllama,
		handler: func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprint(w, `{"done":true,"done_reason":"length","eval_count":32,"prompt_eval_count":100,"eval_duration":1000000}`+"\n")
			fmt.Fprint(w, strings.Repeat(oddOllamaToken, 32))
		},
		check: noneValid(500),
	}, {
		name: "SSE with bare CR line endings and data: without the space",
		handler: func(w http.ResponseWriter, r *http.Request) {
			for range 32 {
				fmt.Fprint(w, strings.ReplaceAll(strings.ReplaceAll(oddLine(" tok", ""), "\n", "\r"), "data: ", "data:"))
				w.(http.Flusher).Flush()
				time.Sleep(5 * time.Millisecond)
			}
			fmt.Fprint(w, strings.ReplaceAll(oddFinish, "\n", "\r"))
		},
		check: measured(""),
	}, {
		name: "continuous usage that goes backwards",
		handler: oddCounted(func(i int) string {
			return fmt.Sprintf(`,"usage":{"prompt_tokens":100,"completion_tokens":%d}`, 40-i)
		}),
		check: measured("backwards"),
	}, {
		name: "llama.cpp predicted_n that goes backwards",
		handler: oddCounted(func(i int) string {
			return fmt.Sprintf(`,"timings":{"predicted_n":%d,"prompt_n":100}`, min(i+1, 20-i%3))
		}),
		check: measured("backwards"),
	}, {
		// Empty deltas forever once tokens flowed: only the deadline (10 s here,
		// minutes by default) ended it; the stall timeout (2 s) must.
		name: "chunks without tokens forever after the first tokens",
		handler: probesAnswered(func(w http.ResponseWriter, r *http.Request) {
			oddTokens(w, 5, 5*time.Millisecond)
			for r.Context().Err() == nil {
				fmt.Fprint(w, `data: {"choices":[{"index":0,"delta":{}}]}`+"\n\n")
				w.(http.Flusher).Flush()
				time.Sleep(50 * time.Millisecond)
			}
		}),
		check: func(t *testing.T, b schema.Benchmark) {
			errorSays("no token for 2s")(t, b)
			for i, r := range allRuns(b) {
				if r.ElapsedS > 5 {
					t.Errorf("run %d took %.1f s, want the 2 s stall timeout, not the 10 s deadline", i, r.ElapsedS)
				}
			}
		},
	}, {
		// One byte every 100 ms, never a whole chunk: before the first chunk only
		// the request deadline bounds a stream (a prefill may be long), and its
		// error says bytes came.
		name: "a trickle that never makes a chunk",
		handler: probesAnswered(func(w http.ResponseWriter, r *http.Request) {
			for r.Context().Err() == nil {
				w.Write([]byte("d"))
				w.(http.Flusher).Flush()
				time.Sleep(100 * time.Millisecond)
			}
		}),
		timeout: 2 * time.Second,
		check:   errorSays("deadline of 2s", "bytes that made no complete chunk"),
	}, {
		// fastjson's error names every level it entered.
		name: "deeply nested JSON in a chunk",
		handler: func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprint(w, "data: "+strings.Repeat("[", 100000)+"\n\n")
			fmt.Fprint(w, oddFinish)
		},
		check: errorSays("not JSON"),
	}, {
		name: "Ollama: deeply nested JSON on a line",
		kind: engine.KindOllama,
		handler: func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprint(w, strings.Repeat("[", 100000)+"\n")
		},
		check: errorSays("not JSON"),
	}, {
		// The line passes the byte budget (1 MiB + 4 KiB per token): that is the
		// reason to give, not the cut line's JSON.
		name: "Ollama: a line of 10 MB",
		kind: engine.KindOllama,
		handler: func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprint(w, `{"message":{"content":"`+strings.Repeat("a", 10<<20)+`"},"done":false}`+"\n")
		},
		check: errorSays("budget"),
	}, {
		name: "200 with an HTML page (a captive portal, a proxy's login)",
		handler: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			fmt.Fprint(w, "<html><body><h1>Sign in</h1>\n<p>proxy</p></body></html>\n")
		},
		check: errorSays("text/html", "Sign in"),
	}, {
		// Typhon asks for no compression; a stream compressed anyway is unreadable.
		name: "a gzip-encoded stream",
		handler: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Encoding", "gzip")
			w.Write([]byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3, 1, 2, 3, 4, 5})
		},
		check: errorSays("gzip"),
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := httptest.NewServer(tc.handler)
			defer srv.Close()
			kind := tc.kind
			if kind == "" {
				kind = engine.KindLlamaCpp
			}
			e := newEngine(srv.URL, kind)
			e.StallTimeout = 2 * time.Second
			timeout := cmp.Or(tc.timeout, 10*time.Second)
			e.RequestTimeout = func(int) time.Duration { return timeout }
			start := time.Now()
			b := e.RunTest(t.Context(), baseTest(100, 32, 2))
			if d := time.Since(start); d > time.Minute {
				t.Errorf("the test took %s, want under a minute", d)
			}
			tc.check(t, b)
			if testing.Verbose() {
				t.Logf("%s: notes %q, error %q", time.Since(start), b.Notes, b.Error)
				for _, r := range allRuns(b) {
					t.Logf("elapsed %.2f s, tps %v, excluded %q, error %q, warnings %q", r.ElapsedS, r.TPS, r.Excluded, r.Error, r.Warnings)
				}
			}
		})
	}
}
