package report

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"

	"github.com/typhonbench/typhon/schema"
)

// Keep stores a finished record that came from elsewhere (a worker's upload):
// the record and its chronicle lines, as Finish does, except that when the disk
// does not take them nothing of the record is kept: no copy marked failed to
// write later, no record without its chronicle lines. The sender still holds
// the record and can send it again. The error is a *WriteError.
func (s *Store) Keep(res *schema.Result) error {
	if err := s.check(res); err != nil {
		return err
	}
	if res.Status == "" || res.Status == schema.StatusRunning {
		return &WriteError{Err: fmt.Errorf("report: Keep needs a final status, got %q", res.Status)}
	}
	data, err := marshalRecord(res)
	if err != nil {
		return &WriteError{Err: err}
	}
	lines, err := encodeChronicle(ChronicleLines(res))
	if err != nil {
		return &WriteError{Err: err}
	}
	unlock := s.lock()
	defer unlock()
	s.settleLocked()
	if err := s.saveLocked(res.RunID, data); err != nil {
		return err
	}
	if err := s.appendChronicle(lines); err != nil {
		if rerr := s.fsys().Remove(s.recordPath(res.RunID)); rerr != nil && !errors.Is(rerr, fs.ErrNotExist) {
			s.log().Warn("cannot remove a record whose chronicle lines were not written", "run_id", res.RunID, "err", rerr)
		}
		return err
	}
	if err := s.writeAtomic(filepath.Join(s.Dir, LastRunFile), data); err != nil {
		s.log().Warn("cannot update last_run.json", "err", err)
	}
	return nil
}
