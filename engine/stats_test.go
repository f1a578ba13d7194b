package engine

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

func TestRound(t *testing.T) {
	t.Parallel()
	tests := []struct {
		x    float64
		d    int
		want float64
	}{{1.23456, 3, 1.235}, {-1.23456, 2, -1.23}, {math.NaN(), 3, 0}, {math.Inf(1), 3, 0}}
	for _, tc := range tests {
		if got := round(tc.x, tc.d); got != tc.want {
			t.Errorf("round(%v, %d) = %v, want %v", tc.x, tc.d, got, tc.want)
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
