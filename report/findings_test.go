package report

import (
	"encoding/json"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/typhonbench/typhon/schema"
)

// healthyResult is fullResult without anything a rule should flag: every run
// worked, speed holds up with context, no test skipped, throughput grew with
// users by less than MoreUsersGrowth and more than SaturatedGrowth.
func healthyResult() *schema.Result {
	r := fullResult()
	var keep []schema.Benchmark
	for _, b := range r.Benchmarks {
		switch b.TestID {
		case "ctx_sweep_32768":
			continue
		case "ctx_sweep_16384":
			b.Runs[1] = okRun(60.0, 3.26, 16000, 256)
			b.SuccessfulRuns, b.AvgTPS = 3, 60.0
		case "long_gen":
			b.GPUStats.ThrottleReasons = nil
		}
		keep = append(keep, b)
	}
	conc := func(n int, agg float64) schema.Benchmark {
		return schema.Benchmark{TestID: "concurrency_" + string(rune('0'+n)), Category: schema.CategoryConcurrency, Concurrency: n,
			CtxSize: 2048, MaxTokens: 64, NRuns: 2 * n, SuccessfulRuns: 2 * n, AvgTPS: agg / float64(n), AggregateTPS: agg,
			Stats: &schema.Stats{TTFTP90S: 0.2 * float64(n), ITLP90MS: 12 + float64(n)}}
	}
	r.Benchmarks = append(keep, conc(2, 150), conc(4, 180))
	return r
}

func rules(fs []Finding) []string {
	var out []string
	for _, f := range fs {
		out = append(out, f.Rule)
	}
	return out
}

// ruleCase is a record built to trigger one rule: the change to the healthy
// record, the rule, the figure the finding must carry and a part of its text.
type ruleCase struct {
	name   string
	mutate func(r *schema.Result)
	rule   string
	value  float64
	text   string
}

// benchOf is the benchmark of a fixture by test id; it panics when there is none.
func benchOf(r *schema.Result, id string) *schema.Benchmark {
	for i := range r.Benchmarks {
		if r.Benchmarks[i].TestID == id {
			return &r.Benchmarks[i]
		}
	}
	panic("fixture has no " + id)
}

func ruleCases() []ruleCase {
	return []ruleCase{
		{"decode slowdown", func(r *schema.Result) { benchOf(r, "ctx_sweep_16384").AvgTPS = 41.25 }, RuleDecodeSlowdown, -50, "fell by more than a third"},
		{"prefill collapse", func(r *schema.Result) { benchOf(r, "ctx_sweep_16384").AvgPrefillTPS = 2000 }, RulePrefillCollapse, 16384, "prefill speed falls to 2,000 tok/s at 16,384 tokens"},
		{"memory wall below the context", func(r *schema.Result) {
			*benchOf(r, "memory_wall").MemoryWall = memoryWall(schema.WallMemory, 8000, 9000, schema.FailOutOfMemory, "server crashed")
		}, RuleWallBelowContext, 8000, "memory runs out 8,384 tokens short of the configured context"},
		{"memory wall close above the context", func(r *schema.Result) {
			*benchOf(r, "memory_wall").MemoryWall = memoryWall(schema.WallMemory, 18000, 18432, schema.FailOutOfMemory, "out of memory")
		}, RuleWallClose, 18000, "memory runs out +9.9% from the configured context"},
		{"GPU throttled and speed fell", func(r *schema.Result) {
			b := benchOf(r, "long_gen")
			b.GPUStats.ThrottleReasons = []string{"hw_thermal_slowdown"}
			b.Series[3].TPS, b.Series[4].TPS = 70, 70
		}, RuleThrottled, 100 * (70 - 81.0) / 81.0, "hw_thermal_slowdown"},
		{"drift", func(r *schema.Result) { benchOf(r, "long_gen").Series[4].TPS = 60 }, RuleDrift, 100 * (60 - 81.0) / 81.0, "60.0 tok/s in the last"},
		{"runs excluded", func(r *schema.Result) {
			b := benchOf(r, "ctx_sweep_4096")
			b.Runs[0].StoppedEarly, b.Runs[0].Excluded, b.ValidRuns = true, schema.ExcludedStoppedEarly, 2
		}, RuleExcluded, 1, "1 run excluded as `stopped_early` (fewer output tokens than asked"},
		{"runs excluded for the context's length limit, not EOS", func(r *schema.Result) {
			b := benchOf(r, "ctx_sweep_4096")
			b.Runs[0].StoppedEarly, b.Runs[0].Excluded, b.Runs[0].FinishReason = true, schema.ExcludedStoppedEarly, "length"
			b.Runs[1].StoppedEarly, b.Runs[1].Excluded, b.Runs[1].FinishReason = true, schema.ExcludedStoppedEarly, "content_filter"
			b.Runs[2].StoppedEarly, b.Runs[2].Excluded, b.Runs[2].FinishReason = true, schema.ExcludedStoppedEarly, "abort_by_gremlin"
			b.ValidRuns = 0
		}, RuleExcluded, 3, "1 at a length limit (finish_reason length below max_tokens: the context filled, or the server caps output), 1 by a content filter, 1 for a finish_reason Typhon does not know (abort_by_gremlin)"},
		{"stopped early and averaged (a record before excluded)", func(r *schema.Result) {
			b := benchOf(r, "ctx_sweep_4096")
			b.Runs[0].StoppedEarly, b.Runs[2].StoppedEarly = true, true
		}, RuleStoppedEarly, 2, "2 runs ended before max_tokens: `ctx_sweep_4096` (2)"},
		{"more users", func(r *schema.Result) { benchOf(r, "concurrency_4").AggregateTPS = 240 }, RuleMoreUsers, 60, "the server could take more users"},
		{"saturated", func(r *schema.Result) { benchOf(r, "concurrency_4").AggregateTPS = 151.5 }, RuleSaturated, 1, "throughput stopped growing"},
		{"failures at the most users", func(r *schema.Result) {
			b := benchOf(r, "concurrency_4")
			b.SuccessfulRuns, b.AggregateTPS = 5, 240
		}, RuleLoadFailures, 3, "3 of 8 requests failed with 4 users at once"},
		{"no GPU", func(r *schema.Result) { r.GPUUnavailable = "no NVIDIA driver" }, RuleNoGPU, 0, "no NVIDIA driver"},
		{"GPU sampling failed in a test", func(r *schema.Result) {
			g := &benchOf(r, "baseline_short").GPUStats
			g.Error, g.SampleErrors = "nvml: GPU is lost", 3
		}, RuleNoGPU, 3, "nvml: GPU is lost"},
		{"VRAM tight", func(r *schema.Result) { r.ProfileSnapshot.GPUs[0].MemoryTotalMB = 9600 }, RuleVRAMHeadroom, 100 * (9600 - 9410) / 9600.0, "close to the limit"},
		{"failed runs", func(r *schema.Result) {
			b := benchOf(r, "ctx_sweep_8192")
			b.Runs[1] = schema.RunSample{ErrorKind: "http_500", Error: "boom"}
			b.SuccessfulRuns = 2
		}, RuleFailed, 1, "1 of 3 runs failed: http_500: boom"},
		{"skipped", func(r *schema.Result) {
			b := benchOf(r, "memory_wall")
			*b = schema.Benchmark{TestID: "memory_wall", Category: schema.CategoryMemoryWall, Skipped: true, SkipReason: "needs 8 GiB"}
		}, RuleSkipped, 0, "needs 8 GiB"},
	}
}

// TestFindingsRules builds a record to trigger each rule and checks it fires
// with its figure, and that the healthy record raises no warning or problem.
func TestFindingsRules(t *testing.T) {
	t.Parallel()
	tests := ruleCases()
	healthy := Findings(healthyResult())
	for _, f := range healthy {
		if f.Severity != SeverityInfo {
			t.Errorf("healthy record: %s finding %s: %s", f.Severity, f.Rule, f.Text)
		}
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if slices.Contains(rules(healthy), tt.rule) && tt.rule != RuleNoGPU && tt.rule != RuleVRAMHeadroom && tt.rule != RuleDrift {
				t.Fatalf("rule %s fires on the healthy record", tt.rule)
			}
			r := healthyResult()
			tt.mutate(r)
			fs := Findings(r)
			i := slices.IndexFunc(fs, func(f Finding) bool {
				return f.Rule == tt.rule && (f.Rule != RuleNoGPU || strings.Contains(f.Text, tt.text)) && (f.Rule != RuleVRAMHeadroom && f.Rule != RuleDrift || f.Severity == SeverityWarning)
			})
			if i < 0 {
				t.Fatalf("rule %s did not fire; findings: %v", tt.rule, rules(fs))
			}
			f := fs[i]
			if math.Abs(f.Value-tt.value) > 0.05 {
				t.Errorf("%s: value = %v, want %v", tt.rule, f.Value, tt.value)
			}
			if !strings.Contains(f.Text, tt.text) {
				t.Errorf("%s: text %q lacks %q", tt.rule, f.Text, tt.text)
			}
			if f.Title == "" || f.Severity == "" {
				t.Errorf("%s: no title or severity: %+v", tt.rule, f)
			}
		})
	}
}

func TestFindingsNil(t *testing.T) {
	t.Parallel()
	if fs := Findings(nil); fs != nil {
		t.Errorf("Findings(nil) = %v", fs)
	}
	if fs := Findings(&schema.Result{}); len(fs) != 0 {
		t.Errorf("Findings of an empty record = %v", fs)
	}
}

// TestBrief checks the compact summary of GET /report against the record.
func TestBrief(t *testing.T) {
	t.Parallel()
	b := NewBrief(fullResult())
	if b.BaselineTPS == nil || *b.BaselineTPS != 82.5 {
		t.Errorf("baseline_tps = %v, want 82.5", b.BaselineTPS)
	}
	var ctxs []int
	for _, p := range b.ContextSweep {
		ctxs = append(ctxs, p.CtxSize)
	}
	if want := []int{4096, 8192, 16384, 32768}; !slices.Equal(ctxs, want) {
		t.Errorf("context_sweep sizes = %v, want %v", ctxs, want)
	}
	if p := b.ContextSweep[3]; p.Status != OutcomeSkipped || p.TPS != nil || p.Reason == "" {
		t.Errorf("skipped sweep point = %+v", p)
	}
	if p := b.ContextSweep[0]; p.TPS == nil || *p.TPS != 75.8 || p.PromptTokens != 3712 {
		t.Errorf("first sweep point = %+v", p)
	}
	if b.SuggestedCtxSize == nil || *b.SuggestedCtxSize != 8192 || b.SuggestedCommand != "llama-server -m MODEL.gguf -c 8192" {
		t.Errorf("suggestion = %v %q", b.SuggestedCtxSize, b.SuggestedCommand)
	}
	if len(b.Findings) == 0 || b.Tests[OutcomeSkipped] != 1 || b.Tests[OutcomePartial] != 1 {
		t.Errorf("findings %d, tests %v", len(b.Findings), b.Tests)
	}
	if b.PeakVRAMUsedMB == nil || *b.PeakVRAMUsedMB != 9410 || b.Hardware.GPU != "NVIDIA GeForce RTX 4090" {
		t.Errorf("peak VRAM %v, GPU %q", b.PeakVRAMUsedMB, b.Hardware.GPU)
	}
	if p := b.ContextSweep[2]; p.ValidRuns == nil || *p.ValidRuns != 2 || p.MedianTPS == nil || *p.MedianTPS != 54.9 ||
		p.TPSCI95Low == nil || *p.TPSCI95Low != 52.36 || p.TPSCI95High == nil || *p.TPSCI95High != 57.44 || p.Excluded != nil {
		t.Errorf("16,384-token sweep point = %+v", p)
	}
	if p := NewBrief(troubledResult()).ContextSweep[0]; p.ValidRuns == nil || *p.ValidRuns != 2 || p.SuccessfulRuns != 3 ||
		p.Excluded[schema.ExcludedBuffered] != 1 || len(p.Excluded) != 1 {
		t.Errorf("sweep point with an excluded run = %+v", p)
	}
	// The JSON keeps the seed's names, with null for what was not measured.
	raw, err := json.Marshal(NewBrief(troubledResult()))
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{`"baseline_tps":310.4`, `"context_sweep":[`, `"findings":[`, `"suggested_ctx_size":2048`, `"suggested_command":"llama-server`,
		`"valid_runs":2,"median_tps":290.5,"tps_ci95_low":284.15,"tps_ci95_high":296.85,"excluded":{"buffered":1}`} {
		if !strings.Contains(string(raw), k) {
			t.Errorf("brief JSON lacks %s: %s", k, raw)
		}
	}
	raw, _ = json.Marshal(NewBrief(&schema.Result{RunID: "x"}))
	for _, k := range []string{`"baseline_tps":null`, `"context_sweep":[]`, `"findings":[]`, `"suggested_ctx_size":null`, `"suggested_command":""`} {
		if !strings.Contains(string(raw), k) {
			t.Errorf("empty brief JSON lacks %s: %s", k, raw)
		}
	}
}
