package gpu

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/typhonbench/typhon/schema"
)

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
	partial int
	lastErr string
	vram    series // sum over GPUs per round
	proc    series // server processes' memory, summed over GPUs per round
	sel     selection
	listed  bool // some GPU listed its processes
	left    leftOut
	// procUnknown: a server process was listed without a memory figure.
	procUnknown bool
	stoppedAt   time.Time // when Recorder.Run ended, if before Close
	idle        bool      // Run had ended when the window opened
}

// gpuAcc accumulates one GPU's readings in a window.
type gpuAcc struct {
	index    int
	uuid     string
	n        int       // readings inside the window
	lastAt   time.Time // the latest reading inside the window
	seeded   bool
	goneAt   time.Time // when the GPU stopped answering; zero while it answers
	lostAt   time.Time // when it first stopped answering (it may have come back)
	mem      series
	temp     series
	power    series
	instant  series // instantaneous power, for the peak
	util     series
	memUtil  series
	sm       series
	energy   counter
	proc     series
	throttle throttle
}

// Open starts a window: it collects the readings taken from now until Close.
// Each GPU's figures start from its latest reading, held from the opening
// instant until the window's first reading of that GPU. Windows may overlap;
// Open is safe to call while Run runs.
func (r *Recorder) Open() *Window {
	w := &Window{r: r, opened: r.clock(), gpus: map[int]*gpuAcc{}}
	r.mu.Lock()
	defer r.mu.Unlock()
	w.idle = r.stale
	if r.windows == nil {
		r.windows = make(map[*Window]struct{})
	}
	r.windows[w] = struct{}{}
	w.sel = r.sel
	for i, rd := range r.latest {
		if !w.idle {
			w.seed(rd, r.latestProc[i])
		}
	}
	w.seedVRAM()
	return w
}

// acc returns the accumulator of GPU index, made on first use.
func (w *Window) acc(index int) *gpuAcc {
	g := w.gpus[index]
	if g == nil {
		g = &gpuAcc{index: index}
		w.gpus[index] = g
		at, _ := slices.BinarySearchFunc(w.order, index, func(a *gpuAcc, i int) int { return a.index - i })
		w.order = slices.Insert(w.order, at, g)
	}
	return g
}

// seed starts a GPU's figures at the opening instant from a reading taken
// before it; a later pre-window reading replaces the seed.
func (w *Window) seed(rd Reading, proc *float64) {
	if old := w.gpus[rd.Index]; old != nil && old.n > 0 {
		return
	}
	g := w.acc(rd.Index)
	*g = gpuAcc{index: rd.Index, seeded: true}
	g.take(w.opened, rd, proc)
	g.energy.setPre(rd.At, rd.EnergyMJ)
}

// seedVRAM starts the window's VRAM sum from the seeded GPUs.
func (w *Window) seedVRAM() {
	w.vram, w.proc = series{}, series{}
	var vram, proc float64
	vramSeen, procSeen := false, false
	for _, g := range w.order {
		if g.mem.n > 0 {
			vram += g.mem.last
			vramSeen = true
		}
		if g.proc.n > 0 {
			proc += g.proc.last
			procSeen = true
		}
	}
	if vramSeen {
		w.vram.add(w.opened, vram)
	}
	if procSeen {
		w.proc.add(w.opened, proc)
	}
}

// take adds every figure of a reading at instant at.
func (g *gpuAcc) take(at time.Time, rd Reading, proc *float64) {
	if g.uuid == "" {
		g.uuid = rd.UUID
	}
	g.mem.addp(at, rd.MemUsedMB)
	g.temp.addp(at, rd.TempC)
	g.power.addp(at, rd.PowerW)
	g.instant.addp(at, rd.PowerInstantW)
	g.util.addp(at, rd.UtilPct)
	g.memUtil.addp(at, rd.MemUtilPct)
	g.sm.addp(at, rd.SMClockMHz)
	g.proc.addp(at, proc)
	g.throttle.set(at, rd.ThrottleReasons)
}

// lose ends a GPU's figures at at: it gave no reading in a round.
func (g *gpuAcc) lose(at time.Time) {
	for _, s := range []*series{&g.mem, &g.temp, &g.power, &g.instant, &g.util, &g.memUtil, &g.sm, &g.proc} {
		s.stop(at)
	}
	g.throttle.stop(at)
	g.goneAt = at
	if g.lostAt.IsZero() {
		g.lostAt = at
	}
}

// add takes one sampling round (already filtered to the recorder's selection);
// roundErr is a failure of part of the round.
func (w *Window) add(tick time.Time, readings []Reading, procs []*float64, sel selection, roundErr error) {
	if !sel.same(w.sel) {
		w.narrow(sel)
	}
	w.sel = sel
	if len(readings) == 0 {
		if lost := w.loseAll(tick); len(lost) > 0 || roundErr != nil {
			w.errs++
			w.lastErr = fmt.Sprintf("no reading of GPU %v", lost)
			if roundErr != nil {
				w.lastErr = roundErr.Error()
			}
		}
		return
	}
	seen := make(map[int]bool, len(readings))
	inside, procSeen := false, false
	var procSum float64
	for i, rd := range readings {
		seen[rd.Index] = true
		if rd.ProcessMemMB != nil {
			w.listed = true
		}
		if rd.At.IsZero() {
			rd.At = tick
		}
		if rd.At.Before(w.opened) {
			w.seed(rd, procs[i])
			continue
		}
		g := w.acc(rd.Index)
		if g.n > 0 && !rd.At.After(g.lastAt) {
			w.left.add(fmt.Sprintf("GPU %d reading stamped %s, not after its previous one at %s (the clock went backwards)",
				rd.Index, rd.At.Format(time.RFC3339Nano), g.lastAt.Format(time.RFC3339Nano)))
			continue
		}
		if g.n == 0 && g.seeded && rd.At.Equal(w.opened) {
			pre := g.energy.pre // a reading at the opening instant replaces the seed
			*g = gpuAcc{index: rd.Index, energy: counter{pre: pre}}
		}
		g.n++
		g.lastAt, g.goneAt = rd.At, time.Time{}
		g.take(rd.At, rd, procs[i])
		if why := g.energy.add(rd.At, rd.EnergyMJ); why != "" {
			w.left.add(fmt.Sprintf("GPU %d %s; its energy comes from the power readings", rd.Index, why))
		}
		inside = true
		if procs[i] != nil {
			procSum += *procs[i]
			procSeen = true
		}
	}
	if !inside {
		if w.ticks == 0 {
			w.seedVRAM()
		}
		return
	}
	w.ticks++
	missing := w.loseMissing(tick, seen)
	switch {
	case roundErr != nil:
		w.partial++
		w.lastErr = roundErr.Error()
	case len(missing) > 0:
		w.partial++
		w.lastErr = fmt.Sprintf("no reading of GPU %v in a round", missing)
	}
	w.addVRAM(tick)
	if procSeen {
		w.proc.add(tick, procSum)
	}
}

// narrow keeps only the GPUs of a new selection; when it drops some, the sums
// over GPUs start again (from the opening instant when no round has come yet,
// else from this round).
func (w *Window) narrow(sel selection) {
	if sel.indexes == nil {
		return
	}
	dropped := false
	w.order = slices.DeleteFunc(w.order, func(g *gpuAcc) bool {
		if !sel.indexes[g.index] {
			delete(w.gpus, g.index)
			dropped = true
		}
		return !sel.indexes[g.index]
	})
	switch {
	case !dropped:
	case w.ticks == 0:
		w.seedVRAM()
	default:
		w.vram, w.proc = series{}, series{}
	}
}

// loseAll stops every GPU of the window at tick (a round with no reading),
// and the sums over GPUs with them.
func (w *Window) loseAll(tick time.Time) []int {
	lost := w.loseMissing(tick, nil)
	if len(lost) > 0 {
		w.vram.stop(tick)
		w.proc.stop(tick)
	}
	return lost
}

// loseMissing stops the GPUs that answered before but not in this round, and
// returns every GPU of the window missing from it (also those already gone).
func (w *Window) loseMissing(tick time.Time, seen map[int]bool) []int {
	var missing []int
	for _, g := range w.order {
		if seen[g.index] || (g.n == 0 && !g.seeded) {
			continue
		}
		if g.goneAt.IsZero() {
			g.lose(tick)
		}
		missing = append(missing, g.index)
	}
	return missing
}

// addVRAM adds the round's VRAM sum over the GPUs that still answer (a GPU
// missing the field in a round keeps its last value).
func (w *Window) addVRAM(tick time.Time) {
	var vram float64
	seen := false
	for _, g := range w.order {
		if g.goneAt.IsZero() && g.mem.n > 0 {
			vram += g.mem.last
			seen = true
		}
	}
	if seen {
		w.vram.add(tick, vram)
	}
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

func (w *Window) summarise(end time.Time, names, uuids map[int]string) schema.GPUStats {
	st := schema.GPUStats{
		Samples:          w.ticks,
		WindowS:          max(end.Sub(w.opened).Seconds(), 0),
		SampleErrors:     w.errs,
		PartialErrors:    w.partial,
		GPUSelection:     w.sel.scope,
		GPUSelectionNote: w.sel.note,
	}
	st.PeakVRAMUsedMB = w.vram.peakp()
	st.AvgVRAMUsedMB = w.vram.avg(end)
	st.ProcessVRAMMB = w.proc.peakp()
	if st.ProcessVRAMMB == nil && len(w.order) > 0 && len(w.r.PIDs) > 0 {
		st.ProcessVRAMNote = w.r.processNote(w.listed, w.procUnknown)
	}
	var temps, powers, utils, peakTemps, peakPowers, peakUtils, energies []float64
	for _, g := range w.order {
		var note string
		gw := g.summary(w.opened, end, &note)
		if note != "" {
			w.left.add(note)
		}
		gw.Name = names[g.index]
		if gw.UUID == "" {
			gw.UUID = uuids[g.index]
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
	st.ThrottleReasons, st.ThrottleShare = mergeThrottle(st.PerGPU)
	st.Error = w.errorText() // after the GPUs' summaries, which may leave a figure out
	roundStats(&st)
	return st
}

// errorText says why a window's figures are missing or partial.
func (w *Window) errorText() string {
	text := w.failureText()
	if !w.stoppedAt.IsZero() {
		stop := fmt.Sprintf("sampling stopped %.3f s into the window, before it closed", w.stoppedAt.Sub(w.opened).Seconds())
		text = strings.TrimPrefix(text+"; "+stop, "; ")
	}
	if left := w.left.text(); left != "" {
		if text != "" {
			return text + "; " + left
		}
		return left
	}
	return text
}

// failureText says which sampling rounds failed or were partial.
func (w *Window) failureText() string {
	total := w.errs + w.ticks
	switch {
	case w.errs > 0 && w.partial > 0:
		return fmt.Sprintf("%d of %d sampling rounds failed and %d were partial, last: %s", w.errs, total, w.partial, w.lastErr)
	case w.errs > 0:
		return fmt.Sprintf("%d of %d sampling rounds failed, last: %s", w.errs, total, w.lastErr)
	case w.partial > 0:
		return fmt.Sprintf("%d of %d sampling rounds were partial, last: %s", w.partial, total, w.lastErr)
	case len(w.order) > 0:
		return w.absentText()
	case w.sel.indexes != nil:
		return fmt.Sprintf("no reading of GPUs %v in the window", w.sel.list())
	case w.idle:
		return "no GPU reading in the window: the recorder had stopped sampling when it opened"
	}
	return "no GPU reading in the window"
}

// absentText names the selected GPUs that gave no reading in the window
// while others did (a GPU named by the caller that does not exist).
func (w *Window) absentText() string {
	var absent []int
	for _, i := range w.sel.list() {
		if w.gpus[i] == nil {
			absent = append(absent, i)
		}
	}
	if len(absent) == 0 {
		return ""
	}
	return fmt.Sprintf("no reading of GPU %v in the window; the figures leave it out", absent)
}

// summary is one GPU's figures over the window from open to end (or to when
// the GPU was lost).
func (g *gpuAcc) summary(open, end time.Time, note *string) schema.GPUWindow {
	last := end
	gw := schema.GPUWindow{Index: g.index, UUID: g.uuid, Samples: g.n}
	if !g.goneAt.IsZero() {
		last = g.goneAt
	}
	if !g.lostAt.IsZero() {
		gw.LostAtS = ptr(g.lostAt.Sub(open).Seconds())
	}
	gw.PeakVRAMUsedMB, gw.AvgVRAMUsedMB = g.mem.peakp(), g.mem.avg(last)
	gw.PeakTempC, gw.AvgTempC = g.temp.peakp(), g.temp.avg(last)
	gw.PeakPowerW, gw.AvgPowerW = g.power.peakp(), g.power.avg(last)
	if g.instant.n > 0 {
		gw.PeakPowerW = g.instant.peakp()
	}
	gw.AvgUtilPct, gw.PeakUtilPct = g.util.avg(last), g.util.peakp()
	gw.AvgMemUtilPct, gw.AvgSMClockMHz = g.memUtil.avg(last), g.sm.avg(last)
	gw.ProcessVRAMMB = g.proc.peakp()
	j, ok := g.energy.joules(open, last)
	if still := g.energy.still(); ok && still >= stillLimit && deref0(gw.AvgPowerW) > 0 {
		ok = false
		*note = fmt.Sprintf("GPU %d energy counter did not move in %.1f s while power read %.0f W; its energy comes from the power readings",
			g.index, still, *gw.AvgPowerW)
	}
	if ok {
		gw.EnergyJ = &j
		if s := last.Sub(open).Seconds(); s > 0 {
			gw.AvgPowerW = ptr(j / s)
		}
	} else if g.power.n > 0 {
		integral, span := g.power.upTo(last)
		if lead := g.power.firstAt.Sub(open).Seconds(); lead > 0 {
			// No reading before the window to start from: the first value
			// holds back to the opening instant.
			integral += g.power.first * lead
			span += lead
		}
		if span > 0 {
			gw.EnergyJ = &integral
		}
	}
	g.throttle.until(last)
	if s := end.Sub(open).Seconds(); len(g.throttle.held) > 0 {
		gw.ThrottleReasons = slices.Sorted(maps.Keys(g.throttle.held))
		if s > 0 {
			gw.ThrottleShare = make(map[string]float64, len(g.throttle.held))
			for k, v := range g.throttle.held {
				gw.ThrottleShare[k] = math.Min(v/s, 1)
			}
		}
	}
	return gw
}

// mergeThrottle is the union of the GPUs' reasons and, per reason, the largest
// share of any GPU.
func mergeThrottle(per []schema.GPUWindow) ([]string, map[string]float64) {
	reasons := map[string]bool{}
	var share map[string]float64
	for _, g := range per {
		for _, r := range g.ThrottleReasons {
			reasons[r] = true
		}
		for k, v := range g.ThrottleShare {
			if share == nil {
				share = map[string]float64{}
			}
			share[k] = max(share[k], v)
		}
	}
	return sortedKeys(reasons), share
}

// cloneStats copies the slices and maps of a result so that callers cannot
// alter the window's cached copy.
func cloneStats(st schema.GPUStats) schema.GPUStats {
	st.ThrottleReasons = slices.Clone(st.ThrottleReasons)
	st.ThrottleShare = maps.Clone(st.ThrottleShare)
	if st.PerGPU != nil {
		per := make([]schema.GPUWindow, len(st.PerGPU))
		for i, g := range st.PerGPU {
			g.ThrottleReasons = slices.Clone(g.ThrottleReasons)
			g.ThrottleShare = maps.Clone(g.ThrottleShare)
			per[i] = g
		}
		st.PerGPU = per
	}
	return st
}

// list is the selection's GPUs in order.
func (s selection) list() []int {
	return slices.Sorted(maps.Keys(s.indexes))
}

// same reports whether two selections keep the same GPUs.
func (s selection) same(o selection) bool {
	return maps.Equal(s.indexes, o.indexes) && (s.indexes == nil) == (o.indexes == nil)
}
