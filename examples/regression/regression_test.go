package regression_test

import (
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/typhonbench/typhon"
	"github.com/typhonbench/typhon/engine"
	_ "github.com/typhonbench/typhon/gpu/nvml" // GPU figures (peak VRAM, energy per token) where a driver is present
	"github.com/typhonbench/typhon/report"
	"github.com/typhonbench/typhon/schema"
	"github.com/typhonbench/typhon/typhontest"
)

// The environment the regression test reads. Only TYPHON_URL is required; without
// it the test skips (nothing to benchmark), also under TYPHON_REQUIRE_SERVERS=1,
// which is about the project's own test bed.
const (
	EnvURL       = "TYPHON_URL"             // server base URL, e.g. http://127.0.0.1:8080
	EnvModel     = "TYPHON_MODEL"           // model to request; default the server's loaded model
	EnvAPIKey    = "TYPHON_API_KEY"         // bearer token for the server (never stored)
	EnvTolerance = "TYPHON_TOLERANCE"       // e.g. 5% (default report.DefaultTolerance)
	EnvAllow     = "TYPHON_ALLOW_DIFFERENT" // compare anyway across: model,server,gpu,mode (comma-separated)
	EnvBaseline  = "TYPHON_BASELINE"        // baseline record; default testdata/baseline.json
	EnvUpdate    = "TYPHON_UPDATE_BASELINE" // "1": record this run as the baseline instead of comparing
	EnvData      = "TYPHON_DATA"            // keep the records here (e.g. as CI artifacts); default a temporary directory
)

// DefaultBaseline is the baseline record the test compares with.
const DefaultBaseline = "testdata/baseline.json"

var update = flag.Bool("update", false, "record this run as the baseline (testdata/baseline.json) instead of comparing")

// Plan is the benchmark of the regression test: three short tests that take a
// few seconds on a GPU and under a minute on a CPU. Every test has one warmup
// request besides its timed runs, and every request is unique at its first
// token, so no prompt cache serves a timed run. Keep the test ids and sizes
// stable: a baseline is compared test by test, and a changed size makes a test
// "not comparable". The prompts fit a 2,048-token context.
func Plan() *engine.Plan {
	return &engine.Plan{Mode: "regression", Tests: []engine.Test{
		{ID: "short_prompt", Name: "Short prompt, 64 tokens out", Category: schema.CategoryBaseline,
			CtxSize: 2048, PromptTokens: 128, MaxTokens: 64, Runs: 5},
		{ID: "prompt_1k", Name: "1,024-token prompt, 64 tokens out", Category: schema.CategoryContextSweep,
			CtxSize: 2048, PromptTokens: 1024, MaxTokens: 64, Runs: 5},
		{ID: "long_output", Name: "Short prompt, 256 tokens out", Category: schema.CategoryStress,
			CtxSize: 2048, PromptTokens: 128, MaxTokens: 256, Runs: 5},
	}}
}

// TestServerDidNotRegress benchmarks the server at $TYPHON_URL and fails when it
// got slower than the baseline record. With -update (or
// TYPHON_UPDATE_BASELINE=1) it records the run as the new baseline instead.
//
//	TYPHON_URL=http://127.0.0.1:8080 go test -count=1 ./examples/regression
//	TYPHON_URL=http://127.0.0.1:8080 go test -count=1 ./examples/regression -update
func TestServerDidNotRegress(t *testing.T) {
	url := os.Getenv(EnvURL)
	if url == "" {
		t.Skipf("%s is not set: no server to benchmark (see examples/regression/README.md)", EnvURL)
	}
	opts, err := compareOptions(os.Getenv(EnvTolerance), os.Getenv(EnvAllow))
	if err != nil {
		t.Fatal(err)
	}
	baseline := os.Getenv(EnvBaseline)
	if baseline == "" {
		baseline = DefaultBaseline
	}
	data := os.Getenv(EnvData)
	if data == "" {
		data = t.TempDir()
	}

	r := typhon.Runner{
		URL:     url,
		Model:   os.Getenv(EnvModel),
		APIKey:  os.Getenv(EnvAPIKey),
		Plan:    Plan(),
		DataDir: data,
	}
	start := time.Now()
	current, err := r.Run(t.Context(), nil)
	if err != nil {
		t.Fatalf("benchmark of %s: %v", url, err)
	}
	t.Logf("benchmarked %s (%s, model %s) in %v: record %s", url, current.Server.Name, current.Model,
		time.Since(start).Round(time.Millisecond), filepath.Join(data, report.RunsDir, current.RunID+".json"))
	logRun(t, current)

	if *update || os.Getenv(EnvUpdate) == "1" {
		if err := writeBaseline(baseline, current); err != nil {
			t.Fatal(err)
		}
		t.Logf("recorded %s as the baseline in %s: review and commit it", current.RunID, baseline)
		return
	}
	base, err := report.LoadFile(baseline)
	if errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("no baseline record at %s: record one from a run you trust with\n\t%s=%s %s=1 go test -count=1 ./examples/regression",
			baseline, EnvURL, url, EnvUpdate)
	}
	if err != nil {
		t.Fatal(err)
	}
	c := typhontest.RequireNoRegressionWith(t, base, current, opts)
	var table strings.Builder
	if err := c.WriteTable(&table); err == nil {
		t.Logf("comparison with the baseline:\n%s", table.String())
	}
}

// compareOptions builds the options of the comparison from $TYPHON_TOLERANCE and
// $TYPHON_ALLOW_DIFFERENT.
func compareOptions(tol, allow string) (report.CompareOptions, error) {
	var opts report.CompareOptions
	v, err := tolerance(tol)
	if err != nil {
		return opts, fmt.Errorf("%s: %w", EnvTolerance, err)
	}
	opts.Tolerance = v
	for _, a := range strings.Split(allow, ",") {
		switch strings.ToLower(strings.TrimSpace(a)) {
		case "":
		case "model":
			opts.AllowDifferentModel = true
		case "server":
			opts.AllowDifferentServer = true
		case "gpu":
			opts.AllowDifferentGPU = true
		case "mode":
			opts.AllowDifferentMode = true
		default:
			return opts, fmt.Errorf("%s: unknown difference %q: want model, server, gpu or mode, comma-separated", EnvAllow, a)
		}
	}
	return opts, nil
}

// tolerance parses $TYPHON_TOLERANCE: "5%" or "0.05"; "" is the default.
func tolerance(s string) (float64, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return report.DefaultTolerance, nil
	}
	var v float64
	p, isPct := strings.CutSuffix(s, "%")
	if _, err := fmt.Sscanf(strings.TrimSpace(p), "%g", &v); err != nil || !(v > 0) || v > 1e6 {
		return 0, fmt.Errorf("bad tolerance %q: want a positive percentage such as 5%% or a fraction such as 0.05", s)
	}
	if isPct {
		v /= 100
	}
	return v, nil
}

// writeBaseline writes res to path atomically. A baseline must be a clean run:
// every test ran and every timed run succeeded.
func writeBaseline(path string, res *schema.Result) error {
	if res.Status != schema.StatusComplete {
		return fmt.Errorf("not recording a baseline from a run with status %q: %s", res.Status, res.Error)
	}
	for _, b := range res.Benchmarks {
		if b.Skipped || b.Error != "" || b.SuccessfulRuns != b.NRuns {
			return fmt.Errorf("not recording a baseline: %s did not run cleanly (%d of %d runs ok, skipped %v, error %q)",
				b.TestID, b.SuccessfulRuns, b.NRuns, b.Skipped, b.Error)
		}
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".baseline-*.json")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // after the rename, there is nothing to remove
	if err := report.WriteJSON(tmp, res); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

func logRun(t testing.TB, res *schema.Result) {
	t.Helper()
	for _, b := range res.Benchmarks {
		t.Logf("  %-14s %d/%d runs ok  %8.1f tok/s  ttft %.3f s  prefill %.0f tok/s", b.TestID, b.SuccessfulRuns, b.NRuns,
			b.AvgTPS, b.AvgTTFTS, b.AvgPrefillTPS)
	}
}
