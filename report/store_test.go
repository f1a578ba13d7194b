package report

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/typhonbench/typhon/schema"
)

// faultFS is the real file system with a disk that fills up: writes beyond
// budget bytes are cut short with ENOSPC, as a full disk does. Other faults can
// be switched on per operation.
type faultFS struct {
	osFS
	mu         sync.Mutex
	budget     int64 // bytes that may still be written; < 0: unlimited
	failAppend bool  // every write to a file opened for appending fails
	failRename bool
	failSync   bool
	failClose  bool // closing a file opened for appending fails (after its writes)
}

func (f *faultFS) take(n int) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.budget < 0 {
		return n
	}
	k := min(int64(n), f.budget)
	f.budget -= k
	return int(k)
}

func (f *faultFS) CreateTemp(dir, pattern string) (file, error) {
	of, err := os.CreateTemp(dir, pattern)
	if err != nil {
		return nil, err
	}
	return &faultFile{File: of, fs: f}, nil
}

func (f *faultFS) OpenAppend(name string) (file, error) {
	of, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	return &faultFile{File: of, fs: f, appending: true}, nil
}

func (f *faultFS) Rename(oldpath, newpath string) error {
	if f.failRename {
		return &os.LinkError{Op: "rename", Old: oldpath, New: newpath, Err: syscall.EIO}
	}
	return os.Rename(oldpath, newpath)
}

type faultFile struct {
	*os.File
	fs        *faultFS
	appending bool
}

func (f *faultFile) Write(p []byte) (int, error) {
	if f.appending && f.fs.failAppend {
		// Half the line reaches the file before the error.
		n, _ := f.File.Write(p[:len(p)/2])
		return n, &fs.PathError{Op: "write", Path: f.Name(), Err: syscall.ENOSPC}
	}
	k := f.fs.take(len(p))
	n, err := f.File.Write(p[:k])
	if err != nil {
		return n, err
	}
	if k < len(p) {
		return n, &fs.PathError{Op: "write", Path: f.Name(), Err: syscall.ENOSPC}
	}
	return n, nil
}

func (f *faultFile) Close() error {
	err := f.File.Close()
	if f.appending && f.fs.failClose && err == nil {
		return &fs.PathError{Op: "close", Path: f.Name(), Err: syscall.EIO}
	}
	return err
}

func (f *faultFile) Sync() error {
	if f.fs.failSync {
		return &fs.PathError{Op: "sync", Path: f.Name(), Err: syscall.EIO}
	}
	return f.File.Sync()
}

// runResult is a small record with n finished tests.
func runResult(id string, runAt time.Time, status schema.Status, n int) *schema.Result {
	res := &schema.Result{
		SchemaVersion: schema.Version, RunID: id, RunAt: runAt, Status: status, Mode: "quick", Model: "tiny",
		Server: schema.ServerInfo{Name: "llama.cpp (llama-server)", Port: 8080, APIBase: "http://127.0.0.1:8080", Kind: "llama.cpp"},
	}
	for i := range n {
		res.Benchmarks = append(res.Benchmarks, schema.Benchmark{
			TestID: fmt.Sprintf("ctx_sweep_%d", 1024<<i), Name: "sweep", Category: schema.CategoryContextSweep,
			CtxSize: 1024 << i, MaxTokens: 256, NRuns: 2, SuccessfulRuns: 2, AvgTPS: 100 - float64(i),
			Runs:       []schema.RunSample{okRun(100, 0.1, 900, 256), okRun(100, 0.1, 900, 256)},
			StartedAt:  runAt.Add(time.Duration(i) * time.Second),
			FinishedAt: runAt.Add(time.Duration(i+1) * time.Second),
		})
	}
	if status != schema.StatusRunning {
		res.FinishedAt = runAt.Add(time.Duration(n+1) * time.Second)
	}
	return res
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}
	return b
}

// checkDisk asserts the invariants every state of a Store's directory must keep:
// every record decodes, no temp file is left, every chronicle line decodes and
// the chronicle ends with a newline.
func checkDisk(t *testing.T, dir string) {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(dir, RunsDir))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}
	for _, e := range entries {
		if strings.Contains(e.Name(), ".tmp-") {
			t.Errorf("temp file %s left in runs/", e.Name())
			continue
		}
		if _, err := LoadFile(filepath.Join(dir, RunsDir, e.Name())); err != nil {
			t.Errorf("record %s does not decode: %v", e.Name(), err)
		}
	}
	b := readFile(t, filepath.Join(dir, ChronicleFile))
	if len(b) > 0 && b[len(b)-1] != '\n' {
		t.Errorf("chronicle does not end with a newline: %q", b[max(0, len(b)-40):])
	}
	for i, line := range bytes.Split(bytes.TrimSuffix(b, []byte("\n")), []byte("\n")) {
		if len(b) == 0 {
			break
		}
		if _, err := DecodeChronicleLine(line); err != nil {
			t.Errorf("chronicle line %d does not decode: %v: %q", i+1, err, line)
		}
	}
}

func TestSaveLoadRoundTrip(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		res  *schema.Result
	}{
		{"full", fullResult()},
		{"troubled", troubledResult()},
		{"running no tests", runResult("c0ffee00", t0, schema.StatusRunning, 0)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := &Store{Dir: t.TempDir()}
			if err := s.Save(tt.res); err != nil {
				t.Fatalf("Save: %v", err)
			}
			got, err := s.Load(tt.res.RunID)
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if diff := cmp.Diff(tt.res, got); diff != "" {
				t.Errorf("Load after Save (-want +got):\n%s", diff)
			}
			var want bytes.Buffer
			if err := WriteJSON(&want, tt.res); err != nil {
				t.Fatal(err)
			}
			if disk := readFile(t, filepath.Join(s.Dir, RunsDir, tt.res.RunID+".json")); !bytes.Equal(disk, want.Bytes()) {
				t.Errorf("record on disk is not WriteJSON's output:\n%s", cmp.Diff(want.String(), string(disk)))
			}
			checkDisk(t, s.Dir)
		})
	}
}

func TestSaveSetsSchemaVersionWithoutTouchingTheResult(t *testing.T) {
	t.Parallel()
	s := &Store{Dir: t.TempDir()}
	res := runResult("v0", t0, schema.StatusRunning, 1)
	res.SchemaVersion = 0
	if err := s.Save(res); err != nil {
		t.Fatal(err)
	}
	if res.SchemaVersion != 0 {
		t.Errorf("Save changed the caller's SchemaVersion to %d", res.SchemaVersion)
	}
	got, err := s.Load("v0")
	if err != nil {
		t.Fatal(err)
	}
	if got.SchemaVersion != schema.Version {
		t.Errorf("schema_version on disk = %d, want %d", got.SchemaVersion, schema.Version)
	}
}

func TestFinishWritesRecordChronicleAndLastRun(t *testing.T) {
	t.Parallel()
	s := &Store{Dir: t.TempDir()}
	first := runResult("run1", t0, schema.StatusComplete, 2)
	second := fullResult()
	for _, res := range []*schema.Result{first, second} {
		running := *res
		running.Status = schema.StatusRunning
		if err := s.Save(&running); err != nil {
			t.Fatalf("Save: %v", err)
		}
		if err := s.Finish(res); err != nil {
			t.Fatalf("Finish: %v", err)
		}
	}
	got, err := s.Load(second.RunID)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(second, got); diff != "" {
		t.Errorf("record after Finish (-want +got):\n%s", diff)
	}
	last, err := LoadFile(filepath.Join(s.Dir, LastRunFile))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(second, last); diff != "" {
		t.Errorf("last_run.json (-want +got):\n%s", diff)
	}
	lines, err := s.Chronicle()
	if err != nil {
		t.Fatal(err)
	}
	want := append(ChronicleLines(first), ChronicleLines(second)...)
	if diff := cmp.Diff(want, lines); diff != "" {
		t.Errorf("chronicle (-want +got):\n%s", diff)
	}
	checkDisk(t, s.Dir)
}

func TestChronicleLinesOfFullResult(t *testing.T) {
	t.Parallel()
	lines := ChronicleLines(fullResult())
	type row struct{ TestID, Status, Error string }
	var got []row
	for _, l := range lines {
		got = append(got, row{l.TestID, l.Status, l.Error})
		if l.RunID != "a3f1c820" || l.GPUName != "NVIDIA GeForce RTX 4090" || l.ServerVersion != "b5123" || l.RunStatus != schema.StatusComplete {
			t.Errorf("line %s lacks the run's fields: %+v", l.TestID, l)
		}
	}
	want := []row{
		{"baseline_short", OutcomeOK, ""},
		{"ctx_sweep_4096", OutcomeOK, ""},
		{"ctx_sweep_8192", OutcomeOK, ""},
		{"ctx_sweep_16384", OutcomePartial, "timeout: no token for 200 s"},
		{"ctx_sweep_32768", OutcomeSkipped, "beyond the server's context (16,384 tokens per slot)"},
		{"long_gen", OutcomeOK, ""},
		{"memory_wall", OutcomeOK, ""},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("chronicle lines (-want +got):\n%s", diff)
	}
}

func TestFinishRejectsUnfinishedStatus(t *testing.T) {
	t.Parallel()
	for _, status := range []schema.Status{"", schema.StatusRunning} {
		t.Run(fmt.Sprintf("status %q", status), func(t *testing.T) {
			t.Parallel()
			s := &Store{Dir: t.TempDir()}
			err := s.Finish(runResult("r", t0, status, 1))
			if err == nil || !strings.HasPrefix(err.Error(), "cannot write record: ") {
				t.Fatalf("Finish with status %q: err = %v, want a cannot write record error", status, err)
			}
			if b := readFile(t, filepath.Join(s.Dir, ChronicleFile)); len(b) != 0 {
				t.Errorf("chronicle written for an unfinished run: %q", b)
			}
		})
	}
}

func TestRunIDValidation(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	// A record outside runs/ that a traversal would reach.
	if err := os.WriteFile(filepath.Join(dir, "secret.json"), []byte(`{"run_id":"secret","run_at":"2025-01-01T00:00:00Z","benchmarks":[]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	s := &Store{Dir: dir}
	tests := []struct {
		id    string
		valid bool
	}{
		{"a3f1c820", true},
		{"20250601T142201Z-a3f1", true},
		{"run_1.v2", true},
		{"", false},
		{"../secret", false},
		{"..", false},
		{".hidden", false},
		{"a/b", false},
		{`a\b`, false},
		{"/etc/passwd", false},
		{"a\x00b", false},
		{"a b", false},
		{"é", false},
		{strings.Repeat("a", 128), true},
		{strings.Repeat("a", 129), false},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%q", tt.id), func(t *testing.T) {
			t.Parallel()
			if got := ValidRunID(tt.id); got != tt.valid {
				t.Errorf("ValidRunID(%q) = %v, want %v", tt.id, got, tt.valid)
			}
			_, err := s.Load(tt.id)
			if !errors.Is(err, ErrNotFound) {
				t.Errorf("Load(%q) = %v, want ErrNotFound", tt.id, err)
			}
			if got := errors.Is(err, ErrInvalidRunID); got == tt.valid {
				t.Errorf("Load(%q): errors.Is(err, ErrInvalidRunID) = %v, want %v", tt.id, got, !tt.valid)
			}
			if tt.valid {
				return
			}
			err = s.Save(runResult(tt.id, t0, schema.StatusRunning, 0))
			if err == nil || !strings.HasPrefix(err.Error(), "cannot write record: ") || !errors.Is(err, ErrInvalidRunID) {
				t.Errorf("Save with run id %q: err = %v, want cannot write record wrapping ErrInvalidRunID", tt.id, err)
			}
		})
	}
}

func TestListPagingNewestFirst(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := &Store{Dir: dir}
	// Saved out of order; two share a run_at and are ordered by id, newest first.
	order := []struct {
		id  string
		min int
	}{{"r3", 30}, {"r1", 10}, {"r5", 50}, {"r2", 20}, {"r4b", 40}, {"r4a", 40}, {"r6", 60}}
	for _, o := range order {
		status := schema.StatusComplete
		if o.id == "r6" {
			status = schema.StatusRunning
		}
		if err := s.Save(runResult(o.id, t0.Add(time.Duration(o.min)*time.Minute), status, 1)); err != nil {
			t.Fatal(err)
		}
	}
	// Files that are not records are left out.
	for name, body := range map[string]string{"broken.json": "{not json", "notes.txt": "x", ".r9.json.tmp-123": "{"} {
		if err := os.WriteFile(filepath.Join(dir, RunsDir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name          string
		offset, limit int
		want          []string
	}{
		{"first page", 0, 3, []string{"r6", "r5", "r4b"}},
		{"second page", 3, 3, []string{"r4a", "r3", "r2"}},
		{"last page short", 6, 3, []string{"r1"}},
		{"past the end", 7, 3, nil},
		{"far past the end", 100, 3, nil},
		{"no limit", 0, 0, []string{"r6", "r5", "r4b", "r4a", "r3", "r2", "r1"}},
		{"negative limit is no limit", 5, -1, []string{"r2", "r1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			// A new Store on the same directory: what a restarted process sees.
			items, total, err := (&Store{Dir: dir}).List(tt.offset, tt.limit)
			if err != nil {
				t.Fatal(err)
			}
			if total != 7 {
				t.Errorf("total = %d, want 7", total)
			}
			var got []string
			for _, it := range items {
				got = append(got, it.RunID)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("List(%d, %d) ids (-want +got):\n%s", tt.offset, tt.limit, diff)
			}
		})
	}
	if _, _, err := s.List(-1, 3); err == nil {
		t.Error("List(-1, 3): no error for a negative offset")
	}
}

func TestListEmptyAndSummary(t *testing.T) {
	t.Parallel()
	s := &Store{Dir: filepath.Join(t.TempDir(), "not-yet")}
	items, total, err := s.List(0, 10)
	if err != nil || total != 0 || len(items) != 0 {
		t.Errorf("List on a missing dir = %v, %d, %v; want nothing", items, total, err)
	}
	res := troubledResult()
	if err := s.Finish(res); err != nil {
		t.Fatal(err)
	}
	items, total, err = s.List(0, 10)
	if err != nil {
		t.Fatal(err)
	}
	want := []Summary{{
		RunID: "0b7e44d1", RunAt: res.RunAt, FinishedAt: res.FinishedAt, Status: schema.StatusFailed, Mode: "quick", Model: "tiny",
		Server: "llama.cpp (llama-server)", Benchmarks: 4, Failed: 1, Skipped: 1, Error: res.Error,
	}}
	if diff := cmp.Diff(want, items); diff != "" || total != 1 {
		t.Errorf("List (total %d, want 1) (-want +got):\n%s", total, diff)
	}
}

func TestLoadNotFound(t *testing.T) {
	t.Parallel()
	s := &Store{Dir: t.TempDir()}
	if _, err := s.Load("deadbeef"); !errors.Is(err, ErrNotFound) || errors.Is(err, ErrInvalidRunID) {
		t.Errorf("Load of an unknown id: err = %v, want ErrNotFound only", err)
	}
}

func TestRecoverMarksRunningRecordsInterrupted(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := &Store{Dir: dir}
	running := runResult("crashed", t0, schema.StatusRunning, 2)
	runningNone := runResult("crashed0", t0.Add(time.Minute), schema.StatusRunning, 0)
	done := runResult("finished", t0.Add(2*time.Minute), schema.StatusComplete, 3)
	for _, r := range []*schema.Result{running, runningNone} {
		if err := s.Save(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Finish(done); err != nil {
		t.Fatal(err)
	}
	chronBefore := readFile(t, filepath.Join(dir, ChronicleFile))
	// Debris of a crash: a stale temp file, a fresh one (another writer's), a torn record.
	stale := filepath.Join(dir, RunsDir, ".crashed.json.tmp-111")
	fresh := filepath.Join(dir, RunsDir, ".other.json.tmp-222")
	for _, p := range []string{stale, fresh} {
		if err := os.WriteFile(p, []byte(`{"run_id":`), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	old := time.Now().Add(-time.Hour)
	if err := os.Chtimes(stale, old, old); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, RunsDir, "torn.json"), []byte(`{"run_id":"torn","status":"runn`), 0o644); err != nil {
		t.Fatal(err)
	}

	ids, err := (&Store{Dir: dir}).Recover()
	if err != nil {
		t.Fatalf("Recover: %v", err)
	}
	if diff := cmp.Diff([]string{"crashed", "crashed0"}, ids); diff != "" {
		t.Errorf("Recover ids (-want +got):\n%s", diff)
	}
	got, err := s.Load("crashed")
	if err != nil {
		t.Fatal(err)
	}
	want := runResult("crashed", t0, schema.StatusInterrupted, 2)
	want.FinishedAt = t0.Add(2 * time.Second) // the end of its last finished test
	want.Error = InterruptedError + " (tests kept: 2)"
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("recovered record (-want +got):\n%s", diff)
	}
	got0, err := s.Load("crashed0")
	if err != nil {
		t.Fatal(err)
	}
	if got0.Status != schema.StatusInterrupted || !got0.FinishedAt.Equal(got0.RunAt) {
		t.Errorf("recovered empty record: status %q finished_at %v, want interrupted at run_at %v", got0.Status, got0.FinishedAt, got0.RunAt)
	}

	items, _, err := s.List(0, 0)
	if err != nil {
		t.Fatal(err)
	}
	statuses := map[string]schema.Status{}
	for _, it := range items {
		statuses[it.RunID] = it.Status
	}
	wantStatuses := map[string]schema.Status{"finished": schema.StatusComplete, "crashed": schema.StatusInterrupted, "crashed0": schema.StatusInterrupted}
	if diff := cmp.Diff(wantStatuses, statuses); diff != "" {
		t.Errorf("statuses listed after Recover (-want +got):\n%s", diff)
	}

	// The chronicle keeps its earlier lines and gains the interrupted run's tests.
	chron := readFile(t, filepath.Join(dir, ChronicleFile))
	if !bytes.HasPrefix(chron, chronBefore) {
		t.Errorf("Recover changed earlier chronicle lines")
	}
	added, skipped, err := ReadChronicle(bytes.NewReader(chron[len(chronBefore):]))
	if err != nil || skipped != 0 {
		t.Fatalf("ReadChronicle: %d skipped, %v", skipped, err)
	}
	if len(added) != 2 || added[0].RunID != "crashed" || added[0].RunStatus != schema.StatusInterrupted {
		t.Errorf("chronicle lines added by Recover = %+v, want the 2 tests of crashed marked interrupted", added)
	}

	if _, err := os.Stat(stale); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("stale temp file still there (err %v)", err)
	}
	if _, err := os.Stat(fresh); err != nil {
		t.Errorf("fresh temp file removed: %v", err)
	}

	// A second start finds nothing to recover and changes nothing.
	ids, err = s.Recover()
	if err != nil || len(ids) != 0 {
		t.Errorf("second Recover = %v, %v; want none", ids, err)
	}
	if again := readFile(t, filepath.Join(dir, ChronicleFile)); !bytes.Equal(again, chron) {
		t.Errorf("second Recover changed the chronicle")
	}
}

// TestRecoverCompletesTheChronicle: a finished record without chronicle lines
// (killed between the record and the append) gets them at the next start, once.
func TestRecoverCompletesTheChronicle(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := &Store{Dir: dir}
	inChron := runResult("in", t0, schema.StatusComplete, 2)
	if err := s.Finish(inChron); err != nil {
		t.Fatal(err)
	}
	missing := runResult("missing", t0.Add(time.Hour), schema.StatusComplete, 3)
	if err := s.Save(missing); err != nil { // the final record, but no append
		t.Fatal(err)
	}
	empty := runResult("empty", t0.Add(2*time.Hour), schema.StatusFailed, 0)
	if err := s.Save(empty); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		ids, err := s.Recover()
		if err != nil || len(ids) != 0 {
			t.Fatalf("Recover = %v, %v; want no interrupted run", ids, err)
		}
		lines, err := s.Chronicle()
		if err != nil {
			t.Fatal(err)
		}
		want := append(ChronicleLines(inChron), ChronicleLines(missing)...)
		if diff := cmp.Diff(want, lines); diff != "" {
			t.Errorf("chronicle after Recover (-want +got):\n%s", diff)
		}
	}
}

func TestRecoverEmptyDir(t *testing.T) {
	t.Parallel()
	ids, err := (&Store{Dir: filepath.Join(t.TempDir(), "none")}).Recover()
	if err != nil || ids != nil {
		t.Errorf("Recover on a missing dir = %v, %v; want nil, nil", ids, err)
	}
	if _, err := (&Store{}).Recover(); err == nil {
		t.Error("Recover with no Dir: no error")
	}
}

// TestDiskFull fills a fake disk at every step of Save and Finish: the error reads
// "cannot write record: ...", wraps ENOSPC, and every earlier file is intact.
func TestDiskFull(t *testing.T) {
	t.Parallel()
	earlier := runResult("earlier", t0, schema.StatusComplete, 2)
	next := fullResult()
	data, err := marshalRecord(next)
	if err != nil {
		t.Fatal(err)
	}
	lines, err := encodeChronicle(ChronicleLines(next))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		budget int64
		finish bool
	}{
		{"save: nothing fits", 0, false},
		{"save: half the record", int64(len(data) / 2), false},
		{"save: one byte short", int64(len(data) - 1), false},
		{"finish: nothing fits", 0, true},
		{"finish: record fits, no chronicle", int64(len(data)), true},
		{"finish: record and part of the chronicle", int64(len(data) + len(lines)/3), true},
		{"finish: one byte short of the chronicle", int64(len(data) + len(lines) - 1), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			ffs := &faultFS{budget: -1}
			s := &Store{Dir: dir, fs: ffs}
			if err := s.Finish(earlier); err != nil {
				t.Fatal(err)
			}
			previous := *next
			previous.Status = schema.StatusRunning
			previous.Benchmarks = previous.Benchmarks[:3]
			if err := s.Save(&previous); err != nil {
				t.Fatal(err)
			}
			before := map[string][]byte{}
			for _, p := range []string{ChronicleFile, LastRunFile, "runs/earlier.json", "runs/a3f1c820.json"} {
				before[p] = readFile(t, filepath.Join(dir, p))
			}

			ffs.mu.Lock()
			ffs.budget = tt.budget
			ffs.mu.Unlock()
			var err error
			if tt.finish {
				err = s.Finish(next)
			} else {
				err = s.Save(next)
			}
			if err == nil {
				t.Fatal("no error on a full disk")
			}
			if !strings.HasPrefix(err.Error(), "cannot write record: ") || !errors.Is(err, syscall.ENOSPC) {
				t.Errorf("err = %q, want \"cannot write record: ...\" wrapping ENOSPC", err)
			}
			var we *WriteError
			if !errors.As(err, &we) || we.Path == "" {
				t.Errorf("err = %#v, want a *WriteError naming the file", err)
			}
			for p, want := range before {
				got := readFile(t, filepath.Join(dir, p))
				if p == "runs/a3f1c820.json" && tt.budget >= int64(len(data)) {
					// The final record reached the disk before the chronicle failed.
					continue
				}
				if !bytes.Equal(got, want) {
					t.Errorf("%s changed by a failed write:\n%s", p, cmp.Diff(string(want), string(got)))
				}
			}
			checkDisk(t, dir)

			// Space again: the next Finish works and the chronicle holds both runs.
			ffs.mu.Lock()
			ffs.budget = -1
			ffs.mu.Unlock()
			if err := s.Finish(next); err != nil {
				t.Fatalf("Finish after space came back: %v", err)
			}
			got, err := s.Chronicle()
			if err != nil {
				t.Fatal(err)
			}
			if want := len(earlier.Benchmarks) + len(next.Benchmarks); len(got) != want {
				t.Errorf("chronicle has %d lines, want %d", len(got), want)
			}
			checkDisk(t, dir)
		})
	}
}

// TestChronicleAppendFails: only the chronicle fails (half a line written, then
// ENOSPC): the chronicle is cut back and the record rewritten as failed.
func TestChronicleAppendFails(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ffs := &faultFS{budget: -1}
	s := &Store{Dir: dir, fs: ffs}
	if err := s.Finish(runResult("earlier", t0, schema.StatusComplete, 2)); err != nil {
		t.Fatal(err)
	}
	chron := readFile(t, filepath.Join(dir, ChronicleFile))
	lastRun := readFile(t, filepath.Join(dir, LastRunFile))
	ffs.failAppend = true
	res := runResult("next", t0.Add(time.Hour), schema.StatusComplete, 3)
	finishErr := s.Finish(res)
	if finishErr == nil || !strings.HasPrefix(finishErr.Error(), "cannot write record: ") || !errors.Is(finishErr, syscall.ENOSPC) {
		t.Fatalf("Finish = %v, want cannot write record wrapping ENOSPC", finishErr)
	}
	if got := readFile(t, filepath.Join(dir, ChronicleFile)); !bytes.Equal(got, chron) {
		t.Errorf("chronicle after a failed append:\n%s", cmp.Diff(string(chron), string(got)))
	}
	if got := readFile(t, filepath.Join(dir, LastRunFile)); !bytes.Equal(got, lastRun) {
		t.Errorf("last_run.json changed by a failed Finish")
	}
	rec, err := s.Load("next")
	if err != nil {
		t.Fatal(err)
	}
	if rec.Status != schema.StatusFailed || rec.Error != finishErr.Error() {
		t.Errorf("record after a failed chronicle: status %q error %q; want failed with %q", rec.Status, rec.Error, finishErr)
	}
	checkDisk(t, dir)
}

func TestWriteFaultsOtherThanSpace(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		fault func(*faultFS)
		errno syscall.Errno
	}{
		{"rename fails", func(f *faultFS) { f.failRename = true }, syscall.EIO},
		{"fsync fails", func(f *faultFS) { f.failSync = true }, syscall.EIO},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			ffs := &faultFS{budget: -1}
			s := &Store{Dir: dir, fs: ffs}
			if err := s.Finish(runResult("r1", t0, schema.StatusComplete, 1)); err != nil {
				t.Fatal(err)
			}
			before := readFile(t, filepath.Join(dir, RunsDir, "r1.json"))
			chron := readFile(t, filepath.Join(dir, ChronicleFile))
			tt.fault(ffs)
			err := s.Finish(runResult("r1", t0, schema.StatusCancelled, 2))
			if err == nil || !strings.HasPrefix(err.Error(), "cannot write record: ") || !errors.Is(err, tt.errno) {
				t.Fatalf("Finish = %v, want cannot write record wrapping %v", err, tt.errno)
			}
			if got := readFile(t, filepath.Join(dir, RunsDir, "r1.json")); !bytes.Equal(got, before) {
				t.Errorf("record changed by a failed write")
			}
			if got := readFile(t, filepath.Join(dir, ChronicleFile)); !bytes.Equal(got, chron) {
				t.Errorf("chronicle changed by a failed write")
			}
			checkDisk(t, dir)
		})
	}
}

// TestTornChronicleTail: a crash in the middle of an append left part of a line.
// The next append repairs the file and reading skips the torn line.
func TestTornChronicleTail(t *testing.T) {
	t.Parallel()
	good, err := encodeChronicle(ChronicleLines(runResult("old", t0, schema.StatusComplete, 2)))
	if err != nil {
		t.Fatal(err)
	}
	lastNL := bytes.LastIndexByte(good[:len(good)-1], '\n') + 1
	tests := []struct {
		name      string
		content   []byte
		wantLines int // lines readable before the repair
		skipped   int
		afterLen  int // lines after the next Finish (3 tests)
	}{
		{"clean", good, 2, 0, 5},
		{"torn mid-line", append(append([]byte{}, good...), good[:40]...), 2, 1, 5},
		{"only a torn line", good[:25], 0, 1, 3},
		{"last newline lost", good[:len(good)-1], 2, 0, 5},
		{"torn line of one byte", append(append([]byte{}, good[:lastNL]...), '{'), 1, 1, 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			path := filepath.Join(dir, ChronicleFile)
			if err := os.WriteFile(path, tt.content, 0o644); err != nil {
				t.Fatal(err)
			}
			lines, skipped, err := ReadChronicle(bytes.NewReader(tt.content))
			if err != nil || len(lines) != tt.wantLines || skipped != tt.skipped {
				t.Errorf("ReadChronicle = %d lines, %d skipped, %v; want %d, %d", len(lines), skipped, err, tt.wantLines, tt.skipped)
			}
			s := &Store{Dir: dir}
			if err := s.Finish(runResult("new", t0.Add(time.Hour), schema.StatusComplete, 3)); err != nil {
				t.Fatal(err)
			}
			got, err := s.Chronicle()
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != tt.afterLen {
				t.Errorf("chronicle after repair has %d lines, want %d", len(got), tt.afterLen)
			}
			if got[len(got)-1].RunID != "new" {
				t.Errorf("last line is of run %q, want new", got[len(got)-1].RunID)
			}
			checkDisk(t, dir)
		})
	}
}

// TestConcurrentFinish: Stores on one directory finishing runs at once (as the
// job runner and a recovery at start-up may) lose no line and tear none.
func TestConcurrentFinish(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	const runs = 8
	var wg sync.WaitGroup
	errs := make([]error, runs)
	for i := range runs {
		wg.Go(func() {
			s := &Store{Dir: dir}
			res := runResult(fmt.Sprintf("run%d", i), t0.Add(time.Duration(i)*time.Minute), schema.StatusComplete, 3)
			if err := s.Save(res); err != nil {
				errs[i] = err
				return
			}
			errs[i] = s.Finish(res)
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("run%d: %v", i, err)
		}
	}
	lines, err := (&Store{Dir: dir}).Chronicle()
	if err != nil {
		t.Fatal(err)
	}
	if len(lines) != runs*3 {
		t.Errorf("chronicle has %d lines, want %d", len(lines), runs*3)
	}
	_, total, err := (&Store{Dir: dir}).List(0, 1)
	if err != nil || total != runs {
		t.Errorf("List total = %d, %v; want %d", total, err, runs)
	}
	checkDisk(t, dir)
}

// TestListSeesRewrittenRecords: List's cache never hides a record that changed.
func TestListSeesRewrittenRecords(t *testing.T) {
	t.Parallel()
	s := &Store{Dir: t.TempDir()}
	res := runResult("r1", t0, schema.StatusRunning, 1)
	status := func() schema.Status {
		t.Helper()
		items, _, err := s.List(0, 0)
		if err != nil || len(items) != 1 {
			t.Fatalf("List = %v, %v; want one record", items, err)
		}
		return items[0].Status
	}
	if err := s.Save(res); err != nil {
		t.Fatal(err)
	}
	if got := status(); got != schema.StatusRunning {
		t.Fatalf("status = %q, want running", got)
	}
	for i := 2; i <= 4; i++ {
		res = runResult("r1", t0, schema.StatusRunning, i)
		if err := s.Save(res); err != nil {
			t.Fatal(err)
		}
		items, _, err := s.List(0, 0)
		if err != nil || items[0].Benchmarks != i {
			t.Fatalf("after saving %d tests List = %+v, %v", i, items, err)
		}
	}
	res.Status = schema.StatusComplete
	if err := s.Finish(res); err != nil {
		t.Fatal(err)
	}
	if got := status(); got != schema.StatusComplete {
		t.Errorf("status after Finish = %q, want complete", got)
	}
	if err := os.Remove(filepath.Join(s.Dir, RunsDir, "r1.json")); err != nil {
		t.Fatal(err)
	}
	if items, total, err := s.List(0, 0); err != nil || total != 0 || len(items) != 0 {
		t.Errorf("List after the file was removed = %v, %d, %v; want nothing", items, total, err)
	}
	// Concurrent readers and a writer (for -race).
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Go(func() {
			for j := range 5 {
				if i == 0 {
					if err := s.Save(runResult(fmt.Sprintf("c%d", j), t0, schema.StatusRunning, 1)); err != nil {
						t.Error(err)
					}
					continue
				}
				if _, _, err := s.List(0, 2); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
}
