package detect

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// computes reports a request that makes some server compute: TGI routes GET /,
// /health and /ping to its health check (which checks the shards and, after a
// failed generation, runs a prefill); SGLang's /health generates a token.
func computes(req string) bool {
	return req == "GET /" || req == "GET /health" || req == "GET /ping"
}

// TestScanTGIAsksNoHealth: a scan of a TGI (router/src/server.rs of 3.3.4: GET
// /, /health and /ping are the health handler) identifies it without sending
// any of those.
func TestScanTGIAsksNoHealth(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"tgi", "tgi-metrics"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			srv := serveRecorded(t, loadRecorded(t, name))
			got, err := Scan(t.Context(), Options{NoDefaults: true, Ports: []int{portOf(t, srv.Server)}, Timeout: testTimeout})
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 1 || got[0].Kind != KindTGI || got[0].CtxSize != 8192 {
				t.Fatalf("Scan = %+v; want one TGI with ctx 8192", got)
			}
			n := 0
			for _, req := range srv.seen() {
				if computes(req) {
					t.Errorf("the scan sent %s to TGI", req)
					n++
				}
			}
			t.Logf("%d requests, %d of them to /, /health or /ping", len(srv.seen()), n)
		})
	}
}

// TestProbeVLLMUnderPrefix: vLLM behind a proxy that forwards only
// /vllm/v1/... is identified from its /v1/models alone, whether the URL is
// given with or without the trailing /v1.
func TestProbeVLLMUnderPrefix(t *testing.T) {
	t.Parallel()
	rec := loadRecorded(t, "vllm-proxy-v1-only")
	inner := serveRecorded(t, rec)
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rest, ok := strings.CutPrefix(r.URL.Path, "/vllm/v1/")
		if !ok {
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(http.StatusNotFound)
			_, _ = w.Write([]byte("<html><body>404 Not Found</body></html>"))
			return
		}
		resp, err := http.Get(inner.URL + "/v1/" + rest)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		w.Header().Set("Content-Type", resp.Header.Get("Content-Type"))
		w.WriteHeader(resp.StatusCode)
		_, _ = io.Copy(w, io.LimitReader(resp.Body, MaxAnswerBytes))
	}))
	t.Cleanup(proxy.Close)
	for _, url := range []string{proxy.URL + "/vllm/v1", proxy.URL + "/vllm"} {
		got, err := Probe(t.Context(), url, Options{Timeout: testTimeout})
		if err != nil {
			t.Fatalf("Probe(%s): %v", url, err)
		}
		want := Server{
			Kind: KindVLLM, Name: "vLLM", BaseURL: proxy.URL + "/vllm", Port: portOf(t, proxy),
			Models: []string{"Qwen/Qwen2.5-7B-Instruct", "sql-lora"}, LoadedModel: "Qwen/Qwen2.5-7B-Instruct", CtxSize: 32768,
			Settings: map[string]string{"max_model_len": "32768", "root": "/models/Qwen2.5-7B-Instruct"},
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("Probe(%s) mismatch (-want +got):\n%s", url, diff)
		}
	}
}

// TestAuthFromAnyAnswer: a server identified from its public answers whose
// /v1/models refuses us is marked auth (here Ollama behind a proxy that wants
// a key for /v1 only), whichever rule identified it.
func TestAuthFromAnyAnswer(t *testing.T) {
	t.Parallel()
	rec := loadRecorded(t, "ollama-0.17.4-idle")
	text := `{"error":"unauthorized"}`
	rec.Answers["GET /v1/models"] = recordedAnswer{Status: http.StatusUnauthorized, Text: &text}
	got, why := identifyFrom(t.Context(), mapSource{rec})
	if why != "" || got.Kind != KindOllama {
		t.Fatalf("identifyFrom = %+v, %q; want Ollama", got, why)
	}
	if want := "API key required (/v1/models answered HTTP 401)"; got.Settings["auth"] != want {
		t.Errorf("settings.auth = %q; want %q", got.Settings["auth"], want)
	}
}

// TestScanAllAtOnce: every recorded server, scanned together, comes out as each
// does alone.
func TestScanAllAtOnce(t *testing.T) {
	t.Parallel()
	alone := map[string]string{} // base URL -> kind found alone ("" for none)
	var urls []string
	for _, name := range answerNames(t) {
		srv := serveRecorded(t, loadRecorded(t, name))
		s, err := Probe(t.Context(), srv.URL, Options{Timeout: testTimeout})
		if err != nil {
			s.Kind = ""
		}
		alone[srv.URL] = s.Kind
		urls = append(urls, srv.URL)
	}
	got, err := Scan(t.Context(), Options{NoDefaults: true, URLs: urls, Timeout: testTimeout})
	if err != nil {
		t.Fatal(err)
	}
	together := map[string]string{}
	for _, s := range got {
		together[s.BaseURL] = s.Kind
	}
	for _, u := range urls {
		if together[u] != alone[u] {
			t.Errorf("%s: kind %q scanned together, %q alone", u, together[u], alone[u])
		}
	}
	t.Logf("%d recorded servers, %d identified", len(urls), len(got))
}
