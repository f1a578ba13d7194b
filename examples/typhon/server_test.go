package main

// Tests of typhon run against the test bed's real llama-server (package
// internal/testbed; they skip when it is not provisioned, unless
// TYPHON_REQUIRE_SERVERS=1). No timing is asserted: the figures are logged.

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/typhonbench/typhon/internal/testbed"
	"github.com/typhonbench/typhon/report"
	"github.com/typhonbench/typhon/schema"
)

// checkRecordOnDisk checks that the record of res is in data and equals res, that
// last_run.json is it, and that history lists it.
func checkRecordOnDisk(t *testing.T, data string, res *schema.Result) {
	t.Helper()
	for _, p := range []string{
		filepath.Join(data, report.RunsDir, res.RunID+".json"),
		filepath.Join(data, report.LastRunFile),
	} {
		disk, err := report.LoadFile(p)
		if err != nil {
			t.Errorf("record on disk: %v", err)
			continue
		}
		if diff := cmp.Diff(res, disk); diff != "" {
			t.Errorf("%s differs from the result printed (-printed +disk):\n%s", p, diff)
		}
	}
	chron, err := (&report.Store{Dir: data}).Chronicle()
	if err != nil || len(chron) == 0 {
		t.Errorf("chronicle: %d lines, err %v; want lines of the run", len(chron), err)
	}
	code, stdout, _, err := runCLI(t, "history", "-data", data)
	if code != 0 || !strings.Contains(stdout, res.RunID) || !strings.Contains(stdout, "1 of 1 records") {
		t.Errorf("history: exit %d, err %v, want the run listed:\n%s", code, err, stdout)
	}
}

// testIDs returns the test ids of res and of those that were not skipped.
func testIDs(res *schema.Result) (all, ran []string) {
	for _, b := range res.Benchmarks {
		all = append(all, b.TestID)
		if !b.Skipped {
			ran = append(ran, b.TestID)
		}
	}
	return all, ran
}

func logBenchmarks(t *testing.T, res *schema.Result) {
	t.Helper()
	for _, b := range res.Benchmarks {
		if b.Skipped {
			t.Logf("%s: skipped: %s", b.TestID, b.SkipReason)
			continue
		}
		t.Logf("%s: %d/%d runs ok, avg %.0f tok/s, ttft %.3f s, elapsed %.3f s", b.TestID, b.SuccessfulRuns, b.NRuns, b.AvgTPS, b.AvgTTFTS, b.AvgElapsedS)
	}
}

// TestRunJSONAgainstLlamaServer runs "typhon run -url -model -data -json" against
// a llama-server with a 2,048-token context, so the quick plan keeps only its
// short tests.
func TestRunJSONAgainstLlamaServer(t *testing.T) {
	t.Parallel()
	srv := testbed.LlamaServer(t, testbed.Options{CtxSize: 2048})
	data := t.TempDir()
	start := time.Now()
	code, stdout, stderr, err := runCLI(t, "run", "-url", srv.URL, "-model", srv.Model, "-data", data, "-mode", "quick", "-json")
	t.Logf("typhon run took %v", time.Since(start).Round(time.Millisecond))
	if code != 0 {
		t.Fatalf("exit code %d, err %v\nstderr:\n%s", code, err, stderr)
	}
	res, err := report.DecodeResult([]byte(stdout))
	if err != nil {
		t.Fatalf("stdout is not a record: %v\n%s", err, stdout)
	}
	logBenchmarks(t, res)
	if res.Status != schema.StatusComplete || res.Mode != "quick" || res.Model != srv.Model || res.Server.Kind != testbed.KindLlama {
		t.Errorf("status %q, mode %q, model %q, server kind %q; want complete, quick, %q, %q",
			res.Status, res.Mode, res.Model, res.Server.Kind, srv.Model, testbed.KindLlama)
	}
	if res.Server.APIBase != srv.URL || res.Server.CtxSize != 2048 {
		t.Errorf("server %s with ctx %d, want %s with 2048", res.Server.APIBase, res.Server.CtxSize, srv.URL)
	}
	all, ran := testIDs(res)
	wantAll := []string{"baseline_short", "ctx_sweep_2048", "ctx_sweep_4096", "ctx_sweep_8192", "long_gen"}
	if diff := cmp.Diff(wantAll, all); diff != "" {
		t.Errorf("tests (-want +got):\n%s", diff)
	}
	for _, id := range []string{"baseline_short", "long_gen"} {
		if !slices.Contains(ran, id) {
			t.Errorf("%s did not run; ran %v", id, ran)
		}
	}
	for _, b := range res.Benchmarks {
		if !b.Skipped && (b.SuccessfulRuns != b.NRuns || b.AvgTPS <= 0) {
			t.Errorf("%s: %d of %d runs ok, avg tps %v: want all, and a speed", b.TestID, b.SuccessfulRuns, b.NRuns, b.AvgTPS)
		}
	}
	if strings.Contains(stdout, "record:") {
		t.Errorf("-json printed more than the record")
	}
	checkRecordOnDisk(t, data, res)
}

// TestRunDemo runs the README's first command, "typhon run -demo -mode quick",
// end to end: it starts the test bed's llama-server itself.
func TestRunDemo(t *testing.T) {
	t.Parallel()
	data := t.TempDir()
	start := time.Now()
	code, stdout, stderr, err := runCLI(t, "run", "-demo", "-mode", "quick", "-data", data)
	t.Logf("typhon run -demo -mode quick took %v", time.Since(start).Round(time.Millisecond))
	if errors.Is(err, testbed.ErrNotProvisioned) {
		if testbed.Required() {
			t.Fatalf("%v (%s=1)", err, testbed.EnvRequire)
		}
		t.Skipf("%v", err)
	}
	if code != 0 {
		t.Fatalf("exit code %d, err %v\nstdout:\n%s\nstderr:\n%s", code, err, stdout, stderr)
	}
	t.Logf("stdout:\n%s", stdout)
	if !strings.Contains(stderr, "demo: llama-server on http://127.0.0.1:") {
		t.Errorf("stderr lacks the demo server's address:\n%s", stderr)
	}
	var path string
	for _, l := range strings.Split(stdout, "\n") {
		if p, ok := strings.CutPrefix(l, "record: "); ok {
			path = p
		}
	}
	if path == "" || filepath.Dir(filepath.Dir(path)) != data {
		t.Fatalf("no record path under %s in stdout:\n%s", data, stdout)
	}
	res, err := report.LoadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != schema.StatusComplete || res.Mode != "quick" || res.Server.Kind != testbed.KindLlama || res.Model != testbed.DefaultModelName {
		t.Errorf("status %q, mode %q, server kind %q, model %q; want complete, quick, %q, %q",
			res.Status, res.Mode, res.Server.Kind, res.Model, testbed.KindLlama, testbed.DefaultModelName)
	}
	// The demo server serves the default context: the sweep fills it.
	_, ran := testIDs(res)
	if diff := cmp.Diff([]string{"baseline_short", "ctx_sweep_2048", "ctx_sweep_4096", "long_gen"}, ran); diff != "" {
		t.Errorf("tests that ran (-want +got):\n%s", diff)
	}
	for _, b := range res.Benchmarks {
		if b.Skipped {
			continue
		}
		if b.SuccessfulRuns != b.NRuns {
			t.Errorf("%s: %d of %d runs ok", b.TestID, b.SuccessfulRuns, b.NRuns)
		}
		// The table shows every test that ran with its runs.
		if !strings.Contains(stdout, b.TestID) {
			t.Errorf("the table lacks %s", b.TestID)
		}
	}
	logBenchmarks(t, res)
	if _, err := os.Stat(filepath.Join(data, report.LastRunFile)); err != nil {
		t.Errorf("last_run.json: %v", err)
	}
}
