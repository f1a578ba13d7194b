package gpu

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shirou/gopsutil/v3/process"
)

// Recorder runs a Sampler in one goroutine (Run) and hands out windows over the
// readings. The zero value is not usable: set Sampler. The exported fields must
// not change while Run runs. A Recorder must not be copied after first use.
type Recorder struct {
	Sampler  Sampler
	Interval time.Duration // 0 means DefaultInterval
	// Indexes restricts windows and Latest to these GPUs (the ones the server
	// uses, given by the caller). With Indexes nil and PIDs set, the recorder keeps
	// the GPUs whose process lists hold the server's processes, once it has seen
	// one; until then, or with neither set, it keeps all GPUs and says so.
	Indexes []int
	// PIDs are the server's processes: the memory they and their descendants hold
	// is reported when NVML lists them, and they pick the server's GPUs.
	PIDs []int
	// Logger receives sampling failures and recoveries; nil discards them.
	Logger *slog.Logger

	running atomic.Bool

	mu         sync.Mutex
	latest     []Reading
	latestProc []*float64 // server processes' memory in each latest reading
	sel        selection  // the GPUs windows keep, as of the latest round
	stale      bool       // Run ended after the latest round: windows do not start from it
	serverGPUs map[int]bool
	names      map[int]string // GPU index -> name, from Sampler.Devices
	uuids      map[int]string
	totals     map[int]float64 // GPU index -> memory total, MB; a reading above it is left out
	windows    map[*Window]struct{}

	owned map[int]owner // PID -> held by the server; used by the Run goroutine only

	// Tests replace these; nil means the real clock and process table.
	now    func() time.Time
	parent func(pid int) (int, error)
}

// Run samples until ctx is done and then returns nil; it returns an error only
// when there is nothing to run (no Sampler, or Run already running). A failing
// Sample does not end Run: it retries with a doubling wait (up to MaxBackoff), and
// the open windows report the failures. Run is meant to be one goroutine of the
// benchmark's errgroup.
func (r *Recorder) Run(ctx context.Context) error {
	if r.Sampler == nil {
		return fmt.Errorf("%w: Recorder has no Sampler", ErrGPUUnavailable)
	}
	if !r.running.CompareAndSwap(false, true) {
		return errors.New("gpu: Recorder.Run is already running")
	}
	defer r.running.Store(false)
	defer r.stopped()
	log := r.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	interval := r.Interval
	if interval <= 0 {
		interval = DefaultInterval
	}

	if devs, err := r.Sampler.Devices(ctx); err != nil {
		log.Warn("gpu: listing devices failed", "err", err)
	} else {
		r.mu.Lock()
		r.names, r.uuids = make(map[int]string), make(map[int]string)
		r.totals = make(map[int]float64)
		for _, d := range devs {
			r.names[d.Index], r.uuids[d.Index] = d.Name, d.UUID
			r.totals[d.Index] = d.MemoryTotalMB
		}
		r.mu.Unlock()
	}

	timer := time.NewTimer(0)
	defer timer.Stop()
	failures := 0
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-timer.C:
		}
		start := time.Now()
		readings, err := r.Sampler.Sample(ctx)
		if ctx.Err() != nil {
			return nil
		}
		var wait time.Duration
		if err != nil && len(readings) > 0 {
			log.Debug("gpu: part of a sampling round failed", "err", err)
		}
		if err != nil && len(readings) == 0 {
			failures++
			r.fail(err)
			if failures == 1 {
				log.Warn("gpu: sampling failed; retrying with backoff", "err", err)
			}
			wait = backoff(interval, failures)
		} else {
			if failures > 0 {
				log.Info("gpu: sampling recovered", "failed_rounds", failures)
			}
			failures = 0
			r.observe(readings, err)
			// Keep the cadence, but never sample back to back.
			wait = max(interval-time.Since(start), interval/4)
		}
		timer.Reset(wait)
	}
}

// backoff is the wait after the n-th consecutive failure: interval, 2x, 4x, ...
// up to MaxBackoff.
func backoff(interval time.Duration, n int) time.Duration {
	wait := interval
	for i := 1; i < n && wait < MaxBackoff; i++ {
		wait *= 2
	}
	return min(wait, max(MaxBackoff, interval))
}

// Latest returns the most recent reading of each selected GPU (nil before the
// first sample). It is safe to call while Run runs; the readings are shared and
// must not be modified.
func (r *Recorder) Latest() []Reading {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.latest)
}

func (r *Recorder) clock() time.Time {
	if r.now != nil {
		return r.now()
	}
	return time.Now()
}

// observe hands one sampling round to the open windows; err is the failure of
// the part of the round that gave no reading.
func (r *Recorder) observe(readings []Reading, err error) {
	readings, bad := r.sanitize(readings)
	tick := time.Time{}
	for _, rd := range readings {
		if rd.At.After(tick) {
			tick = rd.At
		}
	}
	if tick.IsZero() {
		tick = r.clock()
	}
	procs := make([]*float64, len(readings))
	held := make([]bool, len(readings))
	for i, rd := range readings {
		procs[i], held[i] = r.serverMem(rd)
	}
	sel := r.selection(readings, held)
	kept := make([]Reading, 0, len(readings))
	keptProcs := make([]*float64, 0, len(readings))
	unknown := false // a server process is listed without a memory figure
	for i, rd := range readings {
		if sel.keeps(rd.Index) {
			kept = append(kept, rd)
			keptProcs = append(keptProcs, procs[i])
			unknown = unknown || (held[i] && procs[i] == nil)
		}
	}

	r.mu.Lock()
	defer r.mu.Unlock()
	r.latest, r.latestProc, r.sel, r.stale = kept, keptProcs, sel, false
	for w := range r.windows {
		w.left.add(bad...)
		w.procUnknown = w.procUnknown || unknown
		w.add(tick, kept, keptProcs, sel, err)
	}
}

// sanitize leaves out of a round the values no device can report (see
// [MaxPlausiblePowerW]) and says which; readings is not modified.
func (r *Recorder) sanitize(readings []Reading) ([]Reading, []string) {
	r.mu.Lock()
	totals := r.totals
	r.mu.Unlock()
	var bad []string
	out := make([]Reading, len(readings))
	for i, rd := range readings {
		var why []string
		out[i], why = sanitize(rd, totals[rd.Index])
		bad = append(bad, why...)
	}
	return out, bad
}

// fail tells the open windows that a sampling round failed: no GPU answered,
// so none is held past this instant, and the latest readings are no longer
// current (a window opened now does not start from them).
func (r *Recorder) fail(err error) {
	tick := r.clock()
	r.mu.Lock()
	defer r.mu.Unlock()
	r.latest, r.latestProc = nil, nil
	for w := range r.windows {
		w.errs++
		w.lastErr = err.Error()
		w.loseAll(tick)
	}
}

// stopped tells the open windows that Run has ended: their GPUs are held no
// longer, and a window opened later does not start from the last readings
// (Latest still returns them).
func (r *Recorder) stopped() {
	tick := r.clock()
	r.mu.Lock()
	defer r.mu.Unlock()
	r.stale = true
	for w := range r.windows {
		w.loseAll(tick)
		if w.stoppedAt.IsZero() {
			w.stoppedAt = tick
		}
	}
}

// serverMem is the memory the server's processes hold in one reading, nil when
// none of them is listed with a figure; held says whether one is listed (NaN:
// NVML lists it without a figure).
func (r *Recorder) serverMem(rd Reading) (mem *float64, held bool) {
	if len(r.PIDs) == 0 || rd.ProcessMemMB == nil {
		return nil, false
	}
	var sum float64
	found := false
	for pid, mb := range rd.ProcessMemMB {
		if r.owns(pid) {
			held = true
			if !math.IsNaN(mb) {
				sum += mb
				found = true
			}
		}
	}
	if !found {
		return nil, held
	}
	return &sum, true
}

// owner is a cached answer of owns.
type owner struct {
	ok bool
	at time.Time
}

// ownRecheck is how long a "not the server's" answer is trusted: a process
// seen before its parent was known is asked again after it.
const ownRecheck = 5 * time.Second

// owns reports whether pid is one of PIDs or descends from one. A process's
// parentage does not change while it holds GPU memory, so yes is cached for
// good; no is asked again after ownRecheck.
func (r *Recorder) owns(pid int) bool {
	now := r.clock()
	if o, seen := r.owned[pid]; seen && (o.ok || now.Sub(o.at) < ownRecheck) {
		return o.ok
	}
	if r.owned == nil {
		r.owned = make(map[int]owner)
	}
	parent := r.parent
	if parent == nil {
		parent = parentPID
	}
	ok := false
	p := pid
	for depth := 0; depth < 64; depth++ {
		if slices.Contains(r.PIDs, p) {
			ok = true
			break
		}
		pp, err := parent(p)
		if err != nil || pp <= 1 || pp == p {
			break
		}
		p = pp
	}
	if len(r.owned) > 4096 {
		clear(r.owned) // bounded: PIDs come and go over a long run
	}
	r.owned[pid] = owner{ok, now}
	return ok
}

func parentPID(pid int) (int, error) {
	p, err := process.NewProcess(int32(pid))
	if err != nil {
		return 0, err
	}
	pp, err := p.Ppid()
	return int(pp), err
}
