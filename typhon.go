package typhon

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/typhonbench/typhon/detect"
	"github.com/typhonbench/typhon/engine"
	"github.com/typhonbench/typhon/gpu"
	"github.com/typhonbench/typhon/report"
	"github.com/typhonbench/typhon/schema"
)

// The JSON types of a run (spec/jobs.md). They are defined in package schema so
// that the subpackages share them without an import cycle.
type (
	Result     = schema.Result
	Benchmark  = schema.Benchmark
	RunSample  = schema.RunSample
	GPUStats   = schema.GPUStats
	ServerInfo = schema.ServerInfo
	Profile    = schema.Profile
	// Mode names a plan: ModeQuick or ModeFull.
	Mode = schema.Mode
	// Kind names a kind of LLM server (ServerInfo.Kind).
	Kind = schema.Kind
	// ServerError is an HTTP failure of the server under test (errors.As).
	ServerError = engine.ServerError
)

// Sentinel errors. Errors returned by Typhon wrap one of these where one applies.
var (
	// ErrNoServer: no LLM server answered on any probed candidate.
	ErrNoServer = detect.ErrNoServer
	// ErrGPUUnavailable: no GPU telemetry (no driver, no GPU, no sampler). A run
	// goes on without GPU figures; Result.GPUUnavailable says why.
	ErrGPUUnavailable = gpu.ErrGPUUnavailable
	// ErrInvalidMode: the mode is not one of the known modes.
	ErrInvalidMode = engine.ErrInvalidMode
	// ErrJobNotFound: no job with that id.
	ErrJobNotFound = errors.New("job not found")
	// ErrJobFinished: the job has already finished and cannot be cancelled.
	ErrJobFinished = errors.New("job already finished")
	// ErrQueueFull: the Manager already holds its limit of pending jobs.
	ErrQueueFull = errors.New("job queue full")
	// ErrManagerRunning: Manager.Run is already executing the queue.
	ErrManagerRunning = errors.New("manager already running")
	// ErrAllTestsFailed: no test of the plan produced a successful run.
	ErrAllTestsFailed = errors.New("every test failed")
	// ErrServerDown: the server stopped accepting connections during the run and
	// did not come back.
	ErrServerDown = errors.New("server stopped answering")
	// ErrNoModel: the server lists no model to benchmark.
	ErrNoModel = errors.New("server lists no model")
	// ErrServerSilent: the server accepted connections but left
	// MaxUnansweredTests tests in a row without any answer.
	ErrServerSilent = errors.New("server does not answer")
	// ErrInvalidLoad: the load options make no sense (Runner.Load).
	ErrInvalidLoad = engine.ErrInvalidLoad
)

// Modes of a plan.
const (
	ModeQuick = schema.ModeQuick
	ModeFull  = schema.ModeFull
	// ModeZeus is the long-context torture test: prompts filling 131,072 and
	// 262,144 tokens of context (see engine.ZeusPlan).
	ModeZeus = schema.ModeZeus
)

// Defaults of a zero Runner.
const (
	DefaultMode = ModeQuick
	// ServerBackWait is how long Run waits for a server that refused a connection
	// to accept again before it gives up on the remaining tests.
	DefaultServerBackWait = 3 * time.Second
)

// Version is the version of this code, written into every record.
const Version = "0.1.0"

// Runner benchmarks one LLM server. The zero value detects a local server, runs
// the quick plan, samples the default GPU sampler and writes the record under
// DefaultDataDir.
type Runner struct {
	// Mode is ModeQuick, ModeFull, ModeZeus or ModeLoad; "" means DefaultMode.
	// Ignored when Plan is set.
	Mode Mode
	// Load configures the sweep of ModeLoad (users, rates, window, SLOs...); the
	// zero value sweeps users 1, 2, 4, ... until the server saturates.
	Load engine.LoadOptions
	// Plan replaces the built plan when not nil.
	Plan *engine.Plan

	// URL is the server's base URL (e.g. "http://127.0.0.1:8080"); "" means detect.
	URL string
	// Model names the model to request; "" means the server's loaded model, else
	// the first it lists.
	Model string
	// APIKey is sent as a bearer token to the server; it is never stored.
	APIKey string
	// Detect tunes detection (extra ports and URLs, timeouts, excluded URLs).
	Detect detect.Options
	// Prefer picks among several detected servers (kind, URL or model).
	Prefer detect.Preference

	// DataDir holds records and the chronicle; "" means DefaultDataDir().
	// Ignored when Store is set.
	DataDir string
	// Store receives the record; nil means a Store on DataDir. A Manager passes
	// its own Store to every job.
	Store *report.Store
	// RunID names the record; "" means a new time-ordered id.
	RunID string

	// HTTPClient sends the benchmark requests; nil means a default client.
	HTTPClient *http.Client
	// RequestTimeout gives each request's deadline from its prompt length; nil
	// means engine.DefaultTimeout plus engine.DecodeAllowance(max_tokens): the
	// prompt at a floor prefill speed and the output at engine.MinDecodeTPS.
	RequestTimeout func(promptTokens int) time.Duration
	// GPU samples the GPUs; nil means gpu.Default() (the NVML sampler when
	// package gpu/nvml is imported).
	GPU gpu.Sampler
	// GPUInterval is the sampling interval; 0 means gpu.DefaultInterval.
	GPUInterval time.Duration
	// GPUIndexes names the GPUs the server uses, as NVML numbers them; nil means
	// those whose process lists hold the server's processes (all GPUs, said in
	// each test's gpu_stats, when none does). Naming GPUs also samples them for
	// a server whose URL is not this machine's.
	GPUIndexes []int
	// ServerPIDs are the server's processes, for a server Typhon cannot see
	// listening on its port (another user's, or in a container); nil means
	// those listening on the server's port.
	ServerPIDs []int
	// ServerCgroup names the cgroup of the server's processes (a container's,
	// e.g. system.slice/docker-<id>.scope, under /sys/fs/cgroup, or an
	// absolute path); its processes and those of the cgroups under it are
	// added to ServerPIDs. Run fails when it cannot be read or holds none.
	ServerCgroup string
	// ServerBackWait: see DefaultServerBackWait; 0 means the default.
	ServerBackWait time.Duration

	// Logger receives debug and progress logs; nil discards them.
	Logger *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// DefaultDataDir is where records go when Runner.DataDir is empty:
// report.DefaultDir ($TYPHON_DATA, else $XDG_DATA_HOME/typhon, else
// ~/.local/share/typhon).
func DefaultDataDir() string { return report.DefaultDir() }

// ValidMode reports whether mode names a plan ("" is the default mode).
func ValidMode(mode Mode) error {
	switch mode {
	case "", ModeQuick, ModeFull, ModeZeus, ModeLoad:
		return nil
	}
	return fmt.Errorf("%w %q: want %s, %s, %s or %s", ErrInvalidMode, mode, ModeQuick, ModeFull, ModeZeus, ModeLoad)
}

// NewRunID returns a new record id: UTC time to the second and 8 random hex
// characters, so ids sort by time.
func NewRunID(t time.Time) string {
	return t.UTC().Format("20060102T150405Z") + "-" + randomHex(4)
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(fmt.Sprintf("typhon: crypto/rand: %v", err)) // cannot happen on supported platforms
	}
	return hex.EncodeToString(b)
}

func (r *Runner) logger() *slog.Logger {
	if r.Logger != nil {
		return r.Logger
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

func (r *Runner) now() time.Time {
	if r.Now != nil {
		return r.Now().UTC()
	}
	return time.Now().UTC()
}

// Run benchmarks one server and writes its record before it returns. It takes
// five steps, each a method of its own: resolve the server, open telemetry (GPU
// sampler and machine profile), build the plan, run the tests, finish the record.
//
// Progress goes to progress with non-blocking sends (nil is allowed); Run never
// closes it. The returned Result holds every test that ran, also when Run returns
// an error: cancelling ctx returns within about a second with the finished tests
// kept and an error wrapping ctx.Err(). No goroutine started by Run outlives it.
// A run that fails before its first test writes no record: there is no
// measurement to keep.
func (r *Runner) Run(ctx context.Context, progress chan<- Progress) (*Result, error) {
	mode, err := r.mode()
	if err != nil {
		return nil, err
	}
	res := r.newResult(mode)
	pr := &tracker{ch: progress}
	pr.detecting()
	srv, err := r.resolveServer(ctx, res)
	if err != nil {
		return r.fail(res, err)
	}
	sampler, prof, closeGPU := r.hardware(ctx, srv, res)
	defer closeGPU()
	res.ProfileSnapshot = &prof
	pick, err := r.pickGPUs(ctx, sampler, srv, prof)
	if err != nil {
		return r.fail(res, err)
	}
	plan, err := r.buildPlan(mode, srv, pick.vramMB)
	if err != nil {
		return r.fail(res, err)
	}
	pr.planned(plan)
	store := r.store()
	if err := store.Save(res); err != nil {
		return r.fail(res, err)
	}
	rec := pick.recorder(r, sampler)
	runErr := r.runTests(ctx, r.engine(srv, res.Model, rec), rec, plan, res, store, pr)
	return r.finish(res, store, runErr, pr)
}

// mode is the mode of the run: the plan's when a Plan is set, else Mode or
// DefaultMode, which must be valid.
func (r *Runner) mode() (Mode, error) {
	mode := r.Mode
	if r.Plan != nil && r.Plan.Mode != "" {
		mode = r.Plan.Mode
	}
	if mode == "" {
		mode = DefaultMode
	}
	if r.Plan == nil {
		if err := ValidMode(mode); err != nil {
			return "", err
		}
		if mode == ModeLoad {
			if err := r.Load.Validate(); err != nil {
				return "", err
			}
		}
	}
	return mode, nil
}

// newResult is the record of a run that starts now.
func (r *Runner) newResult(mode Mode) *Result {
	start := r.now()
	res := &Result{
		SchemaVersion: schema.Version,
		RunID:         r.RunID,
		RunAt:         start.Truncate(time.Second),
		Status:        schema.StatusRunning,
		Mode:          mode,
		Benchmarks:    []Benchmark{},
		TyphonVersion: Version,
	}
	if res.RunID == "" {
		res.RunID = NewRunID(start)
	}
	return res
}

func (r *Runner) store() *report.Store {
	if r.Store != nil {
		return r.Store
	}
	dir := r.DataDir
	if dir == "" {
		dir = DefaultDataDir()
	}
	return &report.Store{Dir: dir, Logger: r.Logger}
}
