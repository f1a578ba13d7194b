package report_test

import (
	"testing"

	"github.com/typhonbench/typhon/report"
	"github.com/typhonbench/typhon/schema"
)

func loadRun(id string, outTPS, goodput, ttftP90 float64) *schema.Result {
	return &schema.Result{RunID: id, Mode: "load", Model: "m", Server: schema.ServerInfo{Kind: "llama.cpp"},
		Benchmarks: []schema.Benchmark{{
			TestID: "load_users_4", Category: schema.CategoryLoad, MaxTokens: 128, SuccessfulRuns: 40, NRuns: 40,
			LoadLevel: &schema.LoadLevel{Shape: schema.LoadUsers, Users: 4, InputTokens: 512, OutputTokens: 128,
				Completed: 40, OutputTPS: outTPS, Goodput: goodput,
				Latency: schema.LoadLatency{TTFTS: schema.Dist{P90: ttftP90, N: 40}}},
		}}}
}

func TestCompareLoadLevels(t *testing.T) {
	tests := []struct {
		name    string
		cur     *schema.Result
		verdict report.Verdict
		worse   []string
	}{
		{"same", loadRun("b", 400, 3, 0.8), report.VerdictUnchanged, nil},
		{"less throughput and goodput", loadRun("b", 300, 2, 0.8), report.VerdictRegressed, []string{report.MetricOutputTPS, report.MetricGoodput}},
		{"slower first token", loadRun("b", 400, 3, 1.6), report.VerdictRegressed, []string{report.MetricTTFTP90}},
		{"faster", loadRun("b", 500, 4, 0.4), report.VerdictImproved, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := report.Compare(loadRun("a", 400, 3, 0.8), tc.cur, report.CompareOptions{Tolerance: 0.1})
			if len(c.Benchmarks) != 1 {
				t.Fatalf("%d benchmarks", len(c.Benchmarks))
			}
			bc := c.Benchmarks[0]
			if bc.Verdict != tc.verdict {
				t.Errorf("verdict %s (%s), want %s", bc.Verdict, bc.Reason, tc.verdict)
			}
			var worse []string
			for _, m := range bc.Metrics {
				if m.Verdict == report.VerdictRegressed {
					worse = append(worse, m.Metric)
				}
			}
			if len(worse) != len(tc.worse) {
				t.Errorf("regressed %v, want %v", worse, tc.worse)
			}
			if len(bc.Metrics) != 3 {
				t.Errorf("%d metrics, want output_tps, goodput and ttft_p90_s", len(bc.Metrics))
			}
		})
	}
}
