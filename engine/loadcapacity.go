package engine

import (
	"fmt"
	"slices"

	"github.com/typhonbench/typhon/schema"
)

// capacity sums up a sweep: the level of the highest output throughput; the
// highest level within the SLOs (when SLOs are set); and where saturation began:
// the lowest level whose output throughput reached (1 - PlateauGain) of the
// peak, when a later level shows the plateau (more load, TTFT p50 higher,
// throughput not PlateauGain above it). A level cut short (cancelled, the
// server gone) counts for none of them: its figures cover part of its window.
func capacity(shape string, levels []schema.Benchmark, r StopRule, slo SLO, stop sweepStop) schema.Capacity {
	c := schema.Capacity{Shape: shape, StoppedBy: stop.by, Reason: stop.why}
	levels = slices.DeleteFunc(slices.Clone(levels), levelCut)
	peak := -1
	for i, b := range levels {
		l := b.LoadLevel
		if l.Completed > 0 && (peak < 0 || l.OutputTPS > levels[peak].OutputTPS) {
			peak = i
		}
	}
	if peak < 0 {
		return c
	}
	p := levels[peak].LoadLevel
	c.Peak = capLevel(levels[peak], fmt.Sprintf("the highest output throughput of the sweep: %.1f tokens/s", p.OutputTPS))
	if slo.Set() {
		for i := len(levels) - 1; i >= 0; i-- {
			if r.withinSLO(levels[i].LoadLevel) {
				c.WithinSLO = capLevel(levels[i], fmt.Sprintf("the highest level where at least %.0f%% of the requests met the SLOs (%s): %.1f%%",
					r.SLOAttainment*100, slo, *levels[i].SLOMet*100))
				break
			}
		}
	}
	for i, b := range levels {
		l := b.LoadLevel
		if l.Completed == 0 || l.OutputTPS < (1-r.PlateauGain)*p.OutputTPS {
			continue
		}
		for _, later := range levels[i+1:] {
			m := later.LoadLevel
			if m.Completed > 0 && m.OutputTPS < l.OutputTPS*(1+r.PlateauGain) && m.Latency.TTFTS.P50 > l.Latency.TTFTS.P50 {
				c.Saturation = capLevel(b, fmt.Sprintf("output throughput reached %.1f tokens/s, within %.0f%% of the peak %.1f (%s); at %s it was %.1f tokens/s while TTFT p50 grew from %.3f s to %.3f s",
					l.OutputTPS, r.PlateauGain*100, p.OutputTPS, levels[peak].TestID, later.TestID, m.OutputTPS, l.Latency.TTFTS.P50, m.Latency.TTFTS.P50))
				return c
			}
		}
		break
	}
	return c
}

func capLevel(b schema.Benchmark, why string) *schema.CapacityLevel {
	l := b.LoadLevel
	return &schema.CapacityLevel{
		TestID: b.TestID, Users: l.Users, Rate: l.Rate, OutputTPS: l.OutputTPS,
		RequestThroughput: l.RequestThroughput, Goodput: l.Goodput,
		TTFTP50S: l.Latency.TTFTS.P50, TTFTP90S: l.Latency.TTFTS.P90, TPOTP50S: l.Latency.TPOTS.P50, Why: why,
	}
}
