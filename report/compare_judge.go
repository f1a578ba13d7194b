package report

import (
	"fmt"
	"math"

	"github.com/typhonbench/typhon/internal/stats"
)

// judged is one metric of one benchmark, its statistics known, its verdict
// waiting for the family-wise correction.
type judged struct {
	m            MetricChange
	bench        string // test_id
	index        int    // in its benchmark's Metrics
	p            float64
	hasP         bool // p is the metric's test (else the tolerance decides alone)
	family       bool // p joins the family corrected by Holm (not weak)
	beyond       bool // beyond noise (after the correction for the family)
	worse        bool // worse beyond the tolerance
	better       bool // better beyond the tolerance
	categorical  bool // decided whatever the test says (failed_runs: none succeeds now)
	underFloor   bool // a ttft change below the timing floor: unchanged
	tolText      string
	change       string
	noise        string
	higherBetter bool
}

// judge computes a metric's change, its p-value and how its noise is judged.
func (k *comparer) judge(spec metricSpec, b, c sample) *judged {
	j := &judged{higherBetter: spec.higherIsBetter, tolText: fmt.Sprintf("%g%% tolerance", 100*k.tol), p: math.NaN()}
	m := &j.m
	*m = MetricChange{
		Metric: spec.name, Unit: spec.unit, HigherIsBetter: spec.higherIsBetter,
		Baseline: b.mean, Current: c.mean, BaselineN: b.n, CurrentN: c.n, Change: c.mean - b.mean,
	}
	if b.spread {
		m.BaselineStdev = b.sd
	}
	if c.spread {
		m.CurrentStdev = c.sd
	}
	pct := m.Change / b.mean // b.mean > 0: samples keep positive values only
	m.ChangePct = 100 * pct
	j.worse, j.better = pct < -k.tol, pct > k.tol
	if !spec.higherIsBetter {
		j.worse, j.better = pct > k.tol, pct < -k.tol
	}
	dir := "rose"
	if m.Change < 0 {
		dir = "fell"
	}
	j.change = fmt.Sprintf("%s %s %.1f%% (%s → %s %s)", spec.name, dir, math.Abs(m.ChangePct), num(b.mean), num(c.mean), spec.unit)
	if m.Change == 0 {
		j.change = fmt.Sprintf("%s unchanged (%s %s)", spec.name, num(b.mean), spec.unit)
	}
	k.noise(j, spec, b, c)
	if d := math.Abs(c.ttft - b.ttft); spec.ttftBound && k.floorS > 0 && b.ttft > 0 && c.ttft > 0 && d < k.floorS {
		j.underFloor, j.hasP, j.family, m.Weak = true, false, false, false
		j.noise = fmt.Sprintf("time to first token changed by %.2f ms, below the %g ms timing floor", 1000*d, 1000*k.floorS)
		if d == 0 {
			j.noise = "time to first token unchanged"
		}
	}
	if j.hasP {
		m.P = j.p
	}
	return j
}

// noise sets the test of a metric: Welch's t-test when both sides have a spread;
// a weak test borrowing a spread when one side has one run; the tolerance alone
// when there is none.
func (k *comparer) noise(j *judged, spec metricSpec, b, c sample) {
	m := &j.m
	var t, df float64
	switch {
	case b.single || c.single:
		j.noise = "one reading per test, judged on the " + j.tolText
		return
	case b.spread && c.spread:
		t, df, j.p = stats.Welch(b.mean, b.sd, b.n, c.mean, c.sd, c.n)
		j.hasP, j.family = true, true
		j.noise = fmt.Sprintf("Welch t=%s, p=%.3g at df %.1f", tnum(t), j.p, df)
		if b.sd == 0 && c.sd == 0 {
			j.noise = "no spread on either side (identical runs)"
		}
	case b.spread || c.spread:
		known := b
		if c.spread {
			known = c
		}
		m.Weak = true
		if known.sd <= 0 {
			j.noise = "weak: one run on a side and no spread on the other, judged on the " + j.tolText
			return
		}
		df = float64(known.n - 1)
		t = m.Change / (known.sd * math.Sqrt(1/float64(b.n)+1/float64(c.n)))
		j.p, j.hasP = stats.TwoSidedP(t, df), true
		j.noise = fmt.Sprintf("weak: one run on a side, spread borrowed from the other (t=%s, p=%.3g)", tnum(t), j.p)
	case k.noiseB[spec.name].df > 0 || k.noiseC[spec.name].df > 0:
		m.Weak = true
		t, df = k.borrowed(spec.name, b, c, m.Change)
		j.p, j.hasP = stats.TwoSidedP(t, df), true
		j.noise = fmt.Sprintf("weak: no spread of its own, the spread of the run's other tests borrowed (t=%s, p=%.3g)", tnum(t), j.p)
	default:
		m.Weak = true
		j.noise = "weak: no spread on either side (one run per side), judged on the " + j.tolText
		return
	}
	m.T, m.TCritical = finiteOr0(t), math.Round(stats.TCritical(0.95, df)*1000)/1000
	if !finite(m.TCritical) {
		m.TCritical = 0
	}
}

// borrowed is the t statistic and degrees of freedom of a change with one run
// per side, from the relative spread of the same metric over the runs' other
// tests.
func (k *comparer) borrowed(name string, b, c sample, change float64) (t, df float64) {
	nb, nc := k.noiseB[name], k.noiseC[name]
	cvB, cvC, d := nb.cv, nc.cv, min(nb.df, nc.df)
	if nb.df == 0 {
		cvB, d = cvC, nc.df
	}
	if nc.df == 0 {
		cvC, d = cvB, nb.df
	}
	se := math.Sqrt(sq(cvB*b.mean)/float64(b.n) + sq(cvC*c.mean)/float64(c.n))
	switch {
	case se > 0:
		t = change / se
	case change != 0:
		t = math.Copysign(math.Inf(1), change)
	default:
		t = math.NaN()
	}
	return t, float64(d)
}

// correct applies Holm's procedure to the family of metric-test pairs with a
// test and sets every verdict; it returns how, for the report.
func (k *comparer) correct() string {
	var ps []float64
	var idx []int
	for i, j := range k.judged {
		if j.family && j.hasP {
			ps, idx = append(ps, j.p), append(idx, i)
		}
	}
	adj := stats.HolmAdjusted(ps)
	for n, i := range idx {
		j := k.judged[i]
		j.m.PAdjusted = adj[n]
		j.beyond = adj[n] <= FamilyAlpha
		j.noise += fmt.Sprintf(", Holm-adjusted p=%.3g", adj[n])
	}
	for _, j := range k.judged {
		if j.hasP && !j.family {
			j.beyond = j.p <= FamilyAlpha // weak: uncorrected, never fails a comparison
		}
		j.finish()
	}
	return fmt.Sprintf("Holm's step-down correction over %d metric-test pairs with a test (Welch's t-test, Fisher's exact test for failed runs), family-wise error %g%%; a change counts only beyond noise and beyond the tolerance; weak metrics (one run per side) are tested uncorrected and never fail a comparison; one-reading metrics (peak VRAM, energy, memory wall) are judged on the tolerance",
		len(ps), 100*FamilyAlpha)
}

// finish sets the metric's verdict and reason.
func (j *judged) finish() {
	m := &j.m
	m.BeyondNoise = j.beyond
	var verdict string
	switch {
	case j.categorical:
		m.BeyondNoise = true
		m.Verdict, verdict = VerdictImproved, "whatever the test says"
		if j.worse {
			m.Verdict = VerdictRegressed
		}
	case j.worse && j.hasP && !j.beyond && !j.underFloor && j.m.Metric != MetricFailedRuns:
		// A fall beyond the tolerance that the spread could explain: not
		// "unchanged", which the figures cannot support either.
		m.Verdict, verdict = VerdictInconclusive, "beyond the "+j.tolText+" but within the runs' spread: neither shown nor ruled out (more timed runs settle it)"
	case j.underFloor || (j.hasP && !j.beyond):
		m.Verdict, verdict = VerdictUnchanged, "within the runs' spread"
	case j.m.Metric == MetricFailedRuns:
		m.Verdict, verdict = VerdictImproved, "beyond the runs' spread"
		if j.worse {
			m.Verdict = VerdictRegressed
		}
	case j.worse || j.better:
		m.Verdict, verdict = VerdictImproved, "beyond the "+j.tolText
		if j.worse {
			m.Verdict = VerdictRegressed
		}
		if j.hasP {
			verdict += " and the runs' spread"
		}
	default:
		m.Verdict, verdict = VerdictUnchanged, "within the "+j.tolText
	}
	m.Noise = j.noise
	m.Reason = j.change + ", " + verdict + " (" + j.noise + ")"
	if j.m.Metric == MetricFailedRuns && m.Verdict == VerdictUnchanged {
		m.Reason = j.change + ": not beyond chance (" + j.noise + ")"
	}
}

func finiteOr0(v float64) float64 {
	if finite(v) {
		return v
	}
	return 0
}

func tnum(t float64) string {
	switch {
	case math.IsInf(t, 1):
		return "+inf"
	case math.IsInf(t, -1):
		return "-inf"
	case math.IsNaN(t):
		return "0"
	}
	return fmt.Sprintf("%.2f", t)
}

// num formats a figure with a precision that suits its size.
func num(v float64) string {
	a := math.Abs(v)
	switch {
	case a >= 1000:
		return fmt.Sprintf("%.0f", fig(v))
	case a >= 100:
		return fmt.Sprintf("%.1f", v)
	case a >= 1:
		return fmt.Sprintf("%.2f", v)
	case a == 0:
		return "0"
	}
	return fmt.Sprintf("%.3g", v)
}
