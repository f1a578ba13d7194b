package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/typhonbench/typhon"
	"github.com/typhonbench/typhon/report"
	"github.com/typhonbench/typhon/schema"
)

// t0 is the fixed clock of the crafted records.
var t0 = time.Date(2025, 6, 1, 14, 22, 1, 0, time.UTC)

// record is a finished quick run of llama-server on a CPU with one test,
// baseline_short, whose timed runs decoded at the given speeds.
func record(id string, at time.Time, model string, tps ...float64) *schema.Result {
	runs := make([]schema.RunSample, len(tps))
	var sum float64
	for i, v := range tps {
		runs[i] = schema.RunSample{
			Success: true, TPS: v, TTFTS: 0.1, ElapsedS: 0.1 + 63/v,
			PromptTokens: 128, OutputTokens: 64, MaxTokens: 64, FinishReason: "length",
		}
		sum += v
	}
	return &schema.Result{
		SchemaVersion: schema.Version,
		RunID:         id,
		RunAt:         at,
		FinishedAt:    at.Add(time.Minute),
		Status:        schema.StatusComplete,
		Mode:          "quick",
		Model:         model,
		Server: schema.ServerInfo{
			Name: "llama.cpp (llama-server)", Port: 8080, APIBase: "http://127.0.0.1:8080",
			Kind: "llama.cpp", Version: "b6000", CtxSize: 4096, Slots: 1,
		},
		Benchmarks: []schema.Benchmark{{
			TestID: "baseline_short", Name: "Baseline (short prompt)", Category: schema.CategoryBaseline,
			CtxSize: 2048, MaxTokens: 64, NRuns: len(tps), SuccessfulRuns: len(tps),
			AvgTPS: sum / float64(len(tps)), AvgTTFTS: 0.1, Runs: runs,
		}},
		ProfileSnapshot: &schema.Profile{CPU: schema.CPUInfo{Model: "Test CPU", LogicalCores: 2}},
		GPUUnavailable:  "no GPU",
		TyphonVersion:   "0.1.0",
	}
}

// writeRecord writes res into dir/name and returns the path.
func writeRecord(t *testing.T, dir, name string, res *schema.Result) string {
	t.Helper()
	var b bytes.Buffer
	if err := report.WriteJSON(&b, res); err != nil {
		t.Fatal(err)
	}
	return writeFile(t, dir, name, b.String())
}

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// runCLI runs the command line and returns its exit code, stdout and stderr.
func runCLI(t *testing.T, args ...string) (code int, stdout, stderr string, err error) {
	t.Helper()
	var out, errb bytes.Buffer
	err = run(t.Context(), args, &out, &errb)
	return exitCode(err), out.String(), errb.String(), err
}

// compareFiles writes the records compare's tests use and returns their paths.
type compareFiles struct {
	base, same, slower, slowerInNoise, faster, otherModel, otherMode, job, notRecord, empty, missing string
}

func newCompareFiles(t *testing.T) compareFiles {
	t.Helper()
	dir := t.TempDir()
	later := t0.Add(24 * time.Hour)
	otherMode := record("20250602T142201Z-00000006", later, "tiny", 90, 90.5, 89.5, 90.2, 89.8)
	otherMode.Mode = "full"
	// A job of the HTTP API saved with curl: the record is its "result".
	job, err := json.Marshal(map[string]any{
		"job_id": "a3f1c820", "status": "done", "mode": "quick",
		"result": record("20250602T142201Z-00000007", later, "tiny", 100.2, 99.8, 100.1, 99.9, 100),
	})
	if err != nil {
		t.Fatal(err)
	}
	return compareFiles{
		base: writeRecord(t, dir, "base.json", record("20250601T142201Z-00000001", t0, "tiny", 100, 100.5, 99.5, 100.2, 99.8)),
		same: writeRecord(t, dir, "same.json", record("20250602T142201Z-00000002", later, "tiny", 100.3, 99.7, 100, 100.1, 99.9)),
		// 10% slower with tight runs: a regression at 5%, not at 15%.
		slower: writeRecord(t, dir, "slower.json", record("20250602T142201Z-00000003", later, "tiny", 90, 90.5, 89.5, 90.2, 89.8)),
		// 10% slower on average, but the runs scatter far more than that.
		slowerInNoise: writeRecord(t, dir, "noisy.json", record("20250602T142201Z-00000008", later, "tiny", 60, 130, 70, 120, 70)),
		faster:        writeRecord(t, dir, "faster.json", record("20250602T142201Z-00000004", later, "tiny", 110, 110.5, 109.5, 110.2, 109.8)),
		otherModel:    writeRecord(t, dir, "other-model.json", record("20250602T142201Z-00000005", later, "big", 90, 90.5, 89.5, 90.2, 89.8)),
		otherMode:     writeRecord(t, dir, "other-mode.json", otherMode),
		job:           writeFile(t, dir, "job.json", string(job)),
		notRecord:     writeFile(t, dir, "notes.json", `{"hello": "world"}`),
		empty:         writeFile(t, dir, "empty.json", ""),
		missing:       filepath.Join(dir, "no-such-file.json"),
	}
}

func TestCompare(t *testing.T) {
	t.Parallel()
	f := newCompareFiles(t)
	tests := []struct {
		name       string
		args       []string
		wantCode   int
		wantErr    error    // errors.Is; nil: no particular error
		wantOut    []string // substrings of stdout
		wantStderr []string // substrings of stderr
	}{
		{name: "same speed", args: []string{f.base, f.same}, wantCode: 0,
			wantOut: []string{"baseline_short", "tps", "unchanged", "verdict: unchanged"}},
		{name: "10% slower at 5%", args: []string{f.base, f.slower}, wantCode: 1, wantErr: errRegression,
			wantOut: []string{"baseline_short", "-10.0%", "regressed", "verdict: regressed (1: baseline_short tps)"}},
		{name: "10% slower at -tolerance 15%", args: []string{f.base, f.slower, "-tolerance", "15%"}, wantCode: 0,
			wantOut: []string{"tolerance:  15%", "verdict: unchanged"}},
		{name: "tolerance as a fraction, flags first", args: []string{"-tolerance=0.15", f.base, f.slower}, wantCode: 0,
			wantOut: []string{"tolerance:  15%", "verdict: unchanged"}},
		{name: "10% slower inside the runs' spread", args: []string{f.base, f.slowerInNoise}, wantCode: 0,
			// Not shown, not ruled out: inconclusive, exit 0.
			wantOut: []string{"-10.0%  inconclusive  Welch t=", "verdict: inconclusive"}},
		{name: "faster", args: []string{f.base, f.faster}, wantCode: 0,
			wantOut: []string{"+10.0%", "improved", "verdict: improved"}},
		{name: "other model", args: []string{f.base, f.otherModel}, wantCode: 1,
			wantOut:    []string{`not comparable: different model: "tiny" in the baseline, "big" now`},
			wantStderr: nil},
		{name: "other model allowed", args: []string{"-allow-different-model", f.base, f.otherModel}, wantCode: 1, wantErr: errRegression,
			wantOut: []string{"(allowed)", "verdict: regressed"}},
		{name: "other mode", args: []string{f.base, f.otherMode}, wantCode: 1,
			wantOut: []string{`different mode: "quick" in the baseline, "full" now`}},
		{name: "other mode allowed", args: []string{f.base, f.otherMode, "-allow-different-mode"}, wantCode: 1, wantErr: errRegression,
			wantOut: []string{"verdict: regressed"}},
		{name: "saved job of the HTTP API", args: []string{f.base, f.job}, wantCode: 0,
			wantOut: []string{"20250602T142201Z-00000007", "verdict: unchanged"}},
		{name: "no arguments", args: nil, wantCode: 2, wantErr: errUsage,
			wantStderr: []string{"want two record files", "typhon compare -h"}},
		{name: "one argument", args: []string{f.base}, wantCode: 2, wantErr: errUsage},
		{name: "three arguments", args: []string{f.base, f.same, f.slower}, wantCode: 2, wantErr: errUsage},
		{name: "bad tolerance", args: []string{f.base, f.same, "-tolerance", "lots"}, wantCode: 2, wantErr: errUsage,
			wantStderr: []string{`bad tolerance "lots"`}},
		{name: "zero tolerance", args: []string{f.base, f.same, "-tolerance", "0%"}, wantCode: 2, wantErr: errUsage},
		{name: "negative tolerance", args: []string{f.base, f.same, "-tolerance=-5%"}, wantCode: 2, wantErr: errUsage},
		{name: "unknown flag", args: []string{f.base, f.same, "-strict"}, wantCode: 2, wantErr: errUsage,
			wantStderr: []string{"flag provided but not defined: -strict"}},
		{name: "help", args: []string{"-h"}, wantCode: 0, wantErr: flag.ErrHelp,
			wantStderr: []string{"usage: typhon compare OLD.json NEW.json", "-allow-different-mode", "Exit status"}},
		{name: "missing file", args: []string{f.base, f.missing}, wantCode: 1,
			wantErr: os.ErrNotExist},
		{name: "not a record", args: []string{f.notRecord, f.base}, wantCode: 1, wantErr: report.ErrInvalidRecord},
		{name: "empty file", args: []string{f.base, f.empty}, wantCode: 1, wantErr: report.ErrInvalidRecord},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			code, stdout, stderr, err := runCLI(t, append([]string{"compare"}, tt.args...)...)
			if code != tt.wantCode {
				t.Errorf("exit code %d, want %d (err %v)\nstdout:\n%s\nstderr:\n%s", code, tt.wantCode, err, stdout, stderr)
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Errorf("err %v, want one wrapping %v", err, tt.wantErr)
			}
			for _, s := range tt.wantOut {
				if !strings.Contains(stdout, s) {
					t.Errorf("stdout lacks %q:\n%s", s, stdout)
				}
			}
			for _, s := range tt.wantStderr {
				if !strings.Contains(stderr, s) {
					t.Errorf("stderr lacks %q:\n%s", s, stderr)
				}
			}
		})
	}
}

func TestCompareJSON(t *testing.T) {
	t.Parallel()
	f := newCompareFiles(t)
	code, stdout, _, err := runCLI(t, "compare", "-json", f.base, f.slower)
	if code != 1 || !errors.Is(err, errRegression) {
		t.Fatalf("exit code %d, err %v; want 1 and a regression", code, err)
	}
	var c report.Comparison
	if err := json.Unmarshal([]byte(stdout), &c); err != nil {
		t.Fatalf("stdout is not a comparison: %v\n%s", err, stdout)
	}
	want := report.Compare(mustLoad(t, f.base), mustLoad(t, f.slower), report.CompareOptions{Tolerance: 0.05})
	// JSON keeps times in UTC and drops the monotonic clock: compare through JSON.
	if diff := cmp.Diff(roundTrip(t, want), c); diff != "" {
		t.Errorf("comparison (-want +got):\n%s", diff)
	}
	if c.Verdict != report.VerdictRegressed || len(c.Regressions()) != 1 || c.Regressions()[0].TestID != "baseline_short" {
		t.Errorf("verdict %q, regressions %+v; want baseline_short tps regressed", c.Verdict, c.Regressions())
	}
}

func mustLoad(t *testing.T, path string) *schema.Result {
	t.Helper()
	res, err := report.LoadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func roundTrip(t *testing.T, c report.Comparison) report.Comparison {
	t.Helper()
	b, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	var out report.Comparison
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestPercent(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      string
		want    float64
		wantErr bool
	}{
		{in: "5%", want: 0.05},
		{in: " 12.5 % ", want: 0.125},
		{in: "5", want: 0.05},
		{in: "0.05", want: 0.05},
		{in: "0.5", want: 0.5},
		{in: "99.5%", want: 0.995},
		// A fall of tokens/s can never exceed 100%: such a tolerance would call
		// any collapse "unchanged".
		{in: "150%", wantErr: true},
		{in: "100%", wantErr: true},
		{in: "100", wantErr: true},
		{in: "0", wantErr: true},
		{in: "0%", wantErr: true},
		{in: "-5%", wantErr: true},
		{in: "NaN", wantErr: true},
		{in: "Inf%", wantErr: true},
		{in: "five", wantErr: true},
		{in: "", wantErr: true},
		{in: "%", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			got, err := percent(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("percent(%q) = %v, %v; want error %v", tt.in, got, err, tt.wantErr)
			}
			if !tt.wantErr && got != tt.want {
				t.Errorf("percent(%q) = %v, want %v", tt.in, got, tt.want)
			}
		})
	}
}

func TestExitCode(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		err  error
		want int
	}{
		{"nil", nil, 0},
		{"help", flag.ErrHelp, 0},
		{"usage", errUsage, 2},
		{"wrapped usage", fmt.Errorf("%w: flag provided but not defined: -x", errUsage), 2},
		{"regression", errRegression, 1},
		{"error", errors.New("boom"), 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := exitCode(tt.err); got != tt.want {
				t.Errorf("exitCode(%v) = %d, want %d", tt.err, got, tt.want)
			}
		})
	}
}

func TestTopLevelUsage(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		args       []string
		wantCode   int
		wantStdout string
		wantStderr string
	}{
		{name: "no command", args: nil, wantCode: 2, wantStderr: "usage: typhon <command>"},
		{name: "unknown command", args: []string{"benchmark"}, wantCode: 2, wantStderr: `unknown command "benchmark"`},
		{name: "help", args: []string{"help"}, wantCode: 0, wantStdout: "compare   compare two records"},
		{name: "run: bad mode", args: []string{"run", "-mode", "fast"}, wantCode: 2, wantStderr: `invalid mode "fast"`},
		{name: "run: unknown flag", args: []string{"run", "-fast"}, wantCode: 2, wantStderr: "flag provided but not defined: -fast"},
		{name: "history: bad limit", args: []string{"history", "-limit", "0"}, wantCode: 2, wantStderr: "-limit must be positive"},
		{name: "history: negative offset", args: []string{"history", "-offset=-1"}, wantCode: 2, wantStderr: "-offset not negative"},
		{name: "summary: no file", args: []string{"summary"}, wantCode: 2, wantStderr: "want one record file"},
		{name: "summary: two files", args: []string{"summary", "a.json", "b.json"}, wantCode: 2, wantStderr: "got 2 arguments"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			code, stdout, stderr, err := runCLI(t, tt.args...)
			if code != tt.wantCode {
				t.Errorf("exit code %d, want %d (err %v)", code, tt.wantCode, err)
			}
			if !strings.Contains(stdout, tt.wantStdout) {
				t.Errorf("stdout lacks %q:\n%s", tt.wantStdout, stdout)
			}
			if !strings.Contains(stderr, tt.wantStderr) {
				t.Errorf("stderr lacks %q:\n%s", tt.wantStderr, stderr)
			}
		})
	}
}

// TestRunNoServer: a run against a port where nothing listens fails with exit 1
// and writes no record.
func TestRunNoServer(t *testing.T) {
	t.Parallel()
	data := t.TempDir()
	code, stdout, _, err := runCLI(t, "run", "-url", "http://127.0.0.1:1", "-data", data, "-json")
	if code != 1 || !errors.Is(err, typhon.ErrNoServer) {
		t.Errorf("exit code %d, err %v; want 1 and typhon.ErrNoServer", code, err)
	}
	if stdout != "" {
		t.Errorf("stdout %q, want nothing: no test ran", stdout)
	}
	if entries, _ := os.ReadDir(data); len(entries) != 0 {
		t.Errorf("data directory holds %d entries, want none", len(entries))
	}
}

func TestSummary(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	res := record("20250601T142201Z-00000001", t0, "tiny", 100, 100.5, 99.5, 100.2, 99.8)
	path := writeRecord(t, dir, "run.json", res)

	code, stdout, stderr, err := runCLI(t, "summary", path)
	if code != 0 {
		t.Fatalf("exit code %d, err %v, stderr:\n%s", code, err, stderr)
	}
	var want bytes.Buffer
	if err := report.Markdown(&want, mustLoad(t, path)); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want.String(), stdout); diff != "" {
		t.Errorf("summary is not report.Markdown of the record (-want +got):\n%s", diff)
	}
	for _, s := range []string{"20250601T142201Z-00000001", "tiny", "baseline_short", "llama.cpp", "Test CPU"} {
		if !strings.Contains(stdout, s) {
			t.Errorf("summary lacks %q:\n%s", s, stdout)
		}
	}

	t.Run("missing file", func(t *testing.T) {
		t.Parallel()
		code, _, _, err := runCLI(t, "summary", filepath.Join(dir, "gone.json"))
		if code != 1 || !errors.Is(err, os.ErrNotExist) {
			t.Errorf("exit code %d, err %v; want 1 and a missing file", code, err)
		}
	})
	t.Run("not a record", func(t *testing.T) {
		t.Parallel()
		p := writeFile(t, t.TempDir(), "x.json", "[1, 2]")
		code, _, _, err := runCLI(t, "summary", p)
		if code != 1 || !errors.Is(err, report.ErrInvalidRecord) {
			t.Errorf("exit code %d, err %v; want 1 and ErrInvalidRecord", code, err)
		}
	})
}

func TestHistory(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	store := &report.Store{Dir: dir}
	ids := []string{ // oldest first
		"20250601T142201Z-00000001",
		"20250602T142201Z-00000002",
		"20250603T142201Z-00000003",
	}
	for i, id := range ids {
		res := record(id, t0.Add(time.Duration(i)*24*time.Hour), fmt.Sprintf("model-%d", i), 100, 101, 99)
		if i == 1 {
			res.Status = schema.StatusFailed
			res.Error = "every test failed"
		}
		if err := store.Save(res); err != nil {
			t.Fatal(err)
		}
		if err := store.Finish(res); err != nil {
			t.Fatal(err)
		}
	}

	tests := []struct {
		name      string
		args      []string
		wantIDs   []string // in the order printed
		wantTotal string
	}{
		{name: "default page", args: nil, wantIDs: []string{ids[2], ids[1], ids[0]}, wantTotal: "3 of 3 records"},
		{name: "first page of 2", args: []string{"-limit", "2"}, wantIDs: []string{ids[2], ids[1]}, wantTotal: "2 of 3 records"},
		{name: "second page of 2", args: []string{"-limit", "2", "-offset", "2"}, wantIDs: []string{ids[0]}, wantTotal: "1 of 3 records"},
		{name: "past the end", args: []string{"-offset", "5"}, wantIDs: nil, wantTotal: "0 of 3 records"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			code, stdout, stderr, err := runCLI(t, append([]string{"history", "-data", dir}, tt.args...)...)
			if code != 0 {
				t.Fatalf("exit code %d, err %v, stderr:\n%s", code, err, stderr)
			}
			lines := strings.Split(strings.TrimRight(stdout, "\n"), "\n")
			if !strings.HasPrefix(lines[0], "RUN ID") {
				t.Errorf("first line %q, want the header", lines[0])
			}
			var got []string
			for _, l := range lines[1 : len(lines)-1] {
				got = append(got, strings.Fields(l)[0])
			}
			if diff := cmp.Diff(tt.wantIDs, got); diff != "" {
				t.Errorf("run ids (-want +got):\n%s\n%s", diff, stdout)
			}
			if last := lines[len(lines)-1]; last != tt.wantTotal {
				t.Errorf("last line %q, want %q", last, tt.wantTotal)
			}
		})
	}

	t.Run("failed run shows its error", func(t *testing.T) {
		t.Parallel()
		_, stdout, _, _ := runCLI(t, "history", "-data", dir)
		for _, l := range strings.Split(stdout, "\n") {
			if strings.HasPrefix(l, ids[1]) {
				if !strings.Contains(l, "failed") || !strings.Contains(l, "every test failed") || !strings.Contains(l, "model-1") {
					t.Errorf("line of the failed run %q lacks its status, error or model", l)
				}
				return
			}
		}
		t.Errorf("no line for %s:\n%s", ids[1], stdout)
	})

	t.Run("json", func(t *testing.T) {
		t.Parallel()
		code, stdout, _, err := runCLI(t, "history", "-data", dir, "-json", "-limit", "1", "-offset", "1")
		if code != 0 {
			t.Fatalf("exit code %d, err %v", code, err)
		}
		var page struct {
			Results []report.Summary `json:"results"`
			Total   int              `json:"total"`
			Offset  int              `json:"offset"`
			Limit   int              `json:"limit"`
		}
		if err := json.Unmarshal([]byte(stdout), &page); err != nil {
			t.Fatalf("not JSON: %v\n%s", err, stdout)
		}
		if page.Total != 3 || page.Offset != 1 || page.Limit != 1 || len(page.Results) != 1 {
			t.Fatalf("page %+v, want total 3, offset 1, limit 1, one result", page)
		}
		got := page.Results[0]
		want := report.Summarize(mustLoad(t, filepath.Join(dir, report.RunsDir, ids[1]+".json")))
		if diff := cmp.Diff(roundTripSummary(t, want), got); diff != "" {
			t.Errorf("summary (-want +got):\n%s", diff)
		}
	})

	t.Run("empty directory", func(t *testing.T) {
		t.Parallel()
		code, stdout, _, err := runCLI(t, "history", "-data", t.TempDir(), "-json")
		if code != 0 {
			t.Fatalf("exit code %d, err %v", code, err)
		}
		if !strings.Contains(stdout, `"results": []`) || !strings.Contains(stdout, `"total": 0`) {
			t.Errorf("want an empty page, got:\n%s", stdout)
		}
	})
}

func roundTripSummary(t *testing.T, s report.Summary) report.Summary {
	t.Helper()
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	var out report.Summary
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}
