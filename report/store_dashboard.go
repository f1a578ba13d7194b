package report

import (
	"bytes"
	"path/filepath"

	"github.com/typhonbench/typhon/schema"
)

// DashboardPath is where SaveDashboard writes the dashboard of a run: beside
// its record, Dir/runs/<run_id>.html.
func (s *Store) DashboardPath(runID string) string {
	return filepath.Join(s.runsDir(), runID+".html")
}

// SaveDashboard renders the Dashboard of res and writes it beside its record,
// atomically, returning the file's path. The error is a *WriteError.
func (s *Store) SaveDashboard(res *schema.Result) (string, error) {
	if err := s.check(res); err != nil {
		return "", err
	}
	var buf bytes.Buffer
	if err := Dashboard(&buf, res); err != nil {
		return "", &WriteError{Err: err}
	}
	unlock := s.lock()
	defer unlock()
	dir := s.runsDir()
	if err := s.fsys().MkdirAll(dir); err != nil {
		return "", &WriteError{Path: dir, Err: err}
	}
	path := s.DashboardPath(res.RunID)
	return path, s.writeAtomic(path, buf.Bytes())
}
