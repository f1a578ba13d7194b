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
	VerdictRegressed     Verdict = "regressed"      // worse beyond noise and tolerance
	VerdictImproved      Verdict = "improved"       // better beyond noise and tolerance
	VerdictUnchanged     Verdict = "unchanged"      // within noise or tolerance
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
)

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
// token, prefill tokens/s, peak VRAM, GPU energy per output token and the share
// of failed runs.
//
// A metric regressed (or improved) when it got worse (better) by more than the
// tolerance and by more than the runs' spread explains: Welch's t-test on the
// per-run samples at 95%. With one run on a side the comparison is weak and the
// metric says so: the spread of the other side is borrowed; with one run per
// side, the relative spread of the same metric over the run's other tests; and
// when the run has none, the verdict rests on the tolerance alone. Peak VRAM and energy are
// one reading per test and are judged on the tolerance.
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
	if baseline == nil || current == nil {
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
	c.Baseline, c.Current = runRef(baseline), runRef(current)
	c.checkRuns(baseline, current, opts)

	cur := map[string]*schema.Benchmark{}
	for i := range current.Benchmarks {
		b := &current.Benchmarks[i]
		if _, dup := cur[b.TestID]; !dup {
			cur[b.TestID] = b
		}
	}
	noiseB, noiseC := runNoise(baseline), runNoise(current)
	seen := map[string]bool{}
	for i := range baseline.Benchmarks {
		b := &baseline.Benchmarks[i]
		if seen[b.TestID] {
			continue
		}
		seen[b.TestID] = true
		c.Benchmarks = append(c.Benchmarks, compareBenchmark(b, cur[b.TestID], noiseB, noiseC, tol, floor.Seconds(), c.Comparable))
	}
	for i := range current.Benchmarks {
		b := &current.Benchmarks[i]
		if seen[b.TestID] {
			continue
		}
		seen[b.TestID] = true
		c.Benchmarks = append(c.Benchmarks, BenchmarkComparison{
			TestID: b.TestID, Name: b.Name, Category: b.Category,
			Verdict: VerdictNotComparable, Reason: "not in the baseline run", Metrics: []MetricChange{},
		})
	}
	c.Verdict = overall(c)
	return c
}

func overall(c Comparison) Verdict {
	if !c.Comparable {
		return VerdictNotComparable
	}
	var improved, unchanged bool
	for _, b := range c.Benchmarks {
		switch b.Verdict {
		case VerdictRegressed:
			return VerdictRegressed
		case VerdictImproved:
			improved = true
		case VerdictUnchanged:
			unchanged = true
		}
	}
	switch {
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

func compareBenchmark(b, cur *schema.Benchmark, noiseB, noiseC map[string]pooled, tol, floorS float64, comparable bool) BenchmarkComparison {
	bc := BenchmarkComparison{TestID: b.TestID, Name: b.Name, Category: b.Category, Metrics: []MetricChange{}}
	notComparable := func(reason string) BenchmarkComparison {
		bc.Verdict, bc.Reason = VerdictNotComparable, reason
		return bc
	}
	switch {
	case cur == nil:
		return notComparable("not in the current run")
	case b.Skipped && cur.Skipped:
		return notComparable("skipped in both runs: " + cur.SkipReason)
	case b.Skipped:
		return notComparable("skipped in the baseline: " + b.SkipReason)
	case cur.Skipped:
		return notComparable("skipped in the current run: " + cur.SkipReason)
	case b.CtxSize != cur.CtxSize && b.CtxSize != 0 && cur.CtxSize != 0:
		return notComparable(fmt.Sprintf("different ctx_size: %d in the baseline, %d now", b.CtxSize, cur.CtxSize))
	case b.MaxTokens != cur.MaxTokens && b.MaxTokens != 0 && cur.MaxTokens != 0:
		return notComparable(fmt.Sprintf("different max_tokens: %d in the baseline, %d now", b.MaxTokens, cur.MaxTokens))
	}

	if m, ok := compareFailures(b, cur); ok {
		bc.Metrics = append(bc.Metrics, m)
	}
	for _, spec := range metricSpecs {
		bs, cs := spec.sample(b), spec.sample(cur)
		if bs.n == 0 || cs.n == 0 {
			continue
		}
		m := judge(spec, bs, cs, noiseB[spec.name], noiseC[spec.name], tol, floorS)
		m.TestID = b.TestID
		bc.Metrics = append(bc.Metrics, m)
	}
	if !comparable {
		for i := range bc.Metrics {
			m := &bc.Metrics[i]
			m.Reason = "runs not comparable; would be " + string(m.Verdict) + ": " + m.Reason
			m.Verdict = VerdictNotComparable
		}
		return notComparable("the runs are not comparable")
	}
	if len(bc.Metrics) == 0 {
		return notComparable("no successful run on either side")
	}
	var worse, better []string
	for _, m := range bc.Metrics {
		switch m.Verdict {
		case VerdictRegressed:
			worse = append(worse, m.Metric)
		case VerdictImproved:
			better = append(better, m.Metric)
		}
	}
	switch {
	case len(worse) > 0:
		bc.Verdict, bc.Reason = VerdictRegressed, "worse: "+strings.Join(worse, ", ")
		if len(better) > 0 {
			bc.Reason += "; better: " + strings.Join(better, ", ")
		}
	case len(better) > 0:
		bc.Verdict, bc.Reason = VerdictImproved, "better: "+strings.Join(better, ", ")
	default:
		bc.Verdict, bc.Reason = VerdictUnchanged, "no metric changed beyond noise and tolerance"
	}
	return bc
}

// compareFailures compares the share of failed timed runs; it reports nothing
// when neither side failed.
func compareFailures(b, cur *schema.Benchmark) (MetricChange, bool) {
	bf, bn := failedRuns(b)
	cf, cn := failedRuns(cur)
	if bf == 0 && cf == 0 {
		return MetricChange{}, false
	}
	br, cr := ratio(bf, bn), ratio(cf, cn)
	m := MetricChange{
		TestID: b.TestID, Metric: MetricFailedRuns, Unit: "share of runs",
		Baseline: br, Current: cr, BaselineN: bn, CurrentN: cn,
		Change: cr - br, BeyondNoise: true,
	}
	if br > 0 {
		m.ChangePct = 100 * (cr - br) / br
	}
	what := fmt.Sprintf("%d of %d runs failed (baseline: %d of %d)", cf, cn, bf, bn)
	switch {
	case cr > br:
		m.Verdict = VerdictRegressed
		if why := benchmarkReason(cur); why != "" {
			what += ": " + why
		}
	case cr < br:
		m.Verdict = VerdictImproved
	default:
		m.Verdict = VerdictUnchanged
	}
	m.Reason = what
	m.Noise = "any change in the share of failed runs counts"
	return m, true
}

// failedRuns counts the failed timed runs and the runs attempted.
func failedRuns(b *schema.Benchmark) (failed, n int) {
	if len(b.Runs) > 0 {
		for _, r := range b.Runs {
			if !r.Success {
				failed++
			}
		}
		return failed, len(b.Runs)
	}
	n = b.NRuns
	if n < b.SuccessfulRuns {
		n = b.SuccessfulRuns
	}
	if n == 0 && b.Error != "" {
		return 1, 1 // the test failed as a whole
	}
	return n - b.SuccessfulRuns, n
}

func ratio(a, b int) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

// sample is a metric over the runs of one benchmark.
type sample struct {
	n      int
	mean   float64
	sd     float64 // sample standard deviation; valid when spread
	spread bool    // sd is known (n >= 2 per-run values, or a recorded stdev)
	single bool    // one reading per test by nature (VRAM, energy): judged on tolerance
	ttft   float64 // mean ttft_s of the runs behind the figure, 0 when unknown
}

type metricSpec struct {
	name, unit     string
	higherIsBetter bool
	sample         func(*schema.Benchmark) sample
	// ttftBound: the metric follows the time to first token, whose changes
	// below the timing floor are not judged.
	ttftBound bool
}

var metricSpecs = []metricSpec{
	{MetricTPS, "tok/s", true, func(b *schema.Benchmark) sample {
		s := runSample(b, func(r schema.RunSample) float64 { return r.TPS })
		if s.n == 0 && b.AvgTPS > 0 && finite(b.AvgTPS) {
			s = sample{n: max(b.SuccessfulRuns, 1), mean: b.AvgTPS}
			if b.Stats != nil && s.n >= 2 && finite(b.Stats.TPSStdev) {
				s.sd, s.spread = b.Stats.TPSStdev, true
			}
		}
		return s
	}, false},
	{MetricTTFT, "s", false, func(b *schema.Benchmark) sample {
		s := runSample(b, func(r schema.RunSample) float64 { return r.TTFTS })
		if s.n == 0 && b.AvgTTFTS > 0 && finite(b.AvgTTFTS) {
			s = sample{n: max(b.SuccessfulRuns, 1), mean: b.AvgTTFTS, ttft: b.AvgTTFTS}
		}
		return s
	}, true},
	{MetricPrefillTPS, "tok/s", true, func(b *schema.Benchmark) sample {
		s := runSample(b, func(r schema.RunSample) float64 {
			if r.PrefillTPS > 0 {
				return r.PrefillTPS
			}
			if r.PromptTokens > 0 && r.TTFTS > 0 {
				return float64(r.PromptTokens) / r.TTFTS
			}
			return 0
		})
		if s.n == 0 && b.AvgPrefillTPS > 0 && finite(b.AvgPrefillTPS) {
			s = sample{n: max(b.SuccessfulRuns, 1), mean: b.AvgPrefillTPS, ttft: b.AvgTTFTS}
		}
		return s
	}, true},
	{MetricPeakVRAM, "MiB", false, func(b *schema.Benchmark) sample {
		if v := b.GPUStats.PeakVRAMUsedMB; v != nil && *v > 0 && finite(*v) {
			return sample{n: 1, mean: *v, single: true}
		}
		return sample{}
	}, false},
	{MetricEnergyPerToken, "J/token", false, func(b *schema.Benchmark) sample {
		e := b.GPUStats.EnergyJ
		if e == nil || *e <= 0 || !finite(*e) {
			return sample{}
		}
		tokens := 0
		for _, r := range b.Runs {
			tokens += r.OutputTokens
		}
		if tokens <= 0 {
			return sample{}
		}
		return sample{n: 1, mean: *e / float64(tokens), single: true}
	}, false},
}

// pooled is the relative spread of a metric over the tests of a run: the pooled
// coefficient of variation and its degrees of freedom (0: none known).
type pooled struct {
	cv float64
	df int
}

// runNoise pools, per metric, the relative spread of the tests of a run that
// have one, to judge the tests that have none.
func runNoise(r *schema.Result) map[string]pooled {
	out := map[string]pooled{}
	for _, spec := range metricSpecs {
		var sum float64
		df := 0
		for i := range r.Benchmarks {
			b := &r.Benchmarks[i]
			if b.Skipped {
				continue
			}
			s := spec.sample(b)
			if s.single || !s.spread || s.n < 2 || s.mean <= 0 {
				continue
			}
			sum += float64(s.n-1) * sq(s.sd/s.mean)
			df += s.n - 1
		}
		if df > 0 {
			out[spec.name] = pooled{cv: math.Sqrt(sum / float64(df)), df: df}
		}
	}
	return out
}

func sq(v float64) float64 { return v * v }

// runSample is the metric over the successful timed runs with a positive value.
func runSample(b *schema.Benchmark, value func(schema.RunSample) float64) sample {
	var xs []float64
	var ttft float64
	for _, r := range b.Runs {
		if !r.Success {
			continue
		}
		if v := value(r); v > 0 && finite(v) {
			xs = append(xs, v)
			ttft += r.TTFTS
		}
	}
	if len(xs) == 0 {
		return sample{}
	}
	s := sample{n: len(xs), ttft: ttft / float64(len(xs))}
	for _, x := range xs {
		s.mean += x
	}
	s.mean /= float64(len(xs))
	if len(xs) >= 2 {
		var ss float64
		for _, x := range xs {
			ss += (x - s.mean) * (x - s.mean)
		}
		s.sd = math.Sqrt(ss / float64(len(xs)-1))
		if s.sd <= 1e-9*math.Abs(s.mean) {
			s.sd = 0 // rounding of equal values, not spread
		}
		s.spread = true
	}
	return s
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

// judge compares one metric.
func judge(spec metricSpec, b, c sample, nb, nc pooled, tol, floorS float64) MetricChange {
	m := MetricChange{
		Metric: spec.name, Unit: spec.unit, HigherIsBetter: spec.higherIsBetter,
		Baseline: b.mean, Current: c.mean, BaselineN: b.n, CurrentN: c.n,
		Change: c.mean - b.mean,
	}
	if b.spread {
		m.BaselineStdev = b.sd
	}
	if c.spread {
		m.CurrentStdev = c.sd
	}
	pct := m.Change / b.mean // b.mean > 0: samples keep positive values only
	m.ChangePct = 100 * pct
	worse := pct < -tol
	better := pct > tol
	if !spec.higherIsBetter {
		worse, better = pct > tol, pct < -tol
	}
	dir := "rose"
	if m.Change < 0 {
		dir = "fell"
	}
	change := fmt.Sprintf("%s %s %.1f%% (%s → %s %s)", spec.name, dir, math.Abs(m.ChangePct), num(b.mean), num(c.mean), spec.unit)
	if m.Change == 0 {
		change = fmt.Sprintf("%s unchanged (%s %s)", spec.name, num(b.mean), spec.unit)
	}
	tolText := fmt.Sprintf("%g%% tolerance", 100*tol)

	// Noise.
	var noise string
	decided := false // false: no spread to judge by; the tolerance decides alone
	switch {
	case b.single || c.single:
		noise = "one reading per test, judged on the " + tolText
	case b.spread && c.spread:
		t, crit, df := welch(b, c)
		m.BeyondNoise, decided = beyond(t, crit, m.Change), true
		m.T, m.TCritical = finiteOr0(t), crit
		noise = fmt.Sprintf("Welch t=%s, 95%% critical %.2f at df %.1f", tnum(t), crit, df)
		if b.sd == 0 && c.sd == 0 {
			noise = "no spread on either side (identical runs)"
		}
	case b.spread || c.spread:
		// One side has a single run: borrow the other side's spread.
		known := b
		if c.spread {
			known = c
		}
		m.Weak = true
		if known.sd > 0 {
			se := known.sd * math.Sqrt(1/float64(b.n)+1/float64(c.n))
			t := m.Change / se
			crit := tCritical(float64(known.n - 1))
			m.BeyondNoise, decided = beyond(t, crit, m.Change), true
			m.T, m.TCritical = finiteOr0(t), crit
			noise = fmt.Sprintf("weak: one run on a side, spread borrowed from the other (t=%s, critical %.2f)", tnum(t), crit)
		} else {
			noise = "weak: one run on a side and no spread on the other, judged on the " + tolText
		}
	case nb.df > 0 || nc.df > 0:
		// No spread of its own on either side (one run per side): borrow the
		// relative spread of the same metric over the run's other tests.
		m.Weak = true
		cvB, cvC, df := nb.cv, nc.cv, min(nb.df, nc.df)
		if nb.df == 0 {
			cvB, df = cvC, nc.df
		}
		if nc.df == 0 {
			cvC, df = cvB, nb.df
		}
		se := math.Sqrt(sq(cvB*b.mean)/float64(b.n) + sq(cvC*c.mean)/float64(c.n))
		t := math.NaN()
		if se > 0 {
			t = m.Change / se
		} else if m.Change != 0 {
			t = math.Copysign(math.Inf(1), m.Change)
		}
		crit := tCritical(float64(df))
		m.BeyondNoise, decided = beyond(t, crit, m.Change), true
		m.T, m.TCritical = finiteOr0(t), crit
		noise = fmt.Sprintf("weak: no spread of its own, the spread of the run's other tests borrowed (CV %.1f%% and %.1f%%, t=%s, critical %.2f)",
			100*cvB, 100*cvC, tnum(t), crit)
	default:
		m.Weak = true
		noise = "weak: no spread on either side (one run per side), judged on the " + tolText
	}

	if d := math.Abs(c.ttft - b.ttft); spec.ttftBound && floorS > 0 && b.ttft > 0 && c.ttft > 0 && d < floorS {
		m.BeyondNoise, m.Weak = false, false
		noise = fmt.Sprintf("time to first token changed by %.2f ms, below the %g ms timing floor", 1000*d, 1000*floorS)
		if d == 0 {
			noise = "time to first token unchanged"
		}
		decided = true
	}
	var verdict string
	switch {
	case decided && !m.BeyondNoise:
		m.Verdict, verdict = VerdictUnchanged, "within the runs' spread"
	case worse || better:
		m.Verdict, verdict = VerdictImproved, "beyond the "+tolText
		if worse {
			m.Verdict = VerdictRegressed
		}
		if decided {
			verdict += " and the runs' spread"
		}
	default:
		m.Verdict, verdict = VerdictUnchanged, "within the "+tolText
	}
	m.Noise = noise
	m.Reason = change + ", " + verdict + " (" + noise + ")"
	return m
}

// beyond reports whether a t statistic exceeds its critical value. A change with
// no spread at all on either side (identical runs) is beyond noise.
func beyond(t, crit, change float64) bool {
	if math.IsNaN(t) {
		return change != 0
	}
	return math.Abs(t) > crit
}

// welch is Welch's t statistic, its two-sided 95% critical value and the
// Welch–Satterthwaite degrees of freedom.
func welch(b, c sample) (t, crit, df float64) {
	vb, vc := b.sd*b.sd/float64(b.n), c.sd*c.sd/float64(c.n)
	se := math.Sqrt(vb + vc)
	diff := c.mean - b.mean
	if se == 0 {
		df = float64(b.n + c.n - 2)
		if diff == 0 {
			return math.NaN(), tCritical(df), df
		}
		return math.Copysign(math.Inf(1), diff), tCritical(df), df
	}
	t = diff / se
	df = (vb + vc) * (vb + vc) / (vb*vb/float64(b.n-1) + vc*vc/float64(c.n-1))
	return t, tCritical(df), df
}

// tTable is the two-sided 95% critical value of Student's t for df 1..30.
var tTable = [...]float64{
	12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
	2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
	2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042,
}

// tCritical interpolates tTable linearly (above the curve, so on the safe side)
// for fractional degrees of freedom; beyond 30 it moves towards 1.96.
func tCritical(df float64) float64 {
	switch {
	case math.IsNaN(df) || df < 1:
		return tTable[0]
	case df >= 120:
		return 1.98
	case df >= 60:
		return 2.000
	case df >= 40:
		return 2.021
	case df >= 30:
		return 2.042
	}
	lo := int(df)
	frac := df - float64(lo)
	if lo >= len(tTable) {
		return tTable[len(tTable)-1]
	}
	v := tTable[lo-1]
	if frac > 0 && lo < len(tTable) {
		v += frac * (tTable[lo] - tTable[lo-1])
	}
	return math.Round(v*1000) / 1000
}

func finiteOr0(v float64) float64 {
	if finite(v) {
		return v
	}
	return 0
}

func tnum(t float64) string {
	switch {
	case math.IsInf(t, 1):
		return "+inf"
	case math.IsInf(t, -1):
		return "-inf"
	case math.IsNaN(t):
		return "0"
	}
	return fmt.Sprintf("%.2f", t)
}

// num formats a figure with a precision that suits its size.
func num(v float64) string {
	a := math.Abs(v)
	switch {
	case a >= 1000:
		return fmt.Sprintf("%.0f", v)
	case a >= 100:
		return fmt.Sprintf("%.1f", v)
	case a >= 1:
		return fmt.Sprintf("%.2f", v)
	case a == 0:
		return "0"
	}
	return fmt.Sprintf("%.3g", v)
}
