package detect_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/typhonbench/typhon/detect"
	"github.com/typhonbench/typhon/internal/testbed"
)

// integrationTimeout is the probe timeout of the assertions below: the machine
// running them may be loaded (the default is for interactive use).
const integrationTimeout = 10 * time.Second

func find(servers []detect.Server, base string) (detect.Server, bool) {
	for _, s := range servers {
		if s.BaseURL == base {
			return s, true
		}
	}
	return detect.Server{}, false
}

// ollamaModelName is the name Ollama reports for a model created as name.
func ollamaModelName(name string) string {
	if strings.Contains(name, ":") {
		return name
	}
	return name + ":latest"
}

// TestRealServers runs the test bed's llama-server and Ollama at once on
// non-default ports and checks each is identified with the right kind, model,
// context size and slots. It also prints how long scans take.
func TestRealServers(t *testing.T) {
	llama := testbed.LlamaServer(t, testbed.Options{CtxSize: 4096, Parallel: 2})
	oll := testbed.Ollama(t, testbed.Options{CtxSize: 2048})
	ctx := t.Context()

	// Defaults too: other things may listen on default ports; only ours are checked.
	servers, err := detect.Scan(ctx, detect.Options{
		Ports:   []int{llama.Port},
		URLs:    []string{oll.URL},
		Timeout: integrationTimeout,
	})
	if err != nil {
		t.Fatalf("Scan: %v", err)
	}

	gotLlama, ok := find(servers, llama.URL)
	if !ok {
		t.Fatalf("llama-server at %s not found in %+v", llama.URL, servers)
	}
	t.Logf("llama-server: %+v", gotLlama)
	if gotLlama.Kind != detect.KindLlamaCpp || gotLlama.Port != llama.Port || gotLlama.Loading {
		t.Errorf("llama-server: kind %q, port %d, loading %v; want llama.cpp, %d, false", gotLlama.Kind, gotLlama.Port, gotLlama.Loading, llama.Port)
	}
	if gotLlama.LoadedModel != llama.Model {
		t.Errorf("llama-server loaded model %q; want %q (its --alias)", gotLlama.LoadedModel, llama.Model)
	}
	// -c 4096 shared by -np 2 slots: each request gets 2048.
	if gotLlama.CtxSize != 2048 || gotLlama.Slots != 2 {
		t.Errorf("llama-server ctx %d, slots %d; want 2048 per slot, 2 slots", gotLlama.CtxSize, gotLlama.Slots)
	}
	if gotLlama.Version == "" || gotLlama.Settings["n_ctx_train"] == "" {
		t.Errorf("llama-server: no version or n_ctx_train: %+v", gotLlama)
	}

	gotOll, ok := find(servers, oll.URL)
	if !ok {
		t.Fatalf("Ollama at %s not found in %+v", oll.URL, servers)
	}
	t.Logf("Ollama: %+v", gotOll)
	if gotOll.Kind != detect.KindOllama || gotOll.Port != oll.Port {
		t.Errorf("Ollama: kind %q, port %d; want ollama, %d", gotOll.Kind, gotOll.Port, oll.Port)
	}
	if gotOll.LoadedModel != ollamaModelName(oll.Model) {
		t.Errorf("Ollama loaded model %q; want %q", gotOll.LoadedModel, ollamaModelName(oll.Model))
	}
	// OLLAMA_CONTEXT_LENGTH=2048 and the model loaded: /api/ps says 2048.
	if gotOll.CtxSize != 2048 {
		t.Errorf("Ollama ctx %d; want 2048", gotOll.CtxSize)
	}
	if gotOll.VRAMShare == nil || *gotOll.VRAMShare < 0 || *gotOll.VRAMShare > 1 {
		t.Errorf("Ollama VRAM share %v; want a share in [0, 1]", gotOll.VRAMShare)
	}

	// Probe each URL alone: same identification.
	for _, want := range []detect.Server{gotLlama, gotOll} {
		got, err := detect.Probe(ctx, want.BaseURL, detect.Options{Timeout: integrationTimeout})
		if err != nil {
			t.Errorf("Probe(%s): %v", want.BaseURL, err)
			continue
		}
		if got.Kind != want.Kind || got.LoadedModel != want.LoadedModel || got.CtxSize != want.CtxSize || got.Slots != want.Slots {
			t.Errorf("Probe(%s) = %+v; Scan said %+v", want.BaseURL, got, want)
		}
	}

	// The default choice prefers a loaded model then the lowest port.
	mine := []detect.Server{gotLlama, gotOll}
	if c, err := detect.Choose(mine, detect.Preference{Kind: "ollama"}); err != nil || c.BaseURL != oll.URL {
		t.Errorf("Choose(kind ollama) = %v, %v; want %s", c.BaseURL, err, oll.URL)
	}

	// Ollama with no model loaded: the context is unknown (the server default is
	// not visible through its API); then loaded with num_ctx 1024: 1024.
	ollamaGenerate(t, oll.URL, map[string]any{"model": oll.Model, "keep_alive": 0})
	waitUnloaded(t, oll.URL)
	idle, err := detect.Probe(ctx, oll.URL, detect.Options{Timeout: integrationTimeout})
	if err != nil {
		t.Fatalf("Probe(idle Ollama): %v", err)
	}
	if idle.LoadedModel != "" || idle.CtxSize != 0 || idle.VRAMShare != nil {
		t.Errorf("idle Ollama: loaded %q, ctx %d, VRAM %v; want none, 0, nil", idle.LoadedModel, idle.CtxSize, idle.VRAMShare)
	}
	if !strings.Contains(idle.Settings["ctx_source"], "unknown") || idle.Settings["n_ctx_train"] == "" {
		t.Errorf("idle Ollama settings %v; want ctx_source unknown and n_ctx_train", idle.Settings)
	}
	ollamaGenerate(t, oll.URL, map[string]any{"model": oll.Model, "keep_alive": "10m", "options": map[string]any{"num_ctx": 1024}})
	reloaded, err := detect.Probe(ctx, oll.URL, detect.Options{Timeout: integrationTimeout})
	if err != nil {
		t.Fatalf("Probe(reloaded Ollama): %v", err)
	}
	if reloaded.CtxSize != 1024 || reloaded.LoadedModel != ollamaModelName(oll.Model) {
		t.Errorf("Ollama loaded with num_ctx 1024: ctx %d, model %q; want 1024, %q", reloaded.CtxSize, reloaded.LoadedModel, ollamaModelName(oll.Model))
	}

	// Scan times with the default options (printed, not asserted: the machine may
	// be loaded).
	start := time.Now()
	def, err := detect.Scan(ctx, detect.Options{})
	if err != nil {
		t.Fatalf("Scan(defaults): %v", err)
	}
	t.Logf("scan of the %d default candidates: %v, %d server(s) found", len(detect.DefaultPorts), time.Since(start), len(def))
	start = time.Now()
	both, err := detect.Scan(ctx, detect.Options{Ports: []int{llama.Port, oll.Port}})
	if err != nil {
		t.Fatalf("Scan(defaults + both): %v", err)
	}
	t.Logf("scan of the default candidates and both test-bed servers: %v, %d server(s) found", time.Since(start), len(both))
}

// ollamaGenerate sends a generate request without a prompt: it loads or (with
// keep_alive 0) unloads the model.
func ollamaGenerate(t *testing.T, base string, req map[string]any) {
	t.Helper()
	req["stream"] = false
	body, _ := json.Marshal(req)
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	r, _ := http.NewRequestWithContext(ctx, http.MethodPost, base+"/api/generate", bytes.NewReader(body))
	resp, err := http.DefaultClient.Do(r)
	if err != nil {
		t.Fatalf("generate: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("generate: %s", resp.Status)
	}
}

func waitUnloaded(t *testing.T, base string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(base + "/api/ps")
		if err == nil {
			var ps struct {
				Models []json.RawMessage `json:"models"`
			}
			err = json.NewDecoder(resp.Body).Decode(&ps)
			resp.Body.Close()
			if err == nil && len(ps.Models) == 0 {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("Ollama did not unload its model within 30s")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestDefaultScanTime prints how long a scan of the default candidates takes.
// Nothing should listen there on a test machine; whatever does is reported, and
// every server found must be on a default port.
func TestDefaultScanTime(t *testing.T) {
	start := time.Now()
	servers, err := detect.Scan(t.Context(), detect.Options{})
	elapsed := time.Since(start)
	if err != nil {
		t.Fatalf("Scan: %v", err)
	}
	t.Logf("scan of the %d default candidates: %v, %d server(s) found", len(detect.DefaultPorts), elapsed, len(servers))
	for _, s := range servers {
		found := false
		for _, p := range detect.DefaultPorts {
			found = found || p == s.Port
		}
		if !found {
			t.Errorf("server on port %d is not a default candidate: %+v", s.Port, s)
		}
	}
}

// BenchmarkScanDefaults measures a scan of the default candidates (with nothing
// listening on a test machine; the goal is under 300 ms).
func BenchmarkScanDefaults(b *testing.B) {
	n := 0
	for b.Loop() {
		s, err := detect.Scan(b.Context(), detect.Options{})
		if err != nil {
			b.Fatal(err)
		}
		n = len(s)
	}
	b.ReportMetric(float64(n), "servers")
}

// BenchmarkScanBothServersUp measures a scan of the default candidates plus the
// test bed's llama-server and Ollama (the goal is under 1 s).
func BenchmarkScanBothServersUp(b *testing.B) {
	llama := testbed.LlamaServer(b, testbed.Options{CtxSize: 4096, Parallel: 2})
	oll := testbed.Ollama(b, testbed.Options{})
	opts := detect.Options{Ports: []int{llama.Port, oll.Port}}
	n := 0
	for b.Loop() {
		s, err := detect.Scan(b.Context(), opts)
		if err != nil {
			b.Fatal(err)
		}
		n = len(s)
	}
	if n < 2 {
		b.Errorf("found %d servers; want both test-bed servers", n)
	}
	b.ReportMetric(float64(n), "servers")
}

// ExampleWriteTable shows the table `typhon scan` prints.
func ExampleWriteTable() {
	share := 1.0
	servers := []detect.Server{
		{Kind: detect.KindLlamaCpp, Version: "b11669", BaseURL: "http://127.0.0.1:8080", Port: 8080,
			Models: []string{"qwen3-8b"}, LoadedModel: "qwen3-8b", CtxSize: 8192, Slots: 4},
		{Kind: detect.KindOllama, Version: "0.17.4", BaseURL: "http://127.0.0.1:11434", Port: 11434,
			Models: []string{"qwen3:8b"}, LoadedModel: "qwen3:8b", CtxSize: 4096, VRAMShare: &share},
	}
	if err := detect.WriteTable(os.Stdout, servers); err != nil {
		fmt.Println(err)
	}
	// Output:
	// KIND       BASE URL                VERSION  LOADED MODEL  MODELS  CTX   SLOTS  VRAM  STATE
	// llama.cpp  http://127.0.0.1:8080   b11669   qwen3-8b      1       8192  4      -     ready
	// ollama     http://127.0.0.1:11434  0.17.4   qwen3:8b      1       4096  -      100%  ready
}

// TestRealLlamaServerAPIKey: a llama-server started with --api-key is reported
// as needing a key when probed by port, and fully identified when its URL is
// given with the key.
func TestRealLlamaServerAPIKey(t *testing.T) {
	const key = "typhon-test-key"
	llama := testbed.LlamaServer(t, testbed.Options{CtxSize: 2048, Parallel: 1, ExtraArgs: []string{"--api-key", key}})
	servers, err := detect.Scan(t.Context(), detect.Options{NoDefaults: true, Ports: []int{llama.Port}, APIKey: key, Timeout: integrationTimeout})
	if err != nil {
		t.Fatal(err)
	}
	if len(servers) != 1 || servers[0].Kind != detect.KindLlamaCpp || servers[0].Settings["auth"] == "" {
		t.Fatalf("Scan by port = %+v; want llama.cpp needing an API key (the key is not sent to ports)", servers)
	}
	got, err := detect.Probe(t.Context(), llama.URL, detect.Options{APIKey: key, Timeout: integrationTimeout})
	if err != nil {
		t.Fatal(err)
	}
	if got.Kind != detect.KindLlamaCpp || got.LoadedModel != llama.Model || got.CtxSize != 2048 || got.Slots != 1 || got.Settings["auth"] != "" {
		t.Errorf("Probe with the key = %+v; want llama.cpp, %q, ctx 2048, 1 slot", got, llama.Model)
	}
}
