package report

import (
	"math"
	"slices"

	"github.com/typhonbench/typhon/internal/stats"
	"github.com/typhonbench/typhon/schema"
)

// sample is a metric over the runs (or rounds) of one benchmark.
type sample struct {
	n      int
	mean   float64
	sd     float64 // sample standard deviation; valid when spread
	spread bool    // sd is known (n >= 2 per-run values, or a recorded stdev)
	single bool    // one reading per test by nature (VRAM, energy, wall): judged on tolerance
	ttft   float64 // mean ttft_s of the runs behind the figure, 0 when unknown
}

type metricSpec struct {
	name, unit     string
	higherIsBetter bool
	sample         func(*schema.Benchmark) sample
	// ttftBound: the metric follows the time to first token, whose changes
	// below the timing floor are not judged.
	ttftBound bool
}

var metricSpecs = []metricSpec{
	{MetricTPS, "tok/s", true, func(b *schema.Benchmark) sample {
		s := runSample(b, func(r schema.RunSample) float64 { return r.TPS })
		if s.n == 0 && b.AvgTPS > 0 && finite(b.AvgTPS) {
			s = summarySample(b, b.AvgTPS, 0)
			if b.Stats != nil && s.n >= 2 && finite(b.Stats.TPSStdev) {
				s.sd, s.spread = b.Stats.TPSStdev, true
			}
		}
		return s
	}, false},
	{MetricTTFT, "s", false, func(b *schema.Benchmark) sample {
		s := runSample(b, func(r schema.RunSample) float64 { return r.TTFTS })
		if s.n == 0 && b.AvgTTFTS > 0 && finite(b.AvgTTFTS) {
			s = summarySample(b, b.AvgTTFTS, b.AvgTTFTS)
		}
		return s
	}, true},
	{MetricPrefillTPS, "tok/s", true, func(b *schema.Benchmark) sample {
		s := runSample(b, func(r schema.RunSample) float64 {
			if r.PrefillTPS > 0 {
				return r.PrefillTPS
			}
			if r.PromptTokens > 0 && r.TTFTS > 0 {
				return float64(r.PromptTokens) / r.TTFTS
			}
			return 0
		})
		if s.n == 0 && b.AvgPrefillTPS > 0 && finite(b.AvgPrefillTPS) {
			s = summarySample(b, b.AvgPrefillTPS, b.AvgTTFTS)
		}
		return s
	}, true},
	{MetricAggregateTPS, "tok/s", true, aggregateSample, false},
	{MetricPeakVRAM, "MiB", false, func(b *schema.Benchmark) sample {
		if v := b.GPUStats.PeakVRAMUsedMB; v != nil && *v > 0 && finite(*v) {
			return sample{n: 1, mean: *v, single: true}
		}
		return sample{}
	}, false},
	{MetricEnergyPerToken, "J/token", false, func(b *schema.Benchmark) sample {
		e := b.GPUStats.EnergyJ
		if e == nil || *e <= 0 || !finite(*e) {
			return sample{}
		}
		tokens := 0
		for _, r := range b.Runs {
			tokens += r.OutputTokens
		}
		if tokens <= 0 {
			return sample{}
		}
		return sample{n: 1, mean: *e / float64(tokens), single: true}
	}, false},
}

// summarySample is a figure of a record that kept no runs: its mean over the
// valid (or successful) runs it counted.
func summarySample(b *schema.Benchmark, mean, ttft float64) sample {
	n := b.ValidRuns
	if n == 0 {
		n = b.SuccessfulRuns
	}
	return sample{n: max(n, 1), mean: mean, ttft: ttft}
}

// aggregateSample is a concurrency test's aggregate tokens/s, one value per
// round (the round is the sample, not the request).
func aggregateSample(b *schema.Benchmark) sample {
	if len(b.AggregateTPSRounds) > 0 {
		return fromValues(slices.DeleteFunc(slices.Clone(b.AggregateTPSRounds), func(v float64) bool { return v <= 0 || !finite(v) }), 0)
	}
	if b.AggregateTPS > 0 && finite(b.AggregateTPS) {
		return sample{n: 1, mean: b.AggregateTPS}
	}
	return sample{}
}

// pooled is the relative spread of a metric over the tests of a run: the pooled
// coefficient of variation and its degrees of freedom (0: none known).
type pooled struct {
	cv float64
	df int
}

// runNoise pools, per metric, the relative spread of the tests of a run that
// have one, to judge the tests that have none.
func runNoise(r *schema.Result) map[string]pooled {
	out := map[string]pooled{}
	for _, spec := range metricSpecs {
		var sum float64
		df := 0
		for i := range r.Benchmarks {
			b := &r.Benchmarks[i]
			if b.Skipped || b.Category == schema.CategoryMemoryWall {
				continue
			}
			s := spec.sample(b)
			if s.single || !s.spread || s.n < 2 || s.mean <= 0 {
				continue
			}
			sum += float64(s.n-1) * sq(s.sd/s.mean)
			df += s.n - 1
		}
		if df > 0 {
			out[spec.name] = pooled{cv: math.Sqrt(sum / float64(df)), df: df}
		}
	}
	return out
}

func sq(v float64) float64 { return v * v }

// runSample is the metric over the valid timed runs (successful, not excluded)
// with a positive value. In a concurrency test the requests of a round share the
// server and are not independent: the sample is then each round's mean.
func runSample(b *schema.Benchmark, value func(schema.RunSample) float64) sample {
	var xs, ttfts []float64
	rounds := map[int][2][]float64{}
	var order []int
	for _, r := range b.Runs {
		if !r.Success || r.Excluded != "" {
			continue
		}
		v := value(r)
		if v <= 0 || !finite(v) {
			continue
		}
		if b.Category == schema.CategoryConcurrency && r.Round > 0 {
			rd, ok := rounds[r.Round]
			if !ok {
				order = append(order, r.Round)
			}
			rounds[r.Round] = [2][]float64{append(rd[0], v), append(rd[1], r.TTFTS)}
			continue
		}
		xs, ttfts = append(xs, v), append(ttfts, r.TTFTS)
	}
	for _, k := range order {
		xs, ttfts = append(xs, stats.Mean(rounds[k][0])), append(ttfts, stats.Mean(rounds[k][1]))
	}
	return fromValues(xs, stats.Mean(ttfts))
}

// fromValues is the sample of xs, with the mean ttft behind them.
func fromValues(xs []float64, ttft float64) sample {
	if len(xs) == 0 {
		return sample{}
	}
	s := sample{n: len(xs), mean: stats.Mean(xs), ttft: ttft}
	if len(xs) >= 2 {
		s.sd, s.spread = stats.Stdev(xs), true
		if s.sd <= 1e-9*math.Abs(s.mean) {
			s.sd = 0 // rounding of equal values, not spread
		}
	}
	return s
}
