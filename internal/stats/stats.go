// Package stats holds the statistics Typhon uses everywhere: mean, median,
// standard deviation, percentiles, a 95% confidence interval of the mean,
// Welch's t-test, an exact test of two proportions and Holm's step-down control
// of the family-wise error. The engine summarises runs with it and the report
// package judges comparisons with it, so a figure means the same in both.
package stats

import (
	"math"
	"slices"

	"gonum.org/v1/gonum/stat/distuv"
)

// Percentile returns the p-th percentile (0..100) of xs by linear interpolation
// between closest ranks (the "type 7" estimate of R and NumPy). xs need not be
// sorted; it is not modified. An empty xs gives 0.
func Percentile(xs []float64, p float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	p = min(max(p, 0), 100)
	h := p / 100 * float64(len(s)-1)
	lo := int(math.Floor(h))
	if lo >= len(s)-1 {
		return s[len(s)-1]
	}
	return s[lo] + (h-float64(lo))*(s[lo+1]-s[lo])
}

// MinNForPercentile is the smallest sample for which the p-th percentile is
// reported: enough values that at least one lies beyond it, so that p99 is not
// the maximum of two runs (p50 needs 2, p90 10, p99 100).
func MinNForPercentile(p float64) int {
	if p <= 50 {
		return 2
	}
	return int(math.Ceil(100/(100-min(p, 99.9)) - 1e-9))
}

// PercentileOK returns the p-th percentile of xs and whether xs is large enough
// to report it (MinNForPercentile).
func PercentileOK(xs []float64, p float64) (float64, bool) {
	if len(xs) < MinNForPercentile(p) {
		return 0, false
	}
	return Percentile(xs, p), true
}

// Median is Percentile(xs, 50).
func Median(xs []float64) float64 { return Percentile(xs, 50) }

// Mean returns the arithmetic mean of xs (0 when empty).
func Mean(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	sum := 0.0
	for _, x := range xs {
		sum += x
	}
	return sum / float64(len(xs))
}

// Stdev returns the sample standard deviation of xs (0 with fewer than two).
func Stdev(xs []float64) float64 {
	if len(xs) < 2 {
		return 0
	}
	m := Mean(xs)
	ss := 0.0
	for _, x := range xs {
		ss += (x - m) * (x - m)
	}
	return math.Sqrt(ss / float64(len(xs)-1))
}

// TCritical is the two-sided critical value of Student's t at confidence level
// conf (0.95) and df degrees of freedom (+Inf when df < 1 or not a number).
func TCritical(conf, df float64) float64 {
	if math.IsNaN(df) || df <= 0 {
		return math.Inf(1)
	}
	return distuv.StudentsT{Mu: 0, Sigma: 1, Nu: df}.Quantile(1 - (1-conf)/2)
}

// TwoSidedP is the two-sided p-value of a t statistic at df degrees of freedom.
// A t of ±Inf gives 0, NaN (no difference, no spread) gives 1.
func TwoSidedP(t, df float64) float64 {
	switch {
	case math.IsNaN(t):
		return 1
	case math.IsInf(t, 0):
		return 0
	case math.IsNaN(df) || df <= 0:
		return 1
	}
	return 2 * distuv.StudentsT{Mu: 0, Sigma: 1, Nu: df}.Survival(math.Abs(t))
}

// CI95 is the 95% confidence interval of the mean of xs (Student's t), and
// false with fewer than two values.
func CI95(xs []float64) (lo, hi float64, ok bool) {
	n := len(xs)
	if n < 2 {
		return 0, 0, false
	}
	m := Mean(xs)
	h := TCritical(0.95, float64(n-1)) * Stdev(xs) / math.Sqrt(float64(n))
	return m - h, m + h, true
}
