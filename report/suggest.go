package report

import (
	"fmt"
	"math"
	"strings"

	"github.com/typhonbench/typhon/schema"
)

// Suggestion is a server command line derived from a record: the context size
// that worked in every run and the number of requests served at once, in the
// flags of the detected server kind.
type Suggestion struct {
	// ServerKind is the kind whose flags Command uses: llama.cpp, ollama or vllm.
	ServerKind string `json:"server_kind"`
	// CtxSize is the context per request (per slot) that worked in every run.
	CtxSize int `json:"ctx_size"`
	// Parallel is the number of requests the command lets the server serve at
	// once; 0 when the record does not know it and the command keeps the
	// server's default (vLLM without a reported max_running_requests).
	Parallel int `json:"parallel"`
	// Command is a POSIX shell command line.
	Command string `json:"command"`
	// Reason says which figures the command comes from.
	Reason string `json:"reason"`
	// Notes explain the flags (how the server divides its context, per-request options).
	Notes []string `json:"notes,omitempty"`
	// TestID is the test whose context the suggestion keeps.
	TestID string `json:"test_id"`
}

// Suggest derives a server command from a record, or returns nil when the record
// does not support one: no context sweep worked in every run, or the server is
// of a kind whose flags Typhon does not know (llama.cpp, Ollama and vLLM are), or
// the context of all slots together is beyond 32 bits. A model id or path that
// starts with a dash is not written where it would be read as an option.
func Suggest(res *schema.Result) *Suggestion {
	if res == nil {
		return nil
	}
	ok := largestSweep(res, true)
	if ok == nil || ok.CtxSize <= 0 {
		return nil
	}
	if p := max(res.Server.Slots, 1); ok.CtxSize > math.MaxInt32/p {
		return nil // no server takes a context of that size (llama.cpp's and vLLM's are 32-bit)
	}
	s := &Suggestion{CtxSize: ok.CtxSize, Parallel: max(res.Server.Slots, 1), TestID: ok.TestID, Reason: suggestionReason(res, ok)}
	kind := strings.ToLower(string(res.Server.Kind))
	switch {
	case strings.Contains(kind, "ollama"):
		s.ServerKind = "ollama"
		s.Command = fmt.Sprintf("OLLAMA_CONTEXT_LENGTH=%d ollama serve", s.CtxSize)
		if s.Parallel > 1 {
			s.Command = fmt.Sprintf("OLLAMA_NUM_PARALLEL=%d %s", s.Parallel, s.Command)
		}
		s.Notes = append(s.Notes, fmt.Sprintf("A client can ask for the same context per request with the option num_ctx=%d (Ollama API) instead.", s.CtxSize))
		if s.Parallel > 1 {
			s.Notes = append(s.Notes, fmt.Sprintf("Ollama gives each of its %d parallel requests the full context, so memory grows with OLLAMA_NUM_PARALLEL.", s.Parallel))
		}
	case strings.Contains(kind, "llama.cpp") || strings.Contains(kind, "llama-server"):
		s.ServerKind = "llama.cpp"
		model := "MODEL.gguf"
		if p := res.Server.Settings["model_path"]; p != "" {
			model = p
		}
		if !printable(model) {
			model = "MODEL.gguf"
			s.Notes = append(s.Notes, "The server reported a model path with control characters or line breaks: put yours in place of MODEL.gguf.")
		}
		if strings.HasPrefix(model, "-") { // a path, not an option
			model = "./" + model
		}
		s.Command = fmt.Sprintf("llama-server -m %s -c %d", shellQuote(model), s.CtxSize*s.Parallel)
		if s.Parallel > 1 {
			s.Command += fmt.Sprintf(" -np %d", s.Parallel)
			s.Notes = append(s.Notes, fmt.Sprintf("llama-server divides `-c` among its %d slots, so each request gets %s tokens.", s.Parallel, commas(float64(s.CtxSize))))
		}
	case strings.Contains(kind, "vllm"):
		s.ServerKind = "vllm"
		model := orText(res.Model, "MODEL")
		if strings.HasPrefix(model, "-") || !printable(model) { // an option, or escapes
			model = "MODEL"
		}
		s.Command = fmt.Sprintf("vllm serve %s --max-model-len %d", shellQuote(model), s.CtxSize)
		if res.Server.Slots > 0 {
			s.Command += fmt.Sprintf(" --max-num-seqs %d", s.Parallel)
		} else {
			s.Parallel = 0 // unknown: the server's default stays
			s.Notes = append(s.Notes, "The record does not say how many sequences the server ran at once, so --max-num-seqs keeps vLLM's default.")
		}
		s.Notes = append(s.Notes, "vLLM reserves KV cache for --max-num-seqs sequences of up to --max-model-len tokens within --gpu-memory-utilization.")
	default:
		return nil
	}
	return s
}

// suggestionReason says which test the suggested context comes from and what
// happened above it.
func suggestionReason(r *schema.Result, ok *schema.Benchmark) string {
	why := fmt.Sprintf("The largest context that worked in every run was %s tokens (`%s`, %d of %d runs",
		commas(float64(ok.CtxSize)), code(ok.TestID), ok.SuccessfulRuns, max(ok.NRuns, ok.SuccessfulRuns))
	if v := ok.GPUStats.PeakVRAMUsedMB; v != nil {
		why += fmt.Sprintf(", peak VRAM %s MiB", commas(*v))
	}
	why += ")"
	var above []string
	for i := range r.Benchmarks {
		b := &r.Benchmarks[i]
		if b.Category != schema.CategoryContextSweep || b.CtxSize <= ok.CtxSize {
			continue
		}
		tr := excludedCounts(b)[schema.ExcludedTruncated]
		switch st := BenchmarkStatus(b); {
		case st == OutcomeSkipped:
			above = append(above, fmt.Sprintf("%s tokens: not run, %s", commas(float64(b.CtxSize)), orText(b.SkipReason, "no reason recorded")))
		case tr > 0:
			above = append(above, fmt.Sprintf("%s tokens: the server truncated %d of %d prompts", commas(float64(b.CtxSize)), tr, max(b.NRuns, len(b.Runs))))
		default:
			f, n := failedRuns(b)
			above = append(above, fmt.Sprintf("%s tokens: %d of %d runs failed, %s", commas(float64(b.CtxSize)), f, n, failureReasons(b)[0]))
		}
	}
	if len(above) > 0 {
		why += "; " + listSome(above, maxListed, "larger sizes")
	}
	return oneLine(why) + "."
}

// printable reports whether a server's text can go into a command line as it
// is: valid UTF-8 without control characters, line breaks or bidi overrides.
func printable(s string) bool { return oneLine(s) == s }
