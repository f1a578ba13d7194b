package typhon_test

import (
	"context"
	"fmt"
	"os"

	"github.com/typhonbench/typhon"
	"github.com/typhonbench/typhon/engine"
	"github.com/typhonbench/typhon/engine/enginetest"
	"github.com/typhonbench/typhon/gpu/gputest"
	"github.com/typhonbench/typhon/report"
	"github.com/typhonbench/typhon/schema"
)

// ExampleRunner_Run benchmarks a scripted streaming server (enginetest) with a
// scripted GPU (gputest): no LLM server, no GPU needed. Against a real server,
// set URL (or nothing, to detect one) and leave GPU nil.
func ExampleRunner_Run() {
	srv := enginetest.NewServer(enginetest.Stream{Tokens: 16}.Response)
	defer srv.Close()
	dir, err := os.MkdirTemp("", "typhon-example")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)

	r := typhon.Runner{
		URL:     srv.URL,
		DataDir: dir,
		GPU:     &gputest.Sampler{GPUs: []schema.GPUInfo{{Name: "Fake GPU", MemoryTotalMB: 24576}}},
		Plan: &engine.Plan{Mode: typhon.ModeQuick, Tests: []engine.Test{{
			ID: "baseline_short", Name: "Baseline (short prompt)", Category: schema.CategoryBaseline,
			CtxSize: 2048, PromptTokens: 64, MaxTokens: 16, Runs: 3,
		}}},
	}
	res, err := r.Run(context.Background(), nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(res.Status, res.Mode, res.Server.Kind, res.Model, res.ProfileSnapshot.GPUs[0].Name)
	for _, b := range res.Benchmarks {
		fmt.Printf("%s: %d of %d runs ok, %d tokens each\n", b.TestID, b.SuccessfulRuns, b.NRuns, b.Runs[0].OutputTokens)
	}
	rec, err := (&report.Store{Dir: dir}).Load(res.RunID)
	fmt.Println("record on disk:", err == nil && rec.Status == res.Status)
	// Output:
	// complete quick openai-compatible fake Fake GPU
	// baseline_short: 3 of 3 runs ok, 16 tokens each
	// record on disk: true
}
