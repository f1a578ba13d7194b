package engine

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/typhonbench/typhon/gpu"
	"github.com/typhonbench/typhon/schema"
)

// failPause is how long a user waits after a failed request before its next
// one, so that a server answering errors at once is not flooded.
const failPause = 100 * time.Millisecond

// errRefused ends a level: the server refuses connections.
var errRefused = errors.New("the server refused a connection")

// errGrace ends a level whose requests ran past the grace after its window.
var errGrace = errors.New("requests still running after the grace period")

// The errors of a level cut short: its figures cover part of its window.
const (
	levelCancelled = schema.LevelCancelled
	levelRefused   = schema.LevelRefused
	// levelEmpty: no request was sent inside the window (a window too short).
	levelEmpty = "no request was sent inside the window of "
)

// levelCut reports whether b is a level cut short (cancelled, or the server
// refused connections): its throughputs divide part of a window's requests by
// the whole window.
func levelCut(b schema.Benchmark) bool { return schema.LevelCut(&b) }

// loadReq is one request of a level as the level keeps it.
type loadReq struct {
	sched      time.Time // rate levels: when it was due
	start, end time.Time
	ttft       float64 // seconds; 0 without a token
	ok         bool
	kind, err  string
	out        int
	prompt     int
	gaps       []float64 // seconds between consecutive token-carrying chunks
	asked      int       // max_tokens
	usage      bool      // out is the server's usage (else chunks or their counts)
	chunkTok   int       // the chunks' own token counts; -1 unknown
}

// levelRun is one level in progress.
type levelRun struct {
	e          *Engine
	pm         *promptMaker
	t0         time.Time // the level started (ramp-up)
	winStart   time.Time
	winEnd     time.Time
	cancel     context.CancelCauseFunc
	mu         sync.Mutex
	reqs       []loadReq
	refusedErr string
	series     map[string][]float64 // the latency samples of the window, by name
}

// runLevel runs one level of users (closed loop) or of a rate (open loop) and
// returns its Benchmark. It returns when every request it sent has ended; when
// ctx is done, at once with the requests in flight closed as cancelled.
func (e *Engine) runLevel(ctx context.Context, o LoadOptions, pm *promptMaker, users int, rate float64) schema.Benchmark {
	shape := schema.LoadUsers
	if rate > 0 {
		shape = schema.LoadRate
	}
	b := levelBenchmark(o, pm, shape, users, rate)
	lvl := b.LoadLevel
	ramp, window := o.rampUp(), o.window()
	lctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)

	prom := e.startMetrics(lctx, o.MetricsInterval)
	var win *gpu.Window
	if e.GPU != nil {
		win = e.GPU.Open()
	}
	cpu0 := cpuTime()
	lr := &levelRun{e: e, pm: pm, t0: time.Now(), cancel: cancel}
	lr.winStart = lr.t0.Add(ramp)
	lr.winEnd = lr.winStart.Add(window)
	lvl.WindowStart = lr.winStart.UTC()
	cut := time.AfterFunc(time.Until(lr.winEnd.Add(o.grace())), func() { cancel(errGrace) })
	defer cut.Stop()
	var lag []float64
	if shape == schema.LoadRate {
		sched := arrivals(rate, ramp, window, o.burstiness(), o.Seed)
		lag = lr.openLoop(lctx, sched, o.maxInFlight())
	} else {
		lr.closedLoop(lctx, users)
	}
	wall := time.Since(lr.t0)
	cpu := cpuTime() - cpu0
	if cpu0 < 0 {
		cpu = -1
	}
	if win != nil {
		b.GPUStats = win.Close()
	}
	lr.summarize(lvl, o.SLO)
	lr.fillBenchmark(&b)
	if o.Samples != nil {
		o.Samples(b.TestID, lr.series)
	}
	if shape == schema.LoadRate {
		d := dist(lag)
		lvl.ScheduleLagS = &d
	}
	lvl.Client = clientLoad(cpu, wall, lvl.ScheduleLagS)
	lvl.Server = prom.finish(ctx)
	if e := b.GPUStats.EnergyJ; e != nil && lvl.AllOutputTokens > 0 {
		v := round(*e/float64(lvl.AllOutputTokens), 6)
		lvl.EnergyPerTokenJ = &v
	}
	switch {
	case ctx.Err() != nil:
		b.Error = levelCancelled + ctx.Err().Error()
	case lr.refusedErr != "":
		b.Error = levelRefused + lr.refusedErr
	case errors.Is(context.Cause(lctx), errGrace):
		b.Error = fmt.Sprintf("%d requests had not finished %s after the window closed and were cut (incomplete): the server is past saturation",
			lvl.Incomplete, o.grace())
	case lvl.Completed == 0 && lvl.Failed > 0:
		b.Error = fmt.Sprintf("every request of the window failed (%d); first: %s", lvl.Failed, lvl.FirstError)
	case lvl.Completed+lvl.Failed+lvl.Incomplete == 0:
		b.Error = fmt.Sprintf("%s%s after a ramp-up of %s: the window is too short for the requests, which all began before it (no figure)",
			levelEmpty, window, ramp)
	}
	b.FinishedAt = time.Now().UTC()
	return b
}

// levelBenchmark is the Benchmark of a level before it runs.
func levelBenchmark(o LoadOptions, pm *promptMaker, shape string, users int, rate float64) schema.Benchmark {
	lvl := &schema.LoadLevel{
		Shape: shape, RampUpS: o.rampUp().Seconds(), WindowS: o.window().Seconds(),
		InputTokens: o.input(), OutputTokens: o.output(),
	}
	name := fmt.Sprintf("Load — %d users", users)
	if shape == schema.LoadRate {
		lvl.Rate, lvl.Burstiness, lvl.MaxInFlight = rate, o.burstiness(), o.maxInFlight()
		name = fmt.Sprintf("Load — %g requests/s", rate)
		users = 0
	} else {
		lvl.Users = users
	}
	b := schema.Benchmark{
		TestID: LoadTestID(shape, users, rate), Name: name, Category: schema.CategoryLoad,
		CtxSize: pm.ctxSize, MaxTokens: o.output(), PromptTokensTarget: o.input(),
		Runs: []schema.RunSample{}, StartedAt: time.Now().UTC(), LoadLevel: lvl,
	}
	b.Notes = append(b.Notes, pm.note)
	return b
}

// closedLoop runs users users until the window closes: each sends its next
// request as soon as its last one ended (after failPause when it failed).
func (lr *levelRun) closedLoop(ctx context.Context, users int) {
	var wg sync.WaitGroup
	for range users {
		wg.Go(func() {
			for ctx.Err() == nil && time.Now().Before(lr.winEnd) {
				if !lr.send(ctx, time.Time{}) && !sleepCtx(ctx, failPause) {
					return
				}
			}
		})
	}
	wg.Wait()
}

// openLoop sends a request at each time of sched (offsets from the level's
// start), at most inFlight at once, and returns each send's lateness in seconds.
func (lr *levelRun) openLoop(ctx context.Context, sched []time.Duration, inFlight int) []float64 {
	sem := make(chan struct{}, inFlight)
	lag := make([]float64, 0, len(sched))
	var lagMu sync.Mutex
	var wg sync.WaitGroup
loop:
	for _, off := range sched {
		due := lr.t0.Add(off)
		r := lr.pm.next() // built before it is due, so that building is not lateness
		if !sleepCtx(ctx, time.Until(due)) {
			break
		}
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			break loop
		}
		wg.Go(func() {
			defer func() { <-sem }()
			q := lr.sendAt(ctx, due, r)
			if !q.start.IsZero() {
				lagMu.Lock()
				lag = append(lag, q.start.Sub(due).Seconds())
				lagMu.Unlock()
			}
		})
	}
	wg.Wait()
	return lag
}

// send sends one request and keeps it; false when it failed.
func (lr *levelRun) send(ctx context.Context, due time.Time) bool {
	return lr.sendAt(ctx, due, lr.pm.next()).ok
}

// sendAt sends r, due at due (zero in a closed loop), and keeps it.
func (lr *levelRun) sendAt(ctx context.Context, due time.Time, r request) loadReq {
	m := lr.e.do(ctx, r)
	q := loadReq{sched: due, start: m.start, end: m.end, ok: m.err == nil, kind: m.kind, prompt: r.promptTokens,
		asked: r.maxTokens, usage: m.haveUsage, chunkTok: -1}
	if !m.countsUnknown && m.cum > 0 {
		q.chunkTok = m.cum
	}
	if m.err != nil {
		q.err = m.err.Error()
	} else if m.firstToken.IsZero() {
		// Finished without a token: no TTFT to count, nothing served.
		q.ok, q.kind = false, schema.ErrKindBadResponse
		q.err = fmt.Sprintf("the stream finished without a token (finish_reason %q)", m.finish)
	}
	q.out = m.tokensSoFar()
	if m.haveUsage {
		q.out, q.prompt = m.completionTokens, m.promptTokens
	}
	if !m.firstToken.IsZero() {
		q.ttft = m.firstToken.Sub(m.start).Seconds()
	}
	if q.ok && len(m.chunks) > 1 {
		q.gaps = make([]float64, 0, len(m.chunks)-1)
		for i := 1; i < len(m.chunks); i++ {
			q.gaps = append(q.gaps, (m.chunks[i].at - m.chunks[i-1].at).Seconds())
		}
	}
	lr.mu.Lock()
	lr.reqs = append(lr.reqs, q)
	if q.kind == schema.ErrKindConnectionRefused && lr.refusedErr == "" {
		lr.refusedErr = q.err
		lr.cancel(errRefused)
	}
	lr.mu.Unlock()
	return q
}
