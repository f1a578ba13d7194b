package main

import (
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/typhonbench/typhon"
	"github.com/typhonbench/typhon/internal/testbed"
	"github.com/typhonbench/typhon/report"
	"github.com/typhonbench/typhon/schema"
)

// recordRun writes a finished record of a run on the server at base as the
// data directory's last run.
func recordRun(t *testing.T, data, base, model string) {
	t.Helper()
	res := &schema.Result{SchemaVersion: schema.Version, RunID: typhon.NewRunID(time.Now()), RunAt: time.Now().UTC(),
		Status: schema.StatusComplete, Mode: "quick", Model: model,
		Server: schema.ServerInfo{Name: "llama.cpp", Kind: "llama.cpp", APIBase: base},
		Benchmarks: []schema.Benchmark{{TestID: "baseline_short", Category: schema.CategoryBaseline, CtxSize: 2048,
			NRuns: 3, SuccessfulRuns: 3, AvgTPS: 321.5, AvgTTFTS: 0.012,
			Runs: []schema.RunSample{{Success: true, TPS: 321.5, TTFTS: 0.012, PromptTokens: 130, OutputTokens: 64}}}},
	}
	if err := (&report.Store{Dir: data}).Finish(res); err != nil {
		t.Fatal(err)
	}
}

// serveAsk serves the API on data with the ask settings c.
func serveAsk(t *testing.T, data string, c askConfig) string {
	t.Helper()
	a := newAPI(&typhon.Manager{Runner: typhon.Runner{DataDir: data}}, "", slog.New(slog.NewTextHandler(io.Discard, nil)))
	a.askCfg = c
	ts := httptest.NewServer(a)
	t.Cleanup(ts.Close)
	return ts.URL
}

// TestAskEndpoint: GET /ask answers 404 without a run, 200 with the advice of
// the test bed's real llama-server (the server of the last run), and 502 with
// the LLM server's error when it fails, refuses or runs out of time.
func TestAskEndpoint(t *testing.T) {
	t.Run("404 without a run", func(t *testing.T) {
		var body map[string]string
		if code := doJSON(t, "GET", serveAsk(t, t.TempDir(), askConfig{})+"/ask", &body); code != http.StatusNotFound ||
			!strings.Contains(body["detail"], "no run recorded") {
			t.Errorf("status %d %v, want 404 no run recorded", code, body)
		}
	})
	t.Run("200 from the benchmarked server", func(t *testing.T) {
		srv := testbed.LlamaServer(t, testbed.Options{CtxSize: 8192})
		data := t.TempDir()
		recordRun(t, data, srv.URL, srv.Model)
		var got askAnswer
		code := doJSON(t, "GET", serveAsk(t, data, askConfig{})+"/ask?q="+url.QueryEscape("Is 321 tokens/s good?"), &got)
		t.Logf("status %d, answer %d bytes: %.120q", code, len(got.Answer), got.Answer)
		if code != http.StatusOK || strings.TrimSpace(got.Answer) == "" || got.Question != "Is 321 tokens/s good?" || got.RunID == "" {
			t.Errorf("status %d, %+v; want 200 with an answer", code, got)
		}
	})
	failing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, `{"error":{"code":503,"message":"Loading model","type":"unavailable_error"}}`, http.StatusServiceUnavailable)
	}))
	defer failing.Close()
	hanging := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(http.StatusOK)
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	}))
	defer hanging.Close()
	refused := httptest.NewServer(http.NotFoundHandler())
	refused.Close()
	for _, c := range []struct {
		name, base string
		cfg        askConfig
		want       string
	}{
		{"502 with the server's error", failing.URL, askConfig{}, "Loading model"},
		{"502 when refused", refused.URL, askConfig{}, "refused"},
		{"502 when out of time", hanging.URL, askConfig{timeout: 300 * time.Millisecond}, "no answer within 300ms"},
		{"502 from -ask-url", "http://127.0.0.1:9", askConfig{url: failing.URL}, "HTTP 503"},
	} {
		t.Run(c.name, func(t *testing.T) {
			data := t.TempDir()
			recordRun(t, data, c.base, "tiny")
			var body map[string]string
			code := doJSON(t, "GET", serveAsk(t, data, c.cfg)+"/ask", &body)
			if code != http.StatusBadGateway || !strings.Contains(body["detail"], c.want) {
				t.Errorf("status %d %v, want 502 with %q", code, body, c.want)
			}
		})
	}
	long := strings.Repeat("x", askMaxQuestion+1)
	for _, q := range []string{"q=" + long, "q=a&q=b"} {
		if code := doJSON(t, "GET", fmt.Sprintf("%s/ask?%s", serveAsk(t, t.TempDir(), askConfig{}), q), nil); code != http.StatusBadRequest {
			t.Errorf("GET /ask?%.20s...: status %d, want 400", q, code)
		}
	}
}
