package report

import (
	"bytes"
	"encoding/json"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/typhonbench/typhon/schema"
)

func dashboard(t *testing.T, runs ...*schema.Result) string {
	t.Helper()
	var buf bytes.Buffer
	if err := Dashboard(&buf, runs...); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

// Hostile texts a record may carry: markup, a quote that would end an
// attribute, terminal escapes.
const (
	hostileScript = `<script>document.body.setAttribute("data-pwned","1")</script>`
	hostileImg    = `"><img src=x onerror="document.body.setAttribute('data-pwned','2')">`
	hostileANSI   = "\x1b[31mred\x1b[0m \x1b]8;;http://typhon-test.invalid/\x07link\x1b]8;;\x07 bell\x07"
)

// hostileResult is fullResult with hostile text in every string a person or a
// server chose: the model, names, errors, reasons, notes, settings, GPU names.
func hostileResult() *schema.Result {
	r := fullResult()
	h := hostileScript + hostileImg + hostileANSI
	r.RunID = "hostile-run"
	r.Model = "model " + h
	r.Error = "error " + h
	r.Server.Name, r.Server.Version, r.Server.Quantization = h, h, h
	r.Server.Settings = map[string]string{h: h}
	r.ProfileSnapshot.GPUs[0].Name = "GPU " + h
	r.ProfileSnapshot.CPU.Model = h
	for i := range r.Benchmarks {
		b := &r.Benchmarks[i]
		b.Name = "test " + h
		b.Notes = []string{h}
		b.GPUStats.ThrottleReasons = []string{h}
		if b.Skipped {
			b.SkipReason = "skip " + h
		}
		for j := range b.Runs {
			if !b.Runs[j].Success {
				b.Runs[j].Error = "run error " + h
			}
		}
		if w := b.MemoryWall; w != nil {
			w.Failure, w.Steps[0].Error, w.Steps[0].ErrorKind = h, h, h
			w.FailureClass, w.Bound, w.Steps[0].FailureClass, w.WallKind = h, h, h, h
		}
		if len(b.Runs) > 0 && b.Runs[0].Success {
			b.Runs[0].Excluded = h
		}
	}
	r.Benchmarks[3].TestID = "ctx_sweep_" + h
	return r
}

// emptyResult is a record of a run that found no server: only an error.
func emptyResult() *schema.Result {
	return &schema.Result{SchemaVersion: schema.Version, RunID: "nothing", Status: schema.StatusFailed,
		Error: "No LLM server detected or benchmark produced no results."}
}

// dashboardCases are the records the dashboard tests render, with the charts
// each must have (by data-chart id, in order).
var dashboardCases = []struct {
	name   string
	runs   func() []*schema.Result
	charts []string
}{
	{"full", func() []*schema.Result { return []*schema.Result{fullResult()} },
		[]string{"ttft", "prefill", "decode", "series_tps", "series_temp", "series_power", "series_clock", "memory_wall", "vram"}},
	{"load", func() []*schema.Result { return []*schema.Result{healthyResult()} },
		[]string{"ttft", "prefill", "decode", "series_tps", "series_temp", "series_power", "series_clock", "memory_wall", "load_ttft", "load_itl", "vram"}},
	{"troubled", func() []*schema.Result { return []*schema.Result{troubledResult()} }, []string{"ttft", "decode"}},
	{"empty", func() []*schema.Result { return []*schema.Result{emptyResult()} }, nil},
	{"no_power", func() []*schema.Result {
		r := fullResult()
		for i := range r.Benchmarks {
			r.Benchmarks[i].GPUStats = schema.GPUStats{}
			for j := range r.Benchmarks[i].Series {
				r.Benchmarks[i].Series[j].PowerW, r.Benchmarks[i].Series[j].TempC = nil, nil
			}
		}
		r.ProfileSnapshot = nil
		return []*schema.Result{r}
	}, []string{"ttft", "prefill", "decode", "series_tps", "series_clock", "memory_wall"}},
	{"hostile", func() []*schema.Result { return []*schema.Result{hostileResult()} },
		[]string{"ttft", "prefill", "decode", "series_tps", "series_temp", "series_power", "series_clock", "memory_wall", "vram"}},
	{"two_runs", func() []*schema.Result { return []*schema.Result{fullResult(), healthyResult()} },
		[]string{"ttft", "prefill", "decode", "series_tps", "series_temp", "series_power", "series_clock", "memory_wall", "load_ttft", "load_itl", "vram"}},
}

var chartID = regexp.MustCompile(`<svg class="chart" data-chart="([a-z_]+)"`)

func chartIDs(html string) []string {
	var ids []string
	for _, m := range chartID.FindAllStringSubmatch(html, -1) {
		ids = append(ids, m[1])
	}
	return ids
}

// TestDashboardCharts checks which charts each record gets, that every chart
// has its two axis labels, and that no figure is written as NaN or Inf.
func TestDashboardCharts(t *testing.T) {
	t.Parallel()
	for _, tt := range dashboardCases {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			html := dashboard(t, tt.runs()...)
			if got := chartIDs(html); !slices.Equal(got, tt.charts) {
				t.Errorf("charts %v, want %v", got, tt.charts)
			}
			if n := strings.Count(html, `class="axis-label"`); n != 2*len(tt.charts) {
				t.Errorf("%d axis labels, want %d", n, 2*len(tt.charts))
			}
			for _, bad := range []string{"NaN", "Inf", "ZgotmplZ", "<script", "http://", "https://"} {
				if strings.Contains(strings.ReplaceAll(html, "http://127.0.0.1", ""), bad) && !(bad == "http://" && tt.name == "hostile") {
					t.Errorf("page holds %q", bad)
				}
			}
		})
	}
}

// TestDashboardContent checks the header, findings, suggested command and
// table against the record, and the comparison of two runs.
func TestDashboardContent(t *testing.T) {
	t.Parallel()
	html := dashboard(t, fullResult())
	for _, want := range []string{
		"<title>Typhon run a3f1c820</title>", "llama.cpp b5123", "hermes-3-llama-3.1-8b-q8_0", "Q8_0",
		"16,384 tokens per slot, 1 slot", "NVIDIA GeForce RTX 4090 (24,564 MiB)", "550.54.14, CUDA 12.4", "2025-06-01 14:22 UTC",
		`<li class="warning"><span class="sev">warning</span><b>Speed at long context:</b> decode speed goes from 82.5 tok/s`,
		`<code>baseline_short</code>`, "llama-server -m MODEL.gguf -c 8192", "Content-Security-Policy",
		"<td>3/3</td><td>3</td><td>82.40 (n=3)</td><td>81.36–83.64</td><td>±0.46</td><td>0.118</td><td>406.9</td><td>82.90</td>",
		"<td>2/3</td><td>2</td><td>54.90 (n=2)</td><td>52.36–57.44</td>", "timeout: no token for 200 s",
		"Wall: context_limit at 16,120 tokens, 16,640 tokens failed (context_refused, http_400); bound 16,384 tokens.",
		"probe 1: 16,640 prompt tokens failed (context_refused): http_400", ">context_refused</text>",
		"<code>wall_kind</code> context_limit",
		"configured context 16,384", "GPU memory 24,564 MiB", "sw_thermal_slowdown",
	} {
		if !strings.Contains(html, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	troubled := dashboard(t, troubledResult())
	for _, want := range []string{"<td>3/3</td><td>2</td><td>290.5 (n=2)</td><td>284.1–296.9</td>", "<td>3/3</td><td>—</td><td>310.4 (mean, n=3)</td><td>—</td>",
		`<span class="muted">excluded: buffered 1</span>`, "<b>Runs excluded: buffered:</b> 1 run excluded as <code>buffered</code>"} {
		if !strings.Contains(troubled, want) {
			t.Errorf("troubled page lacks %q", want)
		}
	}
	two := dashboard(t, fullResult(), healthyResult())
	for _, want := range []string{"Typhon: 2 runs", "run 2 a3f1c820 against run 1 a3f1c820", "Compared with the first run", "#e8743b"} {
		if !strings.Contains(two, want) {
			t.Errorf("two-run page lacks %q", want)
		}
	}
	if err := Dashboard(&bytes.Buffer{}); err == nil {
		t.Error("Dashboard of no record: no error")
	}
	if err := Dashboard(&bytes.Buffer{}, nil); err == nil {
		t.Error("Dashboard of a nil record: no error")
	}
}

// TestDashboardEscapes renders hostile text as text: no element, attribute or
// escape sequence from the record reaches the page.
func TestDashboardEscapes(t *testing.T) {
	t.Parallel()
	html := dashboard(t, hostileResult())
	for _, bad := range []string{"<script", "<img", "\x1b", "\x07", "data-pwned=\"1\"", "]8;;"} {
		if strings.Contains(html, bad) {
			t.Errorf("page holds %q", bad)
		}
	}
	if m := regexp.MustCompile(`<[a-z][^>]*\son[a-z]+=`).FindString(html); m != "" {
		t.Errorf("an element has an event handler attribute: %s", m)
	}
	for _, want := range []string{"&lt;script&gt;document.body.setAttribute(&#34;data-pwned&#34;,&#34;1&#34;)&lt;/script&gt;",
		"&#34;&gt;&lt;img src=x onerror=", "red link bell"} {
		if !strings.Contains(html, want) {
			t.Errorf("page lacks the escaped text %q", want)
		}
	}
}

func TestClean(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"\x1b[1;31mbold red\x1b[0m":    "bold red",
		"a\x1b]0;title\x07b":           "ab",
		"tab\tand\nnewline":            "tab and newline",
		"nul\x00 and bell\x07":         "nul\uFFFD and bell\uFFFD",
		"bad utf8 \xff":                "bad utf8 \uFFFD",
		"  spaces   inside  ":          "spaces inside",
		"\u202eright-to-left override": "\uFFFDright-to-left override",
		"a\u2066b\u2069 \u202a\u202dc": "a\uFFFDb\uFFFD \uFFFD\uFFFDc",
		"עברית \u200f(rlm) ok":         "עברית \u200f(rlm) ok",
	} {
		if got := clean(in); got != want {
			t.Errorf("clean(%q) = %q, want %q", in, got, want)
		}
	}
}

// FuzzDashboard renders any record that decodes: the dashboard, the findings,
// the brief, the Markdown and benchstat summaries never fail or panic, and the
// page never holds markup from the record.
func FuzzDashboard(f *testing.F) {
	for _, r := range []*schema.Result{fullResult(), healthyResult(), troubledResult(), emptyResult(), hostileResult()} {
		b, err := json.Marshal(r)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		res, err := DecodeResult(data)
		if err != nil {
			return
		}
		var buf bytes.Buffer
		if err := Dashboard(&buf, res, res); err != nil {
			t.Fatalf("Dashboard: %v", err)
		}
		if s := buf.String(); strings.Contains(s, "<script") || strings.Contains(s, "NaN") || strings.Contains(s, "<img") {
			t.Fatalf("page holds markup or NaN")
		}
		_ = NewBrief(res)
		if err := Markdown(&bytes.Buffer{}, res); err != nil {
			t.Fatalf("Markdown: %v", err)
		}
		if err := Benchstat(&bytes.Buffer{}, res); err != nil {
			t.Fatalf("Benchstat: %v", err)
		}
		if _, err := json.Marshal(NewBrief(res)); err != nil {
			t.Fatalf("brief JSON: %v", err)
		}
	})
}
