package report

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/typhonbench/typhon/schema"
)

// InterruptedError is the error text of a record found "running" at start-up.
const InterruptedError = "interrupted: the process running this benchmark stopped before it finished"

// Recover is called once at start-up, before any run: records still "running"
// belong to a process that died mid-run. Each is rewritten as "interrupted" with
// the tests it finished, and those tests are appended to the chronicle with
// run_status "interrupted". It returns their run ids. Finished records whose
// lines are missing from the chronicle (the process died between the two
// writes, or the append failed) get their lines appended. Temp files left by a
// crash are removed. Records that do not decode are logged and left alone.
func (s *Store) Recover() ([]string, error) {
	if s.Dir == "" {
		return nil, errors.New("report: Store.Dir is empty")
	}
	unlock := s.lock()
	defer unlock()
	s.settleLocked()
	entries, err := s.fsys().ReadDir(s.runsDir())
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("report: recover: %w", err)
	}
	chronicled, err := s.chronicledRuns()
	if err != nil {
		return nil, fmt.Errorf("report: recover: %w", err)
	}
	var ids []string
	var errs []error
	for _, e := range entries {
		if name := e.Name(); strings.HasPrefix(name, ".") && strings.Contains(name, ".tmp-") && !e.IsDir() {
			s.removeStaleTemp(e)
			continue
		}
		id, ok := recordID(e)
		if !ok {
			continue
		}
		interrupted, err := s.recoverRecord(id, e.Name(), chronicled)
		if interrupted {
			ids = append(ids, id)
		}
		if err != nil {
			errs = append(errs, err)
		}
	}
	slices.Sort(ids)
	if len(errs) > 0 {
		return ids, fmt.Errorf("report: recover: %w", errors.Join(errs...))
	}
	return ids, nil
}

// chronicledRuns is the set of runs the chronicle already has lines of.
func (s *Store) chronicledRuns() (map[string]bool, error) {
	chronicled := map[string]bool{}
	b, err := s.fsys().ReadFile(filepath.Join(s.Dir, ChronicleFile))
	if errors.Is(err, fs.ErrNotExist) {
		return chronicled, nil
	}
	if err != nil {
		return nil, err
	}
	lines, _, _ := ReadChronicle(bytes.NewReader(b))
	for _, l := range lines {
		chronicled[l.RunID] = true
	}
	return chronicled, nil
}

// recoverRecord marks one record left "running" interrupted (and reports it),
// and makes sure the chronicle has the lines of every record it reads.
func (s *Store) recoverRecord(id, name string, chronicled map[string]bool) (interrupted bool, err error) {
	b, err := s.fsys().ReadFile(filepath.Join(s.runsDir(), name))
	if err != nil {
		return false, err
	}
	res, err := DecodeResult(b)
	if err != nil {
		s.log().Warn("recover: skipping a record that does not decode", "file", name, "err", err)
		return false, nil
	}
	if res.RunID == "" {
		res.RunID = id
	}
	if res.Status != schema.StatusRunning {
		// A finished run whose chronicle lines are missing: the process died
		// between the final record and the append, or the append failed.
		if chronicled[res.RunID] || len(res.Benchmarks) == 0 {
			return false, nil
		}
		if err := s.chronicleOnce(res, chronicled); err != nil {
			return false, err
		}
		s.log().Info("recover: added the chronicle lines of a finished run", "run_id", res.RunID)
		return false, nil
	}
	markInterrupted(res)
	data, err := marshalRecord(res)
	if err == nil {
		err = s.saveLocked(id, data)
	}
	if err != nil {
		return false, err
	}
	s.log().Info("record of a run that did not finish marked interrupted", "run_id", id, "tests", len(res.Benchmarks))
	if chronicled[res.RunID] {
		return true, nil
	}
	return true, s.chronicleOnce(res, chronicled)
}

// chronicleOnce appends the lines of res to the chronicle and notes it done.
func (s *Store) chronicleOnce(res *schema.Result, chronicled map[string]bool) error {
	lines, err := encodeChronicle(ChronicleLines(res))
	if err != nil {
		return err
	}
	if err := s.appendChronicle(lines); err != nil {
		return err
	}
	chronicled[res.RunID] = true
	return nil
}

// markInterrupted turns a record left "running" into an interrupted one. Its
// finished_at is the last moment the record shows work: the end of its last
// finished test, or run_at.
func markInterrupted(res *schema.Result) {
	res.Status = schema.StatusInterrupted
	if res.Error == "" {
		res.Error = fmt.Sprintf("%s (tests kept: %d)", InterruptedError, len(res.Benchmarks))
	}
	if res.FinishedAt.IsZero() {
		last := res.RunAt
		for _, b := range res.Benchmarks {
			if b.FinishedAt.After(last) {
				last = b.FinishedAt
			}
		}
		res.FinishedAt = last
	}
}

func (s *Store) removeStaleTemp(e fs.DirEntry) {
	info, err := e.Info()
	if err != nil || time.Since(info.ModTime()) < staleTempAge {
		return
	}
	path := filepath.Join(s.runsDir(), e.Name())
	if err := s.fsys().Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		s.log().Warn("recover: cannot remove a temp file", "path", path, "err", err)
		return
	}
	s.log().Info("recover: removed a temp file left by a crash", "path", path)
}
