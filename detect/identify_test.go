package detect

import (
	"context"
	"errors"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// testTimeout is generous: the machine running the tests may be loaded.
const testTimeout = 5 * time.Second

// TestProbeRecorded identifies each server kind, and the look-alikes, from the
// answers in testdata/answers served over HTTP.
func TestProbeRecorded(t *testing.T) {
	t.Parallel()
	tests := []struct {
		file string
		want *Server // nil: not reported
		why  string  // for nil: a part of the reason
	}{
		{file: "llamacpp-b11669", want: &Server{
			Kind: KindLlamaCpp, Name: "llama.cpp (llama-server)", Version: "b11669-Debian",
			Models: []string{"/tmp/detect-tiny.gguf"}, LoadedModel: "/tmp/detect-tiny.gguf",
			CtxSize: 2048, Slots: 2, Quantization: "all F32",
			Settings: map[string]string{"build_info": "b11669-Debian", "model_path": "/tmp/detect-tiny.gguf",
				"model_size_bytes": "4186624", "n_ctx_train": "32768", "n_params": "1046656", "total_slots": "2"},
		}},
		{file: "llamacpp-loading-b11669", want: &Server{
			Kind: KindLlamaCpp, Name: "llama.cpp (llama-server)", Models: []string{}, Loading: true,
		}},
		{file: "llamacpp-apikey-b11669", want: &Server{
			Kind: KindLlamaCpp, Name: "llama.cpp (llama-server)", Models: []string{},
			Settings: map[string]string{"auth": "API key required"},
		}},
		{file: "llamacpp-docs", want: &Server{
			Kind: KindLlamaCpp, Name: "llama.cpp (llama-server)", Version: "b5400-a1b2c3d",
			Models:      []string{"../models/Meta-Llama-3.1-8B-Instruct-Q4_K_M.gguf"},
			LoadedModel: "../models/Meta-Llama-3.1-8B-Instruct-Q4_K_M.gguf", CtxSize: 1024, Slots: 1,
			Settings: map[string]string{"build_info": "b5400-a1b2c3d", "model_path": "../models/Meta-Llama-3.1-8B-Instruct-Q4_K_M.gguf",
				"model_size_bytes": "4912898304", "n_ctx_train": "131072", "n_params": "8030261312", "total_slots": "1"},
		}},
		{file: "llamacpp-router", want: &Server{
			Kind: KindLlamaCpp, Name: "llama.cpp (llama-server)", Version: "b7000-0c0ffee",
			Models:      []string{"ggml-org/gemma-3-4b-it-GGUF:Q4_K_M", "ggml-org/Qwen3-8B-GGUF:Q4_K_M"},
			LoadedModel: "ggml-org/gemma-3-4b-it-GGUF:Q4_K_M", CtxSize: 4096, Slots: 1,
			Settings: map[string]string{"router_mode": "true", "build_info": "b7000-0c0ffee", "model_path": "/cache/gemma-3-4b-it-Q4_K_M.gguf"},
		}},
		{file: "llamafile-0.9", want: &Server{
			Kind: KindLlamafile, Name: "llamafile",
			Models: []string{"Llama-3.2-1B-Instruct.Q6_K.gguf"}, LoadedModel: "Llama-3.2-1B-Instruct.Q6_K.gguf", CtxSize: 8192, Slots: 1,
			Settings: map[string]string{"total_slots": "1"},
		}},
		{file: "llamafile-0.9-own-ui", want: &Server{
			Kind: KindLlamaCpp, Name: "llama.cpp (llama-server)",
			Models: []string{"Llama-3.2-1B-Instruct.Q6_K.gguf"}, LoadedModel: "Llama-3.2-1B-Instruct.Q6_K.gguf", CtxSize: 8192, Slots: 1,
			Settings: map[string]string{"total_slots": "1", "note": mayBeLlamafile},
		}},
		{file: "llamafiler-0.9.3", want: &Server{
			Kind: KindLlamafile, Name: "llamafile", Version: "0.9.3",
			Models: []string{"Llama-3.2-1B-Instruct.Q6_K"}, LoadedModel: "Llama-3.2-1B-Instruct.Q6_K",
			Settings: map[string]string{"server": "llamafile/0.9.3"},
		}},
		{file: "llamacpp-apikey-upstream", want: &Server{
			Kind: KindLlamaCpp, Name: "llama.cpp (llama-server)",
			Models: []string{"qwen2.5-0.5b-instruct-q8_0.gguf"}, LoadedModel: "qwen2.5-0.5b-instruct-q8_0.gguf", CtxSize: 4096, Quantization: "Q8_0",
			Settings: map[string]string{"auth": "API key required", "model_size_bytes": "531065856", "n_ctx_train": "32768", "n_params": "494032768"},
		}},
		{file: "ollama-0.17.4-loaded", want: &Server{
			Kind: KindOllama, Name: "Ollama", Version: "0.0.0", Models: []string{"tiny:latest"}, LoadedModel: "tiny:latest",
			CtxSize: 4096, VRAMShare: new(0.0),
			Settings: map[string]string{"ctx_source": "/api/ps context_length", "digest": "b0e7a4e1c3142d9759445923928e7c75bde62f1fa50a9cf13485425890a8d8c8",
				"family": "llama", "n_ctx_train": "32768", "parameter_size": "1.05M",
				"size_bytes": "12188160", "size_vram_bytes": "0"},
		}},
		{file: "ollama-0.17.4-idle", want: &Server{
			Kind: KindOllama, Name: "Ollama", Version: "0.0.0", Models: []string{"tiny:latest"},
			Settings: map[string]string{"ctx_source": "unknown until a model is loaded (server default: OLLAMA_CONTEXT_LENGTH or VRAM-based)",
				"family": "llama", "n_ctx_train": "32768"},
		}},
		{file: "ollama-docs-idle", want: &Server{
			Kind: KindOllama, Name: "Ollama", Version: "0.9.6", Models: []string{"deepseek-r1:latest", "llama3.2:latest"},
			CtxSize: 16384,
			Settings: map[string]string{"ctx_source": "Modelfile num_ctx of deepseek-r1:latest", "family": "qwen2",
				"modelfile_num_ctx": "16384", "n_ctx_train": "131072"},
		}},
		{file: "ollama-docs-partial-vram", want: &Server{
			Kind: KindOllama, Name: "Ollama", Version: "0.12.3", Models: []string{"deepseek-r1:latest", "mistral:latest"},
			LoadedModel: "mistral:latest", CtxSize: 8192, VRAMShare: new(0.75), Quantization: "Q4_0",
			Settings: map[string]string{"ctx_source": "/api/ps context_length", "digest": "2ae6f6dd7a3dd734790bbbf58b8909a606e0e7e97e94b7604e0aa7ae4490e6d8",
				"family": "llama", "n_ctx_train": "32768", "parameter_size": "7.2B",
				"size_bytes": "5137025024", "size_vram_bytes": "3852768768"},
		}},
		{file: "vllm", want: &Server{
			Kind: KindVLLM, Name: "vLLM", Version: "0.8.5.post1", Models: []string{"Qwen/Qwen2.5-7B-Instruct", "sql-lora"},
			LoadedModel: "Qwen/Qwen2.5-7B-Instruct", CtxSize: 32768,
			Settings: map[string]string{"max_model_len": "32768", "root": "/models/Qwen2.5-7B-Instruct"},
		}},
		{file: "vllm-proxy-v1-only", want: &Server{
			Kind: KindVLLM, Name: "vLLM", Models: []string{"Qwen/Qwen2.5-7B-Instruct", "sql-lora"},
			LoadedModel: "Qwen/Qwen2.5-7B-Instruct", CtxSize: 32768,
			Settings: map[string]string{"max_model_len": "32768", "root": "/models/Qwen2.5-7B-Instruct"},
		}},
		{file: "llamacpp-proxy-v1-only", want: &Server{
			Kind: KindLlamaCpp, Name: "llama.cpp (llama-server)",
			Models: []string{"/tmp/detect-tiny.gguf"}, LoadedModel: "/tmp/detect-tiny.gguf",
			CtxSize: 2048, Quantization: "all F32",
			Settings: map[string]string{"model_size_bytes": "4186624", "n_ctx_train": "32768", "n_params": "1046656"},
		}},
		{file: "sglang-no-aliases", want: &Server{
			Kind: KindSGLang, Name: "SGLang", Version: "0.5.9", Models: []string{"meta-llama/Llama-3.1-8B-Instruct"},
			LoadedModel: "meta-llama/Llama-3.1-8B-Instruct", CtxSize: 131072, Slots: 48, Quantization: "fp8",
			Settings: map[string]string{"attention_backend": "flashinfer", "chunked_prefill_size": "8192", "dp_size": "1",
				"dtype": "auto", "kv_cache_dtype": "auto", "max_req_input_len": "131066", "max_running_requests": "48",
				"max_total_num_tokens": "406431", "model_path": "meta-llama/Llama-3.1-8B-Instruct",
				"served_model_name": "meta-llama/Llama-3.1-8B-Instruct", "tp_size": "1"},
		}},
		{file: "sglang", want: &Server{
			Kind: KindSGLang, Name: "SGLang", Version: "0.4.6.post4", Models: []string{"meta-llama/Llama-3.1-8B-Instruct"},
			LoadedModel: "meta-llama/Llama-3.1-8B-Instruct", CtxSize: 131072, Slots: 48, Quantization: "fp8",
			Settings: map[string]string{"attention_backend": "flashinfer", "chunked_prefill_size": "8192", "dp_size": "1",
				"dtype": "auto", "kv_cache_dtype": "auto", "max_req_input_len": "131066", "max_running_requests": "48",
				"max_total_num_tokens": "406431", "model_path": "meta-llama/Llama-3.1-8B-Instruct",
				"served_model_name": "meta-llama/Llama-3.1-8B-Instruct", "tp_size": "1"},
		}},
		{file: "tgi", want: &Server{
			Kind: KindTGI, Name: "TGI (text-generation-inference)", Version: "3.3.4", Models: []string{"mistralai/Mistral-7B-Instruct-v0.3"},
			LoadedModel: "mistralai/Mistral-7B-Instruct-v0.3", CtxSize: 8192,
			Settings: map[string]string{"docker_label": "sha-9f38d93", "max_concurrent_requests": "128", "max_input_tokens": "8191",
				"max_total_tokens": "8192", "model_sha": "e0bc86c23ce5aae1db576c8cca6f06f1f73af2db", "sha": "9f38d9305134b3b9dd22f0ab14e1b9c9dd53aa39"},
		}},
		{file: "tgi-metrics", want: &Server{
			Kind: KindTGI, Name: "TGI (text-generation-inference)", Version: "3.3.4", Models: []string{"mistralai/Mistral-7B-Instruct-v0.3"},
			LoadedModel: "mistralai/Mistral-7B-Instruct-v0.3", CtxSize: 8192,
			Settings: map[string]string{"docker_label": "sha-9f38d93", "max_concurrent_requests": "128", "max_input_tokens": "8191",
				"max_total_tokens": "8192", "model_sha": "e0bc86c23ce5aae1db576c8cca6f06f1f73af2db", "sha": "9f38d9305134b3b9dd22f0ab14e1b9c9dd53aa39"},
		}},
		{file: "lmstudio-v0", want: &Server{
			Kind: KindLMStudio, Name: "LM Studio",
			Models:      []string{"qwen2-vl-7b-instruct", "meta-llama-3.1-8b-instruct", "text-embedding-nomic-embed-text-v1.5"},
			LoadedModel: "meta-llama-3.1-8b-instruct", Quantization: "Q4_K_M",
			Settings: map[string]string{"architecture": "llama", "format": "gguf", "max_context_length": "131072", "publisher": "lmstudio-community"},
		}},
		{file: "lmstudio-v1", want: &Server{
			Kind: KindLMStudio, Name: "LM Studio", Models: []string{"gemma-3-270m-it-qat", "text-embedding-nomic-embed-text-v1.5-embedding"},
			LoadedModel: "gemma-3-270m-it-qat", CtxSize: 4096, Quantization: "Q4_0",
			Settings: map[string]string{"architecture": "gemma3", "format": "gguf", "max_context_length": "32768", "publisher": "lmstudio-community"},
		}},
		{file: "tgwui", want: &Server{
			Kind: KindTGWUI, Name: "text-generation-webui",
			Models:      []string{"Qwen2.5-7B-Instruct-Q4_K_M.gguf", "Mistral-7B-Instruct-v0.3-Q5_K_M.gguf"},
			LoadedModel: "Qwen2.5-7B-Instruct-Q4_K_M.gguf",
		}},
		{file: "koboldcpp", want: &Server{
			Kind: KindKoboldCpp, Name: "KoboldCpp", Version: "1.92.1", Models: []string{"koboldcpp/Mistral-7B-Instruct-v0.3.Q4_K_M"},
			LoadedModel: "koboldcpp/Mistral-7B-Instruct-v0.3.Q4_K_M", CtxSize: 8192,
		}},
		{file: "koboldcpp-1.102-password", want: &Server{
			Kind: KindKoboldCpp, Name: "KoboldCpp", Version: "1.102", Models: []string{"koboldcpp/Mistral-7B-Instruct-v0.3.Q4_K_M"},
			LoadedModel: "koboldcpp/Mistral-7B-Instruct-v0.3.Q4_K_M", CtxSize: 8192, Slots: 1,
			Settings: map[string]string{"auth": "password required (--password)"},
		}},
		{file: "jan", want: &Server{
			Kind: KindJan, Name: "Jan", Models: []string{"Jan-v1-4B-Q4_K_M"}, LoadedModel: "Jan-v1-4B-Q4_K_M",
		}},
		{file: "localai", want: &Server{
			Kind: KindLocalAI, Name: "LocalAI", Version: "v3.1.1", Models: []string{"qwen3-8b", "whisper-1"},
			LoadedModel: "qwen3-8b", Settings: map[string]string{"backends": "llama-cpp,whisper", "commit": "f4a5b6c"},
		}},
		{file: "localai-old", want: &Server{
			Kind: KindLocalAI, Name: "LocalAI", Version: "v2.26.0",
			Models: []string{"gpt-4", "phi-2"}, Settings: map[string]string{"backends": "llama-cpp", "commit": "09941c0bfb9119bb01a04b2a0a16897ecf2cd087"},
		}},
		{file: "lookalike-openai-proxy", want: &Server{
			Kind: KindOpenAI, Name: "OpenAI-compatible server", Models: []string{"gpt-4o-mini", "my-local"},
		}},
		{file: "lookalike-tabbyapi", want: &Server{
			Kind: KindOpenAI, Name: "OpenAI-compatible server", Models: []string{"Qwen2.5-7B-exl2"},
		}},
		{file: "lookalike-version-only", want: &Server{
			Kind: KindOpenAI, Name: "OpenAI-compatible server", Models: []string{"some-model"},
		}},
		{file: "lookalike-vllm-owner-only", want: &Server{
			Kind: KindOpenAI, Name: "OpenAI-compatible server", Models: []string{"Qwen/Qwen2.5-7B-Instruct"},
		}},
		{file: "lookalike-sglang-path-only", want: &Server{
			Kind: KindOpenAI, Name: "OpenAI-compatible server", Models: []string{"m"},
		}},
		{file: "lookalike-props-only", why: "no known LLM API answered"},
		{file: "lookalike-ollama-root-only", why: "no known LLM API answered"},
		{file: "lookalike-ollama-tags-only", why: "no known LLM API answered"},
		{file: "lookalike-catch-all", why: "answers every path alike"},
		{file: "lookalike-html", why: "text/html"},
		{file: "lookalike-auth-required", why: "an API key is needed"},
		{file: "typhon-self", why: "Typhon's own server"},
		{file: "typhon-self-proxy", why: "Typhon's own server"},
	}
	covered := map[string]bool{}
	for _, tt := range tests {
		covered[tt.file] = true
	}
	for _, name := range answerNames(t) {
		if !covered[name] {
			t.Errorf("testdata/answers/%s.json has no test case", name)
		}
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			t.Parallel()
			srv := serveRecorded(t, loadRecorded(t, tt.file))
			got, err := Probe(t.Context(), srv.URL, Options{Timeout: testTimeout})
			if tt.want == nil {
				var pe *ProbeError
				if !errors.As(err, &pe) || !errors.Is(err, ErrNoServer) {
					t.Fatalf("Probe = %+v, %v; want a *ProbeError matching ErrNoServer", got, err)
				}
				if !strings.Contains(pe.Reason, tt.why) {
					t.Errorf("reason %q does not contain %q", pe.Reason, tt.why)
				}
				return
			}
			if err != nil {
				t.Fatalf("Probe: %v", err)
			}
			want := *tt.want
			want.BaseURL = srv.URL
			want.Port = srv.Listener.Addr().(*net.TCPAddr).Port
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("Probe mismatch (-want +got):\n%s", diff)
			}
			for _, req := range srv.seen() {
				if !strings.HasPrefix(req, "GET ") && req != "POST /api/show" {
					t.Errorf("request %q: only GETs and Ollama's POST /api/show are sent", req)
				}
				if req == "GET /health" && tt.want.Kind == KindSGLang {
					t.Errorf("SGLang's /health was asked: it starts a generation")
				}
				if computes(req) && tt.want.Kind == KindTGI {
					t.Errorf("TGI's %s was asked: it is TGI's health check, which may run a prefill", req)
				}
				if req == "GET /ping" {
					t.Errorf("/ping was asked: TGI and SGLang route it to a health check")
				}
			}
		})
	}
}

// TestIdentifyWithoutNetwork runs the same answers through identifyFrom, as the
// fuzzer does, and checks it agrees with the network path on the kind.
func TestIdentifyWithoutNetwork(t *testing.T) {
	t.Parallel()
	for _, name := range answerNames(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			r := loadRecorded(t, name)
			got, why := identifyFrom(context.Background(), mapSource{r})
			srv := serveRecorded(t, r)
			viaNet, err := Probe(t.Context(), srv.URL, Options{Timeout: testTimeout})
			if (why == "") != (err == nil) {
				t.Fatalf("identifyFrom reason %q, Probe error %v: they disagree", why, err)
			}
			if got.Kind != viaNet.Kind {
				t.Errorf("kind without network %q, over HTTP %q", got.Kind, viaNet.Kind)
			}
		})
	}
}

func TestKinds(t *testing.T) {
	t.Parallel()
	kinds := Kinds()
	for _, k := range kinds {
		if displayNames[k] == "" {
			t.Errorf("kind %q has no display name", k)
		}
	}
	if len(kinds) != len(displayNames) {
		t.Errorf("Kinds() has %d kinds, displayNames %d", len(kinds), len(displayNames))
	}
	for _, want := range []Kind{"llama.cpp", "ollama", "lmstudio", "vllm", "text-generation-webui", "jan",
		"sglang", "tgi", "koboldcpp", "llamafile", "localai", "openai-compatible"} {
		if !slices.Contains(kinds, want) {
			t.Errorf("Kinds() lacks %q", want)
		}
	}
}
