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
	data, lines, err := s.finalBytes(res, "Keep")
	if err != nil {
		return err
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

// finalBytes checks a record with a final status, as Finish and Keep take, and
// encodes it and its chronicle lines; op names the caller in the error.
func (s *Store) finalBytes(res *schema.Result, op string) (data, lines []byte, err error) {
	if err := s.check(res); err != nil {
		return nil, nil, err
	}
	if res.Status == "" || res.Status == schema.StatusRunning {
		return nil, nil, &WriteError{Err: fmt.Errorf("report: %s needs a final status, got %q", op, res.Status)}
	}
	if data, err = marshalRecord(res); err != nil {
		return nil, nil, &WriteError{Err: err}
	}
	if lines, err = encodeChronicle(ChronicleLines(res)); err != nil {
		return nil, nil, &WriteError{Err: err}
	}
	return data, lines, nil
}
