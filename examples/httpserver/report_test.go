package main

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/typhonbench/typhon"
	"github.com/typhonbench/typhon/internal/testbed"
	"github.com/typhonbench/typhon/report"
)

// TestReportRealServer runs a quick job on the test bed's llama-server with two
// slots and reads it back through GET /report (404 before the run) and GET
// /results/{run_id}/dashboard; then it applies the suggested command's flags to
// the test bed's llama-server and checks the server starts with that context
// and those slots.
func TestReportRealServer(t *testing.T) {
	srv := testbed.LlamaServer(t, testbed.Options{CtxSize: 4096, Parallel: 2})
	mgr := &typhon.Manager{Runner: typhon.Runner{URL: srv.URL, Model: srv.Model, DataDir: t.TempDir()}}
	base := startAPI(t, mgr, "")

	var miss map[string]string
	if code := doJSON(t, "GET", base+"/report", &miss); code != http.StatusNotFound || !strings.Contains(miss["detail"], "no run yet") {
		t.Errorf("GET /report before any run: %d %v, want 404 with a detail", code, miss)
	}
	var sub map[string]any
	if code := doJSON(t, "POST", base+"/jobs/run?mode=quick", &sub); code != http.StatusAccepted {
		t.Fatalf("POST /jobs/run: %d %v", code, sub)
	}
	job := pollJob(t, base, sub["job_id"].(string), 5*time.Minute, nil)
	if job.Status != "done" {
		t.Fatalf("job ended %s: %s", job.Status, job.Error)
	}

	var raw map[string]json.RawMessage
	if code := doJSON(t, "GET", base+"/report", &raw); code != http.StatusOK {
		t.Fatalf("GET /report: %d", code)
	}
	for _, k := range []string{"baseline_tps", "context_sweep", "findings", "suggested_ctx_size", "suggested_command"} {
		if _, ok := raw[k]; !ok {
			t.Errorf("GET /report lacks %s", k)
		}
	}
	var b report.Brief
	_, body, _ := doRaw(t, "GET", base+"/report", "", nil)
	if err := json.Unmarshal(body, &b); err != nil {
		t.Fatal(err)
	}
	t.Logf("GET /report: baseline_tps %v, %d sweep points, %d findings, suggested_ctx_size %v, suggested_command %q",
		deref(b.BaselineTPS), len(b.ContextSweep), len(b.Findings), derefInt(b.SuggestedCtxSize), b.SuggestedCommand)
	if b.RunID != job.RunID || b.BaselineTPS == nil || *b.BaselineTPS <= 0 || b.Server.Kind != testbed.KindLlama || b.Server.Slots != 2 {
		t.Errorf("brief: run %q (want %q), baseline_tps %v, server %+v", b.RunID, job.RunID, b.BaselineTPS, b.Server)
	}
	if len(b.ContextSweep) == 0 || b.ContextSweep[0].CtxSize != 2048 || b.ContextSweep[0].TPS == nil {
		t.Errorf("context_sweep = %+v, want the 2,048-token sweep first, measured", b.ContextSweep)
	}
	for _, p := range b.ContextSweep {
		t.Logf("sweep %s: %s, %d of %d ok, valid %v, median %v tok/s, CI %v-%v, excluded %v", p.TestID, p.Status, p.SuccessfulRuns, p.NRuns,
			derefInt(p.ValidRuns), deref(p.MedianTPS), deref(p.TPSCI95Low), deref(p.TPSCI95High), p.Excluded)
		if p.Status == report.OutcomeSkipped {
			continue
		}
		excluded := 0
		for _, n := range p.Excluded {
			excluded += n
		}
		if p.ValidRuns == nil || *p.ValidRuns+excluded != p.SuccessfulRuns || *p.ValidRuns > 0 && p.MedianTPS == nil ||
			*p.ValidRuns >= 2 && (p.TPSCI95Low == nil || p.TPSCI95High == nil || *p.TPSCI95Low > *p.TPSCI95High) {
			t.Errorf("sweep point %s: valid_runs, median_tps, CI or excluded do not add up: %+v", p.TestID, p)
		}
	}
	for _, f := range b.Findings {
		t.Logf("finding %s (%s): %s", f.Rule, f.Severity, f.Text)
		if f.Rule == "" || f.Severity == "" || f.Text == "" {
			t.Errorf("finding without rule, severity or text: %+v", f)
		}
	}
	if len(b.Findings) == 0 {
		t.Error("no finding")
	}
	if b.SuggestedCtxSize == nil || *b.SuggestedCtxSize != 2048 || !strings.HasPrefix(b.SuggestedCommand, "llama-server -m ") ||
		!strings.HasSuffix(b.SuggestedCommand, " -c 4096 -np 2") {
		t.Fatalf("suggestion %v %q, want 2,048 tokens per request: llama-server -m ... -c 4096 -np 2", b.SuggestedCtxSize, b.SuggestedCommand)
	}

	code, page, hdr := doRaw(t, "GET", base+"/results/"+job.RunID+"/dashboard", "", nil)
	if code != http.StatusOK || !strings.HasPrefix(hdr.Get("Content-Type"), "text/html") ||
		!strings.Contains(hdr.Get("Content-Security-Policy"), "default-src 'none'") {
		t.Errorf("GET /results/{run_id}/dashboard: %d, Content-Type %q, CSP %q", code, hdr.Get("Content-Type"), hdr.Get("Content-Security-Policy"))
	}
	if !strings.Contains(string(page), `data-chart="decode"`) || !strings.Contains(string(page), b.SuggestedCommand[:20]) {
		t.Errorf("dashboard lacks the decode chart or the suggested command")
	}
	if code, _, _ := doRaw(t, "GET", base+"/results/nosuchrun/dashboard", "", nil); code != http.StatusNotFound {
		t.Errorf("dashboard of a missing run: %d, want 404", code)
	}
	checkSuggestionStarts(t, b)
}

// checkSuggestionStarts starts the test bed's llama-server (1,024 tokens, one
// slot by its own flags) with the suggested command's flags after its own (the
// last of a flag wins; the model file is the test bed's), and checks the
// server serves the suggested context per slot with the suggested slots.
func checkSuggestionStarts(t *testing.T, b report.Brief) {
	t.Helper()
	args := strings.Fields(b.SuggestedCommand)
	if args[0] != "llama-server" || args[1] != "-m" {
		t.Fatalf("command %q", b.SuggestedCommand)
	}
	flags := args[3:] // without the program and its model
	t.Logf("starting the test bed's llama-server with the suggested flags %q", flags)
	srv := testbed.LlamaServer(t, testbed.Options{CtxSize: 1024, Parallel: 1, ExtraArgs: flags})
	var props struct {
		Settings struct {
			NCtx int `json:"n_ctx"`
		} `json:"default_generation_settings"`
		Slots int `json:"total_slots"`
	}
	code, body, _ := doRaw(t, "GET", srv.URL+"/props", "", nil)
	if err := json.Unmarshal(body, &props); code != http.StatusOK || err != nil {
		t.Fatalf("GET /props: %d %v", code, err)
	}
	if props.Settings.NCtx != *b.SuggestedCtxSize || props.Slots != b.Suggestion.Parallel {
		t.Errorf("server started with n_ctx %d per slot and %d slots, want %d and %d", props.Settings.NCtx, props.Slots,
			*b.SuggestedCtxSize, b.Suggestion.Parallel)
	}
	t.Logf("llama-server %s started: n_ctx %d per slot, %d slots", strconv.Quote(strings.Join(flags, " ")), props.Settings.NCtx, props.Slots)
}

func deref(p *float64) float64 {
	if p == nil {
		return 0
	}
	return *p
}

func derefInt(p *int) int {
	if p == nil {
		return 0
	}
	return *p
}
