package main

import (
	"context"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/typhonbench/typhon"
	"github.com/typhonbench/typhon/internal/testbed"
	"github.com/typhonbench/typhon/report"
	"github.com/typhonbench/typhon/schema"
)

// buildServer builds this command into a temporary directory.
func buildServer(t *testing.T) string {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go tool is needed to build the server: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "httpserver")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, goTool, "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// serverProc is the binary running as a subprocess.
type serverProc struct {
	cmd    *exec.Cmd
	logs   *syncBuffer
	exited chan struct{} // closed once cmd.Wait returned
	err    error         // cmd.Wait's answer
}

// startServer starts the binary listening on addr and waits until it answers
// /health. It is killed at the end of the test if it still runs.
func startServer(t *testing.T, bin, addr string, args ...string) *serverProc {
	t.Helper()
	p := &serverProc{logs: &syncBuffer{}, exited: make(chan struct{})}
	p.cmd = exec.Command(bin, append([]string{"-addr", addr}, args...)...)
	p.cmd.Stdout, p.cmd.Stderr = p.logs, p.logs
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-p.exited:
		default:
			_ = p.cmd.Process.Kill()
			<-p.exited
		}
		if t.Failed() {
			t.Logf("server log:\n%s", p.logs.String())
		}
	})
	waitHTTP(t, "http://"+addr+"/health")
	return p
}

// stop signals the process and waits until it has exited.
func (p *serverProc) stop(t *testing.T, sig syscall.Signal) error {
	t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatalf("signal %v: %v", sig, err)
	}
	select {
	case <-p.exited:
	case <-time.After(30 * time.Second):
		t.Fatalf("server still runs 30 s after %v", sig)
	}
	return p.err
}

// TestCrashRestart kills Typhon's server with SIGKILL mid-job (after its first
// test finished) and starts it again on the same data directory: the finished
// tests are in /results marked interrupted, every JSON file on disk parses and
// chronicle.jsonl has no torn line.
func TestCrashRestart(t *testing.T) {
	srv := testbed.LlamaServer(t, testbed.Options{CtxSize: 2048})
	bin := buildServer(t)
	data := t.TempDir()
	addr := freeAddr(t)
	base := "http://" + addr
	args := []string{"-data", data, "-url", srv.URL, "-model", srv.Model}

	first := startServer(t, bin, addr, args...)
	var raw map[string]any
	if code := doJSON(t, "POST", base+"/jobs/run?mode=quick", &raw); code != http.StatusAccepted {
		t.Fatalf("POST /jobs/run: status %d (%v)", code, raw)
	}
	id := raw["job_id"].(string)
	var runID string
	doneSeen := 0
	for deadline := time.Now().Add(3 * time.Minute); ; time.Sleep(10 * time.Millisecond) {
		var j jobView
		doJSON(t, "GET", base+"/jobs/"+id, &j)
		if j.Status == "done" || j.Status == "error" {
			t.Fatalf("job ended %s (%q) before it could be killed", j.Status, j.Error)
		}
		if j.Progress.Done >= 1 {
			runID, doneSeen = j.RunID, j.Progress.Done
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("job still at %+v after 3 minutes", j.Progress)
		}
	}
	if err := first.stop(t, syscall.SIGKILL); err == nil {
		t.Fatal("the killed server exited with status 0")
	}
	t.Logf("killed the server after %d finished test(s) of run %s", doneSeen, runID)

	// On disk, before the restart: the record is whole and still says running.
	checkDataDir(t, data)
	rec, err := report.LoadFile(filepath.Join(data, report.RunsDir, runID+".json"))
	if err != nil {
		t.Fatalf("record of the killed run: %v", err)
	}
	if rec.Status != schema.StatusRunning || len(rec.Benchmarks) < doneSeen {
		t.Fatalf("record after the kill: status %q with %d tests, want running with at least %d", rec.Status, len(rec.Benchmarks), doneSeen)
	}

	// The restarted server lists the run as interrupted, with its finished tests.
	second := startServer(t, bin, addr, args...)
	var list struct {
		Results []report.Summary `json:"results"`
		Total   int              `json:"total"`
	}
	if code := doJSON(t, "GET", base+"/results", &list); code != http.StatusOK {
		t.Fatalf("GET /results: status %d", code)
	}
	if list.Total != 1 || len(list.Results) != 1 || list.Results[0].RunID != runID ||
		list.Results[0].Status != schema.StatusInterrupted || list.Results[0].Benchmarks < doneSeen {
		t.Fatalf("GET /results = %+v, want run %s interrupted with at least %d tests", list, runID, doneSeen)
	}
	var got typhon.Result
	if code := doJSON(t, "GET", base+"/results/"+runID, &got); code != http.StatusOK {
		t.Fatalf("GET /results/%s: status %d", runID, code)
	}
	if got.Status != schema.StatusInterrupted || got.Error == "" || got.FinishedAt.IsZero() {
		t.Errorf("record status %q error %q finished_at %v, want interrupted with a reason and a time", got.Status, got.Error, got.FinishedAt)
	}
	b := got.Benchmarks[0]
	if b.TestID != "baseline_short" || b.SuccessfulRuns == 0 || b.SuccessfulRuns != b.NRuns || b.AvgTPS <= 0 {
		t.Errorf("first test of the interrupted run = %s, %d/%d runs, avg_tps %v, want baseline_short measured", b.TestID, b.SuccessfulRuns, b.NRuns, b.AvgTPS)
	}
	var jobs []jobView
	if doJSON(t, "GET", base+"/jobs", &jobs); len(jobs) != 0 {
		t.Errorf("GET /jobs after a restart = %d jobs, want none (jobs live in memory)", len(jobs))
	}
	lines := checkDataDir(t, data)
	n := 0
	for _, l := range lines {
		if l.RunID == runID {
			n++
			if l.RunStatus != schema.StatusInterrupted {
				t.Errorf("chronicle line of %s: run_status %q, want interrupted", l.TestID, l.RunStatus)
			}
		}
	}
	if n != len(got.Benchmarks) {
		t.Errorf("chronicle has %d lines of the run, want one per kept test (%d)", n, len(got.Benchmarks))
	}

	// SIGTERM stops the second server cleanly.
	if err := second.stop(t, syscall.SIGTERM); err != nil {
		t.Errorf("after SIGTERM the server exited with %v, want status 0\n%s", err, second.logs.String())
	}
	if !strings.Contains(second.logs.String(), "records marked interrupted") {
		t.Errorf("the restarted server did not log the interrupted record:\n%s", second.logs.String())
	}
}
