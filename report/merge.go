package report

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/typhonbench/typhon/schema"
)

// ErrMerge: records that cannot be merged into one fleet result (not workers of
// one run, a worker twice, levels that differ).
var ErrMerge = errors.New("records cannot be merged")

// Merge joins the records of the workers of one distributed run (each with
// Result.Worker, the same Worker.Run) into one fleet result of the same schema:
// its run_id is the run's name and Workers lists each worker with what it
// counted and failed per level.
//
// Level i of the result merges level i of every worker that ran it. Its load is
// the sum of the workers' (users, rate). Counts and throughputs are taken over
// the common window (the latest window start to the earliest window end of the
// workers) from each worker's per-request columns and add up; goodput, and the
// throughputs of rate levels, add the workers' figures. Latency percentiles come from the workers' HDR histograms
// merged (never averaged), within HDRPrecision of the union of the raw samples;
// mean, std and n combine exactly. Errors stay per worker in Workers and add up
// in the level's error kinds.
func Merge(recs []*schema.Result) (*schema.Result, error) {
	if err := checkFleet(recs); err != nil {
		return nil, err
	}
	recs = slices.Clone(recs)
	slices.SortFunc(recs, func(a, b *schema.Result) int { return a.Worker.Index - b.Worker.Index })
	out := fleetHeader(recs)
	nLevels := 0
	for _, r := range recs {
		nLevels = max(nLevels, len(r.Worker.Levels))
	}
	for i := range nLevels {
		b, err := mergeLevel(recs, i)
		if err != nil {
			return nil, fmt.Errorf("report: merge level %d: %w", i+1, err)
		}
		out.Benchmarks = append(out.Benchmarks, b)
	}
	out.Capacity = fleetCapacity(recs, out.Benchmarks)
	return out, nil
}

// checkFleet reports records that are not the workers of one run.
func checkFleet(recs []*schema.Result) error {
	if len(recs) == 0 {
		return fmt.Errorf("report: %w: no records", ErrMerge)
	}
	seen := map[int]string{}
	var run string
	for _, r := range recs {
		if r == nil || r.Worker == nil {
			id := ""
			if r != nil {
				id = r.RunID
			}
			return fmt.Errorf("report: %w: record %q is not a worker's (no worker field)", ErrMerge, id)
		}
		w := r.Worker
		switch {
		case run == "":
			run = w.Run
		case w.Run != run:
			return fmt.Errorf("report: %w: record %q belongs to run %q, not %q", ErrMerge, r.RunID, w.Run, run)
		}
		if prev, dup := seen[w.Index]; dup {
			return fmt.Errorf("report: %w: worker %d twice (records %q and %q)", ErrMerge, w.Index, prev, r.RunID)
		}
		seen[w.Index] = r.RunID
		if w.Count != recs[0].Worker.Count {
			return fmt.Errorf("report: %w: workers disagree on their count (%d, %d)", ErrMerge, recs[0].Worker.Count, w.Count)
		}
		if err := checkWorkerRecord(recs[0], r); err != nil {
			return err
		}
	}
	return nil
}

// fleetHeader is the merged result without its levels: the first worker's
// server and model, the span of every worker's run, the worst status.
func fleetHeader(recs []*schema.Result) *schema.Result {
	first := recs[0]
	out := &schema.Result{
		SchemaVersion: schema.Version, RunID: first.Worker.Run, RunAt: first.RunAt, FinishedAt: first.FinishedAt,
		Status: schema.StatusComplete, Mode: first.Mode, Model: first.Model, Server: first.Server,
		Benchmarks: []schema.Benchmark{}, ProfileSnapshot: first.ProfileSnapshot, GPUUnavailable: first.GPUUnavailable,
		TyphonVersion: first.TyphonVersion,
	}
	var errs []string
	have := map[int]bool{}
	for _, r := range recs {
		have[r.Worker.Index] = true
		if r.RunAt.Before(out.RunAt) {
			out.RunAt = r.RunAt
		}
		if r.FinishedAt.After(out.FinishedAt) {
			out.FinishedAt = r.FinishedAt
		}
		if statusRank(r.Status) > statusRank(out.Status) {
			out.Status = r.Status
		}
		if r.Error != "" {
			errs = append(errs, fmt.Sprintf("worker %d: %s", r.Worker.Index, r.Error))
		}
		out.Workers = append(out.Workers, fleetWorker(r))
	}
	if missing := missingWorkers(have, first.Worker.Count); missing != "" {
		errs = append(errs, missing)
	}
	out.Error = strings.Join(errs, "; ")
	if out.Error != "" && out.Status == schema.StatusComplete {
		out.Status = schema.StatusFailed
	}
	return out
}

// statusRank orders statuses from best to worst for the merged status.
func statusRank(s schema.Status) int {
	switch s {
	case schema.StatusComplete:
		return 0
	case schema.StatusRunning:
		return 1
	case schema.StatusCancelled:
		return 2
	case schema.StatusInterrupted:
		return 3
	}
	return 4
}

// fleetWorker is one worker's entry of Result.Workers.
func fleetWorker(r *schema.Result) schema.FleetWorker {
	fw := schema.FleetWorker{Index: r.Worker.Index, RunID: r.RunID, Status: r.Status, Error: r.Error,
		Levels: []schema.FleetWorkerLevel{}}
	for i, wl := range r.Worker.Levels {
		l := schema.FleetWorkerLevel{TestID: wl.TestID, Users: wl.Users, Rate: wl.Rate, StartLagS: wl.StartLagS}
		if b := loadLevel(r, i); b != nil {
			l.Completed, l.Failed, l.OutputTPS = b.Completed, b.Failed, b.OutputTPS
			l.ErrorKinds, l.FirstError, l.Error = b.ErrorKinds, b.FirstError, b.Error
		}
		fw.Levels = append(fw.Levels, l)
	}
	return fw
}

// workerCut reports whether a worker's i-th load level was cut short
// (cancelled, or its server refused connections).
func workerCut(recs []*schema.Result, i int) bool {
	for _, r := range recs {
		if b := loadLevel(r, i); b != nil && schema.LevelCut(b) {
			return true
		}
	}
	return false
}

// loadLevel is the i-th load level of r, nil when it has fewer.
func loadLevel(r *schema.Result, i int) *schema.Benchmark {
	n := 0
	for j := range r.Benchmarks {
		if r.Benchmarks[j].Category != schema.CategoryLoad || r.Benchmarks[j].LoadLevel == nil {
			continue
		}
		if n == i {
			return &r.Benchmarks[j]
		}
		n++
	}
	return nil
}

// fleetCapacity names the merged level with the highest output throughput; why
// the sweep stopped is the first worker's.
func fleetCapacity(recs []*schema.Result, levels []schema.Benchmark) *schema.Capacity {
	if len(levels) == 0 {
		return nil
	}
	c := &schema.Capacity{Shape: levels[0].Shape, StoppedBy: schema.StopLevels, Reason: "every level asked for ran"}
	if fc := recs[0].Capacity; fc != nil {
		c.StoppedBy, c.Reason = fc.StoppedBy, "worker 0: "+fc.Reason
	}
	best := -1
	for i, b := range levels {
		if workerCut(recs, i) {
			continue // part of a window's requests over the whole window
		}
		if best < 0 || b.OutputTPS > levels[best].OutputTPS {
			best = i
		}
	}
	if best < 0 {
		c.Reason += "; every merged level was cut short on some worker: none is named"
		return c
	}
	b := levels[best]
	c.Peak = &schema.CapacityLevel{TestID: b.TestID, Users: b.Users, Rate: b.Rate, OutputTPS: b.OutputTPS,
		RequestThroughput: b.RequestThroughput, Goodput: b.Goodput, TTFTP50S: b.Latency.TTFTS.P50,
		TTFTP90S: b.Latency.TTFTS.P90, TPOTP50S: b.Latency.TPOTS.P50, Why: "the highest output throughput of the merged levels"}
	return c
}
