package engine

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/typhonbench/typhon/schema"
)

// LoadWorker makes a sweep one share of a load that several worker processes
// (e.g. the pods of a Kubernetes Indexed Job) generate together. Worker Index of
// Count runs, at each level, its share of the users (the users divided by Count,
// the first users%Count workers one more) or of the rate (the rate divided by
// Count: Poisson arrivals split evenly add up to Poisson arrivals at the whole
// rate). Level i starts at StartAt + i*LevelEvery on every worker, so that the
// workers' windows coincide; the levels must be given (LoadOptions.Users or
// Rates) and the stop rule is off, so that every worker runs the same levels.
type LoadWorker struct {
	// Run names the distributed run; every worker of it is given the same name.
	// "" means one derived from StartAt (DefaultWorkerRun).
	Run          string
	Index, Count int
	// StartAt is the shared clock: when the first level starts. The zero time
	// starts at once (one worker only, or workers already in step).
	StartAt time.Time
	// LevelEvery is the time from one level's start to the next; 0 means the
	// ramp-up plus the window plus the grace (LoadOptions.Grace), the longest a
	// level can last.
	LevelEvery time.Duration
}

// ParseWorker reads "INDEX/COUNT" (e.g. "0/3").
func ParseWorker(s string) (index, count int, err error) {
	a, b, ok := strings.Cut(strings.TrimSpace(s), "/")
	index, err1 := strconv.Atoi(a)
	count, err2 := strconv.Atoi(b)
	if !ok || err1 != nil || err2 != nil || count < 1 || count > schema.MaxWorkers || index < 0 || index >= count {
		return 0, 0, fmt.Errorf("%w: worker %q: want INDEX/COUNT with 0 <= INDEX < COUNT <= %d, e.g. 0/3", ErrInvalidLoad, s, schema.MaxWorkers)
	}
	return index, count, nil
}

// validate reports a worker that cannot take its share of o's levels.
func (w *LoadWorker) validate(o LoadOptions) error {
	if w == nil {
		return nil
	}
	switch {
	case w.Count < 1 || w.Count > schema.MaxWorkers || w.Index < 0 || w.Index >= w.Count:
		return fmt.Errorf("%w: worker %d/%d: want 0 <= index < count <= %d", ErrInvalidLoad, w.Index, w.Count, schema.MaxWorkers)
	case w.LevelEvery < 0:
		return fmt.Errorf("%w: worker level interval %s is negative", ErrInvalidLoad, w.LevelEvery)
	case o.shape() == schema.LoadUsers && len(o.Users) == 0, o.shape() == schema.LoadRate && len(o.Rates) == 0:
		return fmt.Errorf("%w: a worker needs its levels given (users or rates): the workers cannot agree on a stop", ErrInvalidLoad)
	}
	if err := w.checkClock(o); err != nil {
		return err
	}
	for _, u := range o.Users {
		if u < w.Count {
			return fmt.Errorf("%w: %d users cannot be shared by %d workers", ErrInvalidLoad, u, w.Count)
		}
	}
	if w.LevelEvery > 0 && w.LevelEvery < o.rampUp()+o.window() {
		return fmt.Errorf("%w: worker level interval %s is shorter than a level (%s)", ErrInvalidLoad, w.LevelEvery, o.rampUp()+o.window())
	}
	return nil
}

// MaxStartAhead bounds how far ahead a shared clock (LoadWorker.StartAt) may
// be: a worker told to start in a year (a mistyped date) would wait that long.
const MaxStartAhead = 24 * time.Hour

// checkClock reports a shared clock too far ahead (MaxStartAhead) or too far
// past: a worker that starts after the first level's ramp-up and a tenth of
// its window are over on the shared clock would measure a window that the
// others' barely overlap (a pod that started late, a start time already used).
func (w *LoadWorker) checkClock(o LoadOptions) error {
	if w.StartAt.IsZero() {
		return nil
	}
	// time.Until and time.Since saturate instead of overflowing: each is
	// compared only with a positive bound.
	switch until, since := time.Until(w.StartAt), time.Since(w.StartAt); {
	case until > MaxStartAhead:
		return fmt.Errorf("%w: worker start %s is %s ahead: at most %s", ErrInvalidLoad,
			w.StartAt.UTC().Format(time.RFC3339), until.Round(time.Second), MaxStartAhead)
	case since > o.rampUp()+o.window()/10:
		return fmt.Errorf("%w: worker start %s was %s ago: the other workers' first window opened %s after it; give a start time ahead",
			ErrInvalidLoad, w.StartAt.UTC().Format(time.RFC3339), since.Round(time.Second), o.rampUp())
	}
	return nil
}

// Share is this worker's part of a level of users or of a rate.
func (w *LoadWorker) Share(users int, rate float64) (int, float64) {
	if w == nil || w.Count <= 1 {
		return users, rate
	}
	u := users / w.Count
	if w.Index < users%w.Count {
		u++
	}
	return u, rate / float64(w.Count)
}

// LevelStart is when level i is due on the shared clock (zero without one).
func (w *LoadWorker) LevelStart(o LoadOptions, i int) time.Time {
	if w == nil || w.StartAt.IsZero() {
		return time.Time{}
	}
	every := w.LevelEvery
	if every <= 0 {
		every = o.rampUp() + o.window() + o.grace()
	}
	return w.StartAt.Add(time.Duration(i) * every)
}

// waitLevel sleeps until level i is due; false when ctx ended first.
func (w *LoadWorker) waitLevel(ctx context.Context, o LoadOptions, i int) bool {
	at := w.LevelStart(o, i)
	if at.IsZero() {
		return ctx.Err() == nil
	}
	return sleepCtx(ctx, time.Until(at))
}

// DefaultWorkerRun names a distributed run after its shared clock:
// "fleet-20260102T150405Z"; "fleet" without one.
func DefaultWorkerRun(startAt time.Time) string {
	if startAt.IsZero() {
		return "fleet"
	}
	return "fleet-" + startAt.UTC().Format("20060102T150405Z")
}

// RunName is w.Run, or the name DefaultWorkerRun gives.
func (w *LoadWorker) RunName() string {
	if w.Run != "" {
		return w.Run
	}
	return DefaultWorkerRun(w.StartAt)
}
