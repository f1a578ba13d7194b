package report

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"time"

	"github.com/typhonbench/typhon/schema"
)

// workerLevel is one worker's part of a level being merged.
type workerLevel struct {
	index int
	w     schema.WorkerLevel
	b     *schema.Benchmark
}

// windowCount is what a worker's request columns hold inside the common window.
type windowCount struct {
	completed, failed, sent, out, total int
}

// mergeLevel merges level i of the workers that ran it (see Merge).
func mergeLevel(recs []*schema.Result, i int) (schema.Benchmark, error) {
	var parts []workerLevel
	for _, r := range recs {
		b := loadLevel(r, i)
		if b == nil || i >= len(r.Worker.Levels) {
			continue
		}
		parts = append(parts, workerLevel{index: r.Worker.Index, w: r.Worker.Levels[i], b: b})
	}
	if len(parts) == 0 {
		return schema.Benchmark{}, fmt.Errorf("%w: no worker has it", ErrMerge)
	}
	ws, we := parts[0].w.WindowStart, parts[0].w.WindowEnd
	for _, p := range parts[1:] {
		if p.b.Shape != parts[0].b.Shape {
			return schema.Benchmark{}, fmt.Errorf("%w: worker %d ran a %s level, worker %d a %s level",
				ErrMerge, parts[0].index, parts[0].b.Shape, p.index, p.b.Shape)
		}
		ws, we = laterOf(ws, p.w.WindowStart), earlierOf(we, p.w.WindowEnd)
	}
	if !we.After(ws) {
		return schema.Benchmark{}, fmt.Errorf("%w: the workers' windows do not overlap (not started on a shared clock?)", ErrMerge)
	}
	lvl, err := mergeFigures(parts, ws, we)
	if err != nil {
		return schema.Benchmark{}, err
	}
	return levelBenchmark(parts, lvl, ws, we, len(recs)), nil
}

func laterOf(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

func earlierOf(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

// mergeFigures sums the workers' load and counts over the common window
// [ws, we) and merges their latency distributions.
func mergeFigures(parts []workerLevel, ws, we time.Time) (*schema.LoadLevel, error) {
	first := parts[0].b.LoadLevel
	win := we.Sub(ws).Seconds()
	lvl := &schema.LoadLevel{Shape: first.Shape, Burstiness: first.Burstiness, RampUpS: first.RampUpS,
		WindowS: roundTo(win, 6), InputTokens: first.InputTokens, OutputTokens: first.OutputTokens,
		Requests: &schema.LoadRequests{}}
	var sum windowCount
	var good, perUser, sloMet float64
	var rateSum [3]float64 // request, output and total throughput of the workers
	for _, p := range parts {
		l := p.b.LoadLevel
		lvl.Users += l.Users
		lvl.Rate += l.Rate
		lvl.MaxInFlight += l.MaxInFlight
		lvl.Incomplete += l.Incomplete
		lvl.AllOutputTokens += l.AllOutputTokens
		c := countWindow(l, p.w.WindowStart.Sub(ws).Seconds(), win, lvl.Requests)
		sum = windowCount{sum.completed + c.completed, sum.failed + c.failed, sum.sent + c.sent, sum.out + c.out, sum.total + c.total}
		rateSum = [3]float64{rateSum[0] + l.RequestThroughput, rateSum[1] + l.OutputTPS, rateSum[2] + l.TotalTPS}
		good += l.Goodput
		perUser += l.TPSPerUser * float64(l.Completed)
		if l.SLOMet != nil {
			sloMet += *l.SLOMet * float64(l.Completed)
		}
		for k, v := range l.ErrorKinds {
			if lvl.ErrorKinds == nil {
				lvl.ErrorKinds = map[string]int{}
			}
			lvl.ErrorKinds[k] += v
		}
		if lvl.FirstError == "" && l.FirstError != "" {
			lvl.FirstError = fmt.Sprintf("worker %d: %s", p.index, l.FirstError)
		}
		lvl.Client = worstClient(lvl.Client, l.Client, p.index)
	}
	lvl.Rate = roundTo(lvl.Rate, 6)
	lvl.Completed, lvl.Failed = sum.completed, sum.failed
	lvl.RequestThroughput = roundTo(float64(sum.completed)/win, 4)
	lvl.OutputTPS = roundTo(float64(sum.out)/win, 3)
	lvl.TotalTPS = roundTo(float64(sum.total)/win, 3)
	lvl.Goodput = roundTo(good, 4)
	if lvl.Shape == schema.LoadRate {
		lvl.AchievedRate = roundTo(float64(sum.sent)/win, 4)
		// A rate level's throughputs count what completed inside the window,
		// whenever it was due, which the columns (requests due in the window)
		// do not hold: they add up as the workers measured them.
		lvl.RequestThroughput, lvl.OutputTPS, lvl.TotalTPS = roundTo(rateSum[0], 4), roundTo(rateSum[1], 3), roundTo(rateSum[2], 3)
	}
	if n := workerCompleted(parts); n > 0 {
		lvl.TPSPerUser = roundTo(perUser/float64(n), 3)
		if first.SLOMet != nil {
			v := roundTo(sloMet/float64(n), 4)
			lvl.SLOMet = &v
		}
	}
	lvl.Server = first.Server // every worker sampled the same server
	if err := mergeLatency(parts, lvl); err != nil {
		return nil, err
	}
	return lvl, nil
}

// countWindow counts a worker's requests sent inside the common window (the
// worker's window opened off seconds after the common one) and appends them to
// cols with their start on the common window's clock. A record without request
// columns counts whole.
func countWindow(l *schema.LoadLevel, off, win float64, cols *schema.LoadRequests) windowCount {
	q := l.Requests
	if q == nil {
		return windowCount{completed: l.Completed, failed: l.Failed, sent: int(l.AchievedRate * l.WindowS),
			out: int(l.OutputTPS*l.WindowS + 0.5), total: int(l.TotalTPS*l.WindowS + 0.5)}
	}
	var c windowCount
	for k := range q.StartS {
		t := q.StartS[k] + off
		if t < 0 || t >= win || k >= len(q.OK) || k >= len(q.OutputTokens) || k >= len(q.PromptTokens) {
			continue
		}
		c.sent++
		if q.OK[k] {
			c.completed++
			c.out += q.OutputTokens[k]
			c.total += q.OutputTokens[k] + q.PromptTokens[k]
		} else {
			c.failed++
		}
		cols.StartS = append(cols.StartS, roundTo(t, 6))
		cols.TTFTS = append(cols.TTFTS, colAt(q.TTFTS, k))
		cols.E2ES = append(cols.E2ES, colAt(q.E2ES, k))
		cols.OutputTokens = append(cols.OutputTokens, q.OutputTokens[k])
		cols.PromptTokens = append(cols.PromptTokens, q.PromptTokens[k])
		cols.OK = append(cols.OK, q.OK[k])
	}
	return c
}

func colAt(xs []float64, k int) float64 {
	if k < len(xs) {
		return xs[k]
	}
	return 0
}

func workerCompleted(parts []workerLevel) int {
	n := 0
	for _, p := range parts {
		n += p.b.Completed
	}
	return n
}

// worstClient keeps the busiest client of the workers, saying which one.
func worstClient(cur, c *schema.ClientLoad, index int) *schema.ClientLoad {
	if c == nil || (cur != nil && (cur.Saturated || c.CPUPct <= cur.CPUPct) && !(c.Saturated && !cur.Saturated)) {
		return cur
	}
	v := *c
	if v.Reason != "" {
		v.Reason = fmt.Sprintf("worker %d: %s", index, v.Reason)
	}
	return &v
}

// mergeLatency merges the four latency series of the workers (see mergeDist);
// the schedule lag, kept without a histogram, gets its mean, std and n exactly
// and the workers' highest percentiles.
func mergeLatency(parts []workerLevel, lvl *schema.LoadLevel) error {
	series := []struct {
		name string
		get  func(*schema.LoadLatency) *schema.Dist
	}{
		{"ttft_s", func(l *schema.LoadLatency) *schema.Dist { return &l.TTFTS }},
		{"itl_s", func(l *schema.LoadLatency) *schema.Dist { return &l.ITLS }},
		{"tpot_s", func(l *schema.LoadLatency) *schema.Dist { return &l.TPOTS }},
		{"e2e_s", func(l *schema.LoadLatency) *schema.Dist { return &l.E2ES }},
	}
	for _, s := range series {
		var ds []schema.Dist
		var enc []string
		for _, p := range parts {
			ds = append(ds, *s.get(&p.b.Latency))
			if e, ok := p.b.HDR[s.name]; ok {
				enc = append(enc, e)
			}
		}
		d, e, err := mergeDist(ds, enc)
		if err != nil {
			return fmt.Errorf("%s: %w", s.name, err)
		}
		*s.get(&lvl.Latency) = d
		if e != "" {
			if lvl.HDR == nil {
				lvl.HDR = map[string]string{}
			}
			lvl.HDR[s.name] = e
		}
	}
	var lags []schema.Dist
	for _, p := range parts {
		if p.b.ScheduleLagS != nil {
			lags = append(lags, *p.b.ScheduleLagS)
		}
	}
	if len(lags) > 0 {
		d := combineDist(lags)
		for _, l := range lags {
			d.P50, d.P90, d.P95, d.P99 = max(d.P50, l.P50), max(d.P90, l.P90), max(d.P95, l.P95), max(d.P99, l.P99)
		}
		lvl.ScheduleLagS = &d
	}
	return nil
}

// levelBenchmark wraps a merged level in its Benchmark, with the classic fields
// summaries and comparisons read (as the engine fills them).
func levelBenchmark(parts []workerLevel, l *schema.LoadLevel, ws, we time.Time, workers int) schema.Benchmark {
	first := parts[0].b
	b := schema.Benchmark{TestID: fleetTestID(l), Name: first.Name, Category: schema.CategoryLoad,
		CtxSize: first.CtxSize, MaxTokens: first.MaxTokens, PromptTokensTarget: first.PromptTokensTarget,
		Runs: []schema.RunSample{}, StartedAt: first.StartedAt, FinishedAt: first.FinishedAt, LoadLevel: l,
		GPUStats: first.GPUStats}
	if l.Shape == schema.LoadRate {
		b.Name = fmt.Sprintf("Load — %g requests/s", l.Rate)
	} else {
		b.Name = fmt.Sprintf("Load — %d users", l.Users)
	}
	var errs []string
	for _, p := range parts {
		if p.b.StartedAt.Before(b.StartedAt) {
			b.StartedAt = p.b.StartedAt
		}
		if p.b.FinishedAt.After(b.FinishedAt) {
			b.FinishedAt = p.b.FinishedAt
		}
		if p.b.Error != "" {
			errs = append(errs, fmt.Sprintf("worker %d: %s", p.index, p.b.Error))
		}
	}
	if len(errs) > 0 {
		b.Error = fmt.Sprint(errs)
	}
	b.NRuns = l.Completed + l.Failed + l.Incomplete
	b.SuccessfulRuns = l.Completed
	b.AvgTTFTS, b.AvgElapsedS, b.AggregateTPS = l.Latency.TTFTS.Mean, l.Latency.E2ES.Mean, l.OutputTPS
	if l.Shape != schema.LoadRate {
		b.Concurrency = l.Users // as the engine fills a level: charts and findings read it
	}
	if t := l.Latency.TPOTS.Mean; t > 0 {
		b.AvgTPS = roundTo(1/t, 3)
	}
	if l.Completed > 0 {
		b.Stats = &schema.Stats{TTFTP50S: l.Latency.TTFTS.P50, TTFTP90S: l.Latency.TTFTS.P90, TTFTP99S: l.Latency.TTFTS.P99,
			ITLP50MS: roundTo(l.Latency.ITLS.P50*1000, 3), ITLP90MS: roundTo(l.Latency.ITLS.P90*1000, 3),
			ITLP99MS: roundTo(l.Latency.ITLS.P99*1000, 3)}
	}
	kinds := slices.Sorted(maps.Keys(l.ErrorKinds))
	b.Notes = append(b.Notes, fmt.Sprintf("merged from %d of %d workers over their common window %s to %s (%.3f s): %d completed, %d failed %v; %.2f requests/s, %.1f output tokens/s",
		len(parts), workers, ws.UTC().Format(time.RFC3339Nano), we.UTC().Format(time.RFC3339Nano), l.WindowS,
		l.Completed, l.Failed, kinds, l.RequestThroughput, l.OutputTPS))
	return b
}

// fleetTestID names a merged level as the engine names a level: load_users_12,
// load_rate_3.
func fleetTestID(l *schema.LoadLevel) string {
	if l.Shape == schema.LoadRate {
		return "load_rate_" + strconv.FormatFloat(l.Rate, 'f', -1, 64)
	}
	return "load_users_" + strconv.Itoa(l.Users)
}
