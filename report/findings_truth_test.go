package report

import (
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/typhonbench/typhon/schema"
)

// memoryWall is a wall that found wallTokens and failed at failed (0: none).
func memoryWall(kind string, wallTokens, failed int, class, words string) schema.MemoryWall {
	w := schema.MemoryWall{WallKind: kind, WallTokens: wallTokens, LastOKPromptTokens: wallTokens, FailedPromptTokens: failed,
		FailureClass: class, Failure: words, BoundTokens: 16384, Bound: "the server's context per request",
		Steps: []schema.MemoryWallStep{{PromptTokens: wallTokens, Success: true, TTFTS: 2}}}
	if failed > 0 {
		w.Steps = append(w.Steps, schema.MemoryWallStep{PromptTokens: failed, FailureClass: class, Error: words})
	}
	return w
}

// TestWallFindings builds a memory wall for each wall rule (from wall_kind and
// wall_tokens, and from the fields of a record made before them) and walls no
// rule may fire on.
func TestWallFindings(t *testing.T) {
	t.Parallel()
	legacy := func(ok, failed int, kind, words string) schema.MemoryWall {
		return schema.MemoryWall{LastOKPromptTokens: ok, FailedPromptTokens: failed, FailureKind: kind, Failure: words}
	}
	ollama := memoryWall(schema.WallMemory, 30000, 32768, schema.FailOutOfMemory, "model requires more system memory")
	ollama.ContextTokens = 30720
	trained := memoryWall(schema.WallContextLimit, 32700, 0, "", "")
	trained.BoundTokens, trained.Bound, trained.ContextTokens = 32768, "the model's trained context", 32768
	none := memoryWall(schema.WallNone, 262000, 0, "", "")
	none.BoundTokens, none.Bound = 262144, "Typhon's cap (the server advertises no context)"
	tests := []struct {
		name     string
		wall     *schema.MemoryWall
		rule     string // "" when no wall finding may fire
		severity string
		value    float64
		text     []string
	}{
		{"context limit at the context", ptr(memoryWall(schema.WallContextLimit, 16120, 16640, schema.FailContextRefused, "the request exceeds the available context size")),
			RuleWallAtLimit, SeverityInfo, 16120, []string{"`wall_kind` context_limit", "16,640 tokens failed (context_refused)", `"the request exceeds the available context size"`, "the configured context stops prompts, not memory"}},
		{"context refused below the context", ptr(memoryWall(schema.WallContextLimit, 8000, 8192, schema.FailContextRefused, "context shift is disabled")),
			RuleWallBelowContext, SeverityWarning, 8000, []string{"refused prompts 8,384 tokens short of the configured context (−51.2%)"}},
		{"silent truncation", ptr(memoryWall(schema.WallContextLimit, 16000, 16384, schema.FailTruncated, "")),
			RuleWallAtLimit, SeverityInfo, 16000, []string{"16,384 tokens failed (truncated)"}},
		{"Ollama: the trained context reached without a failure", &trained,
			RuleWallAtLimit, SeverityInfo, 32700, []string{"reached its bound of 32,768 tokens (the model's trained context) without a failure"}},
		{"memory below the context", ptr(memoryWall(schema.WallMemory, 12000, 12500, schema.FailOutOfMemory, "CUDA error: out of memory")),
			RuleWallBelowContext, SeverityWarning, 12000, []string{"`wall_kind` memory", "memory runs out 4,384 tokens short", "out_of_memory"}},
		{"memory close to the context", ptr(memoryWall(schema.WallMemory, 19000, 19500, schema.FailOutOfMemory, "")),
			RuleWallClose, SeverityWarning, 19000, []string{"+16.0% from the configured context"}},
		{"memory well above the context (Ollama raised num_ctx)", &ollama,
			RuleWallMemory, SeverityInfo, 30000, []string{"the search set the context to 30,720 tokens", "model requires more system memory"}},
		{"no wall within the bound", &none,
			RuleWallNone, SeverityInfo, 262000, []string{"`wall_kind` none", "every size worked up to the search's bound of 262,144 tokens (Typhon's cap"}},
		{"no cause named: 503 twice at a size", ptr(memoryWall(schema.WallUnknown, 4981, 5012, schema.FailTransient, "Service Unavailable")),
			RuleWallUnknown, SeverityWarning, 4981, []string{"`wall_kind` unknown", "named no cause"}},
		{"a record before wall_kind: refused for its context", ptr(legacy(16120, 16640, "http_400", "the request exceeds the available context size")),
			RuleWallAtLimit, SeverityInfo, 16120, []string{"`wall_kind` context_limit"}},
		{"a record before wall_kind: crashed below the context", ptr(legacy(8000, 9000, "connection_refused", "server crashed")),
			RuleWallBelowContext, SeverityWarning, 8000, []string{"`wall_kind` memory", "9,000 tokens failed (connection_refused)"}},
		{"no prompt size worked", ptr(memoryWall(schema.WallMemory, 0, 1024, schema.FailOutOfMemory, "out of memory")), "", "", 0, nil},
		{"no memory wall test", nil, "", "", 0, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := healthyResult()
			b := benchOf(r, "memory_wall")
			b.MemoryWall = tt.wall
			var got []Finding
			for _, f := range Findings(r) {
				if strings.HasPrefix(f.Rule, "wall_") {
					got = append(got, f)
				}
			}
			if tt.rule == "" {
				if len(got) > 0 {
					t.Fatalf("wall findings fired: %+v", got)
				}
				return
			}
			if len(got) != 1 {
				t.Fatalf("want one wall finding %s, got %+v", tt.rule, got)
			}
			f := got[0]
			if f.Rule != tt.rule || f.Severity != tt.severity || math.Abs(f.Value-tt.value) > 0.5 || f.Unit != "tokens" || f.TestID != "memory_wall" {
				t.Errorf("finding = %s %s %v %s %s, want %s %s %v tokens memory_wall", f.Rule, f.Severity, f.Value, f.Unit, f.TestID,
					tt.rule, tt.severity, tt.value)
			}
			for _, s := range tt.text {
				if !strings.Contains(f.Text, s) {
					t.Errorf("text %q lacks %q", f.Text, s)
				}
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

// TestExcludedFindings: runs excluded for two reasons in two tests give one
// finding per reason with its count and tests; the healthy record none.
func TestExcludedFindings(t *testing.T) {
	t.Parallel()
	if fs := Findings(healthyResult()); slices.ContainsFunc(fs, func(f Finding) bool { return f.Rule == RuleExcluded || f.Rule == RuleStoppedEarly }) {
		t.Fatalf("healthy record: %v", rules(fs))
	}
	r := healthyResult()
	b := benchOf(r, "ctx_sweep_4096")
	b.Runs[0].Excluded, b.Runs[0].StoppedEarly, b.Runs[0].FinishReason = schema.ExcludedStoppedEarly, true, "stop"
	b.Runs[2].Excluded = schema.ExcludedBuffered
	b.ValidRuns = 1
	l := benchOf(r, "long_gen")
	l.Runs[0].Excluded, l.Runs[0].StoppedEarly, l.Runs[0].FinishReason = schema.ExcludedStoppedEarly, true, "stop"
	l.Runs[1].Excluded, l.Runs[1].StoppedEarly, l.Runs[1].FinishReason = schema.ExcludedStoppedEarly, true, "eos"
	l.ValidRuns = 0
	var got []Finding
	for _, f := range Findings(r) {
		switch f.Rule {
		case RuleExcluded:
			got = append(got, f)
		case RuleStoppedEarly:
			t.Errorf("excluded runs also reported as stopped early and averaged: %s", f.Text)
		}
	}
	want := []struct {
		n    float64
		text string
	}{
		{1, "1 run excluded as `buffered` (the tokens came in one burst: a buffering proxy or a server that does not flush): `ctx_sweep_4096` (1, 1 valid run left)"},
		{3, "3 runs excluded as `stopped_early` (fewer output tokens than asked: 3 at the model's end of sequence (or a stop string)): `ctx_sweep_4096` (1, 1 valid run left), `long_gen` (2, 0 valid runs left)"},
	}
	if len(got) != len(want) {
		t.Fatalf("excluded findings = %+v, want %d", got, len(want))
	}
	for i, w := range want {
		if got[i].Value != w.n || got[i].Unit != "runs" || got[i].Severity != SeverityWarning || !strings.Contains(got[i].Text, w.text) {
			t.Errorf("finding %d = %v %s %s %q, want %v runs warning %q", i, got[i].Value, got[i].Unit, got[i].Severity, got[i].Text, w.n, w.text)
		}
	}
}

// TestBenchstatLeavesExcludedOut: a run excluded as buffered (41,000 tok/s in
// one burst) is not a sample benchstat compares; the valid runs are.
func TestBenchstatLeavesExcludedOut(t *testing.T) {
	t.Parallel()
	var buf strings.Builder
	if err := Benchstat(&buf, troubledResult()); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	if strings.Contains(out, "41000 tok/s") {
		t.Errorf("benchstat output holds the excluded run:\n%s", out)
	}
	if n := strings.Count(out, "BenchmarkTyphon/test=ctx_sweep_2048 1 "); n != 2 {
		t.Errorf("ctx_sweep_2048: %d lines, want its 2 valid runs:\n%s", n, out)
	}
}
