package report_test

import (
	"fmt"
	"os"
	"time"

	"github.com/typhonbench/typhon/report"
	"github.com/typhonbench/typhon/schema"
)

// sweep is a context sweep whose three timed runs decoded at the given speeds.
func sweep(tps ...float64) schema.Benchmark {
	b := schema.Benchmark{TestID: "ctx_sweep_8192", Category: schema.CategoryContextSweep, CtxSize: 8192, MaxTokens: 256,
		NRuns: len(tps), SuccessfulRuns: len(tps)}
	for _, v := range tps {
		b.Runs = append(b.Runs, schema.RunSample{Success: true, TPS: v, TTFTS: 1.2, PromptTokens: 7800, OutputTokens: 256})
	}
	return b
}

func ExampleCompare() {
	at := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	run := func(id string, b schema.Benchmark) *schema.Result {
		return &schema.Result{RunID: id, RunAt: at, Mode: "quick", Model: "m",
			Server: schema.ServerInfo{Kind: "llama.cpp", Version: "b5000"}, Benchmarks: []schema.Benchmark{b}}
	}
	baseline := run("before", sweep(68.1, 68.0, 67.9))
	current := run("after", sweep(61.3, 61.2, 61.1))

	c := report.Compare(baseline, current, report.CompareOptions{Tolerance: 0.05})
	fmt.Println(c.Verdict)
	for _, m := range c.Regressions() {
		fmt.Printf("%s %s: %.1f%%\n", m.TestID, m.Metric, m.ChangePct)
	}
	// Output:
	// regressed
	// ctx_sweep_8192 tps: -10.0%
}

func ExampleStore() {
	dir, err := os.MkdirTemp("", "typhon-example")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)

	s := &report.Store{Dir: dir}
	res := &schema.Result{RunID: "a3f1c820", RunAt: time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC),
		Status: schema.StatusRunning, Mode: "quick", Model: "m", Benchmarks: []schema.Benchmark{sweep(68, 68, 68)}}
	if err := s.Save(res); err != nil { // at the start and after every test
		fmt.Println(err)
		return
	}
	res.Status = schema.StatusComplete
	if err := s.Finish(res); err != nil { // record, chronicle line, last_run.json
		fmt.Println(err)
		return
	}
	items, total, err := s.List(0, 10)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(total, items[0].RunID, items[0].Status, items[0].Benchmarks)
	// Output:
	// 1 a3f1c820 complete 1
}
