package main

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/typhonbench/typhon/report"
	"github.com/typhonbench/typhon/schema"
)

// TestAskEnvKeyNotSentToARecordsServer: `typhon ask RUN.json` with
// $TYPHON_API_KEY set and no -url does not send the key to a server the
// record names that is not on this machine (a record may come from anywhere),
// and says so; an explicit -api-key is sent.
func TestAskEnvKeyNotSentToARecordsServer(t *testing.T) {
	t.Setenv("TYPHON_API_KEY", "sk-env-key-0b7c")
	data := t.TempDir()
	res := &schema.Result{SchemaVersion: schema.Version, RunID: "20261201T101500Z-1a2b3c4d", RunAt: time.Now().UTC(),
		Status: schema.StatusComplete, Mode: "quick", Model: "tiny",
		// 0.0.0.0 is not a loopback address, yet connecting to it stays on this machine.
		Server:     schema.ServerInfo{Kind: "llama.cpp", APIBase: "http://0.0.0.0:1"},
		Benchmarks: []schema.Benchmark{{TestID: "baseline_short", Category: schema.CategoryBaseline, NRuns: 1, SuccessfulRuns: 1, AvgTPS: 10}}}
	if err := (&report.Store{Dir: data}).Finish(res); err != nil {
		t.Fatal(err)
	}
	rec := filepath.Join(data, report.LastRunFile)
	_, _, stderr, err := runCLI(t, "ask", "-timeout", "5s", rec)
	if err == nil || !strings.Contains(stderr, "TYPHON_API_KEY not sent to 0.0.0.0:1") {
		t.Errorf("err %v, stderr %q; want a failure and the key not sent", err, stderr)
	}
	_, _, stderr, _ = runCLI(t, "ask", "-timeout", "5s", "-api-key", "sk-flag", rec)
	if strings.Contains(stderr, "not sent") {
		t.Errorf("an explicit -api-key was held back: %q", stderr)
	}
}
