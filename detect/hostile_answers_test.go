package detect

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// probeReason probes url and returns the reason it was not reported; it fails
// the test when a server was reported.
func probeReason(t *testing.T, url string) string {
	t.Helper()
	s, err := Probe(t.Context(), url, Options{Timeout: testTimeout})
	var pe *ProbeError
	if !errors.As(err, &pe) {
		t.Fatalf("Probe = %+v, %v; want a *ProbeError", s, err)
	}
	return pe.Reason
}

// TestProbeCatchAll: a server that answers every path with the same 2xx body
// carries every rule's markers at once; one answer read under several paths is
// not two answers that agree. It was reported as vLLM, SGLang or LM Studio.
func TestProbeCatchAll(t *testing.T) {
	t.Parallel()
	bodies := map[string]string{
		"vllm-shaped":  `{"object":"list","data":[{"id":"m1","owned_by":"vllm","max_model_len":4096}],"version":"1.0"}`,
		"every-marker": `{"object":"list","data":[{"id":"m1"}],"models":[{"name":"m1"}],"version":"1","status":"ok","default_generation_settings":{"n_ctx":4096},"total_slots":1,"model_path":"/m"}`,
		"lmstudio":     `{"data":[],"models":[]}`,
		"html":         `<!doctype html><html><body>app</body></html>`,
	}
	for name, body := range bodies {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				_, _ = w.Write([]byte(body))
			}))
			t.Cleanup(srv.Close)
			if why := probeReason(t, srv.URL); !strings.Contains(why, "answers every path alike") {
				t.Fatalf("reason %q; want it to say the server answers every path alike", why)
			}
		})
	}
}
