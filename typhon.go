package typhon

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	gnet "github.com/shirou/gopsutil/v3/net"
	"golang.org/x/sync/errgroup"

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
	// ServerError is an HTTP failure of the server under test (errors.As).
	ServerError = engine.ServerError
)

// Sentinel errors. Errors returned by Typhon wrap one of these where one applies.
var (
	// ErrNoServer: no LLM server answered on any probed candidate. Its text is
	// fixed by the job contract.
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
	ModeQuick = "quick"
	ModeFull  = "full"
	// ModeZeus is the long-context torture test: prompts filling 131,072 and
	// 262,144 tokens of context (see engine.ZeusPlan).
	ModeZeus = engine.ModeZeus
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

// Progress reports where a run is. Total is set once the plan is built, before
// the first inference; CurrentTest names the test running now; Done counts the
// tests finished.
type Progress struct {
	Done        int    `json:"done"`
	Total       int    `json:"total"`
	CurrentTest string `json:"current_test"`
}

// Runner benchmarks one LLM server. The zero value detects a local server, runs
// the quick plan, samples the default GPU sampler and writes the record under
// DefaultDataDir.
type Runner struct {
	// Mode is ModeQuick, ModeFull, ModeZeus or ModeLoad; "" means DefaultMode.
	// Ignored when Plan is set.
	Mode string
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
	DataDir string
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
	// absolute path); its processes are added to ServerPIDs.
	ServerCgroup string
	// ServerBackWait: see DefaultServerBackWait; 0 means the default.
	ServerBackWait time.Duration

	// Logger receives debug and progress logs; nil discards them.
	Logger *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// DefaultDataDir is where records go when Runner.DataDir is empty:
// $TYPHON_DATA, else $XDG_DATA_HOME/typhon, else ~/.local/share/typhon.
func DefaultDataDir() string {
	if d := os.Getenv("TYPHON_DATA"); d != "" {
		return d
	}
	if d := os.Getenv("XDG_DATA_HOME"); d != "" {
		return filepath.Join(d, "typhon")
	}
	if h, err := os.UserHomeDir(); err == nil {
		return filepath.Join(h, ".local", "share", "typhon")
	}
	return filepath.Join(os.TempDir(), "typhon")
}

// ValidMode reports whether mode names a plan ("" is the default mode).
func ValidMode(mode string) error {
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

// Run finds the server, builds the plan, runs every test while sampling the GPUs,
// and writes the record (one JSON file and chronicle lines) before it returns.
//
// Progress goes to progress with non-blocking sends (nil is allowed); Run never
// closes it. The returned Result holds every test that ran, also when Run returns
// an error: cancelling ctx returns within about a second with the finished tests
// kept and an error wrapping ctx.Err(). No goroutine started by Run outlives it.
func (r *Runner) Run(ctx context.Context, progress chan<- Progress) (*Result, error) {
	log := r.logger()
	mode := r.Mode
	if r.Plan != nil && r.Plan.Mode != "" {
		mode = r.Plan.Mode
	}
	if mode == "" {
		mode = DefaultMode
	}
	if r.Plan == nil {
		if err := ValidMode(mode); err != nil {
			return nil, err
		}
		if mode == ModeLoad {
			if err := r.Load.Validate(); err != nil {
				return nil, err
			}
		}
	}
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
	send := func(p Progress) {
		if progress == nil {
			return
		}
		select {
		case progress <- p:
		default:
		}
	}
	send(Progress{CurrentTest: "detecting server"})

	// 1. Find the server.
	srv, err := r.findServer(ctx)
	if err != nil {
		return r.fail(res, err)
	}
	model := r.Model
	if model == "" {
		model = srv.LoadedModel
	}
	if model == "" && len(srv.Models) > 0 {
		model = srv.Models[0]
	}
	if model == "" {
		return r.fail(res, fmt.Errorf("%w at %s", ErrNoModel, srv.BaseURL))
	}
	res.Model = model
	res.Server = serverInfo(srv)
	log.Info("server", "name", srv.Name, "url", srv.BaseURL, "model", model, "ctx", srv.CtxSize)

	// 2. Hardware.
	sampler, prof, closeGPU := r.hardware(ctx, srv, res)
	defer closeGPU()
	res.ProfileSnapshot = &prof
	pick := r.pickGPUs(ctx, sampler, srv, prof)
	vramMB := pick.vramMB

	// 3. The plan.
	var plan engine.Plan
	if r.Plan != nil {
		plan = *r.Plan
	} else if mode == ModeLoad {
		plan = engine.LoadPlan(r.Load)
	} else if plan, err = engine.BuildPlan(mode, planCtx(srv), vramMB); err != nil {
		return r.fail(res, err)
	} else if mode == ModeFull {
		plan = engine.WithLoadSweep(plan, srv.Slots)
	}
	total := len(plan.Tests)
	first := ""
	if total > 0 {
		first = plan.Tests[0].Name
	}
	send(Progress{Total: total, CurrentTest: first})

	store := &report.Store{Dir: r.dataDir(), Logger: log}
	if err := store.Save(res); err != nil {
		return r.fail(res, err)
	}

	// 4. Run the tests, with the GPU recorder beside them.
	rec := pick.recorder(r, sampler)
	eng := &engine.Engine{
		Client: r.HTTPClient,
		Target: engine.Target{
			BaseURL: srv.BaseURL,
			Model:   model,
			Kind:    srv.Kind,
			APIKey:  r.APIKey,
			CtxSize: srv.CtxSize,
		},
		GPU:            rec,
		Logger:         log,
		RequestTimeout: r.RequestTimeout,
	}
	runErr := r.runPlan(ctx, eng, rec, plan, res, store, send)

	// 5. The record, before Run returns.
	res.FinishedAt = r.now()
	switch {
	case runErr == nil:
		res.Status = schema.StatusComplete
	case errors.Is(runErr, context.Canceled) || errors.Is(runErr, context.DeadlineExceeded):
		res.Status = schema.StatusCancelled
		res.Error = "cancelled"
		if errors.Is(runErr, context.DeadlineExceeded) {
			res.Error = "job timeout"
		}
	default:
		res.Status = schema.StatusFailed
		res.Error = runErr.Error()
	}
	if err := store.Finish(res); err != nil {
		res.Status = schema.StatusFailed
		res.Error = err.Error()
		return res, err
	}
	send(Progress{Done: countDone(res), Total: total})
	return res, runErr
}

// runPlan runs the tests in order under an errgroup with the GPU recorder.
func (r *Runner) runPlan(ctx context.Context, eng *engine.Engine, rec *gpu.Recorder, plan engine.Plan,
	res *Result, store *report.Store, send func(Progress)) error {
	total := len(plan.Tests)
	gctx, stopGPU := context.WithCancel(ctx)
	defer stopGPU()
	g, gctx := errgroup.WithContext(gctx)
	if rec != nil {
		g.Go(func() error { return rec.Run(gctx) })
	}
	var runErr error
	silent := 0 // tests in a row the server left unanswered
	g.Go(func() error {
		defer stopGPU()
		if err := eng.Prepare(ctx); err != nil && ctx.Err() == nil {
			r.logger().Warn("prepare", "err", err)
		}
		for i, t := range plan.Tests {
			if err := ctx.Err(); err != nil {
				runErr = fmt.Errorf("typhon: run cancelled before %s: %w", t.ID, err)
				return nil
			}
			send(Progress{Done: i, Total: total, CurrentTest: t.Name})
			if t.Load != nil {
				if runErr = r.runLoad(ctx, eng, t, res, store, send, i, total); runErr != nil {
					return nil
				}
				continue
			}
			stopWatch := r.watchLongTest(ctx, eng, t, Progress{Done: i, Total: total, CurrentTest: t.Name}, send)
			b := eng.RunTest(ctx, t)
			stopWatch()
			res.Benchmarks = append(res.Benchmarks, withEnergyPerToken(b))
			if err := ctx.Err(); err != nil {
				runErr = fmt.Errorf("typhon: run cancelled during %s: %w", t.ID, err)
				return nil
			}
			if err := store.Save(res); err != nil {
				runErr = err
				return nil
			}
			next := ""
			if i+1 < total {
				next = plan.Tests[i+1].Name
			}
			send(Progress{Done: i + 1, Total: total, CurrentTest: next})

			if err := r.serverGone(ctx, eng, b, &silent); err != nil {
				for _, rest := range plan.Tests[i+1:] {
					rest.SkipReason = "not run: " + err.Error() // recorded, never sent
					res.Benchmarks = append(res.Benchmarks, eng.RunTest(ctx, rest))
				}
				runErr = err
				return nil
			}
		}
		if !anySuccess(res.Benchmarks) {
			runErr = fmt.Errorf("%w: %s", ErrAllTestsFailed, failureSummary(res.Benchmarks))
		}
		return nil
	})
	if err := g.Wait(); err != nil && runErr == nil && ctx.Err() == nil {
		r.logger().Warn("gpu recorder", "err", err)
	}
	return runErr
}

// waitServer gives a server that refused a connection a short while to come back.
func (r *Runner) waitServer(ctx context.Context, eng *engine.Engine) error {
	wait := r.ServerBackWait
	if wait <= 0 {
		wait = DefaultServerBackWait
	}
	deadline := time.Now().Add(wait)
	for {
		err := eng.Alive(ctx)
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
}

func (r *Runner) locateServer(ctx context.Context) (detect.Server, error) {
	opts := r.Detect
	if opts.APIKey == "" {
		opts.APIKey = r.APIKey
	}
	if opts.Logger == nil {
		opts.Logger = r.Logger
	}
	if r.URL != "" {
		srv, err := detect.Probe(ctx, strings.TrimRight(r.URL, "/"), opts)
		if err != nil {
			return detect.Server{}, fmt.Errorf("%w (%s: %v)", ErrNoServer, r.URL, err)
		}
		return srv, nil
	}
	servers, err := detect.Scan(ctx, opts)
	if err != nil {
		return detect.Server{}, err
	}
	return detect.Choose(servers, r.Prefer)
}

func (r *Runner) dataDir() string {
	if r.DataDir != "" {
		return r.DataDir
	}
	return DefaultDataDir()
}

// fail ends a run that never reached its first test. Nothing is recorded: there
// is no measurement to keep.
func (r *Runner) fail(res *Result, err error) (*Result, error) {
	res.Status = schema.StatusFailed
	res.Error = err.Error()
	res.FinishedAt = r.now()
	return res, err
}

func serverInfo(s detect.Server) ServerInfo {
	return ServerInfo{
		Name:         s.Name,
		Port:         s.Port,
		APIBase:      s.BaseURL,
		Kind:         s.Kind,
		Version:      s.Version,
		CtxSize:      s.CtxSize,
		Slots:        s.Slots,
		Quantization: s.Quantization,
		Settings:     s.Settings,
	}
}

// planCtx is the context the plan may use: what a request gets, except on Ollama,
// where the engine asks for each test's context itself (num_ctx), up to the
// model's training context.
func planCtx(s detect.Server) int {
	train, _ := strconv.Atoi(s.Settings["n_ctx_train"])
	return engine.PlanCtx(s.Kind, s.CtxSize, train)
}

// serverPIDs finds the processes listening on a loopback server's port, so that
// the GPU windows can report the memory the server itself holds.
func serverPIDs(ctx context.Context, s detect.Server) []int {
	u, err := url.Parse(s.BaseURL)
	if err != nil || s.Port == 0 {
		return nil
	}
	if ip := net.ParseIP(u.Hostname()); u.Hostname() != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return nil
	}
	conns, err := gnet.ConnectionsWithContext(ctx, "tcp")
	if err != nil {
		return nil
	}
	var pids []int
	for _, c := range conns {
		if c.Status == "LISTEN" && int(c.Laddr.Port) == s.Port && c.Pid > 0 && !slices.Contains(pids, int(c.Pid)) {
			pids = append(pids, int(c.Pid))
		}
	}
	return pids
}

// refused reports whether the test's last request found the server not accepting
// connections.
func refused(b Benchmark) bool {
	if n := len(b.Runs); n > 0 {
		return b.Runs[n-1].ErrorKind == schema.ErrKindConnectionRefused
	}
	if b.WarmupRun != nil {
		return b.WarmupRun.ErrorKind == schema.ErrKindConnectionRefused
	}
	return false
}

func anySuccess(bs []Benchmark) bool {
	for _, b := range bs {
		if b.SuccessfulRuns > 0 || (b.MemoryWall != nil && b.MemoryWall.LastOKPromptTokens > 0) {
			return true
		}
	}
	return false
}

// failureSummary names each failed test with its first error.
func failureSummary(bs []Benchmark) string {
	var parts []string
	for _, b := range bs {
		switch {
		case b.Skipped:
			parts = append(parts, b.TestID+": skipped: "+b.SkipReason)
		case b.Error != "":
			parts = append(parts, b.TestID+": "+b.Error)
		default:
			for _, run := range append([]RunSample{}, b.Runs...) {
				if !run.Success {
					parts = append(parts, b.TestID+": "+run.Error)
					break
				}
			}
		}
		if len(parts) >= 3 {
			break
		}
	}
	if len(parts) == 0 {
		return "no test ran"
	}
	return strings.Join(parts, "; ")
}
