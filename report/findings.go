package report

import (
	"fmt"
	"slices"
	"sort"

	"github.com/typhonbench/typhon/schema"
)

// Finding severities, from the least to the most urgent.
const (
	SeverityInfo    = "info"    // a fact worth knowing
	SeverityWarning = "warning" // something limits the server or the measurement
	SeverityProblem = "problem" // tests failed
)

// Finding rules (Finding.Rule). Each is computed from the record alone.
const (
	RuleContextSpeed     = "context_speed"      // decode speed from a short prompt to the largest context
	RuleDecodeSlowdown   = "decode_slowdown"    // decode speed fell by more than a third at the largest context
	RulePrefillCollapse  = "prefill_collapse"   // prefill speed fell below half its best past some size
	RuleWallBelowContext = "wall_below_context" // the memory wall is below the configured context
	RuleWallClose        = "wall_close"         // the memory wall is close above the configured context
	RuleWallAtLimit      = "wall_at_limit"      // the server refused prompts beyond its context, not for memory
	RuleWallMemory       = "wall_memory"        // memory ran out well above the configured context
	RuleWallNone         = "wall_none"          // no wall within the search's bound
	RuleWallUnknown      = "wall_unknown"       // the search ended without a cause to name (5xx, time bound, server gone)
	RuleVRAMHeadroom     = "vram_headroom"      // peak VRAM against the card's memory
	RuleThermal          = "thermal"            // peak temperature, power and throttle reasons
	RuleThrottled        = "gpu_throttled"      // the GPU throttled during a stress test and speed fell with it
	RuleDrift            = "drift"              // decode speed over a stress test
	RuleStoppedEarly     = "stopped_early"      // runs ended before max_tokens and were averaged (records before excluded)
	RuleExcluded         = "excluded"           // runs kept out of the averages, one finding per reason
	RuleMoreUsers        = "more_users"         // throughput still grew at the highest concurrency tested
	RuleSaturated        = "saturated"          // throughput stopped growing with more users
	RuleLoadFailures     = "load_failures"      // requests failed at the most users tested
	RuleNoGPU            = "gpu_not_sampled"    // GPU figures are absent and why
	RuleFailed           = "failed"             // runs or tests failed
	RuleSkipped          = "skipped"            // tests did not run
)

// Thresholds of the rules.
const (
	// DecodeSlowdownShare: decode_slowdown fires when the largest context's decode
	// speed is below (1 - share) of the short prompt's.
	DecodeSlowdownShare = 1.0 / 3
	// PrefillCollapseShare: prefill_collapse fires when a size's prefill speed is
	// below this share of the best at a smaller size.
	PrefillCollapseShare = 0.5
	// WallCloseShare: wall_close fires when the memory wall is within this share
	// above the configured context.
	WallCloseShare = 0.25
	// DriftShare: drift is a warning when speed fell by more than this share, and
	// gpu_throttled fires when the GPU throttled and speed fell by more than half of it.
	DriftShare = 0.10
	// VRAMTightShare: vram_headroom is a warning below this share of free memory.
	VRAMTightShare = 0.05
	// MoreUsersGrowth: more_users fires when the aggregate throughput of the highest
	// concurrency grew by more than this share over the level below; saturated
	// fires when it grew by less than SaturatedGrowth.
	MoreUsersGrowth = 0.25
	SaturatedGrowth = 0.10
)

// Finding is one conclusion drawn from a record, with the figure that triggered
// it. Text is one line; identifiers in it are marked with backticks.
type Finding struct {
	Rule     string  `json:"rule"`
	Severity string  `json:"severity"`
	Title    string  `json:"title"`
	Text     string  `json:"text"`
	TestID   string  `json:"test_id,omitempty"`
	Value    float64 `json:"value,omitempty"` // the figure that triggered the rule
	Unit     string  `json:"unit,omitempty"`  // its unit: %, tokens, runs, tok/s
}

// Findings applies the rule set shared by the summary, the dashboard and GET
// /report to a record. The result depends only on res; nil gives none.
func Findings(res *schema.Result) []Finding {
	if res == nil {
		return nil
	}
	var fs []Finding
	for _, rule := range []func(*schema.Result) []Finding{
		contextSpeedFindings, prefillFindings, wallFindings, vramFindings,
		thermalFindings, stressFindings, excludedFindings, stoppedEarlyFindings, loadFindings,
		noGPUFindings, failureFindings,
	} {
		fs = append(fs, rule(res)...)
	}
	return capFindings(fs)
}

func finding(rule, sev, title string, value float64, unit, testID, format string, args ...any) Finding {
	return Finding{Rule: rule, Severity: sev, Title: title, Text: clip(oneLine(fmt.Sprintf(format, args...)), maxText),
		TestID: testID, Value: finiteOr0(value), Unit: unit}
}

// contextSpeedFindings: decode speed from the baseline to the largest context
// sweep that produced runs; a warning when it fell by more than a third.
func contextSpeedFindings(r *schema.Result) []Finding {
	base, big := baselineBench(r), largestSweep(r, false)
	if base == nil || big == nil || base.AvgTPS <= 0 || big.AvgTPS <= 0 {
		return nil
	}
	s := fmt.Sprintf("decode speed goes from %.1f tok/s on a short prompt (`%s`) to %.1f tok/s in the %s-token context sweep (`%s`, %s)",
		fig(base.AvgTPS), code(base.TestID), fig(big.AvgTPS), commas(float64(big.CtxSize)), code(big.TestID), pct(big.AvgTPS, base.AvgTPS))
	if base.AvgTTFTS > 0 && big.AvgTTFTS > 0 {
		s += fmt.Sprintf("; time to first token from %.3f s to %.3f s", fig(base.AvgTTFTS), fig(big.AvgTTFTS))
	}
	change := 100 * (big.AvgTPS - base.AvgTPS) / base.AvgTPS
	rule, sev := RuleContextSpeed, SeverityInfo
	if big.AvgTPS < (1-DecodeSlowdownShare)*base.AvgTPS {
		rule, sev = RuleDecodeSlowdown, SeverityWarning
		s += "; it fell by more than a third"
	}
	return []Finding{finding(rule, sev, "Speed at long context", change, "%", big.TestID, "%s.", s)}
}

// prefillFindings: the first context sweep size whose prefill speed is below
// half of the best at a smaller size.
func prefillFindings(r *schema.Result) []Finding {
	var sweeps []*schema.Benchmark
	for i := range r.Benchmarks {
		b := &r.Benchmarks[i]
		if b.Category == schema.CategoryContextSweep && b.SuccessfulRuns > 0 && b.AvgPrefillTPS > 0 {
			sweeps = append(sweeps, b)
		}
	}
	sort.SliceStable(sweeps, func(i, j int) bool { return sweeps[i].CtxSize < sweeps[j].CtxSize })
	var best *schema.Benchmark
	for _, b := range sweeps {
		if best != nil && b.CtxSize > best.CtxSize && b.AvgPrefillTPS < PrefillCollapseShare*best.AvgPrefillTPS {
			return []Finding{finding(RulePrefillCollapse, SeverityWarning, "Prefill collapses", float64(b.CtxSize), "tokens", b.TestID,
				"prefill speed falls to %s tok/s at %s tokens (`%s`) from %s tok/s at %s tokens (`%s`, %s): the prompt no longer fits the fast path (memory, batch size or offload).",
				commas(b.AvgPrefillTPS), commas(float64(b.CtxSize)), code(b.TestID), commas(best.AvgPrefillTPS),
				commas(float64(best.CtxSize)), code(best.TestID), pct(b.AvgPrefillTPS, best.AvgPrefillTPS))}
		}
		if best == nil || b.AvgPrefillTPS > best.AvgPrefillTPS {
			best = b
		}
	}
	return nil
}

// failureFindings: failed and skipped tests with their reasons.
func failureFindings(r *schema.Result) []Finding {
	var out []Finding
	for i := range r.Benchmarks {
		b := &r.Benchmarks[i]
		switch BenchmarkStatus(b) {
		case OutcomeFailed, OutcomePartial:
			f, n := failedRuns(b)
			what := fmt.Sprintf("%d of %d runs failed", f, n)
			if f == 0 {
				what = "the test failed"
			}
			out = append(out, finding(RuleFailed, SeverityProblem, "Failed", float64(f), "runs", b.TestID,
				"`%s`: %s: %s.", code(b.TestID), what, listSome(failureReasons(b), maxListed, "other reasons")))
		case OutcomeSkipped:
			out = append(out, finding(RuleSkipped, SeverityInfo, "Skipped", 0, "", b.TestID,
				"`%s`: %s.", code(b.TestID), orText(b.SkipReason, "no reason recorded")))
		}
	}
	return out
}

// noGPUFindings: why GPU figures are absent.
func noGPUFindings(r *schema.Result) []Finding {
	why := r.GPUUnavailable
	if why == "" && r.ProfileSnapshot != nil && len(r.ProfileSnapshot.GPUs) == 0 {
		why = r.ProfileSnapshot.GPUError
	}
	if why != "" {
		return []Finding{finding(RuleNoGPU, SeverityInfo, "No GPU figures", 0, "", "", "%s.", why)}
	}
	var out []Finding
	for _, b := range r.Benchmarks {
		if e := b.GPUStats.Error; e != "" && !b.Skipped {
			out = append(out, finding(RuleNoGPU, SeverityInfo, "GPU figures missing", float64(b.GPUStats.SampleErrors), "rounds", b.TestID,
				"`%s`: %s.", code(b.TestID), e))
		}
	}
	return out
}

// failureReasons is the distinct reasons of a benchmark's failures, the test's
// own error first.
func failureReasons(b *schema.Benchmark) []string {
	var out []string
	seen := map[string]bool{}
	addR := func(s string) {
		if s != "" && !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	addR(b.Error)
	for _, r := range b.Runs {
		if !r.Success {
			addR(runError(r))
		}
	}
	if len(out) == 0 {
		out = append(out, "no reason recorded")
	}
	return out
}

func baselineBench(r *schema.Result) *schema.Benchmark {
	for i := range r.Benchmarks {
		b := &r.Benchmarks[i]
		if b.Category == schema.CategoryBaseline && b.SuccessfulRuns > 0 {
			return b
		}
	}
	return nil
}

// largestSweep is the context sweep of the largest context that had a
// successful run whose prompt the server did not truncate (allOK: in which
// every run succeeded and no prompt was truncated).
func largestSweep(r *schema.Result, allOK bool) *schema.Benchmark {
	var best *schema.Benchmark
	for i := range r.Benchmarks {
		b := &r.Benchmarks[i]
		if b.Category != schema.CategoryContextSweep || b.Skipped || b.SuccessfulRuns <= 0 {
			continue
		}
		if allOK && BenchmarkStatus(b) != OutcomeOK {
			continue
		}
		if tr := excludedCounts(b)[schema.ExcludedTruncated]; tr > 0 && (allOK || tr >= b.SuccessfulRuns) {
			continue // the server cut the prompt: that context did not work
		}
		if best == nil || b.CtxSize > best.CtxSize {
			best = b
		}
	}
	return best
}

// concurrencyLevels is the concurrency tests and the load levels of users with
// an aggregate throughput, by increasing concurrency.
func concurrencyLevels(r *schema.Result) []*schema.Benchmark {
	var out []*schema.Benchmark
	for i := range r.Benchmarks {
		b := withUsers(&r.Benchmarks[i])
		if (b.Category == schema.CategoryConcurrency || b.Category == schema.CategoryLoad) && b.Concurrency > 0 && b.AggregateTPS > 0 {
			out = append(out, b)
		}
	}
	slices.SortStableFunc(out, func(a, b *schema.Benchmark) int { return a.Concurrency - b.Concurrency })
	return out
}

// loadFindings: requests that failed at the most users tested, and whether
// aggregate throughput still grew at the highest number of users with any (the
// server could take more; not said when the most users saw failures) or had
// stopped growing.
func loadFindings(r *schema.Result) []Finding {
	f, failed := loadFailureFinding(r)
	if !failed {
		return loadGrowthFindings(r)
	}
	out := []Finding{f}
	for _, g := range loadGrowthFindings(r) {
		if g.Rule != RuleMoreUsers { // failures at the most users: no room shown
			out = append(out, g)
		}
	}
	return out
}

// loadGrowthFindings: how the throughput of the most users with any compares
// with the level below (or the one-user baseline).
func loadGrowthFindings(r *schema.Result) []Finding {
	lv := userLevels(r)
	prevTPS, prevN, prevID := 0.0, 1, ""
	if base := baselineBench(r); base != nil && base.AvgTPS > 0 {
		prevTPS, prevID = base.AvgTPS, base.TestID
	}
	if len(lv) >= 2 {
		p := lv[len(lv)-2]
		prevTPS, prevN, prevID = p.AggregateTPS, p.Concurrency, p.TestID
	}
	if len(lv) == 0 || prevTPS <= 0 {
		return nil
	}
	top := lv[len(lv)-1]
	growth := (top.AggregateTPS - prevTPS) / prevTPS
	what := fmt.Sprintf("aggregate throughput %.1f tok/s with %d users at once (`%s`) against %.1f tok/s with %d (`%s`, %s)",
		fig(top.AggregateTPS), top.Concurrency, code(top.TestID), fig(prevTPS), prevN, code(prevID), pct(top.AggregateTPS, prevTPS))
	if s := top.Stats; s != nil && s.TTFTP90S > 0 {
		what += fmt.Sprintf("; TTFT p90 %.3f s", fig(s.TTFTP90S))
	}
	switch {
	case growth > MoreUsersGrowth:
		return []Finding{finding(RuleMoreUsers, SeverityInfo, "Room for more users", 100*growth, "%", top.TestID,
			"%s: throughput still grows, the server could take more users.", what)}
	case growth < SaturatedGrowth:
		return []Finding{finding(RuleSaturated, SeverityInfo, "Saturated", 100*growth, "%", top.TestID,
			"%s: throughput stopped growing, more users only wait longer.", what)}
	}
	return nil
}
