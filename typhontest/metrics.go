package typhontest

import (
	"testing"

	"github.com/typhonbench/typhon/report"
	"github.com/typhonbench/typhon/schema"
)

// ReportMetrics reports the figures of a run to a Go benchmark, so that `go test
// -bench` prints them and benchstat compares them: one sub-benchmark per test
// that had a successful run, named by its test_id, with the median decode speed
// (report.UnitTPS, tok/s), the median time to first token (report.UnitTTFT,
// ttft-s) and the prefill speed (report.UnitPrefillTPS, prefill-tok/s) through
// testing.B.ReportMetric; ns/op, which would time the reporting, is hidden.
// Call it once per run of the benchmark function, after Runner.Run:
//
//	func BenchmarkServer(b *testing.B) {
//		r := typhon.Runner{URL: os.Getenv("TYPHON_URL"), Mode: typhon.ModeQuick, DataDir: b.TempDir()}
//		res, err := r.Run(b.Context(), nil)
//		if err != nil {
//			b.Fatal(err)
//		}
//		typhontest.ReportMetrics(b, res)
//	}
//
// `go test -bench Server -count 5 > new.txt` then gives benchstat five samples
// of each test (each a whole run of the plan).
func ReportMetrics(b *testing.B, res *schema.Result) {
	b.Helper()
	if res == nil {
		b.Fatal("typhontest: ReportMetrics: nil result")
		return
	}
	for i := range res.Benchmarks {
		bm := &res.Benchmarks[i]
		if bm.Skipped || bm.SuccessfulRuns <= 0 {
			continue
		}
		tps, ttft, prefill := bm.AvgTPS, bm.AvgTTFTS, bm.AvgPrefillTPS
		if s := bm.Stats; s != nil {
			tps, ttft = firstPositive(s.TPSMedian, tps), firstPositive(s.TTFTP50S, ttft)
		}
		b.Run(bm.TestID, func(b *testing.B) {
			b.ReportMetric(0, "ns/op")
			for _, m := range []struct {
				v    float64
				unit string
			}{{tps, report.UnitTPS}, {ttft, report.UnitTTFT}, {prefill, report.UnitPrefillTPS}} {
				if m.v > 0 {
					b.ReportMetric(m.v, m.unit)
				}
			}
		})
	}
}

func firstPositive(vs ...float64) float64 {
	for _, v := range vs {
		if v > 0 {
			return v
		}
	}
	return 0
}
