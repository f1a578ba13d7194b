package detect

import (
	"errors"
	"strings"
	"testing"
)

func TestChoose(t *testing.T) {
	t.Parallel()
	llama := Server{Kind: KindLlamaCpp, Name: displayNames[KindLlamaCpp], BaseURL: "http://127.0.0.1:8080", Port: 8080,
		Models: []string{"qwen"}, LoadedModel: "qwen"}
	ollamaIdle := Server{Kind: KindOllama, Name: "Ollama", BaseURL: "http://127.0.0.1:11434", Port: 11434,
		Models: []string{"llama3.2:latest", "mistral:latest"}}
	ollamaLoaded := ollamaIdle
	ollamaLoaded.LoadedModel = "mistral:latest"
	vllm := Server{Kind: KindVLLM, Name: "vLLM", BaseURL: "http://127.0.0.1:8000", Port: 8000,
		Models: []string{"Qwen/Qwen2.5-7B"}, LoadedModel: "Qwen/Qwen2.5-7B"}
	loading := Server{Kind: KindLlamaCpp, BaseURL: "http://127.0.0.1:5000", Port: 5000, Loading: true}
	openai := Server{Kind: KindOpenAI, BaseURL: "http://127.0.0.1:1234", Port: 1234, Models: []string{"x"}}
	remote := Server{Kind: KindVLLM, BaseURL: "https://gpu.example.internal", Port: 443, Models: []string{"big"}, LoadedModel: "big"}

	tests := []struct {
		name    string
		servers []Server
		pref    Preference
		want    string // BaseURL
	}{
		{"one server", []Server{ollamaIdle}, Preference{}, ollamaIdle.BaseURL},
		{"loaded model beats lower port", []Server{openai, ollamaLoaded, loading}, Preference{}, ollamaLoaded.BaseURL},
		{"lowest port among loaded", []Server{ollamaLoaded, llama, vllm}, Preference{}, vllm.BaseURL},
		{"not loading beats loading", []Server{ollamaIdle, loading}, Preference{}, ollamaIdle.BaseURL},
		{"lowest port when nothing loaded", []Server{ollamaIdle, openai}, Preference{}, openai.BaseURL},
		{"kind", []Server{vllm, llama, ollamaIdle}, Preference{Kind: "ollama"}, ollamaIdle.BaseURL},
		{"kind alias", []Server{vllm, llama}, Preference{Kind: "llama-server"}, llama.BaseURL},
		{"kind by display name", []Server{vllm, llama}, Preference{Kind: "llama.cpp (llama-server)"}, llama.BaseURL},
		{"kind case", []Server{vllm, llama}, Preference{Kind: "vLLM"}, vllm.BaseURL},
		{"kind prefers loaded", []Server{loading, llama}, Preference{Kind: "llama.cpp"}, llama.BaseURL},
		{"url", []Server{vllm, llama}, Preference{URL: "http://localhost:8080/v1"}, llama.BaseURL},
		{"remote url", []Server{vllm, remote}, Preference{URL: "https://gpu.example.internal/"}, remote.BaseURL},
		{"model listed", []Server{vllm, ollamaIdle}, Preference{Model: "llama3.2:latest"}, ollamaIdle.BaseURL},
		{"model loaded beats listed", []Server{ollamaIdle, ollamaLoaded}, Preference{Model: "mistral:latest"}, ollamaLoaded.BaseURL},
		{"kind and model", []Server{llama, vllm, ollamaLoaded}, Preference{Kind: "ollama", Model: "llama3.2:latest"}, ollamaLoaded.BaseURL},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := Choose(tt.servers, tt.pref)
			if err != nil {
				t.Fatalf("Choose: %v", err)
			}
			if got.BaseURL != tt.want {
				t.Errorf("Choose = %s; want %s", got.BaseURL, tt.want)
			}
		})
	}
}

func TestChooseNone(t *testing.T) {
	t.Parallel()
	_, err := Choose(nil, Preference{Kind: "vllm"})
	if !errors.Is(err, ErrNoServer) || err.Error() != ErrNoServer.Error() {
		t.Errorf("Choose(nil) = %v; want ErrNoServer itself (its text is the contract's)", err)
	}
}

func TestChooseNoMatch(t *testing.T) {
	t.Parallel()
	servers := []Server{
		{Kind: KindOllama, BaseURL: "http://127.0.0.1:11434", Port: 11434, LoadedModel: "tiny:latest"},
		{Kind: KindLlamaCpp, BaseURL: "http://127.0.0.1:8080", Port: 8080},
	}
	tests := []struct {
		name string
		pref Preference
		want string
	}{
		{"kind", Preference{Kind: "vllm"}, "no server matches kind vllm; found: llama.cpp at http://127.0.0.1:8080, ollama at http://127.0.0.1:11434 (tiny:latest)"},
		{"model", Preference{Model: "gpt-4"}, "no server matches model gpt-4;"},
		{"url", Preference{URL: "http://127.0.0.1:9"}, "no server matches URL http://127.0.0.1:9;"},
		{"bad url", Preference{URL: "::"}, "no server matches URL ::;"},
		{"kind and model", Preference{Kind: "ollama", Model: "qwen"}, "no server matches kind ollama, model qwen;"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := Choose(servers, tt.pref)
			var nm *NoMatchError
			if !errors.As(err, &nm) || !errors.Is(err, ErrNoServer) {
				t.Fatalf("Choose = %v; want a *NoMatchError matching ErrNoServer", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not contain %q", err, tt.want)
			}
		})
	}
}

func TestCanonicalKind(t *testing.T) {
	t.Parallel()
	tests := map[string]Kind{
		"llamacpp": KindLlamaCpp, " Llama.CPP ": KindLlamaCpp, "LM Studio": KindLMStudio, "oobabooga": KindTGWUI,
		"text-generation-inference": KindTGI, "openai": KindOpenAI, "sglang": KindSGLang, "something": "something",
	}
	for in, want := range tests {
		if got := CanonicalKind(in); got != want {
			t.Errorf("CanonicalKind(%q) = %q; want %q", in, got, want)
		}
	}
}
