package typhontest_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/typhonbench/typhon/report"
	"github.com/typhonbench/typhon/schema"
	"github.com/typhonbench/typhon/typhontest"
)

func record(id, model string, tps ...float64) *schema.Result {
	b := schema.Benchmark{TestID: "ctx_sweep_2048", Category: schema.CategoryContextSweep, CtxSize: 2048, MaxTokens: 256,
		NRuns: len(tps), SuccessfulRuns: len(tps)}
	for _, v := range tps {
		b.Runs = append(b.Runs, schema.RunSample{Success: true, TPS: v, TTFTS: 0.2, PromptTokens: 1600, OutputTokens: 256})
	}
	return &schema.Result{SchemaVersion: schema.Version, RunID: id, RunAt: time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC),
		Status: schema.StatusComplete, Mode: schema.ModeQuick, Model: model, Benchmarks: []schema.Benchmark{b},
		Server: schema.ServerInfo{Name: "llama.cpp (llama-server)", Kind: schema.KindLlamaCpp, Version: "b5000"}}
}

// TestCheck: Check returns an error the caller can test with errors.Is, and
// leaves the choice of t.Error or t.Fatal to the caller.
func TestCheck(t *testing.T) {
	t.Parallel()
	base := record("base", "m", 100, 101, 99)
	tests := []struct {
		name    string
		current *schema.Result
		wantErr error
		wantMsg string
	}{
		{"same speed", record("cur", "m", 100, 100.5, 99.5), nil, ""},
		{"slower", record("cur", "m", 80, 81, 79), typhontest.ErrRegressed, "1 regressions beyond the 5% tolerance"},
		{"other model", record("cur", "other", 100, 101, 99), typhontest.ErrNotComparable, `different model: "m"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, err := typhontest.Check(base, tc.current, report.CompareOptions{Tolerance: 0.05})
			if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil) != (err == nil) {
				t.Fatalf("Check() error = %v, want %v", err, tc.wantErr)
			}
			if err != nil && !strings.Contains(err.Error(), tc.wantMsg) {
				t.Errorf("Check() error = %q, want it to hold %q", err, tc.wantMsg)
			}
			if c.Baseline.RunID != "base" || c.Current.RunID != "cur" {
				t.Errorf("comparison of %s and %s, want base and cur", c.Baseline.RunID, c.Current.RunID)
			}
		})
	}
}

func ExampleCheck() {
	base := record("base", "m", 100, 101, 99)
	slower := record("slower", "m", 80, 81, 79)
	_, err := typhontest.Check(base, slower, report.CompareOptions{Tolerance: 0.05})
	fmt.Println(errors.Is(err, typhontest.ErrRegressed))
	// Output:
	// true
}
