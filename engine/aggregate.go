package engine

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/typhonbench/typhon/internal/stats"
	"github.com/typhonbench/typhon/schema"
)

// valid reports whether a run counts in the averages: it succeeded and is not
// excluded.
func valid(r schema.RunSample) bool { return r.Success && r.Excluded == "" }

// aggregate fills a Benchmark's averages and statistics from its valid timed
// runs (successful and not excluded); excluded runs are counted in a note.
func aggregate(b *schema.Benchmark, itl []float64) {
	var tps, ttft, elapsed, prefill, server []float64
	b.SuccessfulRuns, b.ValidRuns = 0, 0
	excluded := map[string]int{}
	for _, r := range b.Runs {
		if !r.Success {
			continue
		}
		b.SuccessfulRuns++
		if r.Excluded != "" {
			excluded[r.Excluded]++
			continue
		}
		b.ValidRuns++
		elapsed = append(elapsed, r.ElapsedS)
		tps, ttft = appendPos(tps, r.TPS), appendPos(ttft, r.TTFTS)
		prefill, server = appendPos(prefill, r.PrefillTPS), appendPos(server, r.ServerTPS)
	}
	b.AvgTPS = round(stats.Mean(tps), 3)
	b.BestTPS = 0
	if len(tps) > 0 {
		b.BestTPS = slices.Max(tps)
	}
	b.AvgElapsedS = round(stats.Mean(elapsed), 6)
	b.AvgTTFTS = round(stats.Mean(ttft), 6)
	b.AvgPrefillTPS = round(stats.Mean(prefill), 3)
	b.AvgServerTPS = round(stats.Mean(server), 3)
	b.Stats = nil
	if b.ValidRuns > 0 {
		b.Stats = runStats(tps, ttft, itl, b.ValidRuns)
	}
	if len(excluded) > 0 {
		b.Notes = append(b.Notes, fmt.Sprintf("%d of %d successful runs excluded from the averages (%s): their decode speed cannot be measured honestly",
			b.SuccessfulRuns-b.ValidRuns, b.SuccessfulRuns, countList(excluded)))
	}
	if b.SuccessfulRuns == 0 && len(b.Runs) > 0 && b.Error == "" {
		kinds := map[string]int{}
		for _, r := range b.Runs {
			kinds[r.ErrorKind]++
		}
		b.Error = fmt.Sprintf("every run failed (%s); first: %s", countList(kinds), b.Runs[0].Error)
	}
}

// runStats is the distribution of the valid runs: median and 95% confidence
// interval beside the mean, percentiles only where n is large enough.
func runStats(tps, ttft, itl []float64, n int) *schema.Stats {
	st := &schema.Stats{N: n, ITLN: len(itl)}
	if len(ttft) > 0 {
		st.TTFTMedianS = round(stats.Median(ttft), 6)
		st.TTFTP50S = st.TTFTMedianS
	}
	if v, ok := stats.PercentileOK(ttft, 90); ok {
		st.TTFTP90S = round(v, 6)
	}
	if v, ok := stats.PercentileOK(ttft, 99); ok {
		st.TTFTP99S = round(v, 6)
	}
	if lo, hi, ok := stats.CI95(ttft); ok {
		st.TTFTCI95Low, st.TTFTCI95Hi = round(max(lo, 0), 6), round(hi, 6)
	}
	if len(tps) > 0 {
		st.TPSMin = slices.Min(tps)
		st.TPSMedian = round(stats.Median(tps), 3)
		st.TPSStdev = round(stats.Stdev(tps), 3)
	}
	if lo, hi, ok := stats.CI95(tps); ok {
		st.TPSCI95Low, st.TPSCI95High = round(max(lo, 0), 3), round(hi, 3)
	}
	if v, ok := stats.PercentileOK(itl, 50); ok {
		st.ITLP50MS = round(v, 3)
	}
	if v, ok := stats.PercentileOK(itl, 90); ok {
		st.ITLP90MS = round(v, 3)
	}
	if v, ok := stats.PercentileOK(itl, 99); ok {
		st.ITLP99MS = round(v, 3)
	}
	return st
}

func appendPos(xs []float64, v float64) []float64 {
	if v > 0 {
		return append(xs, v)
	}
	return xs
}

// countList renders counts by name as "2 a, 1 b", names sorted.
func countList(m map[string]int) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%d %s", m[k], k))
	}
	return strings.Join(parts, ", ")
}
