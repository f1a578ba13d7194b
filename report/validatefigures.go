package report

import (
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/typhonbench/typhon/schema"
)

// Bounds of a level's figures that no engine run exceeds: a rate level keeps at
// most maxLevelInFlight requests in flight (the engine's cap on
// LoadOptions.MaxInFlight).
const maxLevelInFlight = 1 << 16

// near reports whether a figure rounded to d decimals (the engine rounds its
// figures) equals x, up to a part in a million of x.
func near(fig, x float64, d int) bool {
	return math.Abs(fig-x) <= 0.5*math.Pow10(-d)+1e-6*math.Abs(x)+1e-9
}

// within reports whether x lies in [lo, hi] up to the rounding of d decimals.
func within(x, lo, hi float64, d int) bool {
	tol := 0.5*math.Pow10(-d) + 1e-6*math.Max(math.Abs(lo), math.Abs(hi)) + 1e-9
	return x >= lo-tol && x <= hi+tol
}

// validateClassic checks a benchmark's summary figures against its own timed
// runs: the averages of the valid runs (successful, not excluded) lie between
// the smallest and the largest of those runs' figures, and best_tps is the
// largest decode speed of them.
func validateClassic(b *schema.Benchmark) error {
	for _, x := range []float64{b.AvgTPS, b.BestTPS, b.AvgElapsedS, b.AvgTTFTS, b.AggregateTPS, b.AvgPrefillTPS, b.AvgServerTPS} {
		if x < 0 || math.IsNaN(x) || math.IsInf(x, 0) {
			return fmt.Errorf("a negative or infinite summary figure (%g)", x)
		}
	}
	var tps, ttft, elapsed []float64
	for _, r := range b.Runs {
		if r.TPS < 0 || r.TTFTS < 0 || r.ElapsedS < 0 || r.OutputTokens < 0 || r.PromptTokens < 0 {
			return errors.New("a run with negative figures")
		}
		if !r.Success || r.Excluded != "" {
			continue
		}
		elapsed = append(elapsed, r.ElapsedS)
		if r.TPS > 0 {
			tps = append(tps, r.TPS)
		}
		if r.TTFTS > 0 {
			ttft = append(ttft, r.TTFTS)
		}
	}
	for _, c := range []struct {
		name    string
		fig     float64
		samples []float64
		d       int
	}{{"avg_tps", b.AvgTPS, tps, 3}, {"avg_ttft_s", b.AvgTTFTS, ttft, 6}, {"avg_elapsed_s", b.AvgElapsedS, elapsed, 6}} {
		if err := inSamples(c.name, c.fig, c.samples, c.d); err != nil {
			return err
		}
	}
	if len(tps) > 0 && !within(b.BestTPS, slices.Max(tps)*0.99, slices.Max(tps)*1.01, 3) {
		return fmt.Errorf("best_tps %g: the fastest valid run made %g", b.BestTPS, slices.Max(tps))
	}
	return nil
}

// inSamples checks that fig, an average of samples, lies between their
// extremes (0 without samples).
func inSamples(name string, fig float64, samples []float64, d int) error {
	if len(samples) == 0 {
		if fig != 0 {
			return fmt.Errorf("%s %g without a valid run that measured it", name, fig)
		}
		return nil
	}
	// 1% leeway: records from elsewhere (the earlier tool's, hand-made) round
	// their averages their own way; what is refused is a figure its runs
	// cannot have made.
	lo, hi := slices.Min(samples), slices.Max(samples)
	if !within(fig, lo*0.99, hi*1.01, d) {
		return fmt.Errorf("%s %g: the valid runs measured %g to %g", name, fig, lo, hi)
	}
	return nil
}

// validateLoadFigures checks a load level's figures against its own request
// columns: nothing negative, the counts and (levels of users) the throughputs
// those of the columns, a rate level's throughputs within what its requests
// can have made, latencies ordered, and the classic fields as the engine
// derives them from the level.
func validateLoadFigures(b *schema.Benchmark) error {
	l := b.LoadLevel
	figs := []float64{l.Rate, l.Burstiness, l.RampUpS, l.RequestThroughput, l.OutputTPS, l.TotalTPS, l.Goodput, l.TPSPerUser, l.AchievedRate}
	for _, x := range figs {
		if x < 0 {
			return fmt.Errorf("a negative figure (%g)", x)
		}
	}
	if l.Users < 0 || l.MaxInFlight < 0 || l.MaxInFlight > maxLevelInFlight || l.AllOutputTokens < 0 || l.InputTokens < 0 || l.OutputTokens < 0 {
		return errors.New("negative or impossible users, tokens or requests in flight")
	}
	if err := validateLatency(l); err != nil {
		return err
	}
	if err := validateThroughput(l); err != nil {
		return err
	}
	switch {
	case !near(b.AvgTTFTS, l.Latency.TTFTS.Mean, 6), !near(b.AvgElapsedS, l.Latency.E2ES.Mean, 6):
		return fmt.Errorf("avg_ttft_s %g and avg_elapsed_s %g: the level's latencies say %g and %g",
			b.AvgTTFTS, b.AvgElapsedS, l.Latency.TTFTS.Mean, l.Latency.E2ES.Mean)
	case !near(b.AggregateTPS, l.OutputTPS, 3):
		return fmt.Errorf("aggregate_tps %g: the level's output_tps is %g", b.AggregateTPS, l.OutputTPS)
	case l.Latency.TPOTS.Mean > 0 && math.Abs(b.AvgTPS*l.Latency.TPOTS.Mean-1) > 1e-3+0.0005*l.Latency.TPOTS.Mean:
		return fmt.Errorf("avg_tps %g: the level's mean time per output token is %g s", b.AvgTPS, l.Latency.TPOTS.Mean)
	case l.Latency.TPOTS.Mean == 0 && b.AvgTPS != 0:
		return fmt.Errorf("avg_tps %g without a time per output token", b.AvgTPS)
	}
	return nil
}

// validateLatency checks that each latency series is non-negative with ordered
// percentiles, and that the first-token and end-to-end latencies of a level
// whose columns hold the very requests they summarise lie within theirs.
func validateLatency(l *schema.LoadLevel) error {
	var okTTFT, okE2E []float64
	if q := l.Requests; q != nil {
		for k, ok := range q.OK {
			if q.StartS[k] < 0 || q.TTFTS[k] < 0 || q.E2ES[k] < 0 || q.OutputTokens[k] < 0 || q.PromptTokens[k] < 0 {
				return errors.New("a request with negative figures")
			}
			if ok {
				okTTFT, okE2E = append(okTTFT, q.TTFTS[k]), append(okE2E, q.E2ES[k])
			}
		}
		if len(okTTFT) != l.Completed {
			return fmt.Errorf("%d completed requests in the columns, %d counted", len(okTTFT), l.Completed)
		}
	}
	for _, s := range []struct {
		name string
		d    schema.Dist
		cols []float64
	}{{"ttft_s", l.Latency.TTFTS, okTTFT}, {"itl_s", l.Latency.ITLS, nil}, {"tpot_s", l.Latency.TPOTS, nil}, {"e2e_s", l.Latency.E2ES, okE2E}} {
		d := s.d
		if d.N < 0 || d.Mean < 0 || d.Std < 0 || d.P50 < 0 || d.P50 > d.P90 || d.P90 > d.P95 || d.P95 > d.P99 {
			return fmt.Errorf("latency %s: negative or unordered figures", s.name)
		}
		if len(s.cols) == 0 || d.N != len(s.cols) {
			continue // the figures cover requests beyond the columns (a merged level)
		}
		lo, hi := slices.Min(s.cols), slices.Max(s.cols)
		if !within(d.Mean, lo, hi, 6) || !within(d.P50, lo, hi, 6) || !within(d.P99, lo, hi, 6) {
			return fmt.Errorf("latency %s: mean %g, p50 %g, p99 %g outside its requests' %g to %g", s.name, d.Mean, d.P50, d.P99, lo, hi)
		}
	}
	return nil
}

// validateThroughput checks a level's throughputs against its columns: a level
// of users counts the requests sent in its window, so its throughputs are
// theirs exactly; a rate level counts what completed in the window whenever it
// was due, at most its requests plus those in flight when the window opened.
func validateThroughput(l *schema.LoadLevel) error {
	q := l.Requests
	if q == nil {
		return nil
	}
	var out, total, maxOut int
	for k, ok := range q.OK {
		if ok {
			out, total, maxOut = out+q.OutputTokens[k], total+q.OutputTokens[k]+q.PromptTokens[k], max(maxOut, q.OutputTokens[k])
		}
	}
	w := l.WindowS
	switch {
	case l.AllOutputTokens < out:
		return fmt.Errorf("all_output_tokens %d: the completed requests of the window made %d", l.AllOutputTokens, out)
	case l.Goodput > l.RequestThroughput+1e-4, l.OutputTPS > l.TotalTPS+1e-3:
		return fmt.Errorf("goodput %g above request_throughput %g, or output_tps %g above total_tps %g", l.Goodput, l.RequestThroughput, l.OutputTPS, l.TotalTPS)
	case w <= 0:
		if l.RequestThroughput+l.OutputTPS+l.TotalTPS > 0 {
			return errors.New("throughputs without a window")
		}
		return nil
	}
	if l.Shape == schema.LoadUsers {
		if !near(l.RequestThroughput, float64(l.Completed)/w, 4) || !near(l.OutputTPS, float64(out)/w, 3) || !near(l.TotalTPS, float64(total)/w, 3) {
			return fmt.Errorf("request_throughput %g, output_tps %g, total_tps %g: the window's requests make %g, %g and %g",
				l.RequestThroughput, l.OutputTPS, l.TotalTPS, float64(l.Completed)/w, float64(out)/w, float64(total)/w)
		}
		return nil
	}
	served := float64(l.Completed + l.Failed + l.Incomplete + l.MaxInFlight)
	switch {
	case l.RequestThroughput*w > served+0.5:
		return fmt.Errorf("request_throughput %g: %g requests in a %g s window of %g sent or in flight", l.RequestThroughput, l.RequestThroughput*w, w, served)
	case l.OutputTPS*w > float64(l.AllOutputTokens)+0.5:
		return fmt.Errorf("output_tps %g: %g tokens in the window, %d in the whole level", l.OutputTPS, l.OutputTPS*w, l.AllOutputTokens)
	case l.OutputTPS*w > l.RequestThroughput*w*float64(max(maxOut, l.OutputTokens))*1.5+0.5:
		return fmt.Errorf("output_tps %g: more tokens than %g requests make", l.OutputTPS, l.RequestThroughput*w)
	}
	return nil
}
