package schema

import "time"

// MaxWorkers bounds Worker.Count: more workers than any fleet runs would only
// make a merge list millions of missing records.
const MaxWorkers = 4096

// Worker says which share of a distributed run a record holds: a run of several
// worker processes (a Kubernetes Indexed Job, or processes on one machine) that
// share one load on a shared clock. Every worker's record names the fleet run it
// belongs to; `typhon merge` joins them into one result whose Workers list them.
type Worker struct {
	// Run names the distributed run; all its workers carry the same name.
	Run string `json:"run"`
	// Index is this worker's index, 0 to Count-1.
	Index int `json:"index"`
	Count int `json:"count"`
	// StartAt is the shared clock: when the first level was due to start.
	StartAt time.Time `json:"start_at,omitzero"`
	// Levels are the windows this worker measured, one per load level, in the
	// order the levels ran.
	Levels []WorkerLevel `json:"levels,omitempty"`
}

// WorkerLevel is one load level of a worker: its share and its measured window.
type WorkerLevel struct {
	TestID string  `json:"test_id"`
	Users  int     `json:"users,omitempty"` // this worker's users of the level
	Rate   float64 `json:"rate,omitempty"`  // this worker's rate of the level
	// TotalUsers and TotalRate are the level's load over every worker.
	TotalUsers  int       `json:"total_users,omitempty"`
	TotalRate   float64   `json:"total_rate,omitempty"`
	WindowStart time.Time `json:"window_start"`
	WindowEnd   time.Time `json:"window_end"`
	// StartLagS is how late the level started against the shared clock.
	StartLagS float64 `json:"start_lag_s"`
}

// FleetWorker is one worker of a merged result (Result.Workers): which record
// it came from, and what it counted and failed, per level.
type FleetWorker struct {
	Index  int    `json:"index"`
	RunID  string `json:"run_id"` // the worker's own record
	Status Status `json:"status"`
	Error  string `json:"error,omitempty"`
	// Host names the machine or pod, from the worker's server and hardware
	// snapshot where known.
	Host   string             `json:"host,omitempty"`
	Levels []FleetWorkerLevel `json:"levels"`
}

// FleetWorkerLevel is one worker's part of a merged level; errors stay per worker.
type FleetWorkerLevel struct {
	TestID     string         `json:"test_id"`
	Users      int            `json:"users,omitempty"`
	Rate       float64        `json:"rate,omitempty"`
	Completed  int            `json:"completed"`
	Failed     int            `json:"failed"`
	ErrorKinds map[string]int `json:"error_kinds,omitempty"`
	FirstError string         `json:"first_error,omitempty"`
	Error      string         `json:"error,omitempty"`
	OutputTPS  float64        `json:"output_tps"`
	StartLagS  float64        `json:"start_lag_s"`
}
