package gpu

import (
	"fmt"
	"math"
	"slices"
	"strings"
)

// Bounds of a physical reading. A value outside them (a driver glitch, a
// counter read as garbage, a wrongly scaled field) is left out of the
// windows, and the windows say so, rather than kept as a wrong figure.
const (
	// MaxPlausiblePowerW is the most one device is taken to draw: today's
	// largest accelerators draw about 1-2 kW.
	MaxPlausiblePowerW = 10_000
	maxPlausibleTempC  = 200
	minPlausibleTempC  = -60
	maxPlausibleMHz    = 20_000
	// memSlack allows rounding between the total NVML gives at start and the
	// used figure of a reading.
	memSlack = 1.01
)

// sanitize returns rd without the values no device can report, and what was
// left out. totalMB is the device's memory (0 when unknown). The reading's
// maps are copied before they are changed.
func sanitize(rd Reading, totalMB float64) (Reading, []string) {
	var bad []string
	check := func(name, unit string, p **float64, lo, hi float64) {
		if *p == nil {
			return
		}
		v := **p
		if math.IsNaN(v) || math.IsInf(v, 0) || v < lo || v > hi {
			bad = append(bad, fmt.Sprintf("implausible GPU %d %s %g %s", rd.Index, name, v, unit))
			*p = nil
		}
	}
	memMax := math.Inf(1)
	if totalMB > 0 {
		memMax = totalMB * memSlack
	}
	check("memory", "MB", &rd.MemUsedMB, 0, memMax)
	check("temperature", "C", &rd.TempC, minPlausibleTempC, maxPlausibleTempC)
	check("power", "W", &rd.PowerW, 0, MaxPlausiblePowerW)
	check("instant power", "W", &rd.PowerInstantW, 0, MaxPlausiblePowerW)
	check("utilization", "%", &rd.UtilPct, 0, 100)
	check("memory utilization", "%", &rd.MemUtilPct, 0, 100)
	check("SM clock", "MHz", &rd.SMClockMHz, 0, maxPlausibleMHz)
	check("energy counter", "mJ", &rd.EnergyMJ, 0, math.MaxFloat64)
	copied := false
	for pid, mb := range rd.ProcessMemMB {
		if mb < 0 || mb > memMax { // NaN: listed without a figure, kept
			if !copied {
				rd.ProcessMemMB = cloneProcs(rd.ProcessMemMB)
				copied = true
			}
			delete(rd.ProcessMemMB, pid)
			bad = append(bad, fmt.Sprintf("implausible GPU %d memory of process %d %g MB", rd.Index, pid, mb))
		}
	}
	return rd, bad
}

func cloneProcs(m map[int]float64) map[int]float64 {
	out := make(map[int]float64, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// leftOut is what a window left out of its figures: implausible values,
// readings stamped before an earlier one, an energy counter not used. It keeps
// the first few distinct reasons (bounded memory over a long window).
type leftOut struct {
	n    int
	seen []string
}

const maxLeftOutReasons = 8

func (l *leftOut) add(what ...string) {
	for _, s := range what {
		l.n++
		if len(l.seen) < maxLeftOutReasons && !slices.Contains(l.seen, s) {
			l.seen = append(l.seen, s)
		}
	}
}

// text says what was left out, "" when nothing was.
func (l *leftOut) text() string {
	if l.n == 0 {
		return ""
	}
	more := ""
	if l.n > len(l.seen) {
		more = "; ..."
	}
	return fmt.Sprintf("%d figures left out: %s%s", l.n, strings.Join(l.seen, "; "), more)
}
