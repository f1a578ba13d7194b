package gpu

import (
	"math"
	"slices"

	"github.com/typhonbench/typhon/schema"
)

// roundStats rounds the figures of a summary to two decimals (window_s and
// shares to thousandths): finer digits are noise in a record.
func roundStats(st *schema.GPUStats) {
	for _, p := range []*float64{st.PeakVRAMUsedMB, st.AvgVRAMUsedMB, st.PeakTempC, st.AvgTempC, st.PeakPowerW,
		st.AvgPowerW, st.AvgUtilPct, st.PeakUtilPct, st.EnergyJ, st.ProcessVRAMMB} {
		round2(p)
	}
	st.WindowS = math.Round(st.WindowS*1000) / 1000
	round3(st.ThrottleShare)
	for i := range st.PerGPU {
		g := &st.PerGPU[i]
		for _, p := range []*float64{g.PeakVRAMUsedMB, g.AvgVRAMUsedMB, g.PeakTempC, g.AvgTempC, g.PeakPowerW,
			g.AvgPowerW, g.AvgUtilPct, g.PeakUtilPct, g.AvgMemUtilPct, g.AvgSMClockMHz, g.EnergyJ, g.ProcessVRAMMB} {
			round2(p)
		}
		if g.LostAtS != nil {
			*g.LostAtS = math.Round(*g.LostAtS*1000) / 1000
		}
		round3(g.ThrottleShare)
	}
}

func round2(p *float64) {
	if p != nil {
		*p = math.Round(*p*100) / 100
	}
}

func round3(m map[string]float64) {
	for k, v := range m {
		m[k] = math.Round(v*1000) / 1000
	}
}

func ptr(v float64) *float64 { return &v }

func deref0(p *float64) float64 {
	if p == nil {
		return 0
	}
	return *p
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
