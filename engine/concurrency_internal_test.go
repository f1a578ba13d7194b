package engine

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/typhonbench/typhon/schema"
)

// TestSummarizeRound checks a round's aggregate on fixed timings: the tokens of
// the successful requests over the time from the first one sent to the last one
// finished.
func TestSummarizeRound(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	ms := func(v int) time.Time { return t0.Add(time.Duration(v) * time.Millisecond) }
	type req struct {
		start, end int // ms after t0; start -1: never sent
		ok         bool
		tokens     int
	}
	type figures struct {
		OK, Tokens int
		Wall       time.Duration
		TPS        float64
	}
	tests := []struct {
		name string
		reqs []req
		want figures
	}{
		{"all succeed", []req{{0, 1000, true, 100}, {10, 1500, true, 150}, {20, 1200, true, 50}},
			figures{3, 300, 1500 * time.Millisecond, 200}},
		{"the first sent is not the first listed", []req{{30, 530, true, 60}, {5, 1005, true, 40}},
			figures{2, 100, 1000 * time.Millisecond, 100}},
		{"a failed request counts in the wall, not in the tokens", []req{{0, 1000, true, 100}, {0, 2000, false, 30}, {0, 1000, true, 100}},
			figures{2, 200, 2 * time.Second, 100}},
		{"a request never sent counts in neither", []req{{0, 500, true, 50}, {-1, 0, false, 0}},
			figures{1, 50, 500 * time.Millisecond, 100}},
		{"none succeeded", []req{{0, 500, false, 10}, {0, 800, false, 0}},
			figures{0, 0, 800 * time.Millisecond, 0}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var samples []schema.RunSample
			var itls [][]float64
			var meas []*measurement
			for _, r := range tc.reqs {
				m := &measurement{}
				if r.start >= 0 {
					m.start, m.end = ms(r.start), ms(r.end)
				}
				meas = append(meas, m)
				samples = append(samples, schema.RunSample{Success: r.ok, OutputTokens: r.tokens})
				itls = append(itls, []float64{1})
			}
			r := summarizeRound(samples, itls, meas)
			got := figures{r.ok, r.tokens, r.wall, r.aggregateTPS()}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("round (-want +got):\n%s", diff)
			}
			if len(r.samples) != len(tc.reqs) {
				t.Errorf("%d samples, want all %d kept", len(r.samples), len(tc.reqs))
			}
		})
	}
}

// TestNextExceptDistinct: the requests of a round differ at their first word while
// there are markers enough.
func TestNextExceptDistinct(t *testing.T) {
	t.Parallel()
	var n nonceSource
	prev := ""
	for round := range 50 {
		used := map[string]bool{}
		for i := range len(markerWords) + 1 {
			m, _ := n.nextExcept(used)
			if i < len(markerWords) && len(used) != i+1 {
				t.Fatalf("round %d: marker %q repeats after %d requests", round, m, i)
			}
			if m == prev {
				t.Fatalf("round %d request %d: marker %q twice in a row", round, i, m)
			}
			prev = m
		}
	}
}
