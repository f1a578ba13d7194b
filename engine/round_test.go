package engine

import (
	"math"
	"testing"
)

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
