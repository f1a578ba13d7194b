package report

import (
	"bufio"
	"errors"
	"fmt"
	"io"
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
				power = fmt.Sprintf("%.0f W", fig(g.PowerLimitW))
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
		s := fmt.Sprintf("RAM: %.1f GiB", fig(p.RAM.TotalMB/1024))
		if p.RAM.AvailableMB > 0 {
			s += fmt.Sprintf(" (%.1f GiB available at the start)", fig(p.RAM.AvailableMB/1024))
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
		m.p("| Test | Context | Runs ok | Valid | Median tok/s | 95%% CI tok/s | Avg tok/s | Best tok/s | TTFT s | Prefill tok/s | Peak VRAM MiB | Peak °C | Status |\n")
		m.p("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n")
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
		m.p("| %s | %s | — | — | — | — | — | — | — | — | — | — | skipped |\n", name, ctx)
		return
	}
	runs := fmt.Sprintf("%d/%d", b.SuccessfulRuns, max(b.NRuns, len(b.Runs), b.SuccessfulRuns))
	num := func(v float64, f string) string {
		if v <= 0 || !finite(v) {
			return "—"
		}
		return fmt.Sprintf(f, fig(v))
	}
	ok := b.SuccessfulRuns > 0
	valid, median, ci, tps, best, ttft, prefill := validText(b), "—", "—", "—", "—", "—", "—"
	if ok {
		median, ci = medianText(b, fmt1), ciText(b, fmt1)
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
		temp = fmt.Sprintf("%.0f", fig(*v))
	}
	st := status
	if status == OutcomePartial || status == OutcomeFailed {
		if f, _ := failedRuns(b); f > 0 {
			st = fmt.Sprintf("%s (%d failed)", status, f)
		}
	}
	if x := excludedText(b); x != "" {
		st += "; " + cell(x)
	}
	m.p("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", name, ctx, runs, valid, median, ci, tps, best, ttft, prefill, vram, temp, st)
}

func wallText(w *schema.MemoryWall) string {
	if wallTokens(w) <= 0 {
		s := "no prompt size worked"
		if w.Failure != "" {
			s += " (" + oneLine(w.Failure) + ")"
		}
		return s
	}
	s := fmt.Sprintf("`wall_kind` %s: the largest prompt that worked was %s tokens", code(wallKind(w)), commas(float64(wallTokens(w))))
	if f := wallFailure(w); f != "" {
		s += "; " + f
	}
	if w.BoundTokens > 0 {
		s += fmt.Sprintf("; bound %s tokens (%s)", commas(float64(w.BoundTokens)), oneLine(orText(w.Bound, "no reason recorded")))
	}
	if w.ContextTokens > 0 {
		s += fmt.Sprintf("; context %s tokens per request at the wall", commas(float64(w.ContextTokens)))
	}
	if len(w.Steps) > 0 && w.ElapsedS > 0 {
		s += fmt.Sprintf("; %d steps in %.1f s", len(w.Steps), fig(w.ElapsedS))
	}
	return oneLine(s)
}

func (m *mdWriter) findings() {
	fs := Findings(m.res)
	m.p("## Findings\n\n")
	if len(fs) == 0 {
		m.p("Nothing to report: the record holds no measurement to draw a finding from.\n\n")
		return
	}
	for _, f := range fs {
		m.p("- **%s:** %s\n", oneLine(f.Title), oneLine(f.Text))
	}
	m.p("\n")
}

// suggestion writes the server command of Suggest, with why, when there is one.
func (m *mdWriter) suggestion() {
	s := Suggest(m.res)
	if s == nil {
		return
	}
	m.p("## Suggested server command\n\n")
	m.p("%s\n\n", s.Reason)
	for _, n := range s.Notes {
		m.p("%s\n\n", oneLine(n))
	}
	m.p("```sh\n%s\n```\n", oneLine(s.Command))
}
