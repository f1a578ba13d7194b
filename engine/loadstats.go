package engine

import (
	"fmt"
	"slices"
	"time"

	"github.com/typhonbench/typhon/internal/stats"
	"github.com/typhonbench/typhon/schema"
)

// ClientCPUSaturated is the client's CPU share (of every core, percent) from
// which a level says the client itself may have been the bottleneck.
const ClientCPUSaturated = 90

// ClientLagSaturated is the schedule lag p99 from which a rate level says the
// client could not keep its schedule.
const ClientLagSaturated = 50 * time.Millisecond

// inWindow reports whether q counts: sent (rate levels: due) inside the window.
func (lr *levelRun) inWindow(q *loadReq) bool {
	at := q.start
	if !q.sched.IsZero() {
		at = q.sched
	}
	return !at.IsZero() && !at.Before(lr.winStart) && at.Before(lr.winEnd)
}

// summarize fills lvl's counts, throughputs and latencies from the requests
// counted in the window (see schema.LoadLevel for the rule).
func (lr *levelRun) summarize(lvl *schema.LoadLevel, slo SLO) {
	lr.mu.Lock()
	reqs := lr.reqs
	lr.mu.Unlock()
	slices.SortFunc(reqs, func(a, b loadReq) int { return a.start.Compare(b.start) })
	var ttft, tpot, e2e, itl, perUser []float64
	var outTok, promptTok, good, sent int
	cols := &schema.LoadRequests{}
	for i := range reqs {
		q := &reqs[i]
		if q.ok {
			lvl.AllOutputTokens += q.out
		}
		if !lr.inWindow(q) {
			continue
		}
		if !q.start.IsZero() && !q.start.Before(lr.winStart) && q.start.Before(lr.winEnd) {
			sent++
		}
		switch {
		case q.kind == schema.ErrKindCancelled:
			lvl.Incomplete++
			continue
		case !q.ok:
			lvl.Failed++
			if lvl.ErrorKinds == nil {
				lvl.ErrorKinds = map[string]int{}
				lvl.FirstError = q.err
			}
			lvl.ErrorKinds[q.kind]++
		default:
			lvl.Completed++
			d := q.end.Sub(q.start).Seconds()
			e2e, ttft = append(e2e, d), append(ttft, q.ttft)
			itl = append(itl, q.gaps...)
			outTok, promptTok = outTok+q.out, promptTok+q.prompt
			tp := q.tpot()
			if q.out > 1 {
				tpot = append(tpot, tp)
			}
			if d > 0 {
				perUser = append(perUser, float64(q.out)/d)
			}
			if slo.meets(q.ttft, tp, d) {
				good++
			}
		}
		cols.StartS = append(cols.StartS, round(q.start.Sub(lr.winStart).Seconds(), 6))
		cols.TTFTS = append(cols.TTFTS, round(q.ttft, 6))
		cols.E2ES = append(cols.E2ES, round(q.end.Sub(q.start).Seconds(), 6))
		cols.OutputTokens = append(cols.OutputTokens, q.out)
		cols.PromptTokens = append(cols.PromptTokens, q.prompt)
		cols.OK = append(cols.OK, q.ok)
	}
	if slo.Set() && lvl.Completed > 0 {
		v := round(float64(good)/float64(lvl.Completed), 4)
		lvl.SLOMet = &v
	}
	w, served := lvl.WindowS, lvl.Completed
	if lvl.Shape == schema.LoadRate {
		lvl.AchievedRate = round(float64(sent)/w, 4)
		// Past saturation an open loop builds a backlog: what the server
		// served is what completed inside the window, whenever it was due.
		served, outTok, promptTok, good = lr.completedInWindow(reqs, slo)
	}
	if lvl.Shape == schema.LoadUsers {
		lvl.WindowShort = lr.windowShort(reqs, w)
	}
	lvl.TokenWarnings = lr.tokenWarnings(reqs)
	lvl.RequestThroughput = round(float64(served)/w, 4)
	lvl.OutputTPS = round(float64(outTok)/w, 3)
	lvl.TotalTPS = round(float64(outTok+promptTok)/w, 3)
	lvl.Goodput = round(float64(good)/w, 4)
	lvl.TPSPerUser = round(stats.Mean(perUser), 3)
	lvl.Latency = schema.LoadLatency{TTFTS: dist(ttft), ITLS: dist(itl), TPOTS: dist(tpot), E2ES: dist(e2e)}
	lvl.Requests = cols
	lr.series = map[string][]float64{"ttft_s": ttft, "itl_s": itl, "tpot_s": tpot, "e2e_s": e2e}
	lvl.HDR = hdrLatencies(lr.series)
}

// WindowDrainShare is the share of the window past which the time the counted
// requests of a users level ran on after the window closed marks it short.
const WindowDrainShare = 0.1

// windowShort says why a users level's throughputs are unreliable, or "":
// they count the requests sent in the window and divide by it, which holds
// when the window is long against a request. When the counted requests ran on
// after it closed for more than WindowDrainShare of it, the window held few
// request starts (or, without a ramp-up, the users' first sends at once): the
// figures can be off by about (window + that time) / window either way.
func (lr *levelRun) windowShort(reqs []loadReq, w float64) string {
	var last time.Time
	for i := range reqs {
		if q := &reqs[i]; q.ok && lr.inWindow(q) && q.end.After(last) {
			last = q.end
		}
	}
	drain := last.Sub(lr.winEnd).Seconds()
	if w <= 0 || drain <= WindowDrainShare*w {
		return ""
	}
	return fmt.Sprintf("the window (%.3g s) was short against the requests: the last counted one ended %.3g s after it closed, so the throughputs (per window) can be off by a factor of about %.1f; use a window of at least 10 times e2e and a ramp-up of at least one e2e", w, drain, (w+drain)/w)
}

// tpot is (e2e - ttft) / (output tokens - 1), 0 with fewer than two tokens.
func (q *loadReq) tpot() float64 {
	if q.out < 2 {
		return 0
	}
	return (q.end.Sub(q.start).Seconds() - q.ttft) / float64(q.out-1)
}

// completedInWindow counts the requests of any due time that completed inside
// the window: how many, their output and prompt tokens, and how many met slo.
func (lr *levelRun) completedInWindow(reqs []loadReq, slo SLO) (n, out, prompt, good int) {
	for i := range reqs {
		q := &reqs[i]
		if !q.ok || q.end.Before(lr.winStart) || !q.end.Before(lr.winEnd) {
			continue
		}
		n, out, prompt = n+1, out+q.out, prompt+q.prompt
		if slo.meets(q.ttft, q.tpot(), q.end.Sub(q.start).Seconds()) {
			good++
		}
	}
	return n, out, prompt, good
}

// fillBenchmark sets the Benchmark's classic fields from its level, so that
// summaries and comparisons that read them see the load level too.
func (lr *levelRun) fillBenchmark(b *schema.Benchmark) {
	l := b.LoadLevel
	b.NRuns = l.Completed + l.Failed + l.Incomplete
	b.SuccessfulRuns = l.Completed
	b.AvgTTFTS = round(l.Latency.TTFTS.Mean, 6)
	b.AvgElapsedS = round(l.Latency.E2ES.Mean, 6)
	if t := l.Latency.TPOTS.Mean; t > 0 {
		b.AvgTPS = round(1/t, 3)
	}
	// A level of users is the sustained concurrency; readers of concurrency
	// tests (findings, charts) see it as one.
	b.Concurrency, b.AggregateTPS = l.Users, l.OutputTPS
	if l.Completed > 0 {
		b.Stats = &schema.Stats{
			TTFTP50S: l.Latency.TTFTS.P50, TTFTP90S: l.Latency.TTFTS.P90, TTFTP99S: l.Latency.TTFTS.P99,
			ITLP50MS: round(l.Latency.ITLS.P50*1000, 3), ITLP90MS: round(l.Latency.ITLS.P90*1000, 3),
			ITLP99MS: round(l.Latency.ITLS.P99*1000, 3),
		}
	}
	b.Notes = append(b.Notes, fmt.Sprintf("window %.1f s after a ramp-up of %.1f s: %d completed, %d failed; %.2f requests/s, %.1f output tokens/s",
		l.WindowS, l.RampUpS, l.Completed, l.Failed, l.RequestThroughput, l.OutputTPS))
}

// dist summarises xs (seconds) as mean, std, p50, p90, p95, p99 and n.
func dist(xs []float64) schema.Dist {
	if len(xs) == 0 {
		return schema.Dist{}
	}
	return schema.Dist{
		Mean: round(stats.Mean(xs), 6), Std: round(stats.Stdev(xs), 6),
		P50: round(stats.Percentile(xs, 50), 6), P90: round(stats.Percentile(xs, 90), 6),
		P95: round(stats.Percentile(xs, 95), 6), P99: round(stats.Percentile(xs, 99), 6),
		N: len(xs),
	}
}

// clientLoad is what the level cost the client; cpu is the process CPU time over
// wall, on every core.
func clientLoad(cpu, wall time.Duration, lag *schema.Dist) *schema.ClientLoad {
	if cpu < 0 || wall <= 0 {
		return nil
	}
	c := &schema.ClientLoad{CPUPct: round(100*cpu.Seconds()/wall.Seconds()/float64(numCPU()), 2)}
	switch {
	case c.CPUPct >= ClientCPUSaturated:
		c.Saturated = true
		c.Reason = fmt.Sprintf("Typhon's CPU was %.0f%% busy: it may have delayed what it measured", c.CPUPct)
	case lag != nil && lag.P99 >= ClientLagSaturated.Seconds():
		c.Saturated = true
		c.Reason = fmt.Sprintf("sends ran late: schedule lag p99 %.1f ms (the in-flight cap or the client's CPU)", lag.P99*1000)
	}
	return c
}
