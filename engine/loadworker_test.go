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
		{"0/0", 0, 0, false}, {"3/2", 0, 0, false}, {"-1/2", 0, 0, false}, {"1/3/4", 0, 0, false}, {"0x1/3", 0, 0, false},
		{"0/4096", 0, 4096, true}, {"0/4097", 0, 0, false}, {"0/9223372036854775807", 0, 0, false},
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
	ahead := *w
	ahead.StartAt = time.Now().Add(time.Minute)
	if err := (LoadOptions{Users: []int{12, 24}, Window: 10 * time.Second, RampUp: 2 * time.Second, Worker: &ahead}).Validate(); err != nil {
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

// TestWorkerClockBounds: a shared clock a year ahead (a mistyped date) would
// make the worker wait a year, one long past would make it measure a window
// the others' do not overlap; both are refused before anything is sent. A
// worker a little late (within the ramp-up) still runs. Before, both ran: the
// first slept until its deadline, the second measured at once.
func TestWorkerClockBounds(t *testing.T) {
	t.Parallel()
	now := time.Now()
	for _, c := range []struct {
		name  string
		start time.Time
		ok    bool
	}{
		{"a minute ahead", now.Add(time.Minute), true},
		{"1 s late, within the ramp-up", now.Add(-time.Second), true},
		{"a year ahead", now.AddDate(1, 0, 0), false},
		{"25 hours ahead", now.Add(25 * time.Hour), false},
		{"an hour past", now.Add(-time.Hour), false},
		{"the ramp-up and a window past", now.Add(-12 * time.Second), false},
		{"the year 1", time.Date(1, 1, 1, 0, 0, 1, 0, time.UTC), false},
	} {
		o := LoadOptions{Users: []int{6}, Window: 10 * time.Second, RampUp: 2 * time.Second,
			Worker: &LoadWorker{Index: 0, Count: 3, StartAt: c.start}}
		err := o.Validate()
		if (err == nil) != c.ok || (err != nil && !errors.Is(err, ErrInvalidLoad)) {
			t.Errorf("%s: %v, want ok %v", c.name, err, c.ok)
		}
	}
}
