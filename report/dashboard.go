package report

import (
	_ "embed"
	"errors"
	"fmt"
	"html/template"
	"io"
	"strings"

	"github.com/typhonbench/typhon/schema"
)

//go:embed dashboard.html.tmpl
var dashboardHTML string

var dashboardTmpl = template.Must(template.New("dashboard").Funcs(template.FuncMap{
	"add": func(a, b float64) float64 { return round1(a + b) },
	"sub": func(a, b float64) float64 { return round1(a - b) },
	"div": func(a, b float64) float64 { return round1(a / b) },
}).Parse(dashboardHTML))

// Dashboard writes one self-contained HTML page for one or more records: the
// run header, the findings and the suggested server command, a table per run,
// and charts drawn as inline SVG (TTFT, prefill and decode speed against prompt
// length; the long generation over time beside GPU temperature, power and SM
// clock; the memory wall; throughput against latency under load; GPU memory per
// test). Several records share the charts, one colour per run, and the later
// ones are compared with the first. The page loads nothing from anywhere, runs
// no script, escapes every text of the records and draws whatever figures are
// present. The output depends only on the records.
func Dashboard(w io.Writer, runs ...*schema.Result) error {
	var rs []dashRun
	for i, r := range runs {
		if r == nil {
			return fmt.Errorf("report: dashboard: record %d is nil", i+1)
		}
		label := clip(clean(r.RunID), maxFact)
		if label == "" || len(runs) > 1 {
			label = strings.TrimSpace(fmt.Sprintf("run %d %s", i+1, label))
		}
		rs = append(rs, dashRun{res: r, label: label, color: runColor(i)})
	}
	if len(rs) == 0 {
		return errors.New("report: dashboard: no record")
	}
	return dashboardTmpl.Execute(w, dashboardView(rs))
}

type dashView struct {
	Title   string
	Multi   bool
	Runs    []runView
	Compare []compareView
	Charts  []*chart
	Missing []string
}

type fact struct{ K, V string }

type runView struct {
	Label, Color, Error string
	Facts               []fact
	Findings            []findingView
	Suggestion          *Suggestion
	Tests               []testView
}

type findingView struct {
	Severity     string
	Title, Parts []textPart
}

// textPart is a piece of a finding's text; Code marks what was in backticks.
type textPart struct {
	Code bool
	S    string
}

type testView struct {
	ID, Name, Ctx, Runs, Valid, Median, CI, Spread, TTFT, Prefill, Server, Load, VRAM, Status, Reason string
	Excluded                                                                                          string // runs excluded, by reason
}

type compareView struct {
	Title, Verdict string
	Reasons        []string
	Rows           []compareRow
}

type compareRow struct{ Test, Metric, Base, Cur, Change, Verdict string }

func dashboardView(rs []dashRun) dashView {
	v := dashView{Multi: len(rs) > 1}
	if v.Multi {
		v.Title = fmt.Sprintf("Typhon: %d runs", len(rs))
	} else {
		v.Title = "Typhon run " + orText(clip(clean(rs[0].res.RunID), maxFact), "(no run id)")
	}
	for _, r := range rs {
		v.Runs = append(v.Runs, runViewOf(r))
	}
	for _, r := range rs[1:] {
		v.Compare = append(v.Compare, compareViewOf(rs[0], r))
	}
	v.Charts = append(v.Charts, promptCharts(rs)...)
	v.Charts = append(v.Charts, seriesCharts(rs)...)
	if c := wallChart(rs); c != nil {
		v.Charts = append(v.Charts, c)
	}
	v.Charts = append(v.Charts, loadCharts(rs)...)
	if c := vramChart(rs); c != nil {
		v.Charts = append(v.Charts, c)
	} else {
		v.Missing = append(v.Missing, "No GPU memory chart: "+orText(noGPUWhy(rs), "the records hold no GPU memory figure")+".")
	}
	for _, c := range v.Charts {
		cleanChart(c)
	}
	return v
}

// noGPUWhy is why the runs have no GPU figures, as the records say it.
func noGPUWhy(rs []dashRun) string {
	for _, r := range rs {
		if r.res.GPUUnavailable != "" {
			return clean(r.res.GPUUnavailable)
		}
		if p := r.res.ProfileSnapshot; p != nil && p.GPUError != "" {
			return clean(p.GPUError)
		}
	}
	return ""
}

func runViewOf(r dashRun) runView {
	res := r.res
	v := runView{Label: r.label, Color: r.color, Error: clean(res.Error), Facts: runFacts(res)}
	for _, f := range Findings(res) {
		v.Findings = append(v.Findings, findingView{Severity: f.Severity, Title: codeParts(clean(f.Title)), Parts: codeParts(clean(f.Text))})
	}
	if s := Suggest(res); s != nil {
		s.Command, s.Reason = clean(s.Command), clean(strings.ReplaceAll(s.Reason, "`", ""))
		for i, n := range s.Notes {
			s.Notes[i] = clean(strings.ReplaceAll(n, "`", ""))
		}
		v.Suggestion = s
	}
	for i := range res.Benchmarks {
		v.Tests = append(v.Tests, testViewOf(&res.Benchmarks[i]))
	}
	return v
}

// runFacts is the run header: server, model, context, GPU, driver, Typhon, date.
func runFacts(res *schema.Result) []fact {
	s := res.Server
	var fs []fact
	add := func(k, v string) {
		if v = clip(clean(v), maxFact); v != "" {
			fs = append(fs, fact{k, v})
		}
	}
	add("Server", strings.Join(nonEmpty(orText(string(s.Kind), s.Name), s.Version), " "))
	add("At", s.APIBase)
	add("Model", res.Model)
	add("Quantisation", s.Quantization)
	if s.CtxSize > 0 {
		ctx := commas(float64(s.CtxSize)) + " tokens per slot"
		if s.Slots > 0 {
			ctx += fmt.Sprintf(", %d slot%s", s.Slots, plural(s.Slots))
		}
		add("Context", ctx)
	}
	h := briefHardware(res)
	if h.GPU != "" {
		add("GPU", fmt.Sprintf("%s (%s MiB)", h.GPU, commas(h.GPUMemoryMB)))
	} else {
		add("GPU", orText(h.NoGPUReason, "none recorded"))
	}
	add("Driver", strings.Join(nonEmpty(h.Driver, prefix("CUDA ", h.CUDA)), ", "))
	add("CPU", h.CPU)
	add("Typhon", res.TyphonVersion)
	if !res.RunAt.IsZero() {
		add("Date", res.RunAt.UTC().Format("2006-01-02 15:04 UTC"))
	}
	add("Mode", string(res.Mode))
	add("Status", string(res.Status))
	return fs
}

func prefix(p, s string) string {
	if s == "" {
		return ""
	}
	return p + s
}

func testViewOf(b *schema.Benchmark) testView {
	st := BenchmarkStatus(b)
	t := testView{ID: clip(clean(b.TestID), maxFact), Name: clip(clean(orText(b.Name, b.TestID)), maxFact), Status: st, Ctx: "—", Runs: "—", Valid: "—", Median: "—",
		CI: "—", Spread: "—", TTFT: "—", Prefill: "—", Server: "—", Load: "—", VRAM: "—"}
	if t.Name == t.ID {
		t.ID = ""
	}
	if st != OutcomeOK {
		t.Reason = clean(benchmarkReason(b))
	}
	if b.CtxSize > 0 {
		t.Ctx = commas(float64(b.CtxSize))
	}
	if v := b.GPUStats.PeakVRAMUsedMB; v != nil && finite(*v) {
		t.VRAM = commas(*v)
	}
	if b.Skipped {
		return t
	}
	t.Runs = fmt.Sprintf("%d/%d", b.SuccessfulRuns, max(b.NRuns, len(b.Runs), b.SuccessfulRuns))
	t.Valid, t.Excluded = validText(b), clean(excludedText(b))
	if b.SuccessfulRuns <= 0 {
		return t
	}
	fig := func(vs ...float64) string {
		for _, v := range vs {
			if v > 0 && finite(v) {
				return num(v)
			}
		}
		return "—"
	}
	t.Median, t.CI = medianText(b, num), ciText(b, num)
	t.TTFT, t.Prefill, t.Server = fig(b.AvgTTFTS), fig(b.AvgPrefillTPS), fig(b.AvgServerTPS)
	if s := b.Stats; s != nil {
		t.TTFT = fig(s.TTFTMedianS, s.TTFTP50S, b.AvgTTFTS)
		if s.TPSStdev > 0 && finite(s.TPSStdev) {
			t.Spread = "±" + num(s.TPSStdev)
		}
	}
	if b.Concurrency > 0 && b.AggregateTPS > 0 {
		t.Load = fmt.Sprintf("%d: %s", b.Concurrency, num(b.AggregateTPS))
	}
	return t
}

func compareViewOf(base, cur dashRun) compareView {
	c := Compare(base.res, cur.res, CompareOptions{})
	v := compareView{Title: cur.label + " against " + base.label, Verdict: clean(verdictLine(c))}
	for _, r := range append(append([]string(nil), c.Reasons...), c.Notes...) {
		v.Reasons = append(v.Reasons, clean(r))
	}
	for _, b := range c.Benchmarks {
		for _, m := range b.Metrics {
			v.Rows = append(v.Rows, compareRow{Test: clean(m.TestID), Metric: m.Metric, Base: figure(m, m.Baseline, m.BaselineStdev, m.BaselineN),
				Cur: figure(m, m.Current, m.CurrentStdev, m.CurrentN), Change: changeText(m), Verdict: string(m.Verdict)})
		}
	}
	return v
}

// codeParts splits text at backticks: the odd pieces were marked as code.
func codeParts(s string) []textPart {
	var out []textPart
	for i, p := range strings.Split(s, "`") {
		if p != "" {
			out = append(out, textPart{Code: i%2 == 1, S: p})
		}
	}
	return out
}

func cleanChart(c *chart) {
	c.Caption = clean(c.Caption)
	for i := range c.Series {
		c.Series[i].Name = clean(c.Series[i].Name)
		for j := range c.Series[i].Points {
			p := &c.Series[i].Points[j]
			p.Title, p.Label = clean(p.Title), clean(p.Label)
		}
	}
	for i := range c.Bars {
		c.Bars[i].Title = clean(c.Bars[i].Title)
	}
	for i := range c.XTicks {
		c.XTicks[i].Label = clean(c.XTicks[i].Label)
	}
}

// Bounds of a record's text on the page: a longer one is cut and its length
// said, so that one huge field does not push the rest out of view.
const (
	maxText = 2000 // an error, a finding, a name
	maxFact = 200  // a fact of the run header, a run's label
)

// clean makes record text fit to show (see oneLine), cut to maxText.
func clean(s string) string { return clip(oneLine(s), maxText) }

// clip cuts s to n characters and says how long it was.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	runes := []rune(s)
	if len(runes) <= n {
		return s
	}
	return string(runes[:n]) + fmt.Sprintf("… (%s characters)", commas(float64(len(runes))))
}
