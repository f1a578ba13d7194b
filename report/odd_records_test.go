package report

import (
	"bytes"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

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
