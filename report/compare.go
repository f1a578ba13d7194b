package report

import (
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/typhonbench/typhon/schema"
)

// DefaultTolerance is the relative change below which a metric counts as
// unchanged when CompareOptions.Tolerance is 0: 5%.
const DefaultTolerance = 0.05

// Verdict is the outcome of comparing a metric, a benchmark or two runs.
type Verdict string

// Verdicts.
const (
	VerdictRegressed Verdict = "regressed" // worse beyond noise and tolerance
	VerdictImproved  Verdict = "improved"  // better beyond noise and tolerance
	VerdictUnchanged Verdict = "unchanged" // within noise or tolerance
	// VerdictInconclusive: worse beyond the tolerance, but within the runs'
	// spread: the figures can neither show a regression nor rule one out. It
	// does not fail a comparison; more timed runs settle it.
	VerdictInconclusive  Verdict = "inconclusive"
	VerdictNotComparable Verdict = "not comparable" // different setups, or nothing to compare
)

// Metrics compared per benchmark (MetricChange.Metric).
const (
	MetricTPS            = "tps"                // decode tokens/s, higher is better
	MetricTTFT           = "ttft_s"             // time to first token, lower is better
	MetricPrefillTPS     = "prefill_tps"        // prompt tokens/s, higher is better
	MetricPeakVRAM       = "peak_vram_used_mb"  // peak GPU memory of the test, lower is better
	MetricEnergyPerToken = "energy_per_token_j" // GPU energy per output token, lower is better
	MetricFailedRuns     = "failed_runs"        // share of timed runs that failed, lower is better
	MetricAggregateTPS   = "aggregate_tps"      // all users' tokens/s of a concurrency round, higher is better
	MetricWallTokens     = "wall_tokens"        // the memory wall's largest prompt, higher is better
)

// FamilyAlpha is the family-wise error rate of a comparison: the chance that
// any metric of two runs of the same server is judged beyond noise, across all
// the metric-test pairs compared, is at most 5% (Holm's step-down procedure).
const FamilyAlpha = 0.05

// CompareOptions tunes Compare. The zero value compares at DefaultTolerance and
// refuses runs of a different model, server build, GPU or mode.
type CompareOptions struct {
	// Tolerance is the relative change a metric must exceed, beyond noise, to
	// count as regressed or improved: 0.05 is 5%. 0 means DefaultTolerance.
	Tolerance float64 `json:"tolerance"`
	// Allow comparing runs that differ in the model (name or quantisation), the
	// server (kind or version), the hardware (GPU names; the CPU model when
	// neither run has a GPU) or the mode. A difference that is allowed is noted.
	AllowDifferentModel  bool `json:"allow_different_model,omitempty"`
	AllowDifferentServer bool `json:"allow_different_server,omitempty"`
	AllowDifferentGPU    bool `json:"allow_different_gpu,omitempty"`
	AllowDifferentMode   bool `json:"allow_different_mode,omitempty"`
	// TTFTFloor is the smallest change of time to first token that is judged at
	// all (the timing noise of a request); it also guards prefill tokens/s, which
	// follows from it. 0 means DefaultTTFTFloor; negative means no floor.
	TTFTFloor time.Duration `json:"ttft_floor_ns,omitempty"`
}

// DefaultTTFTFloor is the TTFTFloor of zero CompareOptions: a change of time to
// first token below 2 ms is timing noise, whatever the runs' spread says.
const DefaultTTFTFloor = 2 * time.Millisecond

// RunRef identifies one side of a comparison.
type RunRef struct {
	RunID    string    `json:"run_id"`
	RunAt    time.Time `json:"run_at"`
	Mode     string    `json:"mode"`
	Model    string    `json:"model"`
	Server   string    `json:"server"`   // kind and version
	Hardware string    `json:"hardware"` // GPU names, or the CPU without a GPU
}

// MetricChange is one metric of one benchmark, baseline against current.
type MetricChange struct {
	TestID         string  `json:"test_id"`
	Metric         string  `json:"metric"`
	Unit           string  `json:"unit"`
	HigherIsBetter bool    `json:"higher_is_better"`
	Baseline       float64 `json:"baseline"` // mean over the runs
	Current        float64 `json:"current"`
	BaselineStdev  float64 `json:"baseline_stdev,omitempty"` // sample standard deviation of the runs
	CurrentStdev   float64 `json:"current_stdev,omitempty"`
	BaselineN      int     `json:"baseline_n"` // runs (or readings) behind the figure
	CurrentN       int     `json:"current_n"`
	Change         float64 `json:"change"`     // current - baseline, in Unit
	ChangePct      float64 `json:"change_pct"` // 100 * change / baseline
	// BeyondNoise: the change is larger than the runs' spread explains (Welch's
	// t-test at 95%). With no spread to judge by, it is left false and the verdict
	// rests on the tolerance alone.
	BeyondNoise bool `json:"beyond_noise"`
	// Weak: fewer than two runs on a side, so the spread is unknown or borrowed
	// from the other side: repeat the runs before trusting the verdict.
	Weak      bool    `json:"weak,omitempty"`
	T         float64 `json:"t,omitempty"`          // Welch's t statistic
	TCritical float64 `json:"t_critical,omitempty"` // its two-sided 95% critical value
	// P is the two-sided p-value of the change (Welch's t-test; Fisher's exact
	// test for failed_runs), PAdjusted the same after Holm's correction over the
	// comparison's family of metric-test pairs; both absent when the metric is
	// judged on the tolerance alone.
	P         float64 `json:"p,omitempty"`
	PAdjusted float64 `json:"p_adjusted,omitempty"`
	Verdict   Verdict `json:"verdict"`
	// Noise says how the spread was judged (the t-test, or why there was none).
	Noise  string `json:"noise"`
	Reason string `json:"reason"` // the change, the verdict and Noise in a sentence
}

// BenchmarkComparison is one test_id present in either run.
type BenchmarkComparison struct {
	TestID   string         `json:"test_id"`
	Name     string         `json:"name"`
	Category string         `json:"category"`
	Verdict  Verdict        `json:"verdict"`
	Reason   string         `json:"reason"`
	Metrics  []MetricChange `json:"metrics"`
}

// Comparison is the outcome of Compare.
type Comparison struct {
	Baseline  RunRef  `json:"baseline"`
	Current   RunRef  `json:"current"`
	Tolerance float64 `json:"tolerance"`
	// Comparable is false when the runs differ in a way the options do not allow;
	// Reasons says how. Metrics are still computed, with verdict "not comparable".
	Comparable bool     `json:"comparable"`
	Reasons    []string `json:"reasons,omitempty"`
	// Notes are allowed differences and caveats.
	Notes      []string              `json:"notes,omitempty"`
	Verdict    Verdict               `json:"verdict"`
	Benchmarks []BenchmarkComparison `json:"benchmarks"`
	// Method says how noise was controlled across the metrics compared.
	Method string `json:"method,omitempty"`
}

// Regressions returns the metrics that regressed, in benchmark order.
func (c Comparison) Regressions() []MetricChange {
	var out []MetricChange
	for _, b := range c.Benchmarks {
		for _, m := range b.Metrics {
			if m.Verdict == VerdictRegressed {
				out = append(out, m)
			}
		}
	}
	return out
}

// Improvements returns the metrics that improved, in benchmark order.
func (c Comparison) Improvements() []MetricChange {
	var out []MetricChange
	for _, b := range c.Benchmarks {
		for _, m := range b.Metrics {
			if m.Verdict == VerdictImproved {
				out = append(out, m)
			}
		}
	}
	return out
}

// Compare compares the current run with a baseline, benchmark by benchmark
// (matched by test_id) and metric by metric: decode tokens/s, time to first
// token, prefill tokens/s, aggregate tokens/s of concurrency rounds, peak VRAM,
// GPU energy per output token, the share of failed runs, and a memory wall's
// wall_tokens (its steps are not replicates). Only valid runs count: a run
// excluded for an honest reason (schema.RunSample.Excluded) stays out. A
// concurrency test's sample is its rounds, not its requests.
//
// A metric regressed (or improved) when it got worse (better) by more than the
// tolerance and by more than the runs' spread explains: Welch's t-test on the
// per-run samples, its p-value corrected with Holm's step-down procedure over
// every metric-test pair of the comparison (family-wise error FamilyAlpha), so
// that two runs of the same server seldom differ anywhere by chance. Failed runs
// are judged by their rate with Fisher's exact test in the same family; a test
// that no longer has any successful run regressed whatever the test says.
//
// With one run on a side the comparison is weak and the metric says so: the
// spread of the other side is borrowed; with one run per side, the relative
// spread of the same metric over the run's other tests; and when the run has
// none, the verdict rests on the tolerance alone. A weak regression is reported
// but never fails a benchmark or the comparison by itself. Peak VRAM, energy and
// the memory wall are one reading per test and are judged on the tolerance.
//
// A change of time to first token below a floor (DefaultTTFTFloor) is timing
// noise and not judged, nor is the prefill speed that follows from it.
//
// Runs of a different model, server build, GPU or mode are not comparable unless
// opts allow it. Compare never fails: a nil run gives a Comparison whose verdict
// is "not comparable".
func Compare(baseline, current *schema.Result, opts CompareOptions) Comparison {
	tol := opts.Tolerance
	if tol <= 0 || math.IsNaN(tol) || math.IsInf(tol, 0) {
		tol = DefaultTolerance
	}
	floor := opts.TTFTFloor
	if floor == 0 {
		floor = DefaultTTFTFloor
	}
	c := Comparison{Tolerance: tol, Comparable: true}
	if tol >= 1 {
		c.Notes = append(c.Notes, fmt.Sprintf("a tolerance of %g%%: no fall of tokens/s or another higher-is-better metric can exceed it, so none of them can regress", 100*tol))
	}
	if baseline == nil || current == nil {
		return missingSide(c, baseline, current)
	}
	c.Baseline, c.Current = runRef(baseline), runRef(current)
	c.checkRuns(baseline, current, opts)
	cmpr := &comparer{tol: tol, floorS: floor.Seconds(), noiseB: runNoise(baseline), noiseC: runNoise(current)}
	c.Benchmarks = cmpr.benchmarks(baseline, current)
	c.Method = cmpr.correct()
	c.Benchmarks = cmpr.verdicts(c.Benchmarks, c.Comparable)
	c.Verdict = overall(c)
	c.notUncompared()
	return c
}

// notUncompared notes the baseline's tests that a comparable pair of runs could
// not compare (missing or skipped now, no valid run): the verdict covers only
// the rest, and must not read as covering them.
func (c *Comparison) notUncompared() {
	if !c.Comparable || c.Verdict == VerdictNotComparable {
		return
	}
	var left []string
	n := 0
	for _, b := range c.Benchmarks {
		if b.Reason == "not in the baseline run" || strings.HasPrefix(b.Reason, "skipped in both runs") {
			continue // nothing measured on a side to lose
		}
		n++
		if b.Verdict == VerdictNotComparable {
			left = append(left, b.TestID+" ("+b.Reason+")")
		}
	}
	if len(left) > 0 {
		c.Notes = append(c.Notes, fmt.Sprintf("%d of the baseline's %d tests were not compared, the verdict covers only the rest: %s",
			len(left), n, strings.Join(left, "; ")))
	}
}

// missingSide is the comparison when a record is missing.
func missingSide(c Comparison, baseline, current *schema.Result) Comparison {
	c.Comparable = false
	c.Verdict = VerdictNotComparable
	c.Reasons = []string{"no baseline record"}
	if current == nil {
		c.Reasons = []string{"no current record"}
	}
	if baseline != nil {
		c.Baseline = runRef(baseline)
	}
	if current != nil {
		c.Current = runRef(current)
	}
	return c
}

func overall(c Comparison) Verdict {
	if !c.Comparable {
		return VerdictNotComparable
	}
	var improved, unchanged, inconclusive bool
	for _, b := range c.Benchmarks {
		switch b.Verdict {
		case VerdictRegressed:
			return VerdictRegressed
		case VerdictInconclusive:
			inconclusive = true
		case VerdictImproved:
			improved = true
		case VerdictUnchanged:
			unchanged = true
		}
	}
	switch {
	case inconclusive:
		return VerdictInconclusive
	case improved:
		return VerdictImproved
	case unchanged:
		return VerdictUnchanged
	}
	return VerdictNotComparable
}

func runRef(r *schema.Result) RunRef {
	return RunRef{
		RunID: r.RunID, RunAt: r.RunAt, Mode: string(r.Mode), Model: modelName(r),
		Server: serverName(r), Hardware: hardwareName(r),
	}
}

func modelName(r *schema.Result) string {
	if q := r.Server.Quantization; q != "" && !strings.Contains(strings.ToLower(r.Model), strings.ToLower(q)) {
		return r.Model + " (" + q + ")"
	}
	return r.Model
}

func serverName(r *schema.Result) string {
	kind := string(r.Server.Kind)
	if kind == "" {
		kind = r.Server.Name
	}
	if r.Server.Version != "" {
		return kind + " " + r.Server.Version
	}
	return kind
}

// hardwareName is the GPU names, or "CPU only: <model>" without a GPU, "" when
// the record has no profile.
func hardwareName(r *schema.Result) string {
	p := r.ProfileSnapshot
	if p == nil {
		return ""
	}
	if len(p.GPUs) > 0 {
		return gpuNames(p)
	}
	if p.CPU.Model != "" {
		return "CPU only: " + p.CPU.Model
	}
	return "CPU only"
}

// checkRuns records why the two runs are not comparable, or notes the
// differences the options allow.
func (c *Comparison) checkRuns(b, cur *schema.Result, opts CompareOptions) {
	check := func(what, from, to string, allowed bool, option string) {
		if from == to {
			return
		}
		msg := fmt.Sprintf("different %s: %q in the baseline, %q now", what, from, to)
		if allowed {
			c.Notes = append(c.Notes, msg+" (allowed)")
			return
		}
		c.Comparable = false
		c.Reasons = append(c.Reasons, msg+" (set "+option+" to compare anyway)")
	}
	check("model", modelName(b), modelName(cur), opts.AllowDifferentModel, "AllowDifferentModel")
	bk, ck := serverKind(b), serverKind(cur)
	check("server", bk, ck, opts.AllowDifferentServer, "AllowDifferentServer")
	if bk == ck {
		bv, cv := b.Server.Version, cur.Server.Version
		if bv != "" && cv != "" {
			check("server version", bv, cv, opts.AllowDifferentServer, "AllowDifferentServer")
		} else if bv != cv {
			c.Notes = append(c.Notes, "server version unknown on one side: cannot tell whether the build changed")
		}
	}
	if bh, ch := hardwareName(b), hardwareName(cur); bh != "" && ch != "" {
		check("hardware", bh, ch, opts.AllowDifferentGPU, "AllowDifferentGPU")
	} else if bh != ch {
		c.Notes = append(c.Notes, "hardware profile missing on one side: cannot tell whether the GPU changed")
	}
	check("mode", string(b.Mode), string(cur.Mode), opts.AllowDifferentMode, "AllowDifferentMode")
}

func serverKind(r *schema.Result) string {
	if r.Server.Kind != "" {
		return string(r.Server.Kind)
	}
	return r.Server.Name
}
