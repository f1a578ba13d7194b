package report

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"

	"github.com/typhonbench/typhon/schema"
)

// WorkerRecords reads the records in Dir of the workers of the distributed run
// named run (Result.Worker.Run), in no particular order. None found is an error
// wrapping ErrNotFound. Files that do not decode are left out and logged.
func (s *Store) WorkerRecords(run string) ([]*schema.Result, error) {
	entries, err := s.fsys().ReadDir(s.runsDir())
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("report: list records: %w", err)
	}
	var out []*schema.Result
	for _, e := range entries {
		if _, ok := recordID(e); !ok {
			continue
		}
		b, err := s.fsys().ReadFile(filepath.Join(s.runsDir(), e.Name()))
		if err != nil {
			continue
		}
		res, err := DecodeResult(b)
		if err != nil {
			s.log().Warn("skipping a record that does not decode", "file", e.Name(), "err", err)
			continue
		}
		if res.Worker != nil && res.Worker.Run == run {
			out = append(out, res)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("report: %w: no worker record of run %q in %s", ErrNotFound, run, s.runsDir())
	}
	return out, nil
}

// WorkerRecordID is the run id of the record in Dir that holds worker index of
// the distributed run named run, "" when there is none. Only the records' ids
// and worker fields are decoded.
func (s *Store) WorkerRecordID(run string, index int) (string, error) {
	entries, err := s.fsys().ReadDir(s.runsDir())
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("report: list records: %w", err)
	}
	for _, e := range entries {
		if _, ok := recordID(e); !ok {
			continue
		}
		b, err := s.fsys().ReadFile(filepath.Join(s.runsDir(), e.Name()))
		if err != nil {
			continue
		}
		var head struct {
			RunID  string         `json:"run_id"`
			Worker *schema.Worker `json:"worker"`
		}
		if json.Unmarshal(b, &head) == nil && head.Worker != nil && head.Worker.Run == run && head.Worker.Index == index {
			return head.RunID, nil
		}
	}
	return "", nil
}
