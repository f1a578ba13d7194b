package report

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/typhonbench/typhon/schema"
)

// Markdown writes a summary of a run for people: the hardware, the server and
// model, a table per test category, findings built only from what was measured
// (the speed lost from the baseline to the largest context, VRAM headroom from
// the peak, temperature and throttling, the stress test's drift, failed and
// skipped tests with their reasons) and, when the data supports one, a server
// command (the largest context that worked in every run). The output depends
// only on res.
func Markdown(w io.Writer, res *schema.Result) error {
	if res == nil {
		return errors.New("report: nil result")
	}
	bw := bufio.NewWriter(w)
	md := &mdWriter{w: bw, res: res}
	md.header()
	md.hardware()
	md.server()
	md.results()
	md.findings()
	md.suggestion()
	return bw.Flush()
}

type mdWriter struct {
	w   *bufio.Writer
	res *schema.Result
}

func (m *mdWriter) p(format string, args ...any) { fmt.Fprintf(m.w, format, args...) }

func (m *mdWriter) header() {
	r := m.res
	title := r.RunID
	if title == "" {
		title = "(no run id)"
	}
	m.p("# Typhon run %s\n\n", oneLine(title))
	var facts []string
	if !r.RunAt.IsZero() {
		s := "Run " + r.RunAt.UTC().Format("2006-01-02 15:04:05 UTC")
		if !r.FinishedAt.IsZero() && r.FinishedAt.After(r.RunAt) {
			s += fmt.Sprintf(" (%s)", r.FinishedAt.Sub(r.RunAt).Round(time.Second))
		}
		facts = append(facts, s)
	}
	if r.Mode != "" {
		facts = append(facts, "mode "+oneLine(string(r.Mode)))
	}
	if r.Status != "" {
		facts = append(facts, "status "+oneLine(string(r.Status)))
	}
	if r.TyphonVersion != "" {
		facts = append(facts, "Typhon "+oneLine(r.TyphonVersion))
	}
	if len(facts) > 0 {
		m.p("%s.\n\n", strings.Join(facts, ", "))
	}
	if r.Error != "" {
		m.p("**The run ended in error:** %s\n\n", oneLine(r.Error))
	}
}

func (m *mdWriter) hardware() {
	p := m.res.ProfileSnapshot
	m.p("## Hardware\n\n")
	if p == nil {
		m.p("No hardware profile in this record.\n\n")
		return
	}
	if len(p.GPUs) > 0 {
		m.p("| GPU | Memory | Driver | CUDA | Compute capability | Power limit |\n")
		m.p("|---|---:|---|---|---|---:|\n")
		for _, g := range p.GPUs {
			power := "—"
			if g.PowerLimitW > 0 {
				power = fmt.Sprintf("%.0f W", g.PowerLimitW)
			}
			m.p("| %d: %s | %s MiB | %s | %s | %s | %s |\n", g.Index, cell(g.Name), commas(g.MemoryTotalMB),
				orDash(g.DriverVersion), orDash(g.CUDAVersion), orDash(g.ComputeCapability), power)
		}
		m.p("\n")
	} else {
		why := p.GPUError
		if why == "" {
			why = m.res.GPUUnavailable
		}
		if why != "" {
			m.p("No GPU: %s.\n\n", oneLine(why))
		} else {
			m.p("No GPU.\n\n")
		}
	}
	var lines []string
	if c := p.CPU; c.Model != "" || c.LogicalCores > 0 {
		s := "CPU: " + orText(c.Model, "unknown model")
		switch {
		case c.PhysicalCores > 0 && c.LogicalCores > 0:
			s += fmt.Sprintf(" (%d cores, %d threads)", c.PhysicalCores, c.LogicalCores)
		case c.LogicalCores > 0:
			s += fmt.Sprintf(" (%d threads)", c.LogicalCores)
		}
		lines = append(lines, s)
	}
	if p.RAM.TotalMB > 0 {
		s := fmt.Sprintf("RAM: %.1f GiB", p.RAM.TotalMB/1024)
		if p.RAM.AvailableMB > 0 {
			s += fmt.Sprintf(" (%.1f GiB available at the start)", p.RAM.AvailableMB/1024)
		}
		lines = append(lines, s)
	}
	if o := p.OS; o.Name != "" || o.Platform != "" {
		s := "OS: " + strings.TrimSpace(strings.Join(nonEmpty(o.Name, o.Platform, o.Version), " "))
		if o.Kernel != "" {
			s += ", kernel " + o.Kernel
		}
		if o.Arch != "" {
			s += ", " + o.Arch
		}
		lines = append(lines, s)
	}
	for _, l := range lines {
		m.p("- %s\n", oneLine(l))
	}
	if len(lines) > 0 {
		m.p("\n")
	}
}

func (m *mdWriter) server() {
	s := m.res.Server
	m.p("## Server and model\n\n")
	if s.Name == "" && s.APIBase == "" && s.Kind == "" {
		m.p("No server in this record.\n\n")
		return
	}
	name := orText(s.Name, string(s.Kind))
	if s.Version != "" {
		name += " " + s.Version
	}
	if s.Kind != "" && s.Name != "" && !strings.Contains(strings.ToLower(s.Name), strings.ToLower(string(s.Kind))) {
		name += " (" + string(s.Kind) + ")"
	}
	if s.APIBase != "" {
		name += " at " + s.APIBase
	}
	m.p("- Server: %s\n", oneLine(name))
	model := orText(m.res.Model, "unknown")
	if s.Quantization != "" {
		model += " (" + s.Quantization + ")"
	}
	m.p("- Model: %s\n", oneLine(model))
	if s.CtxSize > 0 {
		ctx := fmt.Sprintf("- Context: %s tokens per slot", commas(float64(s.CtxSize)))
		if s.Slots > 0 {
			ctx += fmt.Sprintf(", %d slot%s", s.Slots, plural(s.Slots))
		}
		m.p("%s\n", ctx)
	}
	if len(s.Settings) > 0 {
		keys := make([]string, 0, len(s.Settings))
		for k := range s.Settings {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		kv := make([]string, 0, len(keys))
		for _, k := range keys {
			kv = append(kv, "`"+code(k+"="+s.Settings[k])+"`")
		}
		m.p("- Settings: %s\n", strings.Join(kv, ", "))
	}
	m.p("\n")
}

var categoryTitles = map[string]string{
	schema.CategoryBaseline:     "Baseline",
	schema.CategoryContextSweep: "Context sweep",
	schema.CategoryStress:       "Stress",
	schema.CategoryMemoryWall:   "Memory wall",
}

func (m *mdWriter) results() {
	m.p("## Results\n\n")
	if len(m.res.Benchmarks) == 0 {
		m.p("No test ran.\n\n")
		return
	}
	// Categories in a fixed order, then any other in order of appearance.
	order := []string{schema.CategoryBaseline, schema.CategoryContextSweep, schema.CategoryStress, schema.CategoryMemoryWall}
	for _, b := range m.res.Benchmarks {
		if !slices.Contains(order, b.Category) {
			order = append(order, b.Category)
		}
	}
	for _, cat := range order {
		var bs []*schema.Benchmark
		for i := range m.res.Benchmarks {
			if m.res.Benchmarks[i].Category == cat {
				bs = append(bs, &m.res.Benchmarks[i])
			}
		}
		if len(bs) == 0 {
			continue
		}
		title := categoryTitles[cat]
		if title == "" {
			title = orText(cat, "Other")
		}
		m.p("### %s\n\n", oneLine(title))
		m.p("| Test | Context | Runs ok | Avg tok/s | Best tok/s | TTFT s | Prefill tok/s | Peak VRAM MiB | Peak °C | Status |\n")
		m.p("|---|---:|---:|---:|---:|---:|---:|---:|---:|---|\n")
		for _, b := range bs {
			m.benchRow(b)
		}
		m.p("\n")
		for _, b := range bs {
			if b.MemoryWall != nil {
				m.p("- `%s`: %s\n", cell(code(b.TestID)), wallText(b.MemoryWall))
			}
			for _, n := range b.Notes {
				m.p("- `%s`: %s\n", cell(code(b.TestID)), oneLine(n))
			}
		}
		if hasNotes(bs) {
			m.p("\n")
		}
	}
}

func hasNotes(bs []*schema.Benchmark) bool {
	for _, b := range bs {
		if b.MemoryWall != nil || len(b.Notes) > 0 {
			return true
		}
	}
	return false
}

func (m *mdWriter) benchRow(b *schema.Benchmark) {
	status := BenchmarkStatus(b)
	name := cell(orText(b.Name, b.TestID))
	if b.Name != "" && b.Name != b.TestID {
		name += " (`" + cell(code(b.TestID)) + "`)"
	}
	ctx := "—"
	if b.CtxSize > 0 {
		ctx = commas(float64(b.CtxSize))
	}
	if status == OutcomeSkipped {
		m.p("| %s | %s | — | — | — | — | — | — | — | skipped |\n", name, ctx)
		return
	}
	runs := fmt.Sprintf("%d/%d", b.SuccessfulRuns, max(b.NRuns, len(b.Runs), b.SuccessfulRuns))
	num := func(v float64, f string) string {
		if v <= 0 || !finite(v) {
			return "—"
		}
		return fmt.Sprintf(f, v)
	}
	ok := b.SuccessfulRuns > 0
	tps, best, ttft, prefill := "—", "—", "—", "—"
	if ok {
		tps, best, ttft, prefill = num(b.AvgTPS, "%.1f"), num(b.BestTPS, "%.1f"), num(b.AvgTTFTS, "%.3f"), "—"
		if b.AvgPrefillTPS > 0 {
			prefill = commas(b.AvgPrefillTPS)
		}
	}
	vram, temp := "—", "—"
	if v := b.GPUStats.PeakVRAMUsedMB; v != nil {
		vram = commas(*v)
	}
	if v := b.GPUStats.PeakTempC; v != nil {
		temp = fmt.Sprintf("%.0f", *v)
	}
	st := status
	if status == OutcomePartial || status == OutcomeFailed {
		if f, _ := failedRuns(b); f > 0 {
			st = fmt.Sprintf("%s (%d failed)", status, f)
		}
	}
	m.p("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", name, ctx, runs, tps, best, ttft, prefill, vram, temp, st)
}

func wallText(w *schema.MemoryWall) string {
	if w.LastOKPromptTokens <= 0 {
		s := "no prompt size worked"
		if w.Failure != "" {
			s += " (" + oneLine(w.Failure) + ")"
		}
		return s
	}
	s := fmt.Sprintf("the largest prompt that worked was %s tokens", commas(float64(w.LastOKPromptTokens)))
	if w.FailedPromptTokens > 0 {
		s += fmt.Sprintf("; %s tokens failed", commas(float64(w.FailedPromptTokens)))
		if w.Failure != "" {
			s += " (" + oneLine(w.Failure) + ")"
		} else if w.FailureKind != "" {
			s += " (" + w.FailureKind + ")"
		}
	}
	return s
}

func (m *mdWriter) findings() {
	var fs []string
	add := func(format string, args ...any) { fs = append(fs, oneLine(fmt.Sprintf(format, args...))) }
	r := m.res

	// Speed from the baseline to the largest context that produced runs.
	if base, big := baselineBench(r), largestSweep(r, false); base != nil && big != nil && base.AvgTPS > 0 && big.AvgTPS > 0 {
		s := fmt.Sprintf("**Speed at long context:** decode speed goes from %.1f tok/s on a short prompt (`%s`) to %.1f tok/s in the %s-token context sweep (`%s`, %s)",
			base.AvgTPS, code(base.TestID), big.AvgTPS, commas(float64(big.CtxSize)), code(big.TestID), pct(big.AvgTPS, base.AvgTPS))
		if base.AvgTTFTS > 0 && big.AvgTTFTS > 0 {
			s += fmt.Sprintf("; time to first token from %.3f s to %.3f s", base.AvgTTFTS, big.AvgTTFTS)
		}
		add("%s.", s)
	}

	// VRAM headroom from the peak.
	fs = append(fs, vramFindings(r)...)

	// Temperature, power, throttling.
	fs = append(fs, thermalFindings(r)...)

	// Stress drift.
	for i := range r.Benchmarks {
		if f := driftFinding(&r.Benchmarks[i]); f != "" {
			fs = append(fs, f)
		}
	}

	if r.GPUUnavailable != "" {
		add("**No GPU figures:** %s.", r.GPUUnavailable)
	}

	// Failed and skipped tests.
	for i := range r.Benchmarks {
		b := &r.Benchmarks[i]
		switch BenchmarkStatus(b) {
		case OutcomeFailed, OutcomePartial:
			f, n := failedRuns(b)
			what := fmt.Sprintf("%d of %d runs failed", f, n)
			if f == 0 {
				what = "the test failed"
			}
			add("**Failed:** `%s`: %s: %s.", code(b.TestID), what, strings.Join(failureReasons(b), "; "))
		case OutcomeSkipped:
			add("**Skipped:** `%s`: %s.", code(b.TestID), orText(b.SkipReason, "no reason recorded"))
		}
	}

	m.p("## Findings\n\n")
	if len(fs) == 0 {
		m.p("Nothing to report: the record holds no measurement to draw a finding from.\n\n")
		return
	}
	for _, f := range fs {
		m.p("- %s\n", f)
	}
	m.p("\n")
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
// successful run (allOK: in which every run succeeded).
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
		if best == nil || b.CtxSize > best.CtxSize {
			best = b
		}
	}
	return best
}

func vramFindings(r *schema.Result) []string {
	totals := map[int]schema.GPUInfo{}
	if r.ProfileSnapshot != nil {
		for _, g := range r.ProfileSnapshot.GPUs {
			totals[g.Index] = g
		}
	}
	type peak struct {
		mb   float64
		test string
	}
	peaks := map[int]peak{}
	var aggregate peak
	for _, b := range r.Benchmarks {
		for _, w := range b.GPUStats.PerGPU {
			if w.PeakVRAMUsedMB != nil && *w.PeakVRAMUsedMB > peaks[w.Index].mb {
				peaks[w.Index] = peak{*w.PeakVRAMUsedMB, b.TestID}
			}
		}
		if v := b.GPUStats.PeakVRAMUsedMB; v != nil && *v > aggregate.mb {
			aggregate = peak{*v, b.TestID}
		}
	}
	if len(peaks) == 0 && aggregate.mb > 0 && len(totals) == 1 {
		for idx := range totals {
			peaks[idx] = aggregate
		}
	}
	idxs := make([]int, 0, len(peaks))
	for i := range peaks {
		idxs = append(idxs, i)
	}
	sort.Ints(idxs)
	var out []string
	for _, i := range idxs {
		pk := peaks[i]
		g, ok := totals[i]
		if !ok || g.MemoryTotalMB <= 0 {
			out = append(out, oneLine(fmt.Sprintf("**VRAM:** peak %s MiB on GPU %d in `%s` (total memory unknown).", commas(pk.mb), i, code(pk.test))))
			continue
		}
		free := g.MemoryTotalMB - pk.mb
		s := fmt.Sprintf("**VRAM headroom:** peak %s MiB of %s MiB on GPU %d (%s) in `%s`: %s MiB (%.1f%%) free at the peak",
			commas(pk.mb), commas(g.MemoryTotalMB), i, g.Name, code(pk.test), commas(free), 100*free/g.MemoryTotalMB)
		if free/g.MemoryTotalMB < 0.05 {
			s += ", close to the limit"
		}
		out = append(out, oneLine(s+"."))
	}
	return out
}

func thermalFindings(r *schema.Result) []string {
	var tempMax, powerMax float64
	var tempTest, powerTest string
	type reason struct {
		name  string
		tests []string
	}
	var reasons []reason
	for _, b := range r.Benchmarks {
		g := b.GPUStats
		if g.PeakTempC != nil && *g.PeakTempC > tempMax {
			tempMax, tempTest = *g.PeakTempC, b.TestID
		}
		if g.PeakPowerW != nil && *g.PeakPowerW > powerMax {
			powerMax, powerTest = *g.PeakPowerW, b.TestID
		}
		for _, tr := range g.ThrottleReasons {
			i := slices.IndexFunc(reasons, func(x reason) bool { return x.name == tr })
			if i < 0 {
				reasons = append(reasons, reason{name: tr})
				i = len(reasons) - 1
			}
			if !slices.Contains(reasons[i].tests, b.TestID) {
				reasons[i].tests = append(reasons[i].tests, b.TestID)
			}
		}
	}
	if tempMax <= 0 && powerMax <= 0 && len(reasons) == 0 {
		return nil
	}
	var parts []string
	if tempMax > 0 {
		parts = append(parts, fmt.Sprintf("peak %.0f °C in `%s`", tempMax, code(tempTest)))
	}
	if powerMax > 0 {
		s := fmt.Sprintf("peak power %.0f W in `%s`", powerMax, code(powerTest))
		if lim := powerLimit(r); lim > 0 {
			s += fmt.Sprintf(" (limit %.0f W)", lim)
		}
		parts = append(parts, s)
	}
	if len(reasons) == 0 {
		parts = append(parts, "no throttling reported by the GPU")
	} else {
		var rs []string
		for _, x := range reasons {
			ts := make([]string, len(x.tests))
			for i, t := range x.tests {
				ts[i] = "`" + code(t) + "`"
			}
			rs = append(rs, fmt.Sprintf("%s (%s)", x.name, strings.Join(ts, ", ")))
		}
		parts = append(parts, "the GPU reported throttling: "+strings.Join(rs, ", "))
	}
	return []string{oneLine("**Thermal:** " + strings.Join(parts, "; ") + ".")}
}

func powerLimit(r *schema.Result) float64 {
	if r.ProfileSnapshot == nil || len(r.ProfileSnapshot.GPUs) != 1 {
		return 0
	}
	return r.ProfileSnapshot.GPUs[0].PowerLimitW
}

// driftFinding compares the first and last quarter of a stress test's series.
func driftFinding(b *schema.Benchmark) string {
	s := b.Series
	if len(s) < 4 {
		return ""
	}
	q := max(len(s)/4, 1)
	first, last := s[:q], s[len(s)-q:]
	mean := func(pts []schema.SeriesPoint, f func(schema.SeriesPoint) *float64) (float64, bool) {
		var sum float64
		for _, p := range pts {
			v := f(p)
			if v == nil {
				return 0, false
			}
			sum += *v
		}
		return sum / float64(len(pts)), true
	}
	tps := func(p schema.SeriesPoint) *float64 { return &p.TPS }
	a, _ := mean(first, tps)
	z, _ := mean(last, tps)
	if a <= 0 {
		return ""
	}
	out := fmt.Sprintf("**Drift in `%s`:** decode speed %.1f tok/s in the first quarter of the test, %.1f tok/s in the last (%s)",
		code(b.TestID), a, z, pct(z, a))
	if a, ok := mean(first, func(p schema.SeriesPoint) *float64 { return p.SMClockMHz }); ok {
		if z, ok := mean(last, func(p schema.SeriesPoint) *float64 { return p.SMClockMHz }); ok {
			out += fmt.Sprintf("; SM clock %.0f → %.0f MHz", a, z)
		}
	}
	if a, ok := mean(first, func(p schema.SeriesPoint) *float64 { return p.TempC }); ok {
		if z, ok := mean(last, func(p schema.SeriesPoint) *float64 { return p.TempC }); ok {
			out += fmt.Sprintf("; temperature %.0f → %.0f °C", a, z)
		}
	}
	return oneLine(out + ".")
}

// suggestion writes a server command when the record supports one: the largest
// context sweep in which every run worked, on a server whose flags we know.
func (m *mdWriter) suggestion() {
	r := m.res
	ok := largestSweep(r, true)
	if ok == nil || ok.CtxSize <= 0 {
		return
	}
	kind := strings.ToLower(string(r.Server.Kind))
	slots := max(r.Server.Slots, 1)
	var cmd string
	switch {
	case strings.Contains(kind, "ollama"):
		cmd = fmt.Sprintf("OLLAMA_CONTEXT_LENGTH=%d ollama serve", ok.CtxSize)
	case strings.Contains(kind, "llama.cpp") || strings.Contains(kind, "llama-server"):
		model := "MODEL.gguf"
		if p := r.Server.Settings["model_path"]; p != "" {
			model = p
		}
		cmd = fmt.Sprintf("llama-server -m %s -c %d", shellQuote(model), ok.CtxSize*slots)
		if slots > 1 {
			cmd += fmt.Sprintf(" -np %d", slots)
		}
	default:
		return
	}
	m.p("## Suggested server command\n\n")
	why := fmt.Sprintf("The largest context that worked in every run was %s tokens (`%s`, %d of %d runs",
		commas(float64(ok.CtxSize)), code(ok.TestID), ok.SuccessfulRuns, max(ok.NRuns, ok.SuccessfulRuns))
	if v := ok.GPUStats.PeakVRAMUsedMB; v != nil {
		why += fmt.Sprintf(", peak VRAM %s MiB", commas(*v))
	}
	why += ")"
	// What happened above it.
	var above []string
	for i := range r.Benchmarks {
		b := &r.Benchmarks[i]
		if b.Category != schema.CategoryContextSweep || b.CtxSize <= ok.CtxSize {
			continue
		}
		switch BenchmarkStatus(b) {
		case OutcomeSkipped:
			above = append(above, fmt.Sprintf("%s tokens: not run, %s", commas(float64(b.CtxSize)), orText(b.SkipReason, "no reason recorded")))
		default:
			f, n := failedRuns(b)
			above = append(above, fmt.Sprintf("%s tokens: %d of %d runs failed, %s", commas(float64(b.CtxSize)), f, n, failureReasons(b)[0]))
		}
	}
	if len(above) > 0 {
		why += "; " + strings.Join(above, "; ")
	}
	m.p("%s.\n\n", oneLine(why))
	if slots > 1 {
		m.p("llama-server divides `-c` among its %d slots, so each request gets %s tokens.\n\n", slots, commas(float64(ok.CtxSize)))
	}
	m.p("```sh\n%s\n```\n", cmd)
}

// shellQuote quotes s for a POSIX shell when it needs it.
func shellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./=:+,", r))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// pct is the signed relative change of v from base, e.g. "−12.3%".
func pct(v, base float64) string {
	if base == 0 {
		return "n/a"
	}
	p := 100 * (v - base) / base
	if p < 0 {
		return fmt.Sprintf("−%.1f%%", -p)
	}
	return fmt.Sprintf("+%.1f%%", p)
}

// commas formats v rounded to an integer with thousands separators.
func commas(v float64) string {
	if !finite(v) {
		return "—"
	}
	n := int64(math.Round(v))
	neg := n < 0
	if neg {
		n = -n
	}
	s := fmt.Sprint(n)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// oneLine keeps text on one line (for list items and headings).
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// cell makes text safe inside a table cell.
func cell(s string) string {
	return strings.ReplaceAll(oneLine(s), "|", `\|`)
}

// code makes text safe inside backticks.
func code(s string) string {
	return strings.ReplaceAll(oneLine(s), "`", "'")
}

func orDash(s string) string { return orText(cell(s), "—") }

func orText(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func nonEmpty(ss ...string) []string {
	var out []string
	for _, s := range ss {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}
