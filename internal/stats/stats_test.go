package stats

import (
	"math"
	"testing"
)

func TestPercentile(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		xs   []float64
		p    float64
		want float64
	}{
		{"empty", nil, 50, 0},
		{"one", []float64{3}, 99, 3},
		{"median odd", []float64{5, 1, 3}, 50, 3},
		{"median even", []float64{4, 1, 3, 2}, 50, 2.5},
		{"p0 is min", []float64{4, 1, 3}, 0, 1},
		{"p100 is max", []float64{4, 1, 3}, 100, 4},
		{"p90 interpolates", []float64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, 90, 9.1},
		{"p99 of 100", seq(100), 99, 99.01},
		{"clamped above", []float64{1, 2}, 150, 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := Percentile(tc.xs, tc.p); math.Abs(got-tc.want) > 1e-9 {
				t.Errorf("Percentile(%v, %v) = %v, want %v", tc.xs, tc.p, got, tc.want)
			}
		})
	}
}

func TestPercentileDoesNotSort(t *testing.T) {
	t.Parallel()
	xs := []float64{3, 1, 2}
	_ = Percentile(xs, 50)
	if xs[0] != 3 || xs[1] != 1 || xs[2] != 2 {
		t.Errorf("Percentile modified its input: %v", xs)
	}
}

func TestMeanStdev(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		xs        []float64
		mean, std float64
	}{
		{"empty", nil, 0, 0},
		{"one", []float64{4}, 4, 0},
		{"two", []float64{2, 4}, 3, math.Sqrt2},
		{"eight", []float64{2, 4, 4, 4, 5, 5, 7, 9}, 5, 2.138089935299395},
	}
	for _, tc := range tests {
		if got := Mean(tc.xs); math.Abs(got-tc.mean) > 1e-12 {
			t.Errorf("%s: Mean = %v, want %v", tc.name, got, tc.mean)
		}
		if got := Stdev(tc.xs); math.Abs(got-tc.std) > 1e-12 {
			t.Errorf("%s: Stdev = %v, want %v", tc.name, got, tc.std)
		}
	}
}

func seq(n int) []float64 {
	xs := make([]float64, n)
	for i := range xs {
		xs[i] = float64(i + 1)
	}
	return xs
}

func TestTCritical(t *testing.T) {
	t.Parallel()
	// Student's t table, two-sided 95%.
	for df, want := range map[float64]float64{1: 12.706, 4: 2.776, 10: 2.228, 30: 2.042, 1000: 1.962} {
		if got := TCritical(0.95, df); math.Abs(got-want) > 0.001 {
			t.Errorf("TCritical(0.95, %v) = %.4f, want %.3f", df, got, want)
		}
	}
	if got := TwoSidedP(2.228, 10); math.Abs(got-0.05) > 0.0005 {
		t.Errorf("TwoSidedP(2.228, 10) = %v, want 0.05", got)
	}
}

func TestCI95(t *testing.T) {
	t.Parallel()
	lo, hi, ok := CI95([]float64{9, 10, 11})
	// mean 10, sd 1, n 3: 10 ± 4.303/sqrt(3)
	if h := 4.3027 / math.Sqrt(3); !ok || math.Abs(lo-(10-h)) > 1e-3 || math.Abs(hi-(10+h)) > 1e-3 {
		t.Errorf("CI95 = %v, %v, %v; want 10 ± %.4f", lo, hi, ok, h)
	}
	if _, _, ok := CI95([]float64{1}); ok {
		t.Error("CI95 of one value is ok")
	}
}

func TestWelch(t *testing.T) {
	t.Parallel()
	// Two samples: a = 1..5 (mean 3, sd 1.5811), b = 3..7 (mean 5); equal spread.
	tt, df, p := Welch(3, 1.5811388, 5, 5, 1.5811388, 5)
	if math.Abs(tt-2) > 1e-6 || math.Abs(df-8) > 1e-6 || math.Abs(p-0.0805) > 0.001 {
		t.Errorf("Welch = t %v, df %v, p %v; want 2, 8, 0.0805", tt, df, p)
	}
	if _, _, p := Welch(3, 0, 4, 3, 0, 4); p != 1 {
		t.Errorf("identical runs: p = %v, want 1", p)
	}
	if tt, _, p := Welch(3, 0, 4, 4, 0, 4); p != 0 || !math.IsInf(tt, 1) {
		t.Errorf("constant runs that differ: t %v p %v, want +Inf and 0", tt, p)
	}
}

func TestFisherExact(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name           string
		x1, n1, x2, n2 int
		want           float64
	}{
		{"one extra failure in ten", 0, 10, 1, 10, 1},
		{"tea tasting", 3, 4, 1, 4, 0.4857},
		{"all against none", 0, 10, 10, 10, 1.0825e-5},
		{"same", 2, 10, 2, 10, 1},
	}
	for _, tc := range tests {
		if got := FisherExact(tc.x1, tc.n1, tc.x2, tc.n2); math.Abs(got-tc.want) > 1e-4*max(1, tc.want*10) {
			t.Errorf("%s: FisherExact = %.6g, want %.6g", tc.name, got, tc.want)
		}
	}
}

func TestHolm(t *testing.T) {
	t.Parallel()
	ps := []float64{0.01, 0.04, 0.03, 0.005, math.NaN()}
	got := Holm(ps, 0.05)
	// Sorted: 0.005 (<= .05/4), 0.01 (<= .05/3), 0.03 (> .05/2): stop.
	want := []bool{true, false, false, true, false}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("Holm(%v)[%d] = %v, want %v", ps, i, got[i], want[i])
		}
	}
	adj := HolmAdjusted(ps)
	for i, w := range []float64{0.03, 0.06, 0.06, 0.02} {
		if math.Abs(adj[i]-w) > 1e-12 {
			t.Errorf("HolmAdjusted[%d] = %v, want %v", i, adj[i], w)
		}
	}
}

func TestPercentileOK(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		p    float64
		n    int
		want bool
	}{{50, 2, true}, {50, 1, false}, {90, 9, false}, {90, 10, true}, {99, 99, false}, {99, 100, true}} {
		if _, ok := PercentileOK(seq(tc.n), tc.p); ok != tc.want {
			t.Errorf("PercentileOK(n %d, p%v) = %v, want %v", tc.n, tc.p, ok, tc.want)
		}
	}
}
