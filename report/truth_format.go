package report

import (
	"fmt"
	"sort"
	"strings"

	"github.com/typhonbench/typhon/schema"
)

// The per-test figures of issue 12 as the summary and the dashboard show them:
// the median decode speed with n, the 95% confidence interval of the mean, the
// valid runs and the runs excluded by reason.

// validKnown tells a record that counts valid runs from one made before
// valid_runs (where 0 means unknown).
func validKnown(b *schema.Benchmark) bool {
	return b.ValidRuns > 0 || b.Stats != nil && b.Stats.N > 0 || len(excludedCounts(b)) > 0
}

// validText is the valid runs of a test, "—" when the record does not say.
func validText(b *schema.Benchmark) string {
	if !validKnown(b) {
		return "—"
	}
	return fmt.Sprintf("%d", b.ValidRuns)
}

// statsN is the number of runs behind a test's decode speed figures.
func statsN(b *schema.Benchmark) int {
	switch {
	case b.Stats != nil && b.Stats.N > 0:
		return b.Stats.N
	case validKnown(b):
		return b.ValidRuns
	}
	return b.SuccessfulRuns
}

// medianText is the median decode speed with its n ("82.4 (n=3)"); a record
// without a median gives the mean, marked as such; "—" without either.
func medianText(b *schema.Benchmark, f func(float64) string) string {
	if s := b.Stats; s != nil && s.TPSMedian > 0 && finite(s.TPSMedian) {
		return fmt.Sprintf("%s (n=%d)", f(s.TPSMedian), statsN(b))
	}
	if b.AvgTPS > 0 && finite(b.AvgTPS) && statsN(b) > 0 {
		return fmt.Sprintf("%s (mean, n=%d)", f(b.AvgTPS), statsN(b))
	}
	return "—"
}

// ciText is the 95% confidence interval of the mean decode speed, "—" when the
// record has none (fewer than two valid runs).
func ciText(b *schema.Benchmark, f func(float64) string) string {
	s := b.Stats
	if s == nil || s.TPSCI95High <= 0 || !finite(s.TPSCI95Low) || !finite(s.TPSCI95High) {
		return "—"
	}
	return f(s.TPSCI95Low) + "–" + f(s.TPSCI95High)
}

// excludedCounts is how many timed runs of a test were excluded, by reason.
func excludedCounts(b *schema.Benchmark) map[string]int {
	out := map[string]int{}
	for _, r := range b.Runs {
		if r.Excluded != "" {
			out[r.Excluded]++
		}
	}
	return out
}

// excludedText says which runs of a test were excluded ("excluded: buffered 1,
// stopped_early 2"), "" when none was.
func excludedText(b *schema.Benchmark) string {
	c := excludedCounts(b)
	if len(c) == 0 {
		return ""
	}
	parts := make([]string, 0, len(c))
	for reason, n := range c {
		parts = append(parts, fmt.Sprintf("%s %d", oneLine(reason), n))
	}
	sort.Strings(parts)
	return "excluded: " + strings.Join(parts, ", ")
}

// fmt1 formats a decode speed with one decimal, as the summary's tables do.
func fmt1(v float64) string { return fmt.Sprintf("%.1f", fig(v)) }
