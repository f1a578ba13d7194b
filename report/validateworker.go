package report

import (
	"fmt"
	"math"

	"github.com/typhonbench/typhon/schema"
)

// validateWorker checks the worker part of a record that holds levels load
// levels: a run name that can name the merged record and is not the worker's
// own run id (the merged record is saved under it), an index within the count,
// and each level the worker's share of the level's whole load, measured in the
// window its load level says.
func validateWorker(res *schema.Result, levels int) error {
	w := res.Worker
	if w == nil {
		return nil
	}
	switch {
	case !ValidRunID(w.Run):
		return fmt.Errorf("worker run name %q cannot name a record", cutID(w.Run))
	case w.Run == res.RunID:
		return fmt.Errorf("worker record %q carries its run's name: the merged record is saved under it", w.Run)
	case w.Count < 1 || w.Count > schema.MaxWorkers || w.Index < 0 || w.Index >= w.Count:
		return fmt.Errorf("worker %d/%d: want 0 <= index < count <= %d", w.Index, w.Count, schema.MaxWorkers)
	case len(w.Levels) != levels:
		return fmt.Errorf("worker lists %d levels, the record holds %d", len(w.Levels), levels)
	}
	for i, wl := range w.Levels {
		if err := validateWorkerLevel(w, wl, loadLevel(res, i)); err != nil {
			return fmt.Errorf("worker level %d (%s): %w", i+1, wl.TestID, err)
		}
	}
	return nil
}

// validateWorkerLevel checks one level of worker w against its load level b.
func validateWorkerLevel(w *schema.Worker, wl schema.WorkerLevel, b *schema.Benchmark) error {
	l := b.LoadLevel
	lat := l.Latency
	switch {
	case lat.TTFTS.N != l.Completed || lat.E2ES.N != l.Completed || lat.TPOTS.N > l.Completed || lat.ITLS.N > l.AllOutputTokens:
		// A worker's latencies are those of its completed requests; a
		// merged level's cover more than its common window's.
		return fmt.Errorf("latencies of %d, %d, %d and %d samples for %d completed requests of %d tokens",
			lat.TTFTS.N, lat.E2ES.N, lat.TPOTS.N, lat.ITLS.N, l.Completed, l.AllOutputTokens)
	case wl.TestID != b.TestID:
		return fmt.Errorf("the record's level there is %s", b.TestID)
	case wl.Users != l.Users || !near(wl.Rate, l.Rate, 6):
		return fmt.Errorf("%d users, %g requests/s: the level ran %d, %g", wl.Users, wl.Rate, l.Users, l.Rate)
	case wl.TotalUsers < 0 || wl.TotalRate < 0 || math.IsInf(wl.StartLagS, 0):
		return fmt.Errorf("a negative whole load (%d users, %g requests/s)", wl.TotalUsers, wl.TotalRate)
	case wl.WindowEnd.Before(wl.WindowStart):
		return fmt.Errorf("a window that ends (%s) before it starts (%s)", wl.WindowEnd, wl.WindowStart)
	case !l.WindowStart.IsZero() && !wl.WindowStart.Equal(l.WindowStart):
		return fmt.Errorf("window start %s: the level's is %s", wl.WindowStart, l.WindowStart)
	case !near(wl.WindowEnd.Sub(wl.WindowStart).Seconds(), l.WindowS, 6):
		return fmt.Errorf("a window of %g s: the level's is %g s", wl.WindowEnd.Sub(wl.WindowStart).Seconds(), l.WindowS)
	}
	if wl.TotalUsers > 0 {
		share := wl.TotalUsers / w.Count
		if w.Index < wl.TotalUsers%w.Count {
			share++
		}
		if wl.Users != share {
			return fmt.Errorf("%d users: worker %d of %d takes %d of %d", wl.Users, w.Index, w.Count, share, wl.TotalUsers)
		}
	}
	if wl.TotalRate > 0 && !near(wl.Rate, wl.TotalRate/float64(w.Count), 6) {
		return fmt.Errorf("%g requests/s: worker %d of %d takes %g of %g", wl.Rate, w.Index, w.Count, wl.TotalRate/float64(w.Count), wl.TotalRate)
	}
	return nil
}
