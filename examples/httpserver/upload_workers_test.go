package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/typhonbench/typhon/internal/testbed"
	"github.com/typhonbench/typhon/report"
)

// TestUploadFromWorkerProcesses: three `typhon run -worker i/3` processes share
// 12 users against one llama-server on a shared clock and upload their records
// to this collector (with its token); the records merge, and uploading one of
// them again stores nothing new.
func TestUploadFromWorkerProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test")
	}
	srv := testbed.LlamaServer(t, testbed.Options{Parallel: 4, CtxSize: 4096})
	bin := buildTyphon(t)
	data := t.TempDir()
	c := config{addr: freeAddr(t), data: data, token: "s3cret", queue: 1, jobTimeout: time.Minute}
	base := serveConfig(t, c, io.Discard)
	start := time.Now().Add(5 * time.Second).UTC().Truncate(time.Second)
	var wg sync.WaitGroup
	outs := make([]bytes.Buffer, 3)
	errs := make([]error, 3)
	for i := range 3 {
		cmd := exec.CommandContext(t.Context(), bin, "run", "-mode", "load", "-url", srv.URL, "-model", srv.Model,
			"-users", "12", "-duration", "4s", "-ramp_up", "1s", "-input", "64", "-output", "16",
			"-worker", fmt.Sprintf("%d/3", i), "-start-at", start.Format(time.RFC3339), "-upload", base,
			"-data", filepath.Join(t.TempDir(), strconv.Itoa(i)))
		cmd.Env = append(os.Environ(), "TYPHON_UPLOAD_TOKEN=s3cret")
		cmd.Stdout, cmd.Stderr = &outs[i], &outs[i]
		wg.Go(func() { errs[i] = cmd.Run() })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("worker %d: %v\n%s", i, err, outs[i].String())
		}
	}
	run := "fleet-" + start.Format("20060102T150405Z")
	recs, err := (&report.Store{Dir: data}).WorkerRecords(run)
	if err != nil || len(recs) != 3 {
		t.Fatalf("the collector holds %d records of %s (%v), want 3", len(recs), run, err)
	}
	merged, err := report.Merge(recs)
	if err != nil {
		t.Fatal(err)
	}
	l := merged.Benchmarks[0].LoadLevel
	t.Logf("merged %s: %d users, %d completed, %.1f output tok/s, ttft p50 %.3f s, itl p99 %.4f s",
		merged.Benchmarks[0].TestID, l.Users, l.Completed, l.OutputTPS, l.Latency.TTFTS.P50, l.Latency.ITLS.P99)
	if l.Users != 12 || l.Completed == 0 {
		t.Errorf("merged level: %d users, %d completed; want 12 and some", l.Users, l.Completed)
	}
	rec, err := os.ReadFile(filepath.Join(data, report.RunsDir, recs[1].RunID+".json"))
	if err != nil {
		t.Fatal(err)
	}
	chronicle, _ := os.ReadFile(filepath.Join(data, report.ChronicleFile))
	if code, body, _ := doRaw(t, "POST", base+"/results", "s3cret", bytes.NewReader(rec)); code != 200 {
		t.Errorf("uploading worker 1's record again: %d %s, want 200", code, body)
	}
	if again, _ := os.ReadFile(filepath.Join(data, report.ChronicleFile)); !bytes.Equal(chronicle, again) {
		t.Error("a duplicate upload changed the chronicle")
	}
}

// buildTyphon builds the command line tool into a temporary directory.
func buildTyphon(t *testing.T) string {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		goTool = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	bin := filepath.Join(t.TempDir(), "typhon")
	cmd := exec.CommandContext(t.Context(), goTool, "build", "-o", bin, "../typhon")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}
