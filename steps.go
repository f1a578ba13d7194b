package typhon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/typhonbench/typhon/detect"
	"github.com/typhonbench/typhon/engine"
	"github.com/typhonbench/typhon/gpu"
	"github.com/typhonbench/typhon/report"
	"github.com/typhonbench/typhon/schema"
)

// The steps of Runner.Run, in order.

// resolveServer finds the server (URL, else detection and Prefer) and the model
// to request, and names both in res.
func (r *Runner) resolveServer(ctx context.Context, res *Result) (detect.Server, error) {
	srv, err := r.findServer(ctx)
	if err != nil {
		return srv, err
	}
	model := r.modelOf(srv)
	if model == "" {
		return srv, fmt.Errorf("%w at %s", ErrNoModel, srv.BaseURL)
	}
	res.Model = model
	res.Server = serverInfo(srv)
	r.logger().Info("server", "name", srv.Name, "url", srv.BaseURL, "model", model, "ctx", srv.CtxSize)
	return srv, nil
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
			// err names the URL, without the password it may hold.
			return detect.Server{}, fmt.Errorf("%w (%v)", ErrNoServer, err)
		}
		return srv, nil
	}
	var skipped []string
	user := opts.Skipped
	opts.Skipped = func(s detect.Skip) {
		skipped = append(skipped, s.URL+": "+s.Reason)
		if user != nil {
			user(s)
		}
	}
	servers, err := detect.Scan(ctx, opts)
	if err != nil {
		return detect.Server{}, err
	}
	srv, err := detect.Choose(servers, r.Prefer)
	if len(servers) == 0 && len(skipped) > 0 {
		// Say what answered instead (a web app, a proxy answering 502, ...).
		err = fmt.Errorf("%w (answered, not an LLM server: %s)", err, cut(strings.Join(skipped, "; "), 2048))
	}
	return srv, err
}

// telemetry is what a run samples the hardware with.
type telemetry struct {
	// sampler is nil when no GPU can be sampled; profile.GPUError says why.
	sampler gpu.Sampler
	profile Profile
	close   func()
}

// openTelemetry opens the GPU sampler (given, else gpu.Default) and takes the
// machine's profile. The caller calls close when done.
func openTelemetry(ctx context.Context, given gpu.Sampler) telemetry {
	t := telemetry{sampler: given, close: func() {}}
	var openErr error
	if t.sampler == nil {
		t.sampler, openErr = gpu.Default()
		if openErr != nil {
			t.sampler = nil
		} else if c, ok := t.sampler.(io.Closer); ok {
			t.close = func() { _ = c.Close() }
		}
	}
	t.profile = gpu.Snapshot(ctx, t.sampler)
	if openErr != nil {
		t.profile.GPUError = openErr.Error()
	}
	if t.profile.GPUError != "" || len(t.profile.GPUs) == 0 {
		t.sampler = nil
	}
	return t
}

// Hardware returns the machine's profile: the GPUs of the default sampler
// (gpu.Default) and the host's CPU, memory and OS. When no GPU can be read,
// GPUs is empty and GPUError says why.
func Hardware(ctx context.Context) Profile {
	t := openTelemetry(ctx, nil)
	t.close()
	return t.profile
}

// buildPlan is Plan when set, the load sweep of Load in ModeLoad, else the plan
// of mode for the server and the GPU's memory; a full plan's load sweep is
// sized for the server's slots.
func (r *Runner) buildPlan(mode Mode, srv detect.Server, vramMB float64) (engine.Plan, error) {
	if r.Plan != nil {
		return *r.Plan, nil
	}
	if mode == ModeLoad {
		return engine.LoadPlan(r.Load), nil
	}
	plan, err := engine.BuildPlan(mode, planCtx(srv), vramMB)
	if err != nil {
		return plan, err
	}
	if mode == ModeFull {
		plan = engine.WithLoadSweep(plan, srv.Slots)
	}
	return plan, nil
}

// planCtx is the context the plan may use: what a request gets, except on Ollama,
// where the engine asks for each test's context itself (num_ctx), up to the
// model's training context.
func planCtx(s detect.Server) int {
	train, _ := strconv.Atoi(s.Settings["n_ctx_train"])
	return engine.PlanCtx(s.Kind, s.CtxSize, train)
}

func (r *Runner) engine(srv detect.Server, model string, rec *gpu.Recorder) *engine.Engine {
	return &engine.Engine{
		Client: r.HTTPClient,
		Target: engine.Target{
			BaseURL: srv.BaseURL,
			Model:   model,
			Kind:    srv.Kind,
			APIKey:  r.APIKey,
			CtxSize: srv.CtxSize,
		},
		GPU:            rec,
		Logger:         r.logger(),
		RequestTimeout: r.RequestTimeout,
	}
}

// runTests runs the tests in order under an errgroup with the GPU recorder, and
// returns why the run stopped short (nil when every test ran and one succeeded).
func (r *Runner) runTests(ctx context.Context, eng *engine.Engine, rec *gpu.Recorder, plan engine.Plan,
	res *Result, store *report.Store, pr *tracker) error {
	gctx, stopGPU := context.WithCancel(ctx)
	defer stopGPU()
	g, gctx := errgroup.WithContext(gctx)
	if rec != nil {
		g.Go(func() error { return rec.Run(gctx) })
	}
	var runErr error
	g.Go(func() error {
		defer stopGPU()
		runErr = r.runSequence(ctx, eng, plan, res, store, pr)
		return nil
	})
	if err := g.Wait(); err != nil && runErr == nil && ctx.Err() == nil {
		r.logger().Warn("gpu recorder", "err", err)
	}
	return runErr
}

// runSequence runs each test, saving the record after each one. A server that
// stops accepting connections ends the run: the tests left are recorded as not run.
func (r *Runner) runSequence(ctx context.Context, eng *engine.Engine, plan engine.Plan,
	res *Result, store *report.Store, pr *tracker) error {
	if err := eng.Prepare(ctx); err != nil && ctx.Err() == nil {
		r.logger().Warn("prepare", "err", err)
	}
	silent := 0 // tests in a row the server left unanswered
	for i, t := range plan.Tests {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("typhon: run cancelled before %s: %w", t.ID, err)
		}
		pr.starting(i)
		if t.Load != nil {
			if err := r.runLoad(ctx, eng, t, res, store, pr.send, i, len(plan.Tests)); err != nil {
				return err
			}
			continue
		}
		stopWatch := r.watchLongTest(ctx, eng, t, pr.at(i), pr.send)
		b := eng.RunTest(ctx, t)
		stopWatch()
		res.Benchmarks = append(res.Benchmarks, withEnergyPerToken(b))
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("typhon: run cancelled during %s: %w", t.ID, err)
		}
		if err := store.Save(res); err != nil {
			return err
		}
		pr.finished(i)
		if err := r.serverGone(ctx, eng, b, &silent); err != nil {
			for _, rest := range plan.Tests[i+1:] {
				rest.SkipReason = "not run: " + err.Error() // recorded, never sent
				res.Benchmarks = append(res.Benchmarks, eng.RunTest(ctx, rest))
			}
			return err
		}
	}
	if !anySuccess(res.Benchmarks) {
		return fmt.Errorf("%w: %s", ErrAllTestsFailed, failureSummary(res.Benchmarks))
	}
	return nil
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

// finish closes the record with the run's outcome and writes it.
func (r *Runner) finish(res *Result, store *report.Store, runErr error, pr *tracker) (*Result, error) {
	res.FinishedAt = r.now()
	res.Status, res.Error = recordOutcome(runErr)
	if err := store.Finish(res); err != nil {
		res.Status = schema.StatusFailed
		res.Error = err.Error()
		return res, err
	}
	pr.ended(countDone(res))
	return res, runErr
}

// recordOutcome is a record's status and error for the error a run ended with.
func recordOutcome(err error) (schema.Status, string) {
	switch {
	case err == nil:
		return schema.StatusComplete, ""
	case errors.Is(err, context.DeadlineExceeded):
		return schema.StatusCancelled, "timed out"
	case errors.Is(err, context.Canceled):
		return schema.StatusCancelled, "cancelled"
	}
	return schema.StatusFailed, err.Error()
}

// fail ends a run that never reached its first test. Nothing is recorded: there
// is no measurement to keep.
func (r *Runner) fail(res *Result, err error) (*Result, error) {
	res.Status = schema.StatusFailed
	res.Error = err.Error()
	res.FinishedAt = r.now()
	return res, err
}
