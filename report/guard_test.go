package report

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/typhonbench/typhon/schema"
)

// countFS counts the record files read.
type countFS struct {
	osFS
	reads atomic.Int64
}

func (c *countFS) ReadFileMax(name string, limit int64) ([]byte, error) {
	c.reads.Add(1)
	return c.osFS.ReadFileMax(name, limit)
}

// TestRecordWithInfinityEncodes: a NaN or infinity that reached a result (issue
// 14, defect 1: 1e306 rounded to +Inf) no longer makes the record unwritable: it
// is written as 0 and the rest of the run is kept.
func TestRecordWithInfinityEncodes(t *testing.T) {
	t.Parallel()
	res := runResult("inf", t0, schema.StatusComplete, 2)
	res.Benchmarks[0].AvgServerTPS = math.Inf(1)
	res.Benchmarks[1].Runs[0].ServerPromptMS = math.NaN()
	s := &Store{Dir: t.TempDir()}
	if err := s.Finish(res); err != nil {
		t.Fatalf("Finish: %v", err)
	}
	got, err := s.Load("inf")
	if err != nil {
		t.Fatal(err)
	}
	if got.Benchmarks[0].AvgServerTPS != 0 || got.Benchmarks[1].Runs[0].ServerPromptMS != 0 {
		t.Errorf("non-finite figures read back as %v and %v, want 0", got.Benchmarks[0].AvgServerTPS, got.Benchmarks[1].Runs[0].ServerPromptMS)
	}
	if len(got.Benchmarks) != 2 || got.Benchmarks[0].TestID != res.Benchmarks[0].TestID {
		t.Errorf("the record lost its tests: %d benchmarks", len(got.Benchmarks))
	}
	var buf bytes.Buffer
	if err := WriteJSON(&buf, res); err != nil || !json.Valid(buf.Bytes()) {
		t.Errorf("WriteJSON after the scrub: err %v, valid %v", err, json.Valid(buf.Bytes()))
	}
}

// TestFailedFinishSettlesWhenSpaceComes: a final record that could not be
// written (a full disk) is marked failed by the next call on the directory once
// the disk takes it, not at the next start (issue 14, defect 6), and the
// chronicle then holds failed lines that agree with it.
func TestFailedFinishSettlesWhenSpaceComes(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ffs := &faultFS{budget: -1}
	s := &Store{Dir: dir, fs: ffs}
	res := runResult("full", t0, schema.StatusRunning, 2)
	if err := s.Save(res); err != nil {
		t.Fatal(err)
	}
	ffs.mu.Lock()
	ffs.budget = 0
	ffs.mu.Unlock()
	res.Status = schema.StatusComplete
	if err := s.Finish(res); err == nil {
		t.Fatal("Finish on a full disk: no error")
	}
	// Still full: the record says running.
	sums, _, err := s.List(0, 0)
	if err != nil || len(sums) != 1 || sums[0].Status != schema.StatusRunning {
		t.Fatalf("on a full disk List = %+v, %v; want the record still running", sums, err)
	}
	ffs.mu.Lock()
	ffs.budget = -1
	ffs.mu.Unlock()
	other := &Store{Dir: dir} // another Store on the directory, as the HTTP API has
	sums, _, err = other.List(0, 0)
	if err != nil || len(sums) != 1 || sums[0].Status != schema.StatusFailed || !strings.Contains(sums[0].Error, "cannot write record") {
		t.Fatalf("after space came back List = %+v, %v; want the record failed with the write error", sums, err)
	}
	lines, err := other.Chronicle()
	if err != nil || len(lines) != 2 {
		t.Fatalf("chronicle: %d lines, %v; want 2", len(lines), err)
	}
	for _, l := range lines {
		if l.RunStatus != schema.StatusFailed {
			t.Errorf("chronicle line says %q, the record says failed", l.RunStatus)
		}
	}
	if n := other.Settle(); n != 0 {
		t.Errorf("Settle: %d still waiting, want 0", n)
	}
}

// TestListHostileFiles: a huge file and an undecodable one in runs/ are read at
// most once (issue 14, defect 11), a record whose inner run_id is not its
// file's is neither listed nor loaded under either id.
func TestListHostileFiles(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	runs := filepath.Join(dir, RunsDir)
	if err := os.MkdirAll(runs, 0o755); err != nil {
		t.Fatal(err)
	}
	cfs := &countFS{}
	s := &Store{Dir: dir, fs: cfs}
	if err := s.Finish(runResult("good", t0, schema.StatusComplete, 1)); err != nil {
		t.Fatal(err)
	}
	big := bytes.Repeat([]byte("x"), MaxRecordBytes+10)
	if err := os.WriteFile(filepath.Join(runs, "big.json"), big, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(runs, "garbage.json"), []byte("{not json"), 0o644); err != nil {
		t.Fatal(err)
	}
	evil := runResult("../../etc/evil", t0.Add(time.Hour), schema.StatusComplete, 1)
	data, err := marshalRecord(evil)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(runs, "evil.json"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	cfs.reads.Store(0)
	for i := range 3 {
		sums, total, err := s.List(0, 0)
		if err != nil {
			t.Fatal(err)
		}
		if total != 1 || sums[0].RunID != "good" {
			t.Fatalf("List %d = %+v (total %d), want only run good", i, sums, total)
		}
	}
	if n := cfs.reads.Load(); n > 4 {
		t.Errorf("three listings read %d files, want each file read once (4)", n)
	}
	if _, err := s.Load("evil"); !errors.Is(err, ErrInvalidRecord) {
		t.Errorf("Load(evil) = %v, want ErrInvalidRecord", err)
	}
	if _, err := s.Load("big"); !errors.Is(err, ErrInvalidRecord) {
		t.Errorf("Load(big) = %v, want ErrInvalidRecord", err)
	}
}

// TestChronicleCloseErrorAgrees (issue 14, defect 6): a close that fails after
// the chronicle's lines were written and synced does not turn the record
// "failed": the record and the chronicle both say complete.
func TestChronicleCloseErrorAgrees(t *testing.T) {
	t.Parallel()
	ffs := &faultFS{budget: -1, failClose: true}
	s := &Store{Dir: t.TempDir(), fs: ffs}
	res := runResult("closing", t0, schema.StatusComplete, 2)
	if err := s.Finish(res); err != nil {
		t.Fatalf("Finish: %v, want the synced lines to count", err)
	}
	got, err := s.Load("closing")
	if err != nil || got.Status != schema.StatusComplete {
		t.Fatalf("record: %v, %v; want complete", got, err)
	}
	lines, err := s.Chronicle()
	if err != nil || len(lines) != 2 {
		t.Fatalf("chronicle: %d lines, %v", len(lines), err)
	}
	for _, l := range lines {
		if l.RunStatus != got.Status {
			t.Errorf("chronicle says %q, record says %q", l.RunStatus, got.Status)
		}
	}
}
