package report

import (
	"bytes"
	"fmt"
	"maps"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/typhonbench/typhon/internal/browser"

	"github.com/typhonbench/typhon/schema"
)

// TestDashboardExtremeFigures: figures near the largest a JSON number holds
// (1.7e308 tok/s in a long generation's series, 1e20 MiB of VRAM) are drawn
// and written without NaN, Inf or a wrapped-around negative number, on the
// page and in the Markdown summary.
func TestDashboardExtremeFigures(t *testing.T) {
	t.Parallel()
	r := fullResult()
	for i := range r.Benchmarks {
		for j := range r.Benchmarks[i].Series {
			r.Benchmarks[i].Series[j].TPS = 1.7e308
		}
		if v := r.Benchmarks[i].GPUStats.PeakVRAMUsedMB; v != nil {
			*v = 1e20
		}
	}
	var md bytes.Buffer
	if err := Markdown(&md, r); err != nil {
		t.Fatal(err)
	}
	for what, text := range map[string]string{"page": dashboard(t, r), "summary": md.String()} {
		for _, bad := range []string{"NaN", "Inf", "-9,223", "--9"} {
			if i := strings.Index(text, bad); i >= 0 {
				t.Errorf("%s holds %q: ...%s...", what, bad, text[max(0, i-80):min(len(text), i+40)])
			}
		}
	}
}

// TestCommasHuge: figures beyond an int64 are written, not wrapped around.
func TestCommasHuge(t *testing.T) {
	t.Parallel()
	for v, want := range map[float64]string{1e20: "1e+20", -1e20: "-1e+20", 1.7e308: "1.7e+308", 1234567: "1,234,567", -1234.4: "-1,234"} {
		if got := commas(v); got != want {
			t.Errorf("commas(%g) = %q, want %q", v, got, want)
		}
	}
}

// TestFleetRecordLoadShown: a fleet's merged record (three workers of 4 users)
// shows its load level as a record of one process does: in the load charts,
// in the brief's load points and in the load findings' figures.
func TestFleetRecordLoadShown(t *testing.T) {
	t.Parallel()
	var recs []*schema.Result
	for i := range 3 {
		var starts, ttft []float64
		for k := range 50 {
			starts = append(starts, float64(k)/5)
			ttft = append(ttft, 0.1+float64(k)/1000)
		}
		recs = append(recs, fleetRecord(t, i, 3, 0, starts, ttft, 0))
	}
	m, err := Merge(recs)
	if err != nil {
		t.Fatal(err)
	}
	lvl := m.Benchmarks[0]
	if lvl.Concurrency != lvl.Users || lvl.Users != 12 {
		t.Errorf("merged level: concurrency %d, users %d, want 12 and 12", lvl.Concurrency, lvl.Users)
	}
	if ids := chartIDs(dashboard(t, m)); !slices.Contains(ids, "load_ttft") {
		t.Errorf("charts of the merged record %v lack load_ttft", ids)
	}
	if l := NewBrief(m).Load; len(l) != 1 || l[0].Users != 12 || l[0].AggregateTPS != lvl.OutputTPS {
		t.Errorf("brief load %+v, want one point of 12 users at %g tok/s", l, lvl.OutputTPS)
	}
	// A merged record stored before its levels carried concurrency: the same.
	m.Benchmarks[0].Concurrency = 0
	if ids := chartIDs(dashboard(t, m)); !slices.Contains(ids, "load_ttft") {
		t.Errorf("charts of an older merged record %v lack load_ttft", ids)
	}
	if l := NewBrief(m).Load; len(l) != 1 || l[0].Users != 12 {
		t.Errorf("older merged record: brief load %+v, want one point of 12 users", l)
	}
	if m.Benchmarks[0].Concurrency != 0 {
		t.Errorf("reading the record changed it")
	}
}

// TestSuggestOptionLikeModel: a model id or path from the server that starts
// with a dash does not become an option of the suggested command.
func TestSuggestOptionLikeModel(t *testing.T) {
	t.Parallel()
	r := fullResult()
	r.Server.Kind, r.Model = "vllm", "--trust-remote-code"
	s := Suggest(r)
	if s == nil || strings.Contains(s.Command, " --trust-remote-code") || !strings.HasPrefix(s.Command, "vllm serve MODEL ") {
		t.Errorf("vLLM, model %q: %+v", r.Model, s)
	}
	r = fullResult()
	r.Server.Kind, r.Server.Settings = "llama.cpp", map[string]string{"model_path": "--api-key-file=/x"}
	if s := Suggest(r); s == nil || !strings.HasPrefix(s.Command, "llama-server -m ./--api-key-file=/x -c ") {
		t.Errorf("llama-server, model path %q: %+v", r.Server.Settings["model_path"], s)
	}
}

// TestSuggestImpossibleSizes: a server that reported 2^40 slots gets no
// command whose -c wraps around or exceeds what a server takes (int32).
func TestSuggestImpossibleSizes(t *testing.T) {
	t.Parallel()
	r := fullResult()
	r.Server.Kind, r.Server.Slots = "llama.cpp", 1<<40
	if s := Suggest(r); s != nil {
		t.Errorf("2^40 slots: %s", s.Command)
	}
	r.Server.Slots = 4
	if s := Suggest(r); s == nil || !strings.Contains(s.Command, " -c 32768 -np 4") {
		t.Errorf("4 slots: %+v", s)
	}
}

// loadSweep is a record of load levels of users with their output tok/s and
// failed requests (100 requests a level).
func loadSweep(levels map[int][2]float64) *schema.Result {
	r := &schema.Result{SchemaVersion: schema.Version, RunID: "sweep", Status: schema.StatusComplete, Mode: schema.ModeLoad}
	for _, u := range slices.Sorted(maps.Keys(levels)) {
		tps, failed := levels[u][0], int(levels[u][1])
		l := &schema.LoadLevel{Shape: schema.LoadUsers, Users: u, WindowS: 10, Completed: 100 - failed, Failed: failed, OutputTPS: tps}
		b := schema.Benchmark{TestID: fmt.Sprintf("load_users_%d", u), Category: schema.CategoryLoad, NRuns: 100,
			SuccessfulRuns: 100 - failed, Concurrency: u, AggregateTPS: tps, LoadLevel: l}
		if failed < 100 {
			b.Stats = &schema.Stats{TTFTP90S: 0.1 * float64(u), ITLP90MS: 10}
		}
		r.Benchmarks = append(r.Benchmarks, b)
	}
	return r
}

// TestLoadFindingsFailedTop: throughput that grew up to 4 users says nothing of
// room for more users when the level above failed every request, or when the
// top level's growth came with half its requests failed.
func TestLoadFindingsFailedTop(t *testing.T) {
	t.Parallel()
	for name, levels := range map[string]map[int][2]float64{
		"8 users all failed":     {1: {100, 0}, 2: {190, 0}, 4: {360, 0}, 8: {0, 100}},
		"8 users half failed":    {1: {100, 0}, 2: {190, 0}, 4: {360, 0}, 8: {600, 50}},
		"concurrency all failed": nil,
	} {
		r := loadSweep(levels)
		if levels == nil {
			r = loadSweep(map[int][2]float64{1: {100, 0}, 2: {190, 0}})
			r.Benchmarks = append(r.Benchmarks, schema.Benchmark{TestID: "concurrency_4", Category: schema.CategoryConcurrency,
				Concurrency: 4, NRuns: 8, Runs: []schema.RunSample{{Error: "timeout"}}})
		}
		fs := Findings(r)
		var got []string
		for _, f := range fs {
			got = append(got, f.Rule+": "+f.Text)
			if f.Rule == RuleMoreUsers {
				t.Errorf("%s: %s", name, f.Text)
			}
		}
		if !slices.ContainsFunc(fs, func(f Finding) bool { return f.Rule == RuleLoadFailures }) {
			t.Errorf("%s: no %s finding in %q", name, RuleLoadFailures, got)
		}
	}
	// Growth without failures still says the server could take more users.
	fs := Findings(loadSweep(map[int][2]float64{1: {100, 0}, 2: {190, 0}, 4: {360, 0}}))
	if !slices.ContainsFunc(fs, func(f Finding) bool { return f.Rule == RuleMoreUsers }) {
		t.Errorf("healthy sweep: no %s finding in %+v", RuleMoreUsers, fs)
	}
	if slices.ContainsFunc(fs, func(f Finding) bool { return f.Rule == RuleLoadFailures }) {
		t.Errorf("healthy sweep: %+v", fs)
	}
}

// oddResult is fullResult with text that tries CSS, URLs and bidi tricks, a
// 100 KB model name, and figures near the largest float.
func oddResult() *schema.Result {
	r := fullResult()
	r.RunID = "odd-run"
	r.Model = "</style><style>body{display:none}</style>" + strings.Repeat("M", 100_000)
	r.Server.APIBase = "javascript:document.body.setAttribute('data-pwned','3')"
	r.Server.Version = "b1 \u202e4.1 s/kot\u202c"
	r.ProfileSnapshot.GPUs[0].Name = `GPU</title><base href="http://typhon-test.invalid/"><link rel=stylesheet href="http://typhon-test.invalid/x.css">`
	r.ProfileSnapshot.CPU.Model = `x{background:url(http://typhon-test.invalid/bg.png)}`
	for i := range r.Benchmarks {
		for j := range r.Benchmarks[i].Series {
			r.Benchmarks[i].Series[j].TPS = 1.7e308
		}
	}
	return r
}

// fleetMerged is three fleet workers' records merged into one.
func fleetMerged(t *testing.T) *schema.Result {
	var recs []*schema.Result
	for i := range 3 {
		var starts, ttft []float64
		for k := range 50 {
			starts = append(starts, float64(k)/5)
			ttft = append(ttft, 0.1+float64(k)/1000)
		}
		recs = append(recs, fleetRecord(t, i, 3, 0, starts, ttft, 2))
	}
	m, err := Merge(recs)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// manyLevels is a record of n concurrency tests, 1 to n users.
func manyLevels(n int) *schema.Result {
	r := &schema.Result{SchemaVersion: schema.Version, RunID: "many", Status: schema.StatusComplete}
	for u := 1; u <= n; u++ {
		r.Benchmarks = append(r.Benchmarks, schema.Benchmark{TestID: fmt.Sprintf("concurrency_%d", u), Category: schema.CategoryConcurrency,
			Concurrency: u, AggregateTPS: 100 * math.Sqrt(float64(u)), SuccessfulRuns: u, NRuns: u, AvgTPS: 100 / math.Sqrt(float64(u)),
			Stats: &schema.Stats{TTFTP90S: 0.01 * float64(u), ITLP90MS: 10 + float64(u)/100}})
	}
	return r
}

// oddCases are odd records the dashboard draws, with the charts each must have.
var oddCases = []struct {
	name   string
	runs   func(t *testing.T) []*schema.Result
	charts []string
}{
	{"odd_text_and_figures", func(*testing.T) []*schema.Result { return []*schema.Result{oddResult()} },
		[]string{"ttft", "prefill", "decode", "series_tps", "series_temp", "series_power", "series_clock", "memory_wall", "vram"}},
	{"negative_figures", func(*testing.T) []*schema.Result { return []*schema.Result{negativeResult()} },
		[]string{"ttft", "prefill", "decode", "series_tps", "series_temp", "series_power", "series_clock", "memory_wall", "vram"}},
	{"fleet_merged", func(t *testing.T) []*schema.Result { return []*schema.Result{fleetMerged(t)} }, []string{"load_ttft"}},
	{"load_top_failed", func(*testing.T) []*schema.Result {
		return []*schema.Result{loadSweep(map[int][2]float64{1: {100, 0}, 2: {190, 0}, 4: {360, 0}, 8: {0, 100}})}
	}, []string{"load_ttft", "load_itl"}},
	{"300_levels_twice", func(*testing.T) []*schema.Result { return []*schema.Result{manyLevels(300), manyLevels(300)} }, []string{"load_ttft", "load_itl"}},
	{"older_record", func(*testing.T) []*schema.Result {
		r := fullResult()
		r.SchemaVersion = 1
		for i := range r.Benchmarks {
			b := &r.Benchmarks[i]
			b.Stats, b.ValidRuns, b.MemoryWall, b.Series = nil, 0, nil, nil
			for j := range b.Runs {
				b.Runs[j].Excluded = ""
			}
		}
		return []*schema.Result{r}
	}, []string{"ttft", "prefill", "decode", "vram"}},
}

// TestOddDashboardsInBrowser renders the odd records in headless Chromium:
// each has its charts with their axis labels, no console message, no request
// and no element from the record's text; the tricks stay text.
func TestOddDashboardsInBrowser(t *testing.T) {
	t.Parallel()
	for _, c := range oddCases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			html := dashboard(t, c.runs(t)...)
			for _, bad := range []string{"NaN", "Inf", "ZgotmplZ", "\u202e", "<base", "<link", "</style><style>"} {
				if strings.Contains(html, bad) {
					t.Errorf("page holds %q", bad)
				}
			}
			p := renderDashboard(t, "odd_"+c.name, []byte(html), c.charts, browser.Options{})
			if strings.Contains(p.DOM, "data-pwned=") || strings.Contains(p.DOM, "<base") {
				t.Errorf("the record's text became markup")
			}
			if c.name == "odd_text_and_figures" && !strings.Contains(p.DOM, "&lt;/style&gt;&lt;style&gt;body{display:none}&lt;/style&gt;") {
				t.Errorf("the DOM lacks the model's style text as text")
			}
		})
	}
}

// TestDashboardHugeText: a 100 KB model name, run id, test name and error are
// cut on the page (with their length said), so the findings, tests and charts
// stay in view; names and the header's facts are cut shortest.
func TestDashboardHugeText(t *testing.T) {
	t.Parallel()
	r := fullResult()
	huge := strings.Repeat("M", 100_000)
	r.Model, r.RunID, r.Benchmarks[0].Name = huge, huge, huge
	r.Error = strings.Repeat("E", 100_000)
	html := dashboard(t, r)
	if strings.Contains(html, strings.Repeat("E", maxText+1)) || !strings.Contains(html, strings.Repeat("E", maxText)) {
		t.Errorf("page does not hold the error cut to %d characters", maxText)
	}
	if strings.Contains(html, strings.Repeat("M", maxFact+1)) {
		t.Errorf("page holds a name of more than %d characters", maxFact)
	}
	if !strings.Contains(html, "… (100,000 characters)") {
		t.Errorf("page does not say how long the cut text was")
	}
	if len(html) > 60_000 {
		t.Errorf("page of %d bytes for 400 KB of text", len(html))
	}
}

// TestHugeFiguresShort: figures near the largest float (decode speed, power,
// temperature, throughput) are written as 1.7e+308 in the findings, the
// Markdown summary and the page, not as 309 digits.
func TestHugeFiguresShort(t *testing.T) {
	t.Parallel()
	r := healthyResult()
	for i := range r.Benchmarks {
		b := &r.Benchmarks[i]
		b.AvgTPS, b.BestTPS, b.AggregateTPS = 1.7e308, 1.7e308, 1e-300+float64(i%2)*1.7e308
		b.GPUStats.PeakTempC, b.GPUStats.PeakPowerW = f64(1e300), f64(1e300)
		for j := range b.Series {
			b.Series[j].TPS = 1.7e308
		}
		for j := range b.Runs {
			b.Runs[j].TPS = 1.7e308
		}
	}
	var md bytes.Buffer
	if err := Markdown(&md, r); err != nil {
		t.Fatal(err)
	}
	var fs []string
	for _, f := range Findings(r) {
		fs = append(fs, f.Text)
	}
	long := regexp.MustCompile(`[0-9]{20,}|Inf|NaN`)
	for what, text := range map[string]string{"findings": strings.Join(fs, "\n"), "summary": md.String(), "page": dashboard(t, r)} {
		if m := long.FindString(text); m != "" {
			t.Errorf("%s holds a figure %.30s (%d characters)", what, m, len(m))
		}
	}
}

// TestSuggestVLLMUnknownSlots: a vLLM record that does not know how many
// sequences the server ran at once suggests no --max-num-seqs (vLLM's default
// is far above one), rather than --max-num-seqs 1 from no figure.
func TestSuggestVLLMUnknownSlots(t *testing.T) {
	t.Parallel()
	r := fullResult()
	r.Server.Kind, r.Model, r.Server.Slots = "vllm", "org/model", 0
	s := Suggest(r)
	if s == nil || strings.Contains(s.Command, "--max-num-seqs") || s.Parallel != 0 || !strings.Contains(strings.Join(s.Notes, " "), "default") {
		t.Errorf("unknown slots: %+v", s)
	}
	r.Server.Slots = 16
	if s := Suggest(r); s == nil || !strings.HasSuffix(s.Command, " --max-num-seqs 16") || s.Parallel != 16 {
		t.Errorf("16 slots: %+v", s)
	}
}

// TestFindingsBounded: a record with 3,000 failed tests, and a test of 5,000
// failed runs with distinct errors and 5,000 runs excluded for distinct reasons,
// gets a bounded list of findings, each a bounded line, that still counts
// everything.
func TestFindingsBounded(t *testing.T) {
	t.Parallel()
	r := fullResult()
	b := &r.Benchmarks[1]
	b.Runs = nil
	for i := range 5000 {
		b.Runs = append(b.Runs, schema.RunSample{Error: fmt.Sprintf("error %d %s", i, strings.Repeat("x", 100))},
			schema.RunSample{Success: true, TPS: 10, Excluded: fmt.Sprintf("reason-%d", i)})
	}
	b.NRuns, b.SuccessfulRuns = 10000, 5000
	for i := range 3000 {
		r.Benchmarks = append(r.Benchmarks, schema.Benchmark{TestID: fmt.Sprintf("extra_%d", i), Category: schema.CategoryBaseline,
			NRuns: 1, Error: "connection refused"})
	}
	fs := Findings(r)
	if len(fs) > 40 {
		t.Errorf("%d findings", len(fs))
	}
	for _, f := range fs {
		if n := len([]rune(f.Text)); n > 2*maxText {
			t.Errorf("%s finding of %d characters", f.Rule, n)
		}
	}
	failed := 0
	for i := range r.Benchmarks {
		if st := BenchmarkStatus(&r.Benchmarks[i]); st == OutcomeFailed || st == OutcomePartial {
			failed++
		}
	}
	want := fmt.Sprintf("%s more like the above: `extra_7`;", commas(float64(failed-maxPerRule+1)))
	if !slices.ContainsFunc(fs, func(f Finding) bool {
		return f.Rule == RuleFailed && f.Title == "Failed (more)" && strings.HasPrefix(f.Text, want) && strings.HasSuffix(f.Text, " other tests.")
	}) {
		t.Errorf("no finding counts the other %d failed tests (%d findings)", failed-maxPerRule+1, len(fs))
	}
	if !slices.ContainsFunc(fs, func(f Finding) bool { return f.Rule == RuleExcluded && f.Title == "Runs excluded (more)" }) {
		t.Errorf("no finding counts the other exclusion reasons")
	}
	if !slices.ContainsFunc(fs, func(f Finding) bool { return strings.Contains(f.Text, "and 4,995 other") }) {
		t.Errorf("no finding counts the other failure reasons")
	}
}

// TestBenchstatOddTestIDs: a test id with a slash, a space, an equals sign or
// a bidi override stays one name part (benchstat reads "/key=value" as a new
// configuration key), and its figures one line.
func TestBenchstatOddTestIDs(t *testing.T) {
	t.Parallel()
	r := fullResult()
	r.Benchmarks[0].TestID = "a/gpu=fake x\u202e\ny"
	var buf bytes.Buffer
	if err := Benchstat(&buf, r); err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(buf.String(), "\n") {
		name, _, _ := strings.Cut(l, " ")
		if strings.HasPrefix(l, BenchstatBenchmark) && (strings.Count(name, "/") != 1 || strings.Count(name, "=") != 1 || strings.ContainsRune(name, '\u202e')) {
			t.Errorf("benchmark name %q", name)
		}
	}
}

// TestDashboardLongSeries: a long generation sampled 100,000 times is drawn
// from a bounded number of points that keep each interval's lowest and
// highest speed (a drop stays visible), and the caption says so.
func TestDashboardLongSeries(t *testing.T) {
	t.Parallel()
	r := fullResult()
	b := benchOf(r, "long_gen")
	p := b.Series[0]
	b.Series = nil
	for k := range 100_000 {
		q := p
		q.T, q.TPS = float64(k), 80+float64(k%7)
		if k == 54_321 {
			q.TPS = 3 // one deep drop
		}
		b.Series = append(b.Series, q)
	}
	html := dashboard(t, r)
	if len(html) > 2_000_000 {
		t.Errorf("page of %d bytes", len(html))
	}
	if !strings.Contains(html, "long_gen at 54321 s: 3.00") {
		t.Errorf("the drop to 3 tok/s at 54,321 s is not drawn")
	}
	if !strings.Contains(html, "100,000 samples") {
		t.Errorf("no caption says the series was thinned")
	}
}

// TestSuggestUnprintableModel: a model path or id with terminal escapes or a
// line break (a fence that would end the summary's code block) is not put
// into the command; the summary and the brief carry no escape.
func TestSuggestUnprintableModel(t *testing.T) {
	t.Parallel()
	bad := "/m/x\x1b]0;pwned\x07\n```\n# injected \u202e"
	for _, kind := range []schema.Kind{"llama.cpp", "vllm"} {
		r := fullResult()
		r.Server.Kind, r.Model, r.Server.Settings = kind, bad, map[string]string{"model_path": bad}
		s := Suggest(r)
		if s == nil || strings.ContainsAny(s.Command, "\x1b\x07\n`\u202e") || strings.Contains(s.Command, "injected") {
			t.Errorf("%s: command %+v", kind, s)
		}
		var md bytes.Buffer
		if err := Markdown(&md, r); err != nil {
			t.Fatal(err)
		}
		if strings.ContainsAny(md.String(), "\x1b\x07\u202e") || strings.Contains(md.String(), "\n# injected") {
			t.Errorf("%s: the summary holds the model's escapes or lines", kind)
		}
	}
}

// negativeResult is fullResult with negative VRAM peaks and a negative speed
// in the long generation's series (a broken sampler or a hand-made record).
func negativeResult() *schema.Result {
	r := fullResult()
	for i := range r.Benchmarks {
		b := &r.Benchmarks[i]
		if v := b.GPUStats.PeakVRAMUsedMB; v != nil && i%2 == 0 {
			*v = -*v
		}
		for j := range b.Series {
			if j == 1 {
				b.Series[j].TPS = -40
			}
		}
	}
	return r
}

// TestDashboardNegativeFigures: negative figures are drawn inside the plot
// (the axis reaches below zero) and no bar has a negative height, which SVG
// refuses with a console error.
func TestDashboardNegativeFigures(t *testing.T) {
	t.Parallel()
	html := dashboard(t, negativeResult())
	if m := regexp.MustCompile(`height="-[0-9.]+"`).FindString(html); m != "" {
		t.Errorf("a bar with %s", m)
	}
	for _, m := range regexp.MustCompile(`<circle[^>]* cy="([-0-9.]+)"`).FindAllStringSubmatch(html, -1) {
		if y, _ := strconv.ParseFloat(m[1], 64); y < plotT || y > plotB {
			t.Errorf("a point at y=%g, outside the plot (%g to %g)", y, plotT, plotB)
		}
	}
}

// TestDashboardManyRunsColours: nine runs on one dashboard get nine colours.
func TestDashboardManyRunsColours(t *testing.T) {
	t.Parallel()
	var runs []*schema.Result
	for range 9 {
		runs = append(runs, fullResult())
	}
	html := dashboard(t, runs...)
	legend := html[:strings.Index(html, "</p>")]
	seen := map[string]bool{}
	for _, m := range regexp.MustCompile(`background:(#[0-9a-f]{6})`).FindAllStringSubmatch(legend, -1) {
		seen[m[1]] = true
	}
	if len(seen) != 9 {
		t.Errorf("%d colours for 9 runs: %v", len(seen), seen)
	}
}

// TestLoadFindingsOneFamily: a record with both the older concurrency tests
// (short outputs, rounds) and a load sweep of users compares levels within the
// load sweep, not a load level with a concurrency test of other lengths.
func TestLoadFindingsOneFamily(t *testing.T) {
	t.Parallel()
	r := loadSweep(map[int][2]float64{1: {100, 0}, 2: {190, 0}, 4: {360, 0}, 8: {600, 0}})
	for _, n := range []int{2, 4, 16} {
		r.Benchmarks = append(r.Benchmarks, schema.Benchmark{TestID: fmt.Sprintf("concurrency_%d", n), Category: schema.CategoryConcurrency,
			Concurrency: n, NRuns: n, SuccessfulRuns: n, AvgTPS: 20, AggregateTPS: 20 * float64(n) / 4, Stats: &schema.Stats{TTFTP90S: 1}})
	}
	for _, f := range Findings(r) {
		if strings.Contains(f.Text, "concurrency_") {
			t.Errorf("%s compares across the two families: %s", f.Rule, f.Text)
		}
	}
	if l := NewBrief(r).Load; len(l) != 7 {
		t.Errorf("brief load points %+v, want the 7 tests of several users", l)
	}
	if n := strings.Count(dashboard(t, r), "users (concurrency_"); n != 0 {
		t.Errorf("the load charts draw %d concurrency tests among the load levels", n)
	}
}

// TestSuggestNotFromTruncated: a context sweep whose runs all succeeded but
// whose prompts the server truncated did not work at that context: the
// suggestion keeps the largest size with runs that were not truncated.
func TestSuggestNotFromTruncated(t *testing.T) {
	t.Parallel()
	r := fullResult()
	b := benchOf(r, "ctx_sweep_16384")
	b.Runs = []schema.RunSample{{Success: true, TPS: 50, Excluded: schema.ExcludedTruncated}, {Success: true, TPS: 50, Excluded: schema.ExcludedTruncated}}
	b.NRuns, b.SuccessfulRuns, b.ValidRuns, b.Stats = 2, 2, 0, nil
	s := Suggest(r)
	if s == nil || s.CtxSize != 8192 {
		t.Errorf("suggestion %+v, want 8,192 (16,384 was truncated)", s)
	}
	if s != nil && !strings.Contains(s.Reason, "truncated") {
		t.Errorf("the reason does not say why 16,384 was not kept: %s", s.Reason)
	}
}
