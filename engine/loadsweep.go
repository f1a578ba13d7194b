package engine

import (
	"context"
	"fmt"
	"strings"

	"github.com/typhonbench/typhon/schema"
)

// RunLoad runs a load sweep: one warmup request, then one level per number of
// users (or per rate) in ascending order until the stop rule (o.Stop) ends it
// or the levels run out. Each level's Benchmark (category load) goes to level
// (nil is allowed) as soon as it ends; all of them come back with the sweep's
// capacity. A rate sweep without rates starts from the request rate one user
// achieves and doubles it.
//
// When ctx is done RunLoad returns at once with the levels that finished and the
// one cut, the cut one carrying the reason. The error wraps ErrInvalidLoad for
// nonsense options, or says why the sweep could not start; nothing was sent then.
func (e *Engine) RunLoad(ctx context.Context, o LoadOptions, level func(schema.Benchmark)) ([]schema.Benchmark, *schema.Capacity, error) {
	if err := o.Validate(); err != nil {
		return nil, nil, err
	}
	defer e.closeIdle()
	if err := e.Prepare(ctx); err != nil && ctx.Err() != nil {
		return nil, nil, fmt.Errorf("engine: load: %w", ctx.Err())
	}
	pm, err := e.newPromptMaker(ctx, o)
	if err != nil {
		return nil, nil, fmt.Errorf("engine: load: building prompts: %w", err)
	}
	// One request loads the model and allocates its context before any level.
	warm := pm.next()
	warm.maxTokens = min(warm.maxTokens, WarmupMaxTokens)
	if m := e.do(ctx, warm); m.err != nil && (m.kind == schema.ErrKindConnectionRefused || ctx.Err() != nil) {
		return nil, nil, fmt.Errorf("engine: load: warmup: %w", m.err)
	}
	if o.Worker != nil {
		o.Stop.Off = true // every worker runs every level
	}
	shape, rule := o.shape(), o.Stop.withDefaults()
	var out []schema.Benchmark
	stop := sweepStop{by: schema.StopLevels, why: "every level asked for ran"}
	for i := 0; ; i++ {
		users, rate, ok := o.level(i, out)
		if !ok {
			break
		}
		if !o.Worker.waitLevel(ctx, o, i) {
			break
		}
		users, rate = o.Worker.Share(users, rate)
		b := e.runLevel(ctx, o, pm, users, rate)
		out = append(out, b)
		if level != nil {
			level(b)
		}
		if s, done := rule.check(ctx, out, o.SLO); done {
			stop = s
			break
		}
	}
	c := capacity(shape, out, rule, o.SLO, stop)
	return out, &c, nil
}

// level returns the users or rate of level i given the levels done; false when
// the sweep has no more levels.
func (o LoadOptions) level(i int, done []schema.Benchmark) (int, float64, bool) {
	if o.shape() == schema.LoadUsers {
		l := o.userLevels()
		if i >= len(l) {
			return 0, 0, false
		}
		return l[i], 0, true
	}
	if len(o.Rates) > 0 {
		if i >= len(o.Rates) {
			return 0, 0, false
		}
		return 0, o.Rates[i], true
	}
	// Rates from the one-user rate, doubling; the first level is one user.
	switch {
	case i == 0:
		return 1, 0, true
	case i > 12:
		return 0, 0, false
	}
	first := done[0].LoadLevel
	if first == nil || first.RequestThroughput <= 0 {
		return 0, 0, false
	}
	r := first.RequestThroughput * float64(int(1)<<(i-1))
	if r > 100_000 || r*(o.rampUp()+o.window()).Seconds() > MaxLoadArrivals {
		return 0, 0, false // past what a level may schedule (a fast server)
	}
	return 0, float64(int(r*1000+0.5)) / 1000, true
}

type sweepStop struct{ by, why string }

// check applies the rule after the last level of levels.
func (r StopRule) check(ctx context.Context, levels []schema.Benchmark, slo SLO) (sweepStop, bool) {
	n := len(levels)
	last := levels[n-1]
	l := last.LoadLevel
	switch {
	case ctx.Err() != nil:
		return sweepStop{schema.StopCancelled, "the run was cancelled during " + last.TestID}, true
	case l.ErrorKinds[schema.ErrKindConnectionRefused] > 0 ||
		last.Error != "" && l.Completed == 0 && l.Failed == 0 && !strings.HasPrefix(last.Error, levelEmpty):
		return sweepStop{schema.StopServer, last.TestID + ": " + last.Error}, true
	case r.Off:
		return sweepStop{}, false
	}
	if rate := errorRate(l); rate > r.MaxErrorRate {
		why := l.FirstError
		if why == "" {
			why = last.Error
		}
		return sweepStop{schema.StopErrors, fmt.Sprintf("%s: %.0f%% of the window's requests failed or did not finish (limit %.0f%%): %s",
			last.TestID, rate*100, r.MaxErrorRate*100, why)}, true
	}
	if n > r.PlateauLevels {
		a := levels[n-1-r.PlateauLevels].LoadLevel
		gain := l.OutputTPS/a.OutputTPS - 1
		if a.OutputTPS > 0 && gain < r.PlateauGain && l.Latency.TTFTS.P50 > a.Latency.TTFTS.P50 {
			return sweepStop{schema.StopPlateau, fmt.Sprintf("output throughput grew %+.1f%% from %s to %s (under %.0f%%) while TTFT p50 grew from %.3f s to %.3f s",
				gain*100, levels[n-1-r.PlateauLevels].TestID, last.TestID, r.PlateauGain*100, a.Latency.TTFTS.P50, l.Latency.TTFTS.P50)}, true
		}
	}
	if slo.Set() {
		first := -1
		for i, b := range levels {
			if !r.withinSLO(b.LoadLevel) {
				first = i
				break
			}
		}
		if first >= 0 && n-1-first >= r.SLOPatience {
			for _, b := range levels[first:] {
				if r.withinSLO(b.LoadLevel) {
					return sweepStop{}, false
				}
			}
			return sweepStop{schema.StopSLO, fmt.Sprintf("the SLOs (%s) broke at %s and at every level after it", slo, levels[first].TestID)}, true
		}
	}
	return sweepStop{}, false
}

// errorRate is the share of the window's requests that failed or were cut by
// the grace period.
func errorRate(l *schema.LoadLevel) float64 {
	if n := l.Completed + l.Failed + l.Incomplete; n > 0 {
		return float64(l.Failed+l.Incomplete) / float64(n)
	}
	return 0
}

// withinSLO reports whether a level met its SLOs: enough of its completed
// requests met every objective and few enough failed.
func (r StopRule) withinSLO(l *schema.LoadLevel) bool {
	return l.Completed > 0 && l.SLOMet != nil && *l.SLOMet >= r.SLOAttainment && errorRate(l) <= r.MaxErrorRate
}
