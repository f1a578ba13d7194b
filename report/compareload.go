package report

import (
	"strings"

	"github.com/typhonbench/typhon/schema"
)

// Metrics compared per load level (a benchmark of category load).
const (
	MetricOutputTPS = "output_tps" // output tokens/s over the window, higher is better
	MetricGoodput   = "goodput"    // requests/s meeting every SLO, higher is better
	MetricTTFTP90   = "ttft_p90_s" // 90th percentile time to first token, lower is better
)

// loadSpecs are the figures of a load level: one reading per level each, judged
// on the tolerance (TTFT below the timing floor is not judged).
var loadSpecs = []metricSpec{
	{MetricOutputTPS, "tok/s", true, func(b *schema.Benchmark) sample {
		return single(b.LoadLevel.OutputTPS, 0)
	}, false},
	{MetricGoodput, "req/s", true, func(b *schema.Benchmark) sample {
		return single(b.LoadLevel.Goodput, 0)
	}, false},
	{MetricTTFTP90, "s", false, func(b *schema.Benchmark) sample {
		p90 := b.LoadLevel.Latency.TTFTS.P90
		return single(p90, p90)
	}, true},
}

func single(v, ttft float64) sample {
	if v <= 0 || !finite(v) {
		return sample{}
	}
	return sample{n: 1, mean: v, single: true, ttft: ttft}
}

// compareLoad judges a load level against the same level of the baseline (the
// same test_id: users or rate): output throughput, goodput and TTFT p90.
func compareLoad(b, cur *schema.Benchmark, tol, floorS float64, comparable bool) BenchmarkComparison {
	bc := BenchmarkComparison{TestID: b.TestID, Name: b.Name, Category: b.Category, Metrics: []MetricChange{}}
	bl, cl := b.LoadLevel, cur.LoadLevel
	switch {
	case bl.InputTokens != cl.InputTokens || bl.OutputTokens != cl.OutputTokens:
		bc.Verdict, bc.Reason = VerdictNotComparable, "different request lengths"
		return bc
	case bl.Completed == 0 || cl.Completed == 0:
		bc.Verdict, bc.Reason = VerdictNotComparable, "no completed request on a side"
		return bc
	}
	for _, spec := range loadSpecs {
		bs, cs := spec.sample(b), spec.sample(cur)
		if bs.n == 0 || cs.n == 0 {
			continue
		}
		m := judge(spec, bs, cs, pooled{}, pooled{}, tol, floorS)
		m.TestID = b.TestID
		if !comparable {
			m.Reason = "runs not comparable; would be " + string(m.Verdict) + ": " + m.Reason
			m.Verdict = VerdictNotComparable
		}
		bc.Metrics = append(bc.Metrics, m)
	}
	if !comparable {
		bc.Verdict, bc.Reason = VerdictNotComparable, "the runs are not comparable"
		return bc
	}
	var worse, better []string
	for _, m := range bc.Metrics {
		switch m.Verdict {
		case VerdictRegressed:
			worse = append(worse, m.Metric)
		case VerdictImproved:
			better = append(better, m.Metric)
		}
	}
	switch {
	case len(worse) > 0:
		bc.Verdict, bc.Reason = VerdictRegressed, "worse: "+strings.Join(worse, ", ")
		if len(better) > 0 {
			bc.Reason += "; better: " + strings.Join(better, ", ")
		}
	case len(better) > 0:
		bc.Verdict, bc.Reason = VerdictImproved, "better: "+strings.Join(better, ", ")
	default:
		bc.Verdict, bc.Reason = VerdictUnchanged, "no figure changed beyond the tolerance"
	}
	return bc
}
