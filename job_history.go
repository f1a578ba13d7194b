package typhon

import "slices"

// Bounds of a Manager's memory of finished jobs.
const (
	// DefaultJobHistory is how many finished jobs a Manager keeps whole (with
	// their results) when Manager.JobHistory is 0.
	DefaultJobHistory = 1000
	// MaxArchivedJobs is how many older finished jobs a Manager still knows the
	// run id of (Archived), so that their records can answer for them.
	MaxArchivedJobs = 100_000
)

// archive is what a Manager remembers of finished jobs it no longer holds.
type archive struct {
	runIDs map[string]string // job id -> run id
	order  []string          // job ids, oldest first
}

// trimLocked drops the oldest finished jobs past the history limit, keeping
// their run ids in the archive. m.mu must be held.
func (m *Manager) trimLocked() {
	limit := m.JobHistory
	if limit <= 0 {
		limit = DefaultJobHistory
	}
	finished := 0
	for _, id := range m.order {
		if s := m.jobs[id].job.Status; s == StatusDone || s == StatusError {
			finished++
		}
	}
	if finished <= limit {
		return
	}
	drop := finished - limit
	kept := m.order[:0]
	for _, id := range m.order {
		st := m.jobs[id]
		if drop > 0 && (st.job.Status == StatusDone || st.job.Status == StatusError) {
			drop--
			delete(m.jobs, id)
			m.archiveLocked(id, st.job.RunID)
			continue
		}
		kept = append(kept, id)
	}
	clear(m.order[len(kept):])
	m.order = kept
}

func (m *Manager) archiveLocked(id, runID string) {
	if m.arch.runIDs == nil {
		m.arch.runIDs = make(map[string]string)
	}
	m.arch.runIDs[id] = runID
	m.arch.order = append(m.arch.order, id)
	if len(m.arch.order) > MaxArchivedJobs {
		n := len(m.arch.order) - MaxArchivedJobs
		for _, old := range m.arch.order[:n] {
			delete(m.arch.runIDs, old)
		}
		m.arch.order = slices.Clone(m.arch.order[n:])
	}
}

// Archived returns the run id of a finished job the Manager no longer holds
// (see JobHistory); its record answers for it. ok is false for a job it never
// had or has forgotten, and for one it still holds (use Get).
func (m *Manager) Archived(id string) (runID string, ok bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	runID, ok = m.arch.runIDs[id]
	return runID, ok
}

// Page returns the jobs the Manager holds, in submission order, from offset, at
// most limit of them (limit <= 0: all), without results, and how many it holds.
func (m *Manager) Page(offset, limit int) ([]Job, int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	total := len(m.order)
	if offset >= total || offset < 0 {
		return []Job{}, total
	}
	ids := m.order[offset:]
	if limit > 0 && limit < len(ids) {
		ids = ids[:limit]
	}
	out := make([]Job, 0, len(ids))
	for _, id := range ids {
		j := m.jobs[id].job
		j.Result = nil
		out = append(out, j)
	}
	return out, total
}
