package engine

import (
	"errors"
	"testing"
	"time"
)

func TestParseWorker(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		in         string
		idx, count int
		ok         bool
	}{
		{"0/3", 0, 3, true}, {" 2/3 ", 2, 3, true}, {"0/1", 0, 1, true},
		{"3/3", 0, 0, false}, {"-1/3", 0, 0, false}, {"1/0", 0, 0, false}, {"1", 0, 0, false}, {"a/b", 0, 0, false}, {"", 0, 0, false},
	} {
		i, n, err := ParseWorker(tt.in)
		if (err == nil) != tt.ok || i != tt.idx || n != tt.count {
			t.Errorf("ParseWorker(%q) = %d, %d, %v; want %d, %d, ok %v", tt.in, i, n, err, tt.idx, tt.count, tt.ok)
		}
		if err != nil && !errors.Is(err, ErrInvalidLoad) {
			t.Errorf("ParseWorker(%q): %v does not wrap ErrInvalidLoad", tt.in, err)
		}
	}
}

// TestWorkerShare: the workers' shares add up to the level, and differ by at
// most one user.
func TestWorkerShare(t *testing.T) {
	t.Parallel()
	for _, users := range []int{3, 12, 13, 100} {
		for _, count := range []int{1, 2, 3} {
			sum, lo, hi := 0, users, 0
			rate := 0.0
			for i := range count {
				u, r := (&LoadWorker{Index: i, Count: count}).Share(users, 7.5)
				sum, lo, hi, rate = sum+u, min(lo, u), max(hi, u), rate+r
			}
			if sum != users || hi-lo > 1 || rate < 7.5-1e-9 || rate > 7.5+1e-9 {
				t.Errorf("%d users, rate 7.5 over %d workers: shares sum to %d users (%d to %d), rate %v", users, count, sum, lo, hi, rate)
			}
		}
	}
}

func TestWorkerValidateAndClock(t *testing.T) {
	t.Parallel()
	start := time.Date(2026, 1, 2, 15, 4, 5, 0, time.UTC)
	w := &LoadWorker{Index: 1, Count: 3, StartAt: start}
	o := LoadOptions{Users: []int{12, 24}, Window: 10 * time.Second, RampUp: 2 * time.Second, Worker: w}
	if err := o.Validate(); err != nil {
		t.Fatal(err)
	}
	if got, want := w.LevelStart(o, 1), start.Add(12*time.Second+DefaultGrace); !got.Equal(want) {
		t.Errorf("level 1 starts %s, want %s", got, want)
	}
	if w.RunName() != "fleet-20260102T150405Z" {
		t.Errorf("run name %q", w.RunName())
	}
	for name, o := range map[string]LoadOptions{
		"no levels":       {Worker: w},
		"too few users":   {Users: []int{2}, Worker: w},
		"bad index":       {Users: []int{12}, Worker: &LoadWorker{Index: 3, Count: 3}},
		"slot too short":  {Users: []int{12}, Window: 10 * time.Second, Worker: &LoadWorker{Count: 1, LevelEvery: 5 * time.Second}},
		"rates not given": {Shape: "rate", Worker: w},
	} {
		if err := o.Validate(); !errors.Is(err, ErrInvalidLoad) {
			t.Errorf("%s: %v, want ErrInvalidLoad", name, err)
		}
	}
}
