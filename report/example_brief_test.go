package report_test

import (
	"fmt"
	"os"

	"github.com/typhonbench/typhon/report"
	"github.com/typhonbench/typhon/schema"
)

// twoTests is a run of llama-server with two slots: a short prompt at 80 tok/s
// and an 8,192-token context sweep at 50 tok/s.
func twoTests() *schema.Result {
	base := schema.Benchmark{TestID: "baseline_short", Category: schema.CategoryBaseline, CtxSize: 2048, MaxTokens: 64,
		NRuns: 3, SuccessfulRuns: 3, AvgTPS: 80, AvgTTFTS: 0.1}
	big := sweep(50, 50, 50)
	big.AvgTPS, big.AvgTTFTS = 50, 1.2
	return &schema.Result{RunID: "a3f1c820", Model: "m", Benchmarks: []schema.Benchmark{base, big},
		Server: schema.ServerInfo{Kind: "llama.cpp", CtxSize: 8192, Slots: 2, Settings: map[string]string{"model_path": "/models/m.gguf"}}}
}

func ExampleFindings() {
	for _, f := range report.Findings(twoTests()) {
		fmt.Printf("%s %s: %.1f%s\n", f.Severity, f.Rule, f.Value, f.Unit)
	}
	// Output:
	// warning decode_slowdown: -37.5%
}

func ExampleSuggest() {
	s := report.Suggest(twoTests())
	fmt.Println(s.Command)
	fmt.Println(s.Reason)
	// Output:
	// llama-server -m /models/m.gguf -c 16384 -np 2
	// The largest context that worked in every run was 8,192 tokens (`ctx_sweep_8192`, 3 of 3 runs).
}

func ExampleNewBrief() {
	b := report.NewBrief(twoTests())
	fmt.Println(*b.BaselineTPS, len(b.ContextSweep), *b.ContextSweep[0].TPS, *b.SuggestedCtxSize, len(b.Findings))
	// Output:
	// 80 1 50 8192 1
}

func ExampleBenchstat() {
	res := twoTests()
	res.Benchmarks = res.Benchmarks[1:]
	if err := report.Benchstat(os.Stdout, res); err != nil {
		fmt.Println(err)
	}
	// Output:
	// model: m
	// server: llama.cpp
	// BenchmarkTyphon/test=ctx_sweep_8192 1 50 tok/s 1.2 ttft-s
	// BenchmarkTyphon/test=ctx_sweep_8192 1 50 tok/s 1.2 ttft-s
	// BenchmarkTyphon/test=ctx_sweep_8192 1 50 tok/s 1.2 ttft-s
}
