package report

import (
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

// load judges a load level against the same level of the baseline (the same
// test_id: users or rate): output throughput, goodput and TTFT p90. It returns
// why the levels cannot be compared, "" when they were.
func (k *comparer) load(b, cur *schema.Benchmark, add func(*judged)) string {
	bl, cl := b.LoadLevel, cur.LoadLevel
	switch {
	case bl.InputTokens != cl.InputTokens || bl.OutputTokens != cl.OutputTokens:
		return "different request lengths"
	case bl.Completed == 0 || cl.Completed == 0:
		return "no completed request on a side"
	}
	for _, spec := range loadSpecs {
		bs, cs := spec.sample(b), spec.sample(cur)
		if bs.n == 0 || cs.n == 0 {
			continue
		}
		add(k.judge(spec, bs, cs))
	}
	return ""
}
