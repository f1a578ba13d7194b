package report

import (
	"bytes"
	"encoding/json"
	"math"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/typhonbench/typhon/schema"
)

// bench is a benchmark whose successful runs have the given tps, each with ttft
// 0.1 s, 500 prompt tokens and 64 output tokens.
func bench(id string, tps ...float64) schema.Benchmark {
	b := schema.Benchmark{TestID: id, Name: id, Category: schema.CategoryContextSweep, CtxSize: 4096, MaxTokens: 64,
		NRuns: len(tps), SuccessfulRuns: len(tps)}
	for _, v := range tps {
		b.Runs = append(b.Runs, schema.RunSample{Success: true, TPS: v, TTFTS: 0.1, PromptTokens: 500, OutputTokens: 64})
		b.AvgTPS += v / float64(len(tps))
	}
	return b
}

// withTTFT sets the runs' ttft_s.
func withTTFT(b schema.Benchmark, ttft ...float64) schema.Benchmark {
	b.Runs = append([]schema.RunSample(nil), b.Runs...)
	for i := range b.Runs {
		b.Runs[i].TTFTS = ttft[i]
		b.Runs[i].PrefillTPS = 0
	}
	return b
}

func withGPU(b schema.Benchmark, peakMB, energyJ float64) schema.Benchmark {
	b.GPUStats.PeakVRAMUsedMB = f64(peakMB)
	b.GPUStats.EnergyJ = f64(energyJ)
	return b
}

// concBench is a concurrency test of 4 users whose rounds delivered the given
// aggregate tokens/s, each request a quarter of it.
func concBench(id string, agg ...float64) schema.Benchmark {
	b := schema.Benchmark{TestID: id, Name: id, Category: schema.CategoryConcurrency, CtxSize: 4096, MaxTokens: 64,
		Concurrency: 4, NRuns: 4 * len(agg), SuccessfulRuns: 4 * len(agg), ValidRuns: 4 * len(agg), AggregateTPSRounds: agg}
	for i, a := range agg {
		for range 4 {
			b.Runs = append(b.Runs, schema.RunSample{Success: true, TPS: 100, TTFTS: 0.1, PromptTokens: 500, OutputTokens: 64, Round: i + 1})
		}
		b.AggregateTPS += a / float64(len(agg))
	}
	return b
}

// wallBench is a memory wall that found a wall of the kind at tokens, after a
// few steps.
func wallBench(tokens int, kind string) schema.Benchmark {
	b := schema.Benchmark{TestID: "memory_wall", Name: "Memory wall", Category: schema.CategoryMemoryWall, CtxSize: 4096, MaxTokens: 16,
		NRuns: 3, SuccessfulRuns: 2, MemoryWall: &schema.MemoryWall{LastOKPromptTokens: tokens, WallTokens: tokens, WallKind: kind,
			FailedPromptTokens: tokens + 20, FailureKind: "http_400"}}
	for _, p := range []int{tokens / 2, tokens, tokens + 20} {
		b.Runs = append(b.Runs, schema.RunSample{Success: p <= tokens, TPS: 100, TTFTS: float64(p) / 1000, PromptTokens: p, OutputTokens: 16})
	}
	return b
}

func modifyBench(b schema.Benchmark, f func(*schema.Benchmark)) schema.Benchmark {
	b.Runs = append([]schema.RunSample(nil), b.Runs...)
	f(&b)
	return b
}

func failedBench(id string, n int, kind, msg string) schema.Benchmark {
	b := schema.Benchmark{TestID: id, Name: id, Category: schema.CategoryContextSweep, CtxSize: 4096, MaxTokens: 64, NRuns: n}
	for range n {
		b.Runs = append(b.Runs, schema.RunSample{Success: false, ErrorKind: kind, Error: msg})
	}
	return b
}

func skippedBench(id, reason string) schema.Benchmark {
	return schema.Benchmark{TestID: id, Name: id, Category: schema.CategoryContextSweep, CtxSize: 4096, MaxTokens: 64, Skipped: true, SkipReason: reason}
}

// run is a record of llama.cpp b5000 with model m on one RTX 4090.
func run(id string, benches ...schema.Benchmark) *schema.Result {
	return &schema.Result{
		SchemaVersion: schema.Version, RunID: id, RunAt: t0, Status: schema.StatusComplete, Mode: "quick", Model: "m",
		Server:          schema.ServerInfo{Name: "llama.cpp (llama-server)", Kind: "llama.cpp", Version: "b5000"},
		ProfileSnapshot: &schema.Profile{GPUs: []schema.GPUInfo{{Name: "NVIDIA GeForce RTX 4090", MemoryTotalMB: 24564}}},
		Benchmarks:      benches,
	}
}

func modify(r *schema.Result, f func(*schema.Result)) *schema.Result {
	f(r)
	return r
}

func TestCompare(t *testing.T) {
	t.Parallel()
	tight := bench("ctx_sweep_4096", 100, 101, 99)
	tests := []struct {
		name        string
		base, cur   *schema.Result
		opts        CompareOptions
		wantVerdict Verdict
		// want maps "test_id metric" to the metric's verdict when it is regressed
		// or improved; metrics not listed must be unchanged or not comparable.
		want        map[string]Verdict
		wantWeak    []string // "test_id metric" that must be weak
		wantBeyond  []string // "test_id metric" that must be beyond noise
		wantReasons []string // substrings of the run-level reasons
	}{
		{
			name:        "10% tps drop with tight runs is a regression at 5%",
			base:        run("a", tight),
			cur:         run("b", bench("ctx_sweep_4096", 90, 91, 89)),
			wantVerdict: VerdictRegressed,
			want:        map[string]Verdict{"ctx_sweep_4096 tps": VerdictRegressed},
			wantBeyond:  []string{"ctx_sweep_4096 tps"},
		},
		{
			name: "the same drop inside the runs' spread is not shown: inconclusive",
			base: run("a", bench("ctx_sweep_4096", 80, 100, 120)),
			cur:  run("b", bench("ctx_sweep_4096", 70, 90, 110)),
			// Not shown, and not ruled out either: inconclusive, not unchanged.
			wantVerdict: VerdictInconclusive,
			want:        map[string]Verdict{"ctx_sweep_4096 tps": VerdictInconclusive},
		},
		{
			name:        "10% drop with two runs a side (quick mode sweeps)",
			base:        run("a", bench("ctx_sweep_4096", 100, 101)),
			cur:         run("b", bench("ctx_sweep_4096", 90, 91)),
			wantVerdict: VerdictRegressed,
			want:        map[string]Verdict{"ctx_sweep_4096 tps": VerdictRegressed},
		},
		{
			name:        "a different model is not comparable",
			base:        run("a", tight),
			cur:         modify(run("b", bench("ctx_sweep_4096", 90, 91, 89)), func(r *schema.Result) { r.Model = "other" }),
			wantVerdict: VerdictNotComparable,
			wantReasons: []string{`different model: "m" in the baseline, "other" now`, "AllowDifferentModel"},
		},
		{
			name:        "a different model when allowed",
			base:        run("a", tight),
			cur:         modify(run("b", bench("ctx_sweep_4096", 90, 91, 89)), func(r *schema.Result) { r.Model = "other" }),
			opts:        CompareOptions{AllowDifferentModel: true},
			wantVerdict: VerdictRegressed,
			want:        map[string]Verdict{"ctx_sweep_4096 tps": VerdictRegressed},
		},
		{
			name:        "a different quantisation is a different model",
			base:        run("a", tight),
			cur:         modify(run("b", tight), func(r *schema.Result) { r.Server.Quantization = "Q4_K_M" }),
			wantVerdict: VerdictNotComparable,
			wantReasons: []string{"different model"},
		},
		{
			name:        "a different server build is not comparable",
			base:        run("a", tight),
			cur:         modify(run("b", tight), func(r *schema.Result) { r.Server.Version = "b5100" }),
			wantVerdict: VerdictNotComparable,
			wantReasons: []string{`different server version: "b5000" in the baseline, "b5100" now`},
		},
		{
			name:        "a different server kind is not comparable",
			base:        run("a", tight),
			cur:         modify(run("b", tight), func(r *schema.Result) { r.Server.Kind = "ollama"; r.Server.Version = "0.9.0" }),
			wantVerdict: VerdictNotComparable,
			wantReasons: []string{`different server: "llama.cpp" in the baseline, "ollama" now`},
		},
		{
			name:        "a server upgrade when allowed",
			base:        run("a", tight),
			cur:         modify(run("b", bench("ctx_sweep_4096", 110, 111, 109)), func(r *schema.Result) { r.Server.Version = "b5100" }),
			opts:        CompareOptions{AllowDifferentServer: true},
			wantVerdict: VerdictImproved,
			want:        map[string]Verdict{"ctx_sweep_4096 tps": VerdictImproved},
		},
		{
			name: "a different GPU is not comparable",
			base: run("a", tight),
			cur: modify(run("b", tight), func(r *schema.Result) {
				r.ProfileSnapshot = &schema.Profile{GPUs: []schema.GPUInfo{{Name: "NVIDIA H100 80GB HBM3"}}}
			}),
			wantVerdict: VerdictNotComparable,
			wantReasons: []string{"different hardware", "AllowDifferentGPU"},
		},
		{
			name: "a different CPU without GPU is different hardware",
			base: modify(run("a", tight), func(r *schema.Result) {
				r.ProfileSnapshot = &schema.Profile{CPU: schema.CPUInfo{Model: "Xeon"}}
			}),
			cur: modify(run("b", tight), func(r *schema.Result) {
				r.ProfileSnapshot = &schema.Profile{CPU: schema.CPUInfo{Model: "EPYC"}}
			}),
			wantVerdict: VerdictNotComparable,
			wantReasons: []string{`"CPU only: Xeon" in the baseline, "CPU only: EPYC" now`},
		},
		{
			name:        "a different mode is not comparable",
			base:        run("a", tight),
			cur:         modify(run("b", tight), func(r *schema.Result) { r.Mode = "full" }),
			wantVerdict: VerdictNotComparable,
			wantReasons: []string{"different mode"},
		},
		{
			name:        "improved",
			base:        run("a", bench("ctx_sweep_4096", 90, 91, 89)),
			cur:         run("b", tight),
			wantVerdict: VerdictImproved,
			want:        map[string]Verdict{"ctx_sweep_4096 tps": VerdictImproved},
		},
		{
			name:        "unchanged",
			base:        run("a", tight),
			cur:         run("b", bench("ctx_sweep_4096", 100.5, 100, 99.5)),
			wantVerdict: VerdictUnchanged,
		},
		{
			name:        "beyond noise but within the tolerance",
			base:        run("a", bench("ctx_sweep_4096", 100, 100.1, 99.9)),
			cur:         run("b", bench("ctx_sweep_4096", 98, 98.1, 97.9)),
			wantVerdict: VerdictUnchanged,
			wantBeyond:  []string{"ctx_sweep_4096 tps"},
		},
		{
			name:        "a larger tolerance absorbs the drop",
			base:        run("a", tight),
			cur:         run("b", bench("ctx_sweep_4096", 90, 91, 89)),
			opts:        CompareOptions{Tolerance: 0.15},
			wantVerdict: VerdictUnchanged,
			wantBeyond:  []string{"ctx_sweep_4096 tps"},
		},
		{
			// Weak: reported, but it never fails the comparison by itself.
			name:        "one run per side: a big drop regresses but is weak",
			base:        run("a", bench("ctx_sweep_4096", 100)),
			cur:         run("b", bench("ctx_sweep_4096", 80)),
			wantVerdict: VerdictUnchanged,
			want:        map[string]Verdict{"ctx_sweep_4096 tps": VerdictRegressed},
			wantWeak:    []string{"ctx_sweep_4096 tps"}, // ttft_s did not move: under the floor, not weak
		},
		{
			name:        "one run per side: a small drop is unchanged and weak",
			base:        run("a", bench("ctx_sweep_4096", 100)),
			cur:         run("b", bench("ctx_sweep_4096", 97)),
			wantVerdict: VerdictUnchanged,
			wantWeak:    []string{"ctx_sweep_4096 tps"}, // ttft_s did not move: under the floor, not weak
		},
		{
			name:        "one run per side in a noisy run: the other tests' spread cannot settle a 10% drop",
			base:        run("a", bench("ctx_sweep_4096", 80, 100, 120), bench("long_gen", 100)),
			cur:         run("b", bench("ctx_sweep_4096", 80, 100, 120), bench("long_gen", 90)),
			wantVerdict: VerdictInconclusive,
			want:        map[string]Verdict{"long_gen tps": VerdictInconclusive},
			wantWeak:    []string{"long_gen tps"},
		},
		{
			name:        "one run per side in a quiet run: a 10% drop regresses, weak",
			base:        run("a", tight, bench("long_gen", 100)),
			cur:         run("b", tight, bench("long_gen", 90)),
			wantVerdict: VerdictUnchanged,
			want:        map[string]Verdict{"long_gen tps": VerdictRegressed},
			wantWeak:    []string{"long_gen tps"},
			wantBeyond:  []string{"long_gen tps"},
		},
		{
			name:        "one run against three borrows the spread",
			base:        run("a", bench("ctx_sweep_4096", 80, 100, 120)),
			cur:         run("b", bench("ctx_sweep_4096", 90)),
			wantVerdict: VerdictInconclusive,
			want:        map[string]Verdict{"ctx_sweep_4096 tps": VerdictInconclusive},
			wantWeak:    []string{"ctx_sweep_4096 tps"}, // ttft_s did not move: under the floor, not weak
		},
		{
			name:        "time to first token grows",
			base:        run("a", withTTFT(tight, 0.100, 0.101, 0.099)),
			cur:         run("b", withTTFT(tight, 0.120, 0.121, 0.119)),
			wantVerdict: VerdictRegressed,
			// prefill_tps = prompt_tokens / ttft_s falls with it.
			want: map[string]Verdict{"ctx_sweep_4096 ttft_s": VerdictRegressed, "ctx_sweep_4096 prefill_tps": VerdictRegressed},
		},
		{
			name:        "time to first token shrinks",
			base:        run("a", withTTFT(tight, 0.120, 0.121, 0.119)),
			cur:         run("b", withTTFT(tight, 0.100, 0.101, 0.099)),
			wantVerdict: VerdictImproved,
			want:        map[string]Verdict{"ctx_sweep_4096 ttft_s": VerdictImproved, "ctx_sweep_4096 prefill_tps": VerdictImproved},
		},
		{
			name:        "a millisecond of time to first token is under the timing floor",
			base:        run("a", withTTFT(tight, 0.0070, 0.0071, 0.0069)),
			cur:         run("b", withTTFT(tight, 0.0080, 0.0081, 0.0079)),
			wantVerdict: VerdictUnchanged,
		},
		{
			name:        "the same millisecond without a floor",
			base:        run("a", withTTFT(tight, 0.0070, 0.0071, 0.0069)),
			cur:         run("b", withTTFT(tight, 0.0080, 0.0081, 0.0079)),
			opts:        CompareOptions{TTFTFloor: -1},
			wantVerdict: VerdictRegressed,
			want:        map[string]Verdict{"ctx_sweep_4096 ttft_s": VerdictRegressed, "ctx_sweep_4096 prefill_tps": VerdictRegressed},
			wantBeyond:  []string{"ctx_sweep_4096 ttft_s", "ctx_sweep_4096 prefill_tps"},
		},
		{
			name:        "one run per side with time to first token over the floor is weak",
			base:        run("a", withTTFT(bench("ctx_sweep_4096", 100), 0.100)),
			cur:         run("b", withTTFT(bench("ctx_sweep_4096", 100), 0.150)),
			wantVerdict: VerdictUnchanged,
			want:        map[string]Verdict{"ctx_sweep_4096 ttft_s": VerdictRegressed, "ctx_sweep_4096 prefill_tps": VerdictRegressed},
			wantWeak:    []string{"ctx_sweep_4096 tps", "ctx_sweep_4096 ttft_s", "ctx_sweep_4096 prefill_tps"},
		},
		{
			name:        "peak VRAM and energy per token grow",
			base:        run("a", withGPU(tight, 8000, 96)),
			cur:         run("b", withGPU(tight, 9000, 115.2)),
			wantVerdict: VerdictRegressed,
			want:        map[string]Verdict{"ctx_sweep_4096 peak_vram_used_mb": VerdictRegressed, "ctx_sweep_4096 energy_per_token_j": VerdictRegressed},
		},
		{
			name:        "peak VRAM within the tolerance",
			base:        run("a", withGPU(tight, 8000, 96)),
			cur:         run("b", withGPU(tight, 8100, 96)),
			wantVerdict: VerdictUnchanged,
		},
		{
			name:        "a test that now fails is a regression",
			base:        run("a", tight, bench("long_gen", 100, 100)),
			cur:         run("b", tight, failedBench("long_gen", 2, schema.ErrKindConnectionRefused, "connection refused")),
			wantVerdict: VerdictRegressed,
			want:        map[string]Verdict{"long_gen failed_runs": VerdictRegressed},
		},
		{
			// Failures are judged by their rate (Fisher's exact test), not by any change.
			name: "one timeout more in ten runs is not a regression",
			base: run("a", bench("ctx_sweep_4096", 100, 101, 99, 100, 100, 101, 99, 100, 100, 101)),
			cur: modify(run("b", bench("ctx_sweep_4096", 100, 101, 99, 100, 100, 101, 99, 100, 100)), func(r *schema.Result) {
				b := &r.Benchmarks[0]
				b.Runs = append(b.Runs, schema.RunSample{Success: false, ErrorKind: "timeout"})
				b.NRuns = 10
			}),
			wantVerdict: VerdictUnchanged,
		},
		{
			name: "most runs failing now is a regression",
			base: run("a", bench("ctx_sweep_4096", 100, 101, 99, 100, 100, 101, 99, 100, 100, 101)),
			cur: modify(run("b", bench("ctx_sweep_4096", 100, 101)), func(r *schema.Result) {
				b := &r.Benchmarks[0]
				for range 8 {
					b.Runs = append(b.Runs, schema.RunSample{Success: false, ErrorKind: "timeout"})
				}
				b.NRuns = 10
			}),
			wantVerdict: VerdictRegressed,
			want:        map[string]Verdict{"ctx_sweep_4096 failed_runs": VerdictRegressed},
		},
		{
			name:        "halving aggregate_tps is a regression",
			base:        run("a", concBench("concurrency_4", 400, 410, 405)),
			cur:         run("b", concBench("concurrency_4", 200, 205, 202)),
			wantVerdict: VerdictRegressed,
			want:        map[string]Verdict{"concurrency_4 aggregate_tps": VerdictRegressed},
			wantBeyond:  []string{"concurrency_4 aggregate_tps"},
		},
		{
			name:        "a doubled memory wall is an improvement",
			base:        run("a", wallBench(4000, schema.WallMemory)),
			cur:         run("b", wallBench(8000, schema.WallMemory)),
			wantVerdict: VerdictImproved,
			want:        map[string]Verdict{"memory_wall wall_tokens": VerdictImproved},
		},
		{
			// Its steps are not replicates: their speeds are not compared.
			name:        "a memory wall at the same size is unchanged, steps aside",
			base:        run("a", wallBench(4000, schema.WallContextLimit)),
			cur:         run("b", modifyBench(wallBench(4010, schema.WallContextLimit), func(b *schema.Benchmark) { b.Runs[0].TPS /= 2 })),
			wantVerdict: VerdictUnchanged,
		},
		{
			name:        "a test that works again improved",
			base:        run("a", failedBench("ctx_sweep_4096", 3, "http_400", "context exceeded")),
			cur:         run("b", tight),
			wantVerdict: VerdictImproved,
			want:        map[string]Verdict{"ctx_sweep_4096 failed_runs": VerdictImproved},
		},
		{
			name:        "skipped and missing tests are not comparable, the rest decide",
			base:        run("a", tight, bench("ctx_sweep_8192", 50, 50), bench("only_before", 1, 1)),
			cur:         run("b", tight, skippedBench("ctx_sweep_8192", "beyond the server's context"), bench("only_now", 1, 1)),
			wantVerdict: VerdictUnchanged,
		},
		{
			name:        "nothing to compare",
			base:        run("a", skippedBench("x", "r")),
			cur:         run("b", skippedBench("x", "r")),
			wantVerdict: VerdictNotComparable,
		},
		{
			name:        "no baseline",
			base:        nil,
			cur:         run("b", tight),
			wantVerdict: VerdictNotComparable,
			wantReasons: []string{"no baseline record"},
		},
		{
			name:        "summary figures only (no runs kept)",
			base:        run("a", schema.Benchmark{TestID: "t", NRuns: 3, SuccessfulRuns: 3, AvgTPS: 100, Stats: &schema.Stats{TPSStdev: 0.5}}),
			cur:         run("b", schema.Benchmark{TestID: "t", NRuns: 3, SuccessfulRuns: 3, AvgTPS: 90, Stats: &schema.Stats{TPSStdev: 0.5}}),
			wantVerdict: VerdictRegressed,
			want:        map[string]Verdict{"t tps": VerdictRegressed},
			wantBeyond:  []string{"t tps"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := Compare(tt.base, tt.cur, tt.opts)
			if c.Verdict != tt.wantVerdict {
				t.Errorf("verdict = %q, want %q\n%s", c.Verdict, tt.wantVerdict, table(t, c))
			}
			got := map[string]Verdict{}
			weak, beyondNoise := map[string]bool{}, map[string]bool{}
			for _, b := range c.Benchmarks {
				for _, m := range b.Metrics {
					key := m.TestID + " " + m.Metric
					if m.Verdict != VerdictUnchanged && m.Verdict != VerdictNotComparable {
						got[key] = m.Verdict
					}
					if !c.Comparable && m.Verdict != VerdictNotComparable {
						t.Errorf("%s: verdict %q in runs that are not comparable", key, m.Verdict)
					}
					weak[key], beyondNoise[key] = m.Weak, m.BeyondNoise
				}
			}
			want := tt.want
			if want == nil {
				want = map[string]Verdict{}
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("metric verdicts other than unchanged (-want +got):\n%s\n%s", diff, table(t, c))
			}
			var gotWeak []string
			for k, w := range weak {
				if w {
					gotWeak = append(gotWeak, k)
				}
			}
			if diff := cmp.Diff(tt.wantWeak, gotWeak, cmpopts.SortSlices(func(a, b string) bool { return a < b }), cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("weak metrics (-want +got):\n%s", diff)
			}
			for _, k := range tt.wantBeyond {
				if !beyondNoise[k] {
					t.Errorf("%s: not beyond noise, want beyond noise", k)
				}
			}
			for _, r := range tt.wantReasons {
				if !strings.Contains(strings.Join(c.Reasons, "\n"), r) {
					t.Errorf("reasons %q lack %q", c.Reasons, r)
				}
			}
			if c.Comparable != (len(c.Reasons) == 0) {
				t.Errorf("comparable = %v with reasons %q", c.Comparable, c.Reasons)
			}
			if !c.Comparable && len(c.Regressions()) > 0 {
				t.Errorf("runs not comparable but %d regressions", len(c.Regressions()))
			}
			if _, err := json.Marshal(c); err != nil {
				t.Errorf("comparison does not encode as JSON: %v", err)
			}
			if err := c.WriteTable(&bytes.Buffer{}); err != nil {
				t.Errorf("WriteTable: %v", err)
			}
		})
	}
}

func contains(xs []string, x string) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}

func table(t *testing.T, c Comparison) string {
	t.Helper()
	var buf bytes.Buffer
	if err := c.WriteTable(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

// TestCompareFigures checks the numbers of one regression.
func TestCompareFigures(t *testing.T) {
	t.Parallel()
	c := Compare(run("a", bench("x", 100, 101, 99)), run("b", bench("x", 90, 91, 89)), CompareOptions{})
	regs := c.Regressions()
	if len(regs) != 1 {
		t.Fatalf("%d regressions, want 1:\n%s", len(regs), table(t, c))
	}
	m := regs[0]
	if m.TestID != "x" || m.Metric != MetricTPS || m.Unit != "tok/s" || !m.HigherIsBetter || m.BaselineN != 3 || m.CurrentN != 3 {
		t.Errorf("regression = %+v", m)
	}
	near := func(name string, got, want float64) {
		if math.Abs(got-want) > 1e-3 {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	near("baseline", m.Baseline, 100)
	near("current", m.Current, 90)
	near("change", m.Change, -10)
	near("change_pct", m.ChangePct, -10)
	near("baseline_stdev", m.BaselineStdev, 1)
	near("t", m.T, -10/math.Sqrt(2.0/3))
	near("t_critical", m.TCritical, 2.776) // df = 4
	if !strings.Contains(m.Reason, "tps fell 10.0% (100.0 → 90.00 tok/s)") || !strings.Contains(m.Reason, "beyond the 5% tolerance and the runs' spread") {
		t.Errorf("reason = %q", m.Reason)
	}
	if c.Tolerance != DefaultTolerance {
		t.Errorf("tolerance = %v, want the default %v", c.Tolerance, DefaultTolerance)
	}
}

// TestCompareTableGolden pins the table of a comparison of the full fixture with
// a slower run: a server build that lost 10% at long contexts.
func TestCompareTableGolden(t *testing.T) {
	t.Parallel()
	base := fullResult()
	cur := fullResult()
	cur.RunID = "5d2a9e07"
	cur.RunAt = at(86400)
	cur.Server.Version = "b5200"
	for i := range cur.Benchmarks {
		b := &cur.Benchmarks[i]
		if b.Category != schema.CategoryContextSweep || b.CtxSize < 8192 {
			continue
		}
		b.Runs = append([]schema.RunSample(nil), b.Runs...)
		for j := range b.Runs {
			b.Runs[j].TPS *= 0.9
			b.Runs[j].TTFTS *= 1.2
			b.Runs[j].PrefillTPS /= 1.2
		}
	}
	for _, opts := range []struct {
		golden string
		opts   CompareOptions
	}{
		{"compare_not_comparable.golden", CompareOptions{}},
		{"compare_regressed.golden", CompareOptions{AllowDifferentServer: true}},
	} {
		c := Compare(base, cur, opts.opts)
		checkGolden(t, opts.golden, []byte(table(t, c)))
	}
	var buf bytes.Buffer
	if err := WriteChanges(&buf, Compare(base, cur, CompareOptions{AllowDifferentServer: true}).Regressions()); err != nil {
		t.Fatal(err)
	}
	if got := strings.Count(buf.String(), "regressed"); got != 6 {
		t.Errorf("WriteChanges: %d regressed rows, want 6 (tps, ttft_s and prefill_tps of two sweeps):\n%s", got, buf.String())
	}
}

// TestCompareToleranceOver100: with a tolerance of 100% or more, tokens/s falling
// 99% reads "unchanged"; the comparison says in a note that such metrics cannot
// regress at all.
func TestCompareToleranceOver100(t *testing.T) {
	t.Parallel()
	base := &schema.Result{RunID: "a", Model: "m", Mode: "quick", Benchmarks: []schema.Benchmark{bench("x", 100, 101, 99)}}
	cur := &schema.Result{RunID: "b", Model: "m", Mode: "quick", Benchmarks: []schema.Benchmark{bench("x", 1, 1.01, 0.99)}}
	c := Compare(base, cur, CompareOptions{Tolerance: 1.5})
	t.Logf("verdict %s, notes %q", c.Verdict, c.Notes)
	if !strings.Contains(strings.Join(c.Notes, " "), "can regress") {
		t.Errorf("verdict %s and no note that tokens/s cannot regress at a 150%% tolerance: %q", c.Verdict, c.Notes)
	}
}

// TestCompareInconclusive: tokens/s halved with a spread that could explain it
// (three runs each of 10-190 tok/s), or fallen 43% with two runs a side, is not
// "unchanged": the figures cannot rule the fall out. It is inconclusive, says
// so, and does not fail the comparison. A fall within the tolerance stays
// unchanged.
func TestCompareInconclusive(t *testing.T) {
	t.Parallel()
	run := func(id string, bs ...schema.Benchmark) *schema.Result {
		return &schema.Result{RunID: id, Model: "m", Mode: "quick", Benchmarks: bs}
	}
	tests := []struct {
		name      string
		base, cur schema.Benchmark
		want      Verdict
	}{
		{"huge spread, halved", bench("x", 100, 10, 190), bench("x", 50, 5, 95), VerdictInconclusive},
		{"two runs a side, fell 43%", bench("x", 100, 110), bench("x", 50, 70), VerdictInconclusive},
		{"huge spread, within the tolerance", bench("x", 100, 10, 190), bench("x", 98, 9, 187), VerdictUnchanged},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := Compare(run("a", tt.base), run("b", tt.cur), CompareOptions{})
			m := c.Benchmarks[0].Metrics[0]
			t.Logf("%s: %s; %s", c.Verdict, c.Benchmarks[0].Reason, m.Reason)
			if m.Metric != MetricTPS || m.Verdict != tt.want || c.Verdict != tt.want {
				t.Errorf("tps %s, comparison %s, want %s", m.Verdict, c.Verdict, tt.want)
			}
			if len(c.Regressions()) > 0 {
				t.Errorf("regressions %+v: a change within the spread never fails", c.Regressions())
			}
			var b strings.Builder
			if err := c.WriteTable(&b); err != nil || !strings.Contains(b.String(), string(tt.want)) {
				t.Errorf("table (%v) lacks %q:\n%s", err, tt.want, b.String())
			}
		})
	}
}

// TestCompareNotesTestsLeftOut: a current run that lacks two of the baseline's
// three tests (a run cut short) compares the one left as unchanged; the
// comparison says that the verdict covers one test of three.
func TestCompareNotesTestsLeftOut(t *testing.T) {
	t.Parallel()
	base := &schema.Result{RunID: "a", Model: "m", Mode: "quick", Benchmarks: []schema.Benchmark{
		bench("x", 100, 101, 99), bench("y", 100, 101, 99), skippedBench("z", "no GPU")}}
	cur := &schema.Result{RunID: "b", Model: "m", Mode: "quick", Benchmarks: []schema.Benchmark{bench("x", 100, 101, 99)}}
	c := Compare(base, cur, CompareOptions{})
	t.Logf("verdict %s, notes %q", c.Verdict, c.Notes)
	notes := strings.Join(c.Notes, " ")
	if !strings.Contains(notes, "2 of the baseline's 3 tests were not compared") || !strings.Contains(notes, "y (not in the current run)") {
		t.Errorf("verdict %s, notes %q: want a note naming the tests left out", c.Verdict, c.Notes)
	}
}

// TestCompareWallOfAnotherContext: a context_limit wall follows the server's
// configured context: a server restarted with half the context halves
// wall_tokens, which says nothing of its memory. Not comparable, with why; two
// memory walls under different bounds still compare.
func TestCompareWallOfAnotherContext(t *testing.T) {
	t.Parallel()
	withBound := func(b schema.Benchmark, bound int) schema.Benchmark {
		w := *b.MemoryWall
		w.BoundTokens, w.Bound = bound, "the server's context per request"
		b.MemoryWall = &w
		return b
	}
	run := func(id string, bs ...schema.Benchmark) *schema.Result {
		return &schema.Result{RunID: id, Model: "m", Mode: "quick", Benchmarks: bs}
	}
	c := Compare(run("a", withBound(wallBench(8170, schema.WallContextLimit), 8192)),
		run("b", withBound(wallBench(4080, schema.WallContextLimit), 4096)), CompareOptions{})
	b := c.Benchmarks[0]
	t.Logf("%s: %s %s", c.Verdict, b.Verdict, b.Reason)
	if b.Verdict != VerdictNotComparable || !strings.Contains(b.Reason, "8,192") || len(c.Regressions()) > 0 {
		t.Errorf("wall under another context: %s (%s), regressions %d; want not comparable, naming the bounds", b.Verdict, b.Reason, len(c.Regressions()))
	}
	c = Compare(run("a", withBound(wallBench(8000, schema.WallMemory), 32768)),
		run("b", withBound(wallBench(4000, schema.WallMemory), 16384)), CompareOptions{})
	if len(c.Regressions()) != 1 {
		t.Errorf("two memory walls under different bounds: %s, want the halved wall to regress", c.Verdict)
	}
}
