package report

import (
	"path/filepath"
	"sync"

	"github.com/typhonbench/typhon/schema"
)

// unsettled holds, per directory, the final records that could not be written
// (a full disk): the run ended, its record on disk still says "running". Every
// later call of a Store on that directory writes them first, so the record says
// "failed" as soon as the disk takes it, without waiting for a restart.
var unsettled sync.Map // dirKey -> *pendingRecords

type pendingRecords struct {
	mu   sync.Mutex
	runs map[string]*schema.Result // run id -> the record to write
}

func dirKey(dir string) string {
	key := filepath.Clean(dir)
	if abs, err := filepath.Abs(key); err == nil {
		key = abs
	}
	return key
}

func (s *Store) pending() *pendingRecords {
	p, _ := unsettled.LoadOrStore(dirKey(s.Dir), &pendingRecords{runs: map[string]*schema.Result{}})
	return p.(*pendingRecords)
}

// markFailedLater keeps res, marked failed with err, to be written by the next
// call on the directory. res is copied.
func (s *Store) markFailedLater(res *schema.Result, err error) {
	failed := *res
	failed.Status = schema.StatusFailed
	failed.Error = err.Error()
	p := s.pending()
	p.mu.Lock()
	p.runs[res.RunID] = &failed
	p.mu.Unlock()
	s.log().Warn("record not written: it will be marked failed when the disk takes it", "run_id", res.RunID, "err", err)
}

// forget drops a pending record that a newer write has replaced.
func (s *Store) forget(id string) {
	p := s.pending()
	p.mu.Lock()
	delete(p.runs, id)
	p.mu.Unlock()
}

// Settle writes the final records that an earlier write could not (see Finish),
// with their chronicle lines. It is called by every method of the Store; calling
// it alone is useful to retry after space was freed. It returns how many records
// are still waiting.
func (s *Store) Settle() int {
	if s.Dir == "" {
		return 0
	}
	p := s.pending()
	p.mu.Lock()
	n := len(p.runs)
	p.mu.Unlock()
	if n == 0 {
		return 0
	}
	unlock := s.lock()
	defer unlock()
	return s.settleLocked()
}

// settleLocked is Settle with the directory's lock held.
func (s *Store) settleLocked() int {
	p := s.pending()
	p.mu.Lock()
	defer p.mu.Unlock()
	for id, res := range p.runs {
		data, err := marshalRecord(res)
		if err == nil {
			err = s.saveLocked(id, data)
		}
		if err != nil {
			continue
		}
		delete(p.runs, id)
		s.log().Info("record marked failed after an earlier write failed", "run_id", id)
		if lines, err := encodeChronicle(ChronicleLines(res)); err == nil {
			if err := s.appendChronicle(lines); err != nil {
				// Recover adds the lines of a finished record at the next start.
				s.log().Warn("cannot append the chronicle lines of a settled record", "run_id", id, "err", err)
			}
		}
	}
	return len(p.runs)
}
