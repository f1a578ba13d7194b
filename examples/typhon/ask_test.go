package main

import (
	"bytes"
	"strings"
	"sync"
	"testing"

	"github.com/typhonbench/typhon"
	"github.com/typhonbench/typhon/engine"
	"github.com/typhonbench/typhon/internal/testbed"
)

// pieces records each write, to see that an answer streams in.
type pieces struct {
	mu     sync.Mutex
	writes int
	buf    bytes.Buffer
}

func (p *pieces) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.writes++
	return p.buf.Write(b)
}

// TestAskTestBed records a short real run on the test bed's llama-server, then
// asks that server (the default target) about the last run. The tiny model
// answers gibberish: the test checks the plumbing, a streamed non-empty answer
// and exit 0.
func TestAskTestBed(t *testing.T) {
	srv := testbed.LlamaServer(t, testbed.Options{CtxSize: 8192})
	data := t.TempDir()
	plan, err := engine.BuildPlan(engine.ModeQuick, 8192, 0)
	if err != nil {
		t.Fatal(err)
	}
	plan.Tests = plan.Tests[:2] // the baseline and one sweep are enough to ask about
	r := typhon.Runner{URL: srv.URL, Model: srv.Model, DataDir: data, Plan: &plan}
	if _, err := r.Run(t.Context(), nil); err != nil {
		t.Fatalf("run: %v", err)
	}
	var out pieces
	var errb bytes.Buffer
	err = run(t.Context(), []string{"ask", "-data", data, "-q", "Which context size should I use?"}, &out, &errb)
	answer := strings.TrimSpace(out.buf.String())
	t.Logf("answer in %d writes, %d bytes: %.200q", out.writes, len(answer), answer)
	if exitCode(err) != exitOK || answer == "" {
		t.Fatalf("ask: exit %d, err %v, answer %q, stderr %s", exitCode(err), err, answer, errb.String())
	}
	if out.writes < 3 {
		t.Errorf("the answer came in %d writes, want it streamed piece by piece", out.writes)
	}
	if code, _, _, err := runCLI(t, "ask", "-data", t.TempDir()); code != exitError || err == nil ||
		!strings.Contains(err.Error(), "no run recorded") {
		t.Errorf("ask without a run: exit %d, err %v; want exit 1, no run recorded", code, err)
	}
}
