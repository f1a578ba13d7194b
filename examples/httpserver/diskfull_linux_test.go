package main

import (
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/typhonbench/typhon"
	"github.com/typhonbench/typhon/internal/testbed"
	"github.com/typhonbench/typhon/report"
	"github.com/typhonbench/typhon/schema"
)

// tinyTmpfs mounts a tmpfs of size bytes on a new directory and unmounts it at the
// end of the test; it skips the test when mounting is not allowed.
func tinyTmpfs(t *testing.T, size int) string {
	t.Helper()
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", syscall.MS_NOSUID|syscall.MS_NODEV, "size="+strconv.Itoa(size)); err != nil {
		t.Skipf("cannot mount a tmpfs (needs root or CAP_SYS_ADMIN): %v", err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, 0); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	return dir
}

// fill writes a file in dir until the file system is full.
func fill(t *testing.T, dir string) {
	t.Helper()
	f, err := os.Create(filepath.Join(dir, "filler"))
	if err != nil {
		t.Fatalf("filler: %v", err)
	}
	defer f.Close()
	for _, size := range []int{64 << 10, 4 << 10, 1} {
		buf := make([]byte, size)
		for {
			if _, err := f.Write(buf); err != nil {
				if !errors.Is(err, syscall.ENOSPC) {
					t.Fatalf("filler: %v", err)
				}
				break
			}
		}
	}
}

// readAll maps every file under dir to its bytes.
func readAll(t *testing.T, dir string) map[string]string {
	t.Helper()
	files := map[string]string{}
	err := filepath.Walk(dir, func(path string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		files[path] = string(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// TestDiskFull fills the data directory's file system (a tiny tmpfs) while a job
// runs: the job ends in error "cannot write record: ...", and nothing written
// before is damaged: the earlier run's record, last_run.json and the chronicle
// keep their bytes, the running job's record keeps its last good version. Once
// space is freed the next job succeeds.
func TestDiskFull(t *testing.T) {
	data := tinyTmpfs(t, 1<<20)
	srv := testbed.LlamaServer(t, testbed.Options{CtxSize: 2048})
	mgr := &typhon.Manager{Runner: typhon.Runner{
		URL: srv.URL, Model: srv.Model, DataDir: data, RequestTimeout: fixedTimeout,
		Plan: tinyPlan(tinyTest("first", 1, 8), tinyTest("long", 6, 512), tinyTest("last", 1, 8)),
	}}
	base := startAPI(t, mgr, "")
	submit := func() string {
		var raw map[string]any
		if code := doJSON(t, "POST", base+"/jobs/run", &raw); code != http.StatusAccepted {
			t.Fatalf("POST /jobs/run: status %d (%v)", code, raw)
		}
		return raw["job_id"].(string)
	}

	if j := pollJob(t, base, submit(), 3*time.Minute, nil); j.Status != "done" {
		t.Fatalf("first job: %s %q, want done", j.Status, j.Error)
	}
	before := readAll(t, data)

	filled := false
	j := pollJob(t, base, submit(), 3*time.Minute, func(j jobView) {
		if !filled && j.Status == "running" && j.Progress.Done >= 1 {
			fill(t, data)
			filled = true
		}
	})
	if !filled {
		t.Fatalf("second job ended (%s %q) before its first test finished; the disk was never filled", j.Status, j.Error)
	}
	t.Logf("job error: %s", j.Error)
	if j.Status != "error" || !strings.HasPrefix(j.Error, "cannot write record: ") || !strings.Contains(j.Error, "no space left on device") {
		t.Errorf("job = %s %q, want error \"cannot write record: ... no space left on device\"", j.Status, j.Error)
	}

	// Nothing earlier is damaged.
	after := readAll(t, data)
	for path, b := range before {
		if after[path] != b {
			t.Errorf("%s changed: %d bytes before, %d after", path, len(b), len(after[path]))
		}
	}
	for path := range after {
		if strings.Contains(filepath.Base(path), ".tmp-") {
			t.Errorf("temp file left behind: %s", path)
		}
	}
	checkDataDir(t, data)
	rec, err := (&report.Store{Dir: data}).Load(j.RunID)
	if err != nil {
		t.Fatalf("record of the job that hit the full disk: %v", err)
	}
	if rec.Status != schema.StatusRunning || len(rec.Benchmarks) < 1 || rec.Benchmarks[0].TestID != "first" {
		t.Errorf("its record: status %q with %d tests, want its last good version (running, with test \"first\")", rec.Status, len(rec.Benchmarks))
	}

	// With space again, the next job succeeds.
	if err := os.Remove(filepath.Join(data, "filler")); err != nil {
		t.Fatal(err)
	}
	if j := pollJob(t, base, submit(), 3*time.Minute, nil); j.Status != "done" {
		t.Errorf("job after freeing space: %s %q, want done", j.Status, j.Error)
	}
	checkDataDir(t, data)
}
