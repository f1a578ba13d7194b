package typhon

import (
	"math"
	"slices"
	"time"

	"github.com/typhonbench/typhon/schema"
)

// markWorker makes res a worker's record when the run is one worker's share of
// a distributed load (Runner.Load.Worker): res.Worker names the run.
func (r *Runner) markWorker(res *Result) {
	w := r.Load.Worker
	if w == nil || res.Worker != nil {
		return
	}
	res.Worker = &schema.Worker{Run: w.RunName(), Index: w.Index, Count: w.Count}
	if !w.StartAt.IsZero() {
		res.Worker.StartAt = w.StartAt.UTC()
	}
}

// workerLevel adds the level b (the i-th of the sweep) to a worker's record:
// its share, the whole level's load, its window and how late it started on the
// shared clock.
func (r *Runner) workerLevel(res *Result, b Benchmark) {
	w, l := r.Load.Worker, b.LoadLevel
	if res.Worker == nil || w == nil || l == nil {
		return
	}
	i := len(res.Worker.Levels)
	wl := schema.WorkerLevel{TestID: b.TestID, Users: l.Users, Rate: l.Rate,
		WindowStart: l.WindowStart, WindowEnd: l.WindowStart.Add(secondsDur(l.WindowS))}
	users := slices.Compact(slices.Sorted(slices.Values(r.Load.Users))) // the engine's order
	if i < len(users) && l.Shape == schema.LoadUsers {
		wl.TotalUsers = users[i]
	}
	if i < len(r.Load.Rates) && l.Shape == schema.LoadRate {
		wl.TotalRate = r.Load.Rates[i]
	}
	if due := w.LevelStart(r.Load, i); !due.IsZero() && !l.WindowStart.IsZero() {
		ramp := secondsDur(l.RampUpS)
		wl.StartLagS = l.WindowStart.Sub(due.Add(ramp)).Seconds()
	}
	res.Worker.Levels = append(res.Worker.Levels, wl)
}

func secondsDur(s float64) time.Duration { return time.Duration(math.Round(s * 1e9)) }
