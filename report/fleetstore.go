package report

import (
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
