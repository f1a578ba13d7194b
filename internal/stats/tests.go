package stats

import (
	"math"
	"slices"
	"sort"
)

// Welch is Welch's unequal-variance t-test of the means of two samples given by
// their mean, sample standard deviation and size (each n >= 2): the statistic
// (b - a over its standard error), the Welch–Satterthwaite degrees of freedom and
// the two-sided p-value. With no spread on either side, equal means give t NaN
// and p 1, different means t ±Inf and p 0.
func Welch(meanA, sdA float64, nA int, meanB, sdB float64, nB int) (t, df, p float64) {
	va, vb := sdA*sdA/float64(nA), sdB*sdB/float64(nB)
	se := math.Sqrt(va + vb)
	diff := meanB - meanA
	if se == 0 || nA < 2 || nB < 2 {
		df = float64(max(nA+nB-2, 1))
		switch {
		case diff == 0:
			return math.NaN(), df, 1
		case se == 0:
			return math.Copysign(math.Inf(1), diff), df, 0
		}
		return diff / se, df, 1
	}
	t = diff / se
	den := 0.0
	if va > 0 {
		den += va * va / float64(nA-1)
	}
	if vb > 0 {
		den += vb * vb / float64(nB-1)
	}
	df = (va + vb) * (va + vb) / den
	return t, df, TwoSidedP(t, df)
}

// FisherExact is the two-sided p-value of Fisher's exact test that two
// proportions, x1 of n1 and x2 of n2, are the same: the probability, with the
// margins fixed, of a table no more likely than the one observed. It is exact
// for the small counts of benchmark runs, where a normal approximation is not.
func FisherExact(x1, n1, x2, n2 int) float64 {
	if n1 <= 0 || n2 <= 0 || x1 < 0 || x2 < 0 || x1 > n1 || x2 > n2 {
		return 1
	}
	k := x1 + x2 // successes in all
	n := n1 + n2
	lo, hi := max(0, k-n2), min(k, n1)
	pObs := hyper(x1, n1, n2, k, n)
	p := 0.0
	for x := lo; x <= hi; x++ {
		if q := hyper(x, n1, n2, k, n); q <= pObs*(1+1e-7) {
			p += q
		}
	}
	return min(p, 1)
}

// hyper is the hypergeometric probability of x of the k marked items in the
// first group of n1 (n = n1 + n2 items in all).
func hyper(x, n1, n2, k, n int) float64 {
	return math.Exp(lchoose(n1, x) + lchoose(n2, k-x) - lchoose(n, k))
}

func lchoose(n, k int) float64 {
	a, _ := math.Lgamma(float64(n + 1))
	b, _ := math.Lgamma(float64(k + 1))
	c, _ := math.Lgamma(float64(n - k + 1))
	return a - b - c
}

// Holm applies Holm's step-down procedure to the p-values ps at family-wise
// error rate alpha: it returns, for each p-value, whether its hypothesis is
// rejected. The chance of rejecting any true hypothesis of the family is at most
// alpha, whatever their dependence. NaN p-values are never rejected.
func Holm(ps []float64, alpha float64) []bool {
	out := make([]bool, len(ps))
	idx := make([]int, 0, len(ps))
	for i, p := range ps {
		if !math.IsNaN(p) {
			idx = append(idx, i)
		}
	}
	sort.SliceStable(idx, func(a, b int) bool { return ps[idx[a]] < ps[idx[b]] })
	m := len(idx)
	for rank, i := range idx {
		if ps[i] > alpha/float64(m-rank) {
			break
		}
		out[i] = true
	}
	return out
}

// HolmAdjusted returns Holm's adjusted p-values (each the smallest family-wise
// level at which its hypothesis would be rejected), in the order of ps.
func HolmAdjusted(ps []float64) []float64 {
	out := slices.Clone(ps)
	idx := make([]int, 0, len(ps))
	for i, p := range ps {
		if !math.IsNaN(p) {
			idx = append(idx, i)
		}
	}
	sort.SliceStable(idx, func(a, b int) bool { return ps[idx[a]] < ps[idx[b]] })
	m := len(idx)
	run := 0.0
	for rank, i := range idx {
		run = max(run, min(1, float64(m-rank)*ps[i]))
		out[i] = run
	}
	return out
}
