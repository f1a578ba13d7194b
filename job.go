package typhon

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/typhonbench/typhon/engine"
	"github.com/typhonbench/typhon/report"
	"github.com/typhonbench/typhon/schema"
)

// Status is the state of a job: pending -> running -> done, or error
// (schema.JobStatus).
type Status = schema.JobStatus

// Job states of spec/jobs.md; there are no others. A cancelled job is
// StatusError; Manager.Outcome words its error.
const (
	StatusPending = schema.JobPending
	StatusRunning = schema.JobRunning
	StatusDone    = schema.JobDone
	StatusError   = schema.JobError
)

// Defaults of a zero Manager.
const (
	DefaultQueueLimit = 16
	DefaultJobTimeout = 2 * time.Hour
)

// Job is one benchmark run submitted to a Manager. Values returned by the Manager
// are copies: they do not change after they are returned.
type Job struct {
	ID          string     `json:"job_id"`
	Status      Status     `json:"status"`
	Mode        Mode       `json:"mode"`
	Progress    Progress   `json:"progress"`
	SubmittedAt time.Time  `json:"submitted_at"`
	StartedAt   *time.Time `json:"started_at"`
	FinishedAt  *time.Time `json:"finished_at"`
	// RunID names the record on disk, once the run has started.
	RunID  string  `json:"run_id,omitempty"`
	Result *Result `json:"result,omitempty"`
	Error  string  `json:"error,omitempty"`
	// ErrorDetail is the run's own error when Error is a fixed sentence of
	// the contract that does not hold it (e.g. why no server was detected),
	// at most MaxErrorDetail bytes.
	ErrorDetail string `json:"error_detail,omitempty"`
}

// MaxErrorDetail bounds Job.ErrorDetail.
const MaxErrorDetail = 1024

// errorDetail is the run's error text when the job's error text does not hold
// it; "" otherwise.
func errorDetail(err error, jobError string) string {
	if err == nil || jobError == "" || strings.Contains(jobError, err.Error()) {
		return ""
	}
	return cut(err.Error(), MaxErrorDetail)
}

// Outcome turns how a job ended into its status and error text: err is the
// run's error (nil when it completed), cancelled tells that Cancel stopped the
// job, whatever error the cancel left the run with. The texts of the job
// contract belong to the program that serves it, which sets Manager.Outcome.
type Outcome func(err error, cancelled bool) (Status, string)

// PlainOutcome is the Outcome of a Manager whose Outcome is nil: done when the
// run completed, else error with the error's own text.
func PlainOutcome(err error, cancelled bool) (Status, string) {
	if err == nil {
		return StatusDone, ""
	}
	return StatusError, err.Error()
}

// errCancelledPending is the error of a job cancelled before it ran.
var errCancelledPending = fmt.Errorf("cancelled before it ran: %w", context.Canceled)

// Manager queues jobs and runs them one at a time in submission order: two
// benchmarks on one machine corrupt each other's numbers. Submit, Get, List and
// Cancel are safe for concurrent use; Run executes the queue, and only one Run
// may execute it at a time.
//
// The zero value is usable: Runner is the template of every job (its Mode is set
// per job; a template Plan, when set, runs for every job; a template RunID is the
// prefix of each job's record id). The Manager owns one report.Store, the
// template's Store or one on its DataDir, and hands it to every run.
type Manager struct {
	Runner Runner
	// QueueLimit caps the pending jobs; 0 means DefaultQueueLimit.
	QueueLimit int
	// JobTimeout bounds one job; 0 means DefaultJobTimeout.
	JobTimeout time.Duration
	// Outcome gives a finished job its status and error; nil means PlainOutcome.
	Outcome Outcome
	// JobHistory is how many finished jobs are kept whole; 0 means
	// DefaultJobHistory. Older ones are dropped at the next Submit: Get then
	// returns ErrJobNotFound and Archived their run id.
	JobHistory int

	mu      sync.Mutex
	jobs    map[string]*jobState
	order   []string // every job id, in submission order
	pending []string // ids waiting, in submission order
	wake    chan struct{}
	store   *report.Store
	running bool    // Run is executing the queue
	arch    archive // finished jobs dropped from jobs
}

type jobState struct {
	job       Job
	load      *engine.LoadOptions // a load job's options
	cancel    context.CancelFunc  // set while running
	cancelled bool                // Cancel was called while it ran
}

func (m *Manager) init() {
	if m.jobs == nil {
		m.jobs = make(map[string]*jobState)
		m.wake = make(chan struct{}, 1)
	}
	if m.store == nil {
		m.store = m.Runner.store()
	}
}

// Store is the Manager's one record store, where every job's record goes.
func (m *Manager) Store() *report.Store {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.init()
	return m.store
}

func (m *Manager) outcome(err error, cancelled bool) (Status, string) {
	if m.Outcome != nil {
		return m.Outcome(err, cancelled)
	}
	return PlainOutcome(err, cancelled)
}

// Submit queues a job of the given mode ("" means DefaultMode). It returns
// ErrInvalidMode for an unknown mode and ErrQueueFull when the queue is full.
func (m *Manager) Submit(mode Mode) (*Job, error) {
	if err := ValidMode(mode); err != nil {
		return nil, err
	}
	if mode == "" {
		mode = DefaultMode
	}
	return m.submit(mode, nil)
}

// SubmitLoad queues a job of mode load with options o. It returns an error
// wrapping ErrInvalidLoad when o makes no sense, ErrQueueFull when the queue is
// full.
func (m *Manager) SubmitLoad(o engine.LoadOptions) (*Job, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	return m.submit(ModeLoad, &o)
}

func (m *Manager) submit(mode Mode, load *engine.LoadOptions) (*Job, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.init()
	limit := m.QueueLimit
	if limit <= 0 {
		limit = DefaultQueueLimit
	}
	if len(m.pending) >= limit {
		return nil, fmt.Errorf("%w: %d jobs pending", ErrQueueFull, len(m.pending))
	}
	id := randomHex(4)
	for m.jobs[id] != nil || m.arch.runIDs[id] != "" {
		id = randomHex(4)
	}
	m.trimLocked()
	st := &jobState{job: Job{ID: id, Status: StatusPending, Mode: mode, SubmittedAt: time.Now().UTC()}, load: load}
	m.jobs[id] = st
	m.order = append(m.order, id)
	m.pending = append(m.pending, id)
	select {
	case m.wake <- struct{}{}:
	default:
	}
	j := st.job
	return &j, nil
}

// Get returns a copy of the job, or ErrJobNotFound.
func (m *Manager) Get(id string) (*Job, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	st := m.jobs[id]
	if st == nil {
		return nil, fmt.Errorf("%w: %q", ErrJobNotFound, id)
	}
	j := st.job
	return &j, nil
}

// List returns every job in submission order, without results.
func (m *Manager) List() []Job {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]Job, 0, len(m.order))
	for _, id := range m.order {
		j := m.jobs[id].job
		j.Result = nil
		out = append(out, j)
	}
	return out
}

// Cancel cancels a pending or running job. A running job stops within about a
// second; its finished tests are kept in its result and record. Cancel returns
// ErrJobNotFound for an unknown id and ErrJobFinished for a finished job.
func (m *Manager) Cancel(id string) (*Job, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	st := m.jobs[id]
	if st == nil {
		return nil, fmt.Errorf("%w: %q", ErrJobNotFound, id)
	}
	switch st.job.Status {
	case StatusPending:
		for i, p := range m.pending {
			if p == id {
				m.pending = append(m.pending[:i:i], m.pending[i+1:]...)
				break
			}
		}
		now := time.Now().UTC()
		st.job.Status, st.job.Error = m.outcome(errCancelledPending, true)
		st.job.FinishedAt = &now
	case StatusRunning:
		st.cancelled = true
		if st.cancel != nil {
			st.cancel()
		}
	default:
		return nil, fmt.Errorf("%w: %q is %s", ErrJobFinished, id, st.job.Status)
	}
	j := st.job
	return &j, nil
}

// Run executes queued jobs one at a time until ctx is done. At start it marks
// records left "running" by a process that died as interrupted. Cancelling ctx
// cancels the running job and returns once it has ended. A second Run while one
// executes returns ErrManagerRunning at once.
func (m *Manager) Run(ctx context.Context) error {
	m.mu.Lock()
	if m.running {
		m.mu.Unlock()
		return ErrManagerRunning
	}
	m.running = true
	m.init()
	wake, store := m.wake, m.store
	m.mu.Unlock()
	defer func() {
		m.mu.Lock()
		m.running = false
		m.mu.Unlock()
	}()
	if ids, err := store.Recover(); err != nil {
		m.Runner.logger().Warn("recover interrupted records", "err", err)
	} else if len(ids) > 0 {
		m.Runner.logger().Info("records marked interrupted", "ids", ids)
	}
	for {
		if id, ok := m.next(); ok {
			m.runJob(ctx, id)
			continue
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-wake:
		}
	}
}

// next moves the first pending job to running.
func (m *Manager) next() (string, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.pending) == 0 {
		return "", false
	}
	id := m.pending[0]
	m.pending = m.pending[1:]
	return id, true
}

// runJob runs one job under its timeout and records how it ended.
func (m *Manager) runJob(parent context.Context, id string) {
	timeout := m.JobTimeout
	if timeout <= 0 {
		timeout = DefaultJobTimeout
	}
	ctx, cancel := context.WithTimeout(parent, timeout)
	defer cancel()
	r, st := m.start(id, cancel)

	progress := make(chan Progress, 64)
	var wg sync.WaitGroup
	wg.Go(func() {
		for p := range progress {
			m.mu.Lock()
			st.job.Progress = p
			m.mu.Unlock()
		}
	})
	res, err := r.Run(ctx, progress)
	close(progress)
	wg.Wait()

	m.mu.Lock()
	defer m.mu.Unlock()
	end := time.Now().UTC()
	st.job.FinishedAt = &end
	st.cancel = nil
	if res != nil && (len(res.Benchmarks) > 0 || err == nil) {
		st.job.Result = res
		st.job.Progress = st.job.Progress.ended(len(res.Benchmarks))
	}
	// Cancelled by Cancel (whatever the run was doing when the cancel reached
	// it), unless the run completed first.
	cancelled := err != nil && (st.cancelled || (errors.Is(err, context.Canceled) && parent.Err() == nil))
	st.job.Status, st.job.Error = m.outcome(err, cancelled)
	if !cancelled {
		st.job.ErrorDetail = errorDetail(err, st.job.Error)
	}
	m.trimLocked()
}

// start marks the job running and returns its Runner: a copy of the template
// with the job's mode, the Manager's Store and a record id of its own.
func (m *Manager) start(id string, cancel context.CancelFunc) (Runner, *jobState) {
	r := m.Runner
	m.mu.Lock()
	defer m.mu.Unlock()
	st := m.jobs[id]
	now := time.Now().UTC()
	st.job.Status = StatusRunning
	st.job.StartedAt = &now
	st.cancel = cancel
	r.Mode = st.job.Mode
	if st.load != nil {
		r.Load = *st.load
	}
	if r.Plan != nil {
		plan := *r.Plan // a template plan runs for every job, under the job's mode
		plan.Mode = st.job.Mode
		r.Plan = &plan
	}
	r.RunID = NewRunID(now)
	if m.Runner.RunID != "" {
		r.RunID = m.Runner.RunID + "-" + r.RunID
	}
	r.Store = m.store
	st.job.RunID = r.RunID
	return r, st
}
