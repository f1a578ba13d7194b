package typhon

import (
	"context"
	"fmt"
	"time"

	"github.com/typhonbench/typhon/engine"
	"github.com/typhonbench/typhon/report"
	"github.com/typhonbench/typhon/schema"
)

// ModeLoad runs one load sweep (Runner.Load) instead of a plan: sustained users
// or a request rate, level by level, until the server saturates. Each level is
// a Benchmark of category load; Result.Capacity sums the sweep up.
const ModeLoad = engine.ModeLoad

// runLoad runs a plan's load sweep: each level is kept and saved as it ends,
// and the sweep's capacity goes into the result. The error is the store's.
func (r *Runner) runLoad(ctx context.Context, eng *engine.Engine, t engine.Test, res *Result,
	store *report.Store, send func(Progress), done, total int) error {
	var saveErr error
	levels, c, err := eng.RunLoad(ctx, *t.Load, func(b schema.Benchmark) {
		res.Benchmarks = append(res.Benchmarks, b)
		if err := store.Save(res); err != nil && saveErr == nil {
			saveErr = err
		}
		send(Progress{Done: done, Total: total, CurrentTest: fmt.Sprintf("%s: %s done", t.Name, b.Name)})
	})
	if err != nil {
		now := time.Now().UTC()
		res.Benchmarks = append(res.Benchmarks, Benchmark{
			TestID: t.ID, Name: t.Name, Category: t.Category, CtxSize: t.CtxSize, MaxTokens: t.MaxTokens,
			PromptTokensTarget: t.PromptTokens, Runs: []RunSample{}, Error: err.Error(), StartedAt: now, FinishedAt: now,
		})
		if serr := store.Save(res); serr != nil {
			return serr
		}
		if cerr := ctx.Err(); cerr != nil {
			return fmt.Errorf("typhon: run cancelled during %s: %w", t.ID, cerr)
		}
		return nil
	}
	r.logger().Info("load sweep", "levels", len(levels), "stopped_by", c.StoppedBy, "reason", c.Reason)
	if c.Shape == schema.LoadRate && res.Capacity != nil {
		res.RateCapacity = c
	} else {
		res.Capacity = c
	}
	if saveErr != nil {
		return saveErr
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("typhon: run cancelled during %s: %w", t.ID, err)
	}
	if err := store.Save(res); err != nil {
		return err
	}
	send(Progress{Done: done + 1, Total: total})
	return nil
}

// countDone counts the plan's tests that finished: a load sweep's levels count
// as one test.
func countDone(res *Result) int {
	n, sweep := 0, false
	for _, b := range res.Benchmarks {
		if b.Category == schema.CategoryLoad {
			if !sweep {
				n++
			}
			sweep = true
			continue
		}
		n++
	}
	return n
}
