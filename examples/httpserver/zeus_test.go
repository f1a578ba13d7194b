package main

import (
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/typhonbench/typhon"
	"github.com/typhonbench/typhon/internal/testbed"
	"github.com/typhonbench/typhon/internal/testmodel"
	"github.com/typhonbench/typhon/schema"
)

// EnvZeus turns on the 128K zeus test (minutes of prefill on two cores; run by
// scripts/zeus-check.sh before a release).
const EnvZeus = "TYPHON_ZEUS"

// submitZeus starts a zeus job through the API and returns its id.
func submitZeus(t *testing.T, base string) string {
	t.Helper()
	var raw map[string]any
	if code := doJSON(t, "POST", base+"/jobs/run?mode=zeus", &raw); code != http.StatusAccepted || raw["mode"] != "zeus" {
		t.Fatalf("POST /jobs/run?mode=zeus: status %d, %v; want 202 and mode zeus", code, raw)
	}
	id, _ := raw["job_id"].(string)
	return id
}

// TestZeusJobSkipsWhatTheServerCannotTake: on servers that cannot take 128K or
// 256K tokens (llama-server with 4,096, Ollama with a model trained for 32,768)
// both zeus tests are recorded as skipped with the reason, nothing is sent for
// them, and the job still ends done.
func TestZeusJobSkipsWhatTheServerCannotTake(t *testing.T) {
	for _, c := range []struct{ kind, reason string }{
		{testbed.KindLlama, "the server gives a request at most 4,096"},
		{testbed.KindOllama, "the server gives a request at most 32,768"}, // the model's training context
	} {
		t.Run(c.kind, func(t *testing.T) {
			var srv *testbed.Server
			if c.kind == testbed.KindLlama {
				srv = testbed.LlamaServer(t, testbed.Options{CtxSize: 4096})
			} else {
				srv = testbed.Ollama(t, testbed.Options{CtxSize: 4096})
			}
			mgr := &typhon.Manager{Runner: typhon.Runner{URL: srv.URL, Model: srv.Model, DataDir: t.TempDir()}}
			base := startAPI(t, mgr, "")
			j := pollJob(t, base, submitZeus(t, base), 3*time.Minute, nil)
			if j.Status != "done" || j.Result == nil {
				t.Fatalf("job %s (%s), want done", j.Status, j.Error)
			}
			for _, b := range j.Result.Benchmarks {
				t.Logf("%s: skipped %v (%s), %d/%d runs ok, %.1f tokens/s", b.TestID, b.Skipped, b.SkipReason, b.SuccessfulRuns, b.NRuns, b.AvgTPS)
				switch {
				case b.Category == schema.CategoryZeus && (!b.Skipped || !strings.Contains(b.SkipReason, c.reason) ||
					b.WarmupRun != nil || len(b.Runs) != 0):
					t.Errorf("%s: skipped %v, reason %q, warmup %v, %d runs; want skipped, unsent, because %s",
						b.TestID, b.Skipped, b.SkipReason, b.WarmupRun, len(b.Runs), c.reason)
				case b.Category == schema.CategoryBaseline && b.SuccessfulRuns == 0:
					t.Errorf("baseline failed: %s", b.Error)
				}
			}
			if len(j.Result.Benchmarks) != 3 {
				t.Errorf("%d tests, want baseline_short, zeus_131072, zeus_262144", len(j.Result.Benchmarks))
			}
		})
	}
}

// TestZeus128K runs the zeus job on llama-server serving a generated model
// trained for 262,144 tokens with a 131,072-token context: the 128K test runs
// to the end, the 256K test is skipped, and current_test says how far the
// prefill is while it runs. Only with TYPHON_ZEUS=1 (scripts/zeus-check.sh).
func TestZeus128K(t *testing.T) {
	if os.Getenv(EnvZeus) != "1" {
		t.Skipf("the 128K zeus test takes minutes: set %s=1 (scripts/zeus-check.sh)", EnvZeus)
	}
	model := filepath.Join(t.TempDir(), "zeus.gguf")
	// One narrow layer: the prefill of 130K tokens is attention-bound, and its
	// cost grows with the layers and width.
	cfg := testmodel.Config{Embd: 32, Layers: 1, Heads: 2, FF: 64, Context: 262144, Name: "typhon-zeus"}
	if err := testmodel.WriteFile(model, cfg); err != nil {
		t.Fatal(err)
	}
	srv := testbed.LlamaServer(t, testbed.Options{CtxSize: 131072, ModelPath: model, ModelName: "zeus"})
	mgr := &typhon.Manager{Runner: typhon.Runner{URL: srv.URL, Model: srv.Model, DataDir: t.TempDir()}}
	base := startAPI(t, mgr, "")
	start := time.Now()
	var states []string
	prefill := regexp.MustCompile(`prefill [0-9,]+ of about [0-9,]+ tokens \(\d+%\)`)
	j := pollJob(t, base, submitZeus(t, base), 25*time.Minute, func(j jobView) {
		if n := len(states); n == 0 || states[n-1] != j.Progress.CurrentTest {
			states = append(states, j.Progress.CurrentTest)
		}
	})
	wall := time.Since(start)
	if j.Status != "done" || j.Result == nil {
		t.Fatalf("job %s (%s), want done", j.Status, j.Error)
	}
	checkZeus128K(t, j.Result, wall)
	live := 0
	for _, s := range states {
		if prefill.MatchString(s) {
			live++
		}
	}
	t.Logf("current_test went through %d states, %d of them prefill progress; e.g. %q", len(states), live, states[len(states)/2])
	if live < 3 {
		t.Errorf("current_test showed the prefill's progress %d times, want it live during the prefill: %q", live, states)
	}
}

func checkZeus128K(t *testing.T, res *typhon.Result, wall time.Duration) {
	t.Helper()
	var base float64
	for _, b := range res.Benchmarks {
		switch b.TestID {
		case "baseline_short":
			base = b.AvgTPS
		case "zeus_131072":
			if b.SuccessfulRuns != 1 || len(b.Runs) != 1 {
				t.Fatalf("zeus_131072: %d of %d runs ok (%s), want its one run done", b.SuccessfulRuns, len(b.Runs), b.Error)
			}
			r := b.Runs[0]
			if r.PromptTokens < 120000 || r.OutputTokens < 2 || r.TPS <= 0 || r.TTFTS <= 0 {
				t.Errorf("zeus_131072 run: prompt %d, output %d, tps %v, ttft %v; want a prompt above 120,000 tokens decoded at depth",
					r.PromptTokens, r.OutputTokens, r.TPS, r.TTFTS)
			}
			if w := b.WarmupRun; w == nil || w.PromptTokens > 1000 {
				t.Errorf("zeus_131072 warmup %+v, want a short prompt", w)
			}
			t.Logf("zeus_131072: prompt %d tokens, prefill %.1f s (%.0f tokens/s; server %.0f), decode %.1f tokens/s at that depth (baseline %.1f), %d tokens out; job wall time %v",
				r.PromptTokens, r.TTFTS, r.PrefillTPS, r.ServerPrefillTPS, r.TPS, base, r.OutputTokens, wall.Round(time.Second))
		case "zeus_262144":
			if !b.Skipped || !strings.Contains(b.SkipReason, "131,072") {
				t.Errorf("zeus_262144: skipped %v (%q), want skipped for the server's 131,072", b.Skipped, b.SkipReason)
			}
		}
	}
}
