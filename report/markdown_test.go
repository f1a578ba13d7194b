package report

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/typhonbench/typhon/schema"
)

func markdown(t *testing.T, res *schema.Result) string {
	t.Helper()
	var buf bytes.Buffer
	if err := Markdown(&buf, res); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

// noServerResult is the record of a job that found no server.
func noServerResult() *schema.Result {
	return &schema.Result{
		SchemaVersion: schema.Version, RunID: "20250601T142201Z-9c1d", RunAt: t0, FinishedAt: at(2),
		Status: schema.StatusFailed, Mode: "quick",
		Error: "No LLM server detected or benchmark produced no results.",
	}
}

func TestMarkdownGolden(t *testing.T) {
	t.Parallel()
	tests := []struct {
		golden string
		res    func() *schema.Result
	}{
		{"summary_full.golden.md", fullResult},
		{"summary_troubled.golden.md", troubledResult},
		{"summary_no_server.golden.md", noServerResult},
	}
	for _, tt := range tests {
		t.Run(tt.golden, func(t *testing.T) {
			t.Parallel()
			checkGolden(t, tt.golden, []byte(markdown(t, tt.res())))
		})
	}
}

// markdownCase is a record with the texts its summary must and must not hold.
type markdownCase struct {
	name   string
	res    func() *schema.Result
	want   []string
	absent []string
}

func markdownCases() []markdownCase {
	return []markdownCase{
		{
			name: "full run",
			res:  fullResult,
			want: []string{
				"decode speed goes from 82.5 tok/s on a short prompt (`baseline_short`) to 54.9 tok/s in the 16,384-token context sweep (`ctx_sweep_16384`, −33.5%)",
				"peak 9,410 MiB of 24,564 MiB on GPU 0 (NVIDIA GeForce RTX 4090) in `long_gen`: 15,154 MiB (61.7%) free at the peak",
				"peak 84 °C in `long_gen`", "the GPU reported throttling: sw_thermal_slowdown (`long_gen`)",
				"**Drift in `long_gen`:** decode speed 81.0 tok/s in the first quarter of the test, 77.1 tok/s in the last (−4.8%); SM clock 2520 → 2340 MHz",
				"**Failed:** `ctx_sweep_16384`: 1 of 3 runs failed: timeout: no token for 200 s.",
				"**Skipped:** `ctx_sweep_32768`: beyond the server's context (16,384 tokens per slot).",
				"the largest prompt that worked was 16,120 tokens; 16,640 tokens failed",
				// 16,384 had a failed run: the suggestion stops at 8,192.
				"The largest context that worked in every run was 8,192 tokens (`ctx_sweep_8192`, 3 of 3 runs, peak VRAM 9,120 MiB); 16,384 tokens: 1 of 3 runs failed, timeout: no token for 200 s; 32,768 tokens: not run, beyond the server's context",
				"llama-server -m MODEL.gguf -c 8192\n",
			},
			absent: []string{"No GPU figures", "-np"},
		},
		{
			name: "crashed CPU-only run",
			res:  troubledResult,
			want: []string{
				"**The run ended in error:** server stopped answering",
				"No GPU: gpu telemetry unavailable: NVML library not found.",
				"**Failed:** `ctx_sweep_4096`: 2 of 2 runs failed: every run failed: connection_refused; connection_refused: dial tcp 127.0.0.1:41234: connect: connection refused.",
				"**Skipped:** `long_gen`: not run: server at",
				"llama-server -m MODEL.gguf -c 2048\n",
			},
			absent: []string{"VRAM headroom", "**Thermal:**", "Drift"},
		},
		{
			name:   "no server",
			res:    noServerResult,
			want:   []string{"No LLM server detected or benchmark produced no results.", "No test ran.", "Nothing to report"},
			absent: []string{"Suggested server command"},
		},
	}
}

// suggestionCases are the suggested command for each server kind and setting.
func suggestionCases() []markdownCase {
	return []markdownCase{
		{
			name: "ollama with the model path unknown",
			res: func() *schema.Result {
				r := troubledResult()
				r.Server.Kind, r.Server.Name = "ollama", "Ollama"
				return r
			},
			want: []string{"OLLAMA_CONTEXT_LENGTH=2048 ollama serve"},
		},
		{
			name: "llama-server with slots and a model path",
			res: func() *schema.Result {
				r := fullResult()
				r.Server.Slots = 4
				r.Server.Settings = map[string]string{"model_path": "/models/my model.gguf"}
				return r
			},
			want: []string{"llama-server -m '/models/my model.gguf' -c 32768 -np 4", "each request gets 8,192 tokens", "4 slots"},
		},
		{
			name: "vllm",
			res: func() *schema.Result {
				r := fullResult()
				r.Server.Kind, r.Server.Slots = "vllm", 8
				return r
			},
			want: []string{"vllm serve hermes-3-llama-3.1-8b-q8_0 --max-model-len 8192 --max-num-seqs 8\n"},
		},
		{
			name: "ollama with parallel requests",
			res: func() *schema.Result {
				r := fullResult()
				r.Server.Kind, r.Server.Slots = "ollama", 2
				return r
			},
			want: []string{"OLLAMA_NUM_PARALLEL=2 OLLAMA_CONTEXT_LENGTH=8192 ollama serve\n", "num_ctx=8192"},
		},
		{
			name: "no suggestion for an unknown server",
			res: func() *schema.Result {
				r := fullResult()
				r.Server.Kind = "lmstudio"
				return r
			},
			absent: []string{"Suggested server command"},
		},
		{
			name: "no suggestion when no sweep worked in every run",
			res: func() *schema.Result {
				r := troubledResult()
				r.Benchmarks = r.Benchmarks[2:]
				return r
			},
			absent: []string{"Suggested server command", "Speed at long context"},
		},
		{
			name: "text from the record stays inside its table cell",
			res: func() *schema.Result {
				r := troubledResult()
				r.Benchmarks[0].Name = "a | b\nc"
				return r
			},
			want: []string{"| a \\| b c (`baseline_short`) |"},
		},
	}
}

// TestMarkdownFindings checks the findings and the suggestion against the data,
// independently of the golden files.
func TestMarkdownFindings(t *testing.T) {
	t.Parallel()
	tests := append(markdownCases(), suggestionCases()...)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := markdown(t, tt.res())
			for _, w := range tt.want {
				if !strings.Contains(got, w) {
					t.Errorf("summary lacks %q:\n%s", w, got)
				}
			}
			for _, a := range tt.absent {
				if strings.Contains(got, a) {
					t.Errorf("summary has %q:\n%s", a, got)
				}
			}
		})
	}
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("disk on fire") }

func TestMarkdownErrors(t *testing.T) {
	t.Parallel()
	if err := Markdown(failWriter{}, fullResult()); err == nil || !strings.Contains(err.Error(), "disk on fire") {
		t.Errorf("Markdown to a failing writer: err = %v", err)
	}
	if err := Markdown(&bytes.Buffer{}, nil); err == nil {
		t.Error("Markdown(nil): no error")
	}
}

// TestMarkdownNoTerminalEscapes: the summary of a record full of terminal
// escapes prints none of them (it goes to terminals).
func TestMarkdownNoTerminalEscapes(t *testing.T) {
	t.Parallel()
	got := markdown(t, hostileResult())
	if i := strings.IndexFunc(got, func(r rune) bool { return r == 0x1b || r == 0x07 }); i >= 0 {
		t.Errorf("summary holds a control character at %d: %q", i, got[max(0, i-40):min(len(got), i+40)])
	}
	if !strings.Contains(got, "red link bell") {
		t.Errorf("summary lost the text around the escapes")
	}
}
