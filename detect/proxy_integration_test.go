package detect_test

import (
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"testing"

	"github.com/typhonbench/typhon/detect"
	"github.com/typhonbench/typhon/internal/testbed"
)

// TestRealLlamaServerBehindV1Proxy: the test bed's llama-server behind a
// reverse proxy that forwards only /v1/ (every other path the proxy's HTML
// 404) was reported as an OpenAI-compatible server with no context. Its model
// cards (owned by "llamacpp", the model's meta) identify it: llama.cpp with its
// model and the context of one slot; slots stay unknown (/props is not let
// through). Under a path prefix with everything forwarded, it is whole.
func TestRealLlamaServerBehindV1Proxy(t *testing.T) {
	llama := testbed.LlamaServer(t, testbed.Options{CtxSize: 4096, Parallel: 2})
	u, err := url.Parse(llama.URL)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(u)
	v1Only := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/v1/") {
			rp.ServeHTTP(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusNotFound)
		_, _ = w.Write([]byte("<html><head><title>404 Not Found</title></head></html>"))
	}))
	t.Cleanup(v1Only.Close)
	prefixed := httptest.NewServer(http.StripPrefix("/llm", rp))
	t.Cleanup(prefixed.Close)

	s, err := detect.Probe(t.Context(), v1Only.URL+"/v1", detect.Options{Timeout: integrationTimeout})
	if err != nil || s.Kind != detect.KindLlamaCpp || s.LoadedModel != llama.Model || s.CtxSize != 2048 {
		t.Fatalf("behind a /v1 proxy: %+v, %v; want llama.cpp, %s, ctx 2048", s, err, llama.Model)
	}
	s, err = detect.Probe(t.Context(), prefixed.URL+"/llm/", detect.Options{Timeout: integrationTimeout})
	if err != nil || s.Kind != detect.KindLlamaCpp || s.CtxSize != 2048 || s.Slots != 2 || s.BaseURL != prefixed.URL+"/llm" {
		t.Fatalf("under /llm: %+v, %v; want llama.cpp at %s/llm, ctx 2048, 2 slots", s, err, prefixed.URL)
	}
}
