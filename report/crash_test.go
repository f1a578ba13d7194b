package report

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/typhonbench/typhon/schema"
)

const crashChildEnv = "TYPHON_REPORT_CRASH_CHILD"

// TestCrashChild is the process TestKilledMidRun kills: it writes runs into the
// directory named by the environment until it is killed.
func TestCrashChild(t *testing.T) {
	dir := os.Getenv(crashChildEnv)
	if dir == "" {
		t.Skip("only runs as the child of TestKilledMidRun")
	}
	s := &Store{Dir: dir}
	for i := 0; ; i++ {
		res := runResult(fmt.Sprintf("run%04d", i), t0.Add(time.Duration(i)*time.Minute), schema.StatusRunning, 0)
		full := runResult(res.RunID, res.RunAt, schema.StatusRunning, 6)
		for n := 0; n <= len(full.Benchmarks); n++ {
			res.Benchmarks = full.Benchmarks[:n]
			if err := s.Save(res); err != nil {
				t.Fatal(err)
			}
		}
		res.Status = schema.StatusComplete
		res.FinishedAt = res.RunAt.Add(time.Minute)
		if err := s.Finish(res); err != nil {
			t.Fatal(err)
		}
	}
}

// TestKilledMidRun kills a process that is writing records (SIGKILL, at a few
// different moments) and checks what a restart finds: every record decodes, the
// chronicle has no torn line, and Recover turns the run in progress into an
// interrupted record with the tests it finished.
func TestKilledMidRun(t *testing.T) {
	if testing.Short() {
		t.Skip("starts child processes")
	}
	t.Parallel()
	for _, wait := range []time.Duration{0, 7 * time.Millisecond, 31 * time.Millisecond} {
		t.Run(fmt.Sprintf("killed %v after the first finished run", wait), func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
			cmd.Env = append(os.Environ(), crashChildEnv+"="+dir)
			var out strings.Builder
			cmd.Stdout, cmd.Stderr = &out, &out
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			// Wait for a finished run, so the chronicle and last_run.json exist.
			last := filepath.Join(dir, LastRunFile)
			for {
				if _, err := os.Stat(last); err == nil {
					break
				}
				select {
				case <-ctx.Done():
					_ = cmd.Process.Kill()
					_ = cmd.Wait()
					t.Fatalf("child wrote no finished run: %s", out.String())
				case <-time.After(2 * time.Millisecond):
				}
			}
			select {
			case <-time.After(wait):
			case <-ctx.Done():
			}
			if err := cmd.Process.Kill(); err != nil {
				t.Fatal(err)
			}
			if err := cmd.Wait(); err == nil {
				t.Fatalf("child exited without being killed: %s", out.String())
			}

			// Every record and chronicle line decodes; temp files may remain.
			entries, err := os.ReadDir(filepath.Join(dir, RunsDir))
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range entries {
				if strings.Contains(e.Name(), ".tmp-") {
					continue
				}
				if _, err := LoadFile(filepath.Join(dir, RunsDir, e.Name())); err != nil {
					t.Errorf("record %s does not decode after the kill: %v", e.Name(), err)
				}
			}
			lines, skipped, err := ReadChronicle(strings.NewReader(string(readFile(t, filepath.Join(dir, ChronicleFile)))))
			if err != nil || skipped != 0 || len(lines)%6 != 0 {
				t.Errorf("chronicle after the kill: %d lines, %d skipped, %v; want whole runs of 6 lines", len(lines), skipped, err)
			}

			s := &Store{Dir: dir}
			ids, err := s.Recover()
			if err != nil {
				t.Fatalf("Recover: %v", err)
			}
			if len(ids) > 1 {
				t.Errorf("Recover found %d runs in progress, want at most 1: %v", len(ids), ids)
			}
			items, total, err := s.List(0, 0)
			if err != nil {
				t.Fatal(err)
			}
			for _, it := range items {
				if it.Status == schema.StatusRunning {
					t.Errorf("run %s still listed as running after Recover", it.RunID)
				}
			}
			for _, id := range ids {
				res, err := s.Load(id)
				if err != nil {
					t.Fatal(err)
				}
				if res.Status != schema.StatusInterrupted || res.Error == "" {
					t.Errorf("recovered run %s: status %q error %q", id, res.Status, res.Error)
				}
			}
			// Every finished run is in the chronicle; the interrupted one was added.
			after, err := s.Chronicle()
			if err != nil {
				t.Fatal(err)
			}
			finished := total - len(ids)
			wantLines := 6 * finished
			for _, id := range ids {
				res, _ := s.Load(id)
				wantLines += len(res.Benchmarks)
			}
			if len(after) != wantLines {
				t.Errorf("chronicle after Recover has %d lines, want %d (%d finished runs, %v interrupted)", len(after), wantLines, finished, ids)
			}
			t.Logf("killed after %d finished runs; interrupted: %v", finished, ids)
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				t.Error("the test ran out of time")
			}
		})
	}
}
