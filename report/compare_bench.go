package report

import (
	"fmt"
	"math"
	"strings"

	"github.com/typhonbench/typhon/internal/stats"
	"github.com/typhonbench/typhon/schema"
)

// comparer holds what one comparison needs across benchmarks: the options, the
// runs' pooled noise, and every metric judged so far, for the family-wise
// correction.
type comparer struct {
	tol, floorS    float64
	noiseB, noiseC map[string]pooled
	judged         []*judged
}

// benchmarks compares the benchmarks of the two runs, baseline order first, then
// the current run's new ones; the metrics' verdicts wait for correct.
func (k *comparer) benchmarks(baseline, current *schema.Result) []BenchmarkComparison {
	cur := map[string]*schema.Benchmark{}
	for i := range current.Benchmarks {
		b := &current.Benchmarks[i]
		if _, dup := cur[b.TestID]; !dup {
			cur[b.TestID] = b
		}
	}
	var out []BenchmarkComparison
	seen := map[string]bool{}
	for i := range baseline.Benchmarks {
		b := &baseline.Benchmarks[i]
		if seen[b.TestID] {
			continue
		}
		seen[b.TestID] = true
		out = append(out, k.benchmark(b, cur[b.TestID]))
	}
	for i := range current.Benchmarks {
		b := &current.Benchmarks[i]
		if seen[b.TestID] {
			continue
		}
		seen[b.TestID] = true
		out = append(out, BenchmarkComparison{
			TestID: b.TestID, Name: b.Name, Category: b.Category,
			Verdict: VerdictNotComparable, Reason: "not in the baseline run", Metrics: []MetricChange{},
		})
	}
	return out
}

// benchmark compares one test; its Reason is set when it cannot be compared.
func (k *comparer) benchmark(b, cur *schema.Benchmark) BenchmarkComparison {
	bc := BenchmarkComparison{TestID: b.TestID, Name: b.Name, Category: b.Category, Metrics: []MetricChange{}}
	if why := incomparable(b, cur); why != "" {
		bc.Verdict, bc.Reason = VerdictNotComparable, why
		return bc
	}
	add := func(j *judged) {
		j.m.TestID = b.TestID
		k.judged = append(k.judged, j)
		bc.Metrics = append(bc.Metrics, j.m)
		j.bench, j.index = b.TestID, len(bc.Metrics)-1
	}
	if b.Category == schema.CategoryMemoryWall {
		if why := wallBounds(b.MemoryWall, cur.MemoryWall); why != "" {
			bc.Verdict, bc.Reason = VerdictNotComparable, why
			return bc
		}
		// A search's steps are not replicates: compare what it found.
		if j := k.wall(b, cur); j != nil {
			add(j)
		}
		return bc
	}
	if b.LoadLevel != nil && cur.LoadLevel != nil {
		if why := k.load(b, cur, add); why != "" {
			bc.Verdict, bc.Reason = VerdictNotComparable, why
		}
		return bc
	}
	if j := failures(b, cur); j != nil {
		add(j)
	}
	for _, spec := range metricSpecs {
		bs, cs := spec.sample(b), spec.sample(cur)
		if bs.n == 0 || cs.n == 0 {
			continue
		}
		add(k.judge(spec, bs, cs))
	}
	return bc
}

// incomparable says why two benchmarks cannot be compared, "" when they can.
func incomparable(b, cur *schema.Benchmark) string {
	switch {
	case cur == nil:
		return "not in the current run"
	case b.Skipped && cur.Skipped:
		return "skipped in both runs: " + cur.SkipReason
	case b.Skipped:
		return "skipped in the baseline: " + b.SkipReason
	case cur.Skipped:
		return "skipped in the current run: " + cur.SkipReason
	case b.CtxSize != cur.CtxSize && b.CtxSize != 0 && cur.CtxSize != 0:
		return fmt.Sprintf("different ctx_size: %d in the baseline, %d now", b.CtxSize, cur.CtxSize)
	case b.MaxTokens != cur.MaxTokens && b.MaxTokens != 0 && cur.MaxTokens != 0:
		return fmt.Sprintf("different max_tokens: %d in the baseline, %d now", b.MaxTokens, cur.MaxTokens)
	}
	return ""
}

// failures compares the share of failed timed runs by Fisher's exact test; nil
// when neither side failed.
func failures(b, cur *schema.Benchmark) *judged {
	bf, bn := failedRuns(b)
	cf, cn := failedRuns(cur)
	if bf == 0 && cf == 0 {
		return nil
	}
	br, cr := ratio(bf, bn), ratio(cf, cn)
	j := &judged{m: MetricChange{
		Metric: MetricFailedRuns, Unit: "share of runs",
		Baseline: br, Current: cr, BaselineN: bn, CurrentN: cn, Change: cr - br,
	}, p: stats.FisherExact(bf, bn, cf, cn), hasP: true, family: true}
	if br > 0 {
		j.m.ChangePct = 100 * (cr - br) / br
	}
	j.worse, j.better = cr > br, cr < br
	j.change = fmt.Sprintf("%d of %d runs failed (baseline: %d of %d)", cf, cn, bf, bn)
	if j.worse {
		if why := benchmarkReason(cur); why != "" {
			j.change += ": " + why
		}
	}
	j.noise = fmt.Sprintf("Fisher's exact test p=%.3g", j.p)
	switch {
	case cf == cn && bf < bn:
		j.categorical, j.noise = true, "no run succeeds any more: "+j.noise
	case bf == bn && cf < cn:
		j.categorical, j.noise = true, "runs succeed again: "+j.noise
	}
	j.m.P = j.p
	return j
}

// failedRuns counts the failed timed runs and the runs attempted.
func failedRuns(b *schema.Benchmark) (failed, n int) {
	if len(b.Runs) > 0 {
		for _, r := range b.Runs {
			if !r.Success {
				failed++
			}
		}
		return failed, len(b.Runs)
	}
	n = b.NRuns
	if n < b.SuccessfulRuns {
		n = b.SuccessfulRuns
	}
	if n == 0 && b.Error != "" {
		return 1, 1 // the test failed as a whole
	}
	return n - b.SuccessfulRuns, n
}

func ratio(a, b int) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

// wall compares two memory walls by their wall_tokens, judged on the
// tolerance, and says when the kind of wall changed; nil when either has none.
func (k *comparer) wall(b, cur *schema.Benchmark) *judged {
	bw, cw := b.MemoryWall, cur.MemoryWall
	if bw == nil || cw == nil {
		return nil
	}
	bt, ct := wallTokens(bw), wallTokens(cw)
	if bt <= 0 || ct <= 0 {
		return nil
	}
	spec := metricSpec{name: MetricWallTokens, unit: "tokens", higherIsBetter: true}
	j := k.judge(spec, sample{n: 1, mean: float64(bt), single: true}, sample{n: 1, mean: float64(ct), single: true})
	if bw.WallKind != cw.WallKind {
		j.noise += fmt.Sprintf("; wall_kind %s in the baseline, %s now", orUnknown(bw.WallKind), orUnknown(cw.WallKind))
	} else if cw.WallKind != "" {
		j.noise += "; wall_kind " + cw.WallKind + " on both sides"
	}
	return j
}

// wallBounds says why two walls cannot be compared: one of them is the
// context's limit and the searches ran under different bounds (a server given
// another context), so wall_tokens moved with the setting, not the memory.
func wallBounds(bw, cw *schema.MemoryWall) string {
	if bw == nil || cw == nil || bw.BoundTokens <= 0 || cw.BoundTokens <= 0 || bw.BoundTokens == cw.BoundTokens {
		return ""
	}
	if bw.WallKind != schema.WallContextLimit && cw.WallKind != schema.WallContextLimit {
		return ""
	}
	return fmt.Sprintf("the wall is the context's limit and the searches ran under different bounds (%s tokens in the baseline, %s now): wall_tokens follows the setting, not the memory",
		commas(float64(bw.BoundTokens)), commas(float64(cw.BoundTokens)))
}

// wallTokens is a wall's largest working prompt (wall_tokens, or the older
// last_ok_prompt_tokens).
func wallTokens(w *schema.MemoryWall) int {
	if w.WallTokens > 0 {
		return w.WallTokens
	}
	return w.LastOKPromptTokens
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

// verdicts finishes every benchmark from its judged metrics: a regression that
// is weak is reported but does not make the benchmark regress.
func (k *comparer) verdicts(bcs []BenchmarkComparison, comparable bool) []BenchmarkComparison {
	for _, j := range k.judged {
		for i := range bcs {
			if bcs[i].TestID == j.bench && j.index < len(bcs[i].Metrics) {
				bcs[i].Metrics[j.index] = j.m
			}
		}
	}
	for i := range bcs {
		bc := &bcs[i]
		if bc.Reason != "" && bc.Verdict == VerdictNotComparable {
			continue
		}
		if !comparable {
			for mi := range bc.Metrics {
				m := &bc.Metrics[mi]
				m.Reason = "runs not comparable; would be " + string(m.Verdict) + ": " + m.Reason
				m.Verdict = VerdictNotComparable
			}
			bc.Verdict, bc.Reason = VerdictNotComparable, "the runs are not comparable"
			continue
		}
		benchVerdict(bc)
	}
	return bcs
}

// benchVerdict sets a comparable benchmark's verdict from its metrics.
func benchVerdict(bc *BenchmarkComparison) {
	if len(bc.Metrics) == 0 {
		bc.Verdict, bc.Reason = VerdictNotComparable, "no valid run on either side"
		return
	}
	var worse, better, weak, unsure []string
	for _, m := range bc.Metrics {
		switch {
		case m.Verdict == VerdictInconclusive:
			unsure = append(unsure, m.Metric)
		case m.Verdict == VerdictRegressed && m.Weak:
			weak = append(weak, m.Metric)
		case m.Verdict == VerdictRegressed:
			worse = append(worse, m.Metric)
		case m.Verdict == VerdictImproved:
			better = append(better, m.Metric)
		}
	}
	switch {
	case len(worse) > 0:
		bc.Verdict, bc.Reason = VerdictRegressed, "worse: "+strings.Join(worse, ", ")
		if len(better) > 0 {
			bc.Reason += "; better: " + strings.Join(better, ", ")
		}
	case len(unsure) > 0:
		bc.Verdict, bc.Reason = VerdictInconclusive, "worse beyond the tolerance but within the runs' spread: "+strings.Join(unsure, ", ")
		if len(better) > 0 {
			bc.Reason += "; better: " + strings.Join(better, ", ")
		}
	case len(better) > 0:
		bc.Verdict, bc.Reason = VerdictImproved, "better: "+strings.Join(better, ", ")
	default:
		bc.Verdict, bc.Reason = VerdictUnchanged, "no metric changed beyond noise and tolerance"
	}
	if len(weak) > 0 {
		bc.Reason += "; weak, not counted (one run per side): worse " + strings.Join(weak, ", ")
	}
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }
