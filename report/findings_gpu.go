package report

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/typhonbench/typhon/schema"
)

// vramFindings: peak VRAM per GPU against the card's memory.
func vramFindings(r *schema.Result) []Finding {
	totals := map[int]schema.GPUInfo{}
	if r.ProfileSnapshot != nil {
		for _, g := range r.ProfileSnapshot.GPUs {
			totals[g.Index] = g
		}
	}
	type peak struct {
		mb   float64
		test string
	}
	peaks := map[int]peak{}
	var aggregate peak
	for _, b := range r.Benchmarks {
		for _, w := range b.GPUStats.PerGPU {
			if w.PeakVRAMUsedMB != nil && *w.PeakVRAMUsedMB > peaks[w.Index].mb {
				peaks[w.Index] = peak{*w.PeakVRAMUsedMB, b.TestID}
			}
		}
		if v := b.GPUStats.PeakVRAMUsedMB; v != nil && *v > aggregate.mb {
			aggregate = peak{*v, b.TestID}
		}
	}
	if len(peaks) == 0 && aggregate.mb > 0 && len(totals) == 1 {
		for idx := range totals {
			peaks[idx] = aggregate
		}
	}
	idxs := make([]int, 0, len(peaks))
	for i := range peaks {
		idxs = append(idxs, i)
	}
	sort.Ints(idxs)
	var out []Finding
	for _, i := range idxs {
		pk := peaks[i]
		g, ok := totals[i]
		if !ok || g.MemoryTotalMB <= 0 {
			out = append(out, finding(RuleVRAMHeadroom, SeverityInfo, "VRAM", pk.mb, "MiB", pk.test,
				"peak %s MiB on GPU %d in `%s` (total memory unknown).", commas(pk.mb), i, code(pk.test)))
			continue
		}
		free := g.MemoryTotalMB - pk.mb
		s := fmt.Sprintf("peak %s MiB of %s MiB on GPU %d (%s) in `%s`: %s MiB (%.1f%%) free at the peak",
			commas(pk.mb), commas(g.MemoryTotalMB), i, g.Name, code(pk.test), commas(free), fig(100*free/g.MemoryTotalMB))
		sev := SeverityInfo
		if free/g.MemoryTotalMB < VRAMTightShare {
			s += ", close to the limit"
			sev = SeverityWarning
		}
		out = append(out, finding(RuleVRAMHeadroom, sev, "VRAM headroom", 100*free/g.MemoryTotalMB, "%", pk.test, "%s.", s))
	}
	return out
}

// thermalFindings: peak temperature and power, and the throttle reasons per test.
func thermalFindings(r *schema.Result) []Finding {
	var tempMax, powerMax float64
	var tempTest, powerTest string
	type reason struct {
		name  string
		tests []string
	}
	var reasons []reason
	for _, b := range r.Benchmarks {
		g := b.GPUStats
		if g.PeakTempC != nil && *g.PeakTempC > tempMax {
			tempMax, tempTest = *g.PeakTempC, b.TestID
		}
		if g.PeakPowerW != nil && *g.PeakPowerW > powerMax {
			powerMax, powerTest = *g.PeakPowerW, b.TestID
		}
		for _, tr := range g.ThrottleReasons {
			i := slices.IndexFunc(reasons, func(x reason) bool { return x.name == tr })
			if i < 0 {
				reasons = append(reasons, reason{name: tr})
				i = len(reasons) - 1
			}
			if !slices.Contains(reasons[i].tests, b.TestID) {
				reasons[i].tests = append(reasons[i].tests, b.TestID)
			}
		}
	}
	if tempMax <= 0 && powerMax <= 0 && len(reasons) == 0 {
		return nil
	}
	var parts []string
	if tempMax > 0 {
		parts = append(parts, fmt.Sprintf("peak %.0f °C in `%s`", fig(tempMax), code(tempTest)))
	}
	if powerMax > 0 {
		s := fmt.Sprintf("peak power %.0f W in `%s`", fig(powerMax), code(powerTest))
		if lim := powerLimit(r); lim > 0 {
			s += fmt.Sprintf(" (limit %.0f W)", fig(lim))
		}
		parts = append(parts, s)
	}
	if len(reasons) == 0 {
		parts = append(parts, "no throttling reported by the GPU")
	} else {
		var rs []string
		for _, x := range reasons {
			ts := make([]string, len(x.tests))
			for i, t := range x.tests {
				ts[i] = "`" + code(t) + "`"
			}
			rs = append(rs, fmt.Sprintf("%s (%s)", x.name, strings.Join(ts, ", ")))
		}
		parts = append(parts, "the GPU reported throttling: "+strings.Join(rs, ", "))
	}
	return []Finding{finding(RuleThermal, SeverityInfo, "Thermal", tempMax, "°C", tempTest, "%s.", strings.Join(parts, "; "))}
}

func powerLimit(r *schema.Result) float64 {
	if r.ProfileSnapshot == nil || len(r.ProfileSnapshot.GPUs) != 1 {
		return 0
	}
	return r.ProfileSnapshot.GPUs[0].PowerLimitW
}

// stressFindings: the drift of every test with a time series and, when the GPU
// throttled in it and speed fell, the throttling.
func stressFindings(r *schema.Result) []Finding {
	var out []Finding
	for i := range r.Benchmarks {
		b := &r.Benchmarks[i]
		f, change, ok := driftFinding(b)
		if !ok {
			continue
		}
		out = append(out, f)
		if reasons := b.GPUStats.ThrottleReasons; len(reasons) > 0 && change < -100*DriftShare/2 {
			out = append(out, finding(RuleThrottled, SeverityWarning, "GPU throttled", change, "%", b.TestID,
				"the GPU throttled (%s) during `%s` and decode speed fell %s from the first quarter to the last.",
				strings.Join(reasons, ", "), code(b.TestID), pct(100+change, 100)))
		}
	}
	return out
}

// driftFinding compares the first and last quarter of a test's series; change
// is the relative change of decode speed in percent.
func driftFinding(b *schema.Benchmark) (f Finding, change float64, ok bool) {
	s := b.Series
	if len(s) < 4 {
		return Finding{}, 0, false
	}
	q := max(len(s)/4, 1)
	first, last := s[:q], s[len(s)-q:]
	mean := func(pts []schema.SeriesPoint, f func(schema.SeriesPoint) *float64) (float64, bool) {
		var sum float64
		for _, p := range pts {
			v := f(p)
			if v == nil {
				return 0, false
			}
			sum += *v
		}
		return sum / float64(len(pts)), true
	}
	tps := func(p schema.SeriesPoint) *float64 { return &p.TPS }
	a, _ := mean(first, tps)
	z, _ := mean(last, tps)
	if a <= 0 {
		return Finding{}, 0, false
	}
	out := fmt.Sprintf("decode speed %.1f tok/s in the first quarter of the test, %.1f tok/s in the last (%s)", fig(a), fig(z), pct(z, a))
	if a, ok := mean(first, func(p schema.SeriesPoint) *float64 { return p.SMClockMHz }); ok {
		if z, ok := mean(last, func(p schema.SeriesPoint) *float64 { return p.SMClockMHz }); ok {
			out += fmt.Sprintf("; SM clock %.0f → %.0f MHz", fig(a), fig(z))
		}
	}
	if a, ok := mean(first, func(p schema.SeriesPoint) *float64 { return p.TempC }); ok {
		if z, ok := mean(last, func(p schema.SeriesPoint) *float64 { return p.TempC }); ok {
			out += fmt.Sprintf("; temperature %.0f → %.0f °C", fig(a), fig(z))
		}
	}
	change = 100 * (z - a) / a
	sev := SeverityInfo
	if z < (1-DriftShare)*a {
		sev = SeverityWarning
	}
	return finding(RuleDrift, sev, "Drift in `"+code(b.TestID)+"`", change, "%", b.TestID, "%s.", out), change, true
}
