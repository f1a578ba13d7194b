package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/typhonbench/typhon/internal/browser"
	"github.com/typhonbench/typhon/internal/testbed"
	"github.com/typhonbench/typhon/internal/testmodel"
	"github.com/typhonbench/typhon/report"
)

// BenchstatModule is the benchstat the tests (and the README) run, pinned.
const BenchstatModule = "golang.org/x/perf/cmd/benchstat@v0.0.0-20260908200009-22c9c6c9d4da"

// runOnTestBed runs "typhon run" against srv and returns the record's path and
// the dashboard's path, both printed by run.
func runOnTestBed(t *testing.T, srv *testbed.Server, mode string) (record, dashboard string) {
	t.Helper()
	data := t.TempDir()
	code, stdout, stderr, err := runCLI(t, "run", "-url", srv.URL, "-model", srv.Model, "-data", data, "-mode", mode)
	if code != 0 {
		t.Fatalf("typhon run -mode %s: exit %d, %v\n%s", mode, code, err, stderr)
	}
	for _, l := range strings.Split(stdout, "\n") {
		if p, ok := strings.CutPrefix(l, "record: "); ok {
			record = p
		}
		if p, ok := strings.CutPrefix(l, "dashboard: "); ok {
			dashboard = p
		}
	}
	if want := strings.TrimSuffix(record, ".json") + ".html"; record == "" || dashboard != want {
		t.Fatalf("run printed record %q and dashboard %q, want the dashboard beside the record:\n%s", record, dashboard, stdout)
	}
	return record, dashboard
}

var chartAttr = regexp.MustCompile(`<svg class="chart" data-chart="([a-z_]+)"`)

func charts(html string) []string {
	var ids []string
	for _, m := range chartAttr.FindAllStringSubmatch(html, -1) {
		ids = append(ids, m[1])
	}
	return ids
}

// checkInBrowser renders the dashboard file in headless Chromium: the charts
// are those of the page (and include want), with their axis labels, and the
// page has no console message, no request and no active element. The
// screenshot goes to $TYPHON_SCREENSHOTS as name.png.
func checkInBrowser(t *testing.T, name, path string, want ...string) {
	t.Helper()
	html, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	p, err := browser.Render(t.Context(), html, browser.Options{})
	if errors.Is(err, browser.ErrNotInstalled) {
		if testbed.Required() {
			t.Fatalf("%v (%s=1)", err, testbed.EnvRequire)
		}
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	if dir := os.Getenv("TYPHON_SCREENSHOTS"); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err == nil {
			_ = os.WriteFile(filepath.Join(dir, name+".png"), p.Screenshot, 0o644)
		}
	}
	got := charts(p.DOM)
	t.Logf("%s: %d charts in the browser: %v", name, len(got), got)
	if !slices.Equal(got, charts(string(html))) {
		t.Errorf("%s: charts in the DOM %v, in the file %v", name, got, charts(string(html)))
	}
	for _, w := range want {
		if !slices.Contains(got, w) {
			t.Errorf("%s: no %s chart", name, w)
		}
	}
	if n := strings.Count(p.DOM, `class="axis-label"`); n != 2*len(got) {
		t.Errorf("%s: %d axis labels, want %d", name, n, 2*len(got))
	}
	for _, pr := range p.Problems() {
		t.Errorf("%s: %s", name, pr)
	}
}

// TestReportsOfTestBedRuns: a quick run of the test bed's llama-server and of
// Ollama and a full run of llama-server each write a dashboard beside the
// record that renders in headless Chromium with its charts; benchstat reads
// the benchstat summaries of two quick runs and prints its comparison.
func TestReportsOfTestBedRuns(t *testing.T) {
	t.Run("llama-server quick, twice, and benchstat", func(t *testing.T) {
		t.Parallel()
		srv := testbed.LlamaServer(t, testbed.Options{CtxSize: 2048})
		old, dash := runOnTestBed(t, srv, "quick")
		checkInBrowser(t, "testbed_llama_quick", dash, "ttft", "prefill", "decode", "series_tps")
		cur, _ := runOnTestBed(t, srv, "quick")
		checkBenchstat(t, old, cur)
	})
	t.Run("llama-server full", func(t *testing.T) {
		t.Parallel()
		srv := testbed.LlamaServer(t, testbed.Options{CtxSize: 4096, Parallel: 2})
		_, dash := runOnTestBed(t, srv, "full")
		checkInBrowser(t, "testbed_llama_full", dash, "ttft", "prefill", "decode", "series_tps", "memory_wall", "load_ttft", "load_itl")
	})
	t.Run("ollama quick", func(t *testing.T) {
		t.Parallel()
		// A model trained on 2,048 tokens keeps Ollama's plan short (Typhon asks
		// Ollama for each test's context up to the training context).
		model := filepath.Join(t.TempDir(), "tiny-2k.gguf")
		if err := testmodel.WriteFile(model, testmodel.Config{Context: 2048}); err != nil {
			t.Fatal(err)
		}
		srv := testbed.Ollama(t, testbed.Options{CtxSize: 2048, ModelPath: model})
		_, dash := runOnTestBed(t, srv, "quick")
		checkInBrowser(t, "testbed_ollama_quick", dash, "ttft", "decode", "series_tps")
	})
}

// checkBenchstat writes the two records in the Go benchmark format with
// "typhon summary -format benchstat" and runs benchstat on them.
func checkBenchstat(t *testing.T, old, cur string) {
	t.Helper()
	dir := t.TempDir()
	var files []string
	for i, rec := range []string{old, cur} {
		code, stdout, stderr, err := runCLI(t, "summary", "-format", "benchstat", rec)
		if code != 0 {
			t.Fatalf("summary -format benchstat: exit %d, %v\n%s", code, err, stderr)
		}
		f := filepath.Join(dir, []string{"old.txt", "new.txt"}[i])
		if err := os.WriteFile(f, []byte(stdout), 0o644); err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	goBin := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(goBin); err != nil {
		if goBin, err = exec.LookPath("go"); err != nil {
			t.Fatalf("no go command to run benchstat: %v", err)
		}
	}
	cmd := exec.CommandContext(t.Context(), goBin, "run", BenchstatModule, "old.txt", "new.txt")
	cmd.Dir = dir
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("go run %s: %v\n%s%s", BenchstatModule, err, out.String(), errb.String())
	}
	t.Logf("benchstat old.txt new.txt:\n%s", out.String())
	for _, want := range []string{"old.txt", "new.txt", "vs base", "Typhon/test=baseline_short", report.UnitTPS, report.UnitTTFT, report.UnitPrefillTPS} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("benchstat output lacks %q", want)
		}
	}
}
