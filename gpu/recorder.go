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
	"github.com/typhonbench/typhon/schema"
)

// Recorder runs a Sampler in one goroutine (Run) and hands out windows over the
// readings. The zero value is not usable: set Sampler. The exported fields must
// not change while Run runs. A Recorder must not be copied after first use.
type Recorder struct {
	Sampler  Sampler
	Interval time.Duration // 0 means DefaultInterval
	// Indexes restricts windows and Latest to these GPUs (the ones the server uses);
	// nil = all.
	Indexes []int
	// PIDs are the server's processes: the memory they and their descendants hold
	// is reported when NVML lists them.
	PIDs []int
	// Logger receives sampling failures and recoveries; nil discards them.
	Logger *slog.Logger

	running atomic.Bool

	mu      sync.Mutex
	latest  []Reading
	names   map[int]string // GPU index -> name, from Sampler.Devices
	uuids   map[int]string
	windows map[*Window]struct{}

	owned map[int]bool // PID -> held by the server; used by the Run goroutine only

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
		for _, d := range devs {
			r.names[d.Index], r.uuids[d.Index] = d.Name, d.UUID
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
		if err != nil {
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
			r.observe(readings)
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

// Latest returns the most recent reading of each GPU in Indexes (nil before the
// first sample). It is safe to call while Run runs; the readings are shared and
// must not be modified.
func (r *Recorder) Latest() []Reading {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.latest)
}

// Open starts a window: it collects the readings taken from now until Close.
// Windows may overlap; Open is safe to call while Run runs.
func (r *Recorder) Open() *Window {
	w := &Window{r: r, opened: r.clock(), gpus: map[int]*gpuAcc{}}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.windows == nil {
		r.windows = make(map[*Window]struct{})
	}
	r.windows[w] = struct{}{}
	return w
}

func (r *Recorder) clock() time.Time {
	if r.now != nil {
		return r.now()
	}
	return time.Now()
}

// selected reports whether windows and Latest keep GPU index i.
func (r *Recorder) selected(i int) bool {
	return r.Indexes == nil || slices.Contains(r.Indexes, i)
}

// observe hands one successful sampling round to the open windows.
func (r *Recorder) observe(readings []Reading) {
	sel := make([]Reading, 0, len(readings))
	for _, rd := range readings {
		if r.selected(rd.Index) {
			sel = append(sel, rd)
		}
	}
	tick := time.Time{}
	for _, rd := range sel {
		if rd.At.After(tick) {
			tick = rd.At
		}
	}
	if tick.IsZero() {
		tick = r.clock()
	}
	procs := make([]*float64, len(sel))
	for i, rd := range sel {
		procs[i] = r.serverMem(rd)
	}

	r.mu.Lock()
	defer r.mu.Unlock()
	r.latest = sel
	for w := range r.windows {
		w.add(tick, sel, procs)
	}
}

// fail tells the open windows that a sampling round failed.
func (r *Recorder) fail(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for w := range r.windows {
		w.errs++
		w.lastErr = err.Error()
	}
}

// serverMem is the memory the server's processes hold in one reading, nil when
// none of them is listed.
func (r *Recorder) serverMem(rd Reading) *float64 {
	if len(r.PIDs) == 0 || rd.ProcessMemMB == nil {
		return nil
	}
	var sum float64
	found := false
	for pid, mb := range rd.ProcessMemMB {
		if r.owns(pid) {
			sum += mb
			found = true
		}
	}
	if !found {
		return nil
	}
	return &sum
}

// owns reports whether pid is one of PIDs or descends from one. Answers are
// cached: a process's parentage does not change while it holds GPU memory.
func (r *Recorder) owns(pid int) bool {
	if ok, seen := r.owned[pid]; seen {
		return ok
	}
	if r.owned == nil {
		r.owned = make(map[int]bool)
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
	r.owned[pid] = ok
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

// Window collects the readings between Open and Close.
type Window struct {
	r      *Recorder
	opened time.Time

	// Guarded by r.mu.
	closed  bool
	result  schema.GPUStats
	gpus    map[int]*gpuAcc
	order   []*gpuAcc // by index
	ticks   int
	errs    int
	lastErr string
	vram    series // sum over GPUs per round
	proc    series // server processes' memory, summed over GPUs per round
}

// gpuAcc accumulates one GPU's readings in a window.
type gpuAcc struct {
	index    int
	uuid     string
	n        int
	mem      series
	temp     series
	power    series
	util     series
	memUtil  series
	sm       series
	energy   series
	proc     series
	throttle map[string]bool
}

// Close ends the window and summarises it (see the package doc for how). Calling
// it again returns the same figures. It is safe to call while Run runs.
func (w *Window) Close() schema.GPUStats {
	r := w.r
	end := r.clock()
	r.mu.Lock()
	defer r.mu.Unlock()
	if w.closed {
		return cloneStats(w.result)
	}
	w.closed = true
	delete(r.windows, w)
	w.result = w.summarise(end, r.names, r.uuids)
	return cloneStats(w.result)
}

// add takes one sampling round (already filtered to the window's GPUs).
func (w *Window) add(tick time.Time, readings []Reading, procs []*float64) {
	if len(readings) == 0 {
		return
	}
	w.ticks++
	var procSum float64
	procSeen := false
	for i, rd := range readings {
		g := w.gpus[rd.Index]
		if g == nil {
			g = &gpuAcc{index: rd.Index, throttle: map[string]bool{}}
			w.gpus[rd.Index] = g
			at, _ := slices.BinarySearchFunc(w.order, rd.Index, func(a *gpuAcc, i int) int { return a.index - i })
			w.order = slices.Insert(w.order, at, g)
		}
		if g.uuid == "" {
			g.uuid = rd.UUID
		}
		at := rd.At
		if at.IsZero() {
			at = tick
		}
		g.n++
		g.mem.addp(at, rd.MemUsedMB)
		g.temp.addp(at, rd.TempC)
		g.power.addp(at, rd.PowerW)
		g.util.addp(at, rd.UtilPct)
		g.memUtil.addp(at, rd.MemUtilPct)
		g.sm.addp(at, rd.SMClockMHz)
		g.energy.addp(at, rd.EnergyMJ)
		g.proc.addp(at, procs[i])
		for _, t := range rd.ThrottleReasons {
			g.throttle[t] = true
		}
		if procs[i] != nil {
			procSum += *procs[i]
			procSeen = true
		}
	}
	var vram float64
	vramSeen := false
	for _, g := range w.order {
		if g.mem.n > 0 { // a GPU missing the field this round keeps its last value
			vram += g.mem.last
			vramSeen = true
		}
	}
	if vramSeen {
		w.vram.add(tick, vram)
	}
	if procSeen {
		w.proc.add(tick, procSum)
	}
}

func (w *Window) summarise(end time.Time, names, uuids map[int]string) schema.GPUStats {
	st := schema.GPUStats{
		Samples:      w.ticks,
		WindowS:      max(end.Sub(w.opened).Seconds(), 0),
		SampleErrors: w.errs,
	}
	switch {
	case w.errs > 0:
		st.Error = fmt.Sprintf("%d of %d sampling rounds failed, last: %s", w.errs, w.errs+w.ticks, w.lastErr)
	case w.ticks == 0 && w.r.Indexes != nil:
		st.Error = fmt.Sprintf("no reading of GPUs %v in the window", w.r.Indexes)
	case w.ticks == 0:
		st.Error = "no GPU reading in the window"
	}
	st.PeakVRAMUsedMB = w.vram.peakp()
	st.AvgVRAMUsedMB = w.vram.avg(end)
	st.ProcessVRAMMB = w.proc.peakp()

	var temps, powers, utils, peakTemps, peakPowers, peakUtils, energies []float64
	throttle := map[string]bool{}
	for _, g := range w.order {
		gw := schema.GPUWindow{
			Index:          g.index,
			UUID:           g.uuid,
			Name:           names[g.index],
			Samples:        g.n,
			PeakVRAMUsedMB: g.mem.peakp(),
			AvgVRAMUsedMB:  g.mem.avg(end),
			PeakTempC:      g.temp.peakp(),
			AvgTempC:       g.temp.avg(end),
			PeakPowerW:     g.power.peakp(),
			AvgPowerW:      g.power.avg(end),
			AvgUtilPct:     g.util.avg(end),
			PeakUtilPct:    g.util.peakp(),
			AvgMemUtilPct:  g.memUtil.avg(end),
			AvgSMClockMHz:  g.sm.avg(end),
			EnergyJ:        g.energyJ(end),
			ProcessVRAMMB:  g.proc.peakp(),
		}
		if gw.UUID == "" {
			gw.UUID = uuids[g.index]
		}
		gw.ThrottleReasons = sortedKeys(g.throttle)
		for t := range g.throttle {
			throttle[t] = true
		}
		collect(&temps, gw.AvgTempC)
		collect(&powers, gw.AvgPowerW)
		collect(&utils, gw.AvgUtilPct)
		collect(&peakTemps, gw.PeakTempC)
		collect(&peakPowers, gw.PeakPowerW)
		collect(&peakUtils, gw.PeakUtilPct)
		collect(&energies, gw.EnergyJ)
		st.PerGPU = append(st.PerGPU, gw)
	}
	st.PeakTempC = maxOf(peakTemps)
	st.AvgTempC = meanOf(temps)
	st.PeakPowerW = maxOf(peakPowers)
	st.AvgPowerW = meanOf(powers)
	st.PeakUtilPct = maxOf(peakUtils)
	st.AvgUtilPct = meanOf(utils)
	st.EnergyJ = sumOf(energies)
	st.ThrottleReasons = sortedKeys(throttle)
	roundStats(&st)
	return st
}

// roundStats rounds the figures of a summary to two decimals (window_s to
// milliseconds): finer digits are noise in a record.
func roundStats(st *schema.GPUStats) {
	for _, p := range []*float64{st.PeakVRAMUsedMB, st.AvgVRAMUsedMB, st.PeakTempC, st.AvgTempC, st.PeakPowerW,
		st.AvgPowerW, st.AvgUtilPct, st.PeakUtilPct, st.EnergyJ, st.ProcessVRAMMB} {
		round2(p)
	}
	st.WindowS = math.Round(st.WindowS*1000) / 1000
	for i := range st.PerGPU {
		g := &st.PerGPU[i]
		for _, p := range []*float64{g.PeakVRAMUsedMB, g.AvgVRAMUsedMB, g.PeakTempC, g.AvgTempC, g.PeakPowerW,
			g.AvgPowerW, g.AvgUtilPct, g.PeakUtilPct, g.AvgMemUtilPct, g.AvgSMClockMHz, g.EnergyJ, g.ProcessVRAMMB} {
			round2(p)
		}
	}
}

func round2(p *float64) {
	if p != nil {
		*p = math.Round(*p*100) / 100
	}
}

// energyJ is the card's energy over the window: from its energy counter when it
// has two readings of it that go forward, else power integrated over time.
func (g *gpuAcc) energyJ(end time.Time) *float64 {
	if g.energy.n >= 2 && g.energy.last >= g.energy.first {
		j := (g.energy.last - g.energy.first) / 1000
		return &j
	}
	if g.power.n == 0 {
		return nil
	}
	integral, span := g.power.upTo(end)
	if span <= 0 {
		return nil
	}
	return &integral
}

// series accumulates one figure of one GPU (or of a sum over GPUs) over a window:
// peak, and the step-wise time integral (each value holds until the next).
type series struct {
	n        int
	first    float64
	last     float64
	peak     float64
	lastAt   time.Time
	integral float64 // ∫ value dt between the first and the last reading
	span     float64 // seconds between the first and the last reading
	sum      float64 // plain sum, for a window whose readings share one instant
}

func (s *series) add(at time.Time, v float64) {
	if s.n == 0 {
		s.first, s.peak = v, v
	} else {
		if dt := at.Sub(s.lastAt).Seconds(); dt > 0 {
			s.integral += s.last * dt
			s.span += dt
		}
		s.peak = max(s.peak, v)
	}
	s.last, s.lastAt = v, at
	s.sum += v
	s.n++
}

// addp adds a reported value; nil (not reported) and NaN are skipped.
func (s *series) addp(at time.Time, v *float64) {
	if v != nil && !math.IsNaN(*v) && !math.IsInf(*v, 0) {
		s.add(at, *v)
	}
}

// upTo returns the integral and its span with the last value held until end.
func (s *series) upTo(end time.Time) (integral, span float64) {
	integral, span = s.integral, s.span
	if dt := end.Sub(s.lastAt).Seconds(); dt > 0 {
		integral += s.last * dt
		span += dt
	}
	return integral, span
}

func (s *series) peakp() *float64 {
	if s.n == 0 {
		return nil
	}
	v := s.peak
	return &v
}

// avg is the time-weighted average up to end; when the readings cover no time
// at all it is their plain mean.
func (s *series) avg(end time.Time) *float64 {
	if s.n == 0 {
		return nil
	}
	integral, span := s.upTo(end)
	v := s.sum / float64(s.n)
	if span > 0 {
		v = integral / span
	}
	return &v
}

func collect(dst *[]float64, v *float64) {
	if v != nil {
		*dst = append(*dst, *v)
	}
}

func maxOf(vs []float64) *float64 {
	if len(vs) == 0 {
		return nil
	}
	v := slices.Max(vs)
	return &v
}

func sumOf(vs []float64) *float64 {
	if len(vs) == 0 {
		return nil
	}
	var s float64
	for _, v := range vs {
		s += v
	}
	return &s
}

func meanOf(vs []float64) *float64 {
	s := sumOf(vs)
	if s == nil {
		return nil
	}
	v := *s / float64(len(vs))
	return &v
}

// cloneStats copies the slices of a result so that callers cannot alter the
// window's cached copy.
func cloneStats(st schema.GPUStats) schema.GPUStats {
	st.ThrottleReasons = slices.Clone(st.ThrottleReasons)
	if st.PerGPU != nil {
		per := make([]schema.GPUWindow, len(st.PerGPU))
		for i, g := range st.PerGPU {
			g.ThrottleReasons = slices.Clone(g.ThrottleReasons)
			per[i] = g
		}
		st.PerGPU = per
	}
	return st
}
