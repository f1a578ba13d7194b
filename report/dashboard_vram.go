package report

import (
	"fmt"
	"math"
	"slices"
)

// vramChart: peak GPU memory per test, one bar per run, with the card's memory
// as a line.
func vramChart(runs []dashRun) *chart {
	var tests []string
	total := 0.0
	for _, run := range runs {
		for _, b := range run.res.Benchmarks {
			if b.GPUStats.PeakVRAMUsedMB != nil && !slices.Contains(tests, b.TestID) {
				tests = append(tests, b.TestID)
			}
		}
		if p := run.res.ProfileSnapshot; p != nil && len(p.GPUs) > 0 {
			t := 0.0
			for _, g := range p.GPUs {
				t += g.MemoryTotalMB
			}
			total = max(total, t)
		}
	}
	if len(tests) == 0 {
		return nil
	}
	// Scale with plot: one invisible point per test slot.
	pts := []xy{{X: 0.5, Y: 0}, {X: float64(len(tests)) + 0.5, Y: 0}}
	for _, run := range runs {
		for _, b := range run.res.Benchmarks {
			if v := b.GPUStats.PeakVRAMUsedMB; v != nil && finite(*v) {
				pts = append(pts, xy{X: 1, Y: *v})
			}
		}
	}
	c := plot(newChart("vram", "Peak GPU memory per test", "test", "peak VRAM (MiB)"), []dataSeries{{NoLine: true, Pts: pts}}, false, total)
	if c == nil {
		return nil
	}
	c.Series = nil
	c.XTicks = nil
	slot := (c.scaleX.px(2) - c.scaleX.px(1))
	bw := slot * 0.8 / float64(len(runs))
	for ti, id := range tests {
		x0 := c.scaleX.px(float64(ti+1)) - slot*0.4
		c.XTicks = append(c.XTicks, tick{Pos: c.scaleX.px(float64(ti + 1)), Label: shortID(id)})
		for ri, run := range runs {
			for _, b := range run.res.Benchmarks {
				v := b.GPUStats.PeakVRAMUsedMB
				if b.TestID != id || v == nil || !finite(*v) {
					continue
				}
				y, base := c.scaleY.px(*v), c.scaleY.px(0) // a negative figure hangs below 0
				c.Bars = append(c.Bars, bar{X: round1(x0 + float64(ri)*bw), Y: min(y, base), W: round1(bw - 1), H: round1(math.Abs(base - y)), Color: run.color,
					Title: fmt.Sprintf("%s %s: peak %s MiB", run.label, id, commas(*v))})
			}
		}
	}
	if total > 0 {
		y := c.scaleY.px(total)
		c.Marks = append(c.Marks, mark{X1: c.L, X2: c.R, Y1: y, Y2: y, LX: c.L + 4, LY: y - 4, Label: fmt.Sprintf("GPU memory %s MiB", commas(total))})
	}
	return c
}

// shortID shortens a test id for an axis label.
func shortID(id string) string {
	r := []rune(id)
	if len(r) > 14 {
		return string(r[:13]) + "…"
	}
	return id
}
