package report

import (
	"fmt"
	"sort"
	"strings"

	"github.com/typhonbench/typhon/schema"
)

// dashRun is one record on the dashboard with its label and colour.
type dashRun struct {
	res   *schema.Result
	label string
	color string
}

// promptPoint is a test's figures against its prompt length.
type promptPoint struct {
	b      *schema.Benchmark
	tokens float64
}

// promptPoints is the baseline and the context sweep tests with successful
// runs, by increasing prompt length (the tokens the server counted, else the
// target, else the context).
func promptPoints(r *schema.Result) []promptPoint {
	var out []promptPoint
	for i := range r.Benchmarks {
		b := &r.Benchmarks[i]
		if (b.Category != schema.CategoryBaseline && b.Category != schema.CategoryContextSweep) || b.SuccessfulRuns <= 0 {
			continue
		}
		t := float64(meanPromptTokens(b))
		if t <= 0 {
			t = float64(b.PromptTokensTarget)
		}
		if t <= 0 {
			t = float64(b.CtxSize)
		}
		out = append(out, promptPoint{b, t})
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].tokens < out[j].tokens })
	return out
}

// promptCharts: TTFT, prefill speed and decode speed against prompt length.
func promptCharts(runs []dashRun) []*chart {
	specs := []struct {
		id, title, ylabel string
		value             func(*schema.Benchmark) float64
		unit              string
	}{
		{"ttft", "Time to first token against prompt length", "TTFT (s)", func(b *schema.Benchmark) float64 { return b.AvgTTFTS }, "s"},
		{"prefill", "Prefill speed against prompt length", "prefill (tok/s)", func(b *schema.Benchmark) float64 { return b.AvgPrefillTPS }, "tok/s"},
		{"decode", "Decode speed against context", "decode (tok/s)", func(b *schema.Benchmark) float64 { return b.AvgTPS }, "tok/s"},
	}
	var out []*chart
	for _, sp := range specs {
		var ss []dataSeries
		for _, run := range runs {
			s := dataSeries{Name: run.label, Color: run.color}
			for _, p := range promptPoints(run.res) {
				v := sp.value(p.b)
				if v <= 0 {
					continue
				}
				s.Pts = append(s.Pts, xy{X: p.tokens, Y: v,
					Title: fmt.Sprintf("%s: %s %s at %s prompt tokens (mean of %d valid runs)", p.b.TestID, num(v), sp.unit, commas(p.tokens), statsN(p.b))})
			}
			if sp.id == "ttft" {
				ss = append(ss, s, wallSteps(run))
				continue
			}
			ss = append(ss, s)
		}
		if c := plot(newChart(sp.id, sp.title, "prompt tokens", sp.ylabel), ss, true); c != nil {
			out = append(out, c)
		}
	}
	return out
}

// wallSteps is the memory wall's successful probes as TTFT markers.
func wallSteps(run dashRun) dataSeries {
	s := dataSeries{Name: run.label + " (memory wall probes)", Color: run.color, NoLine: true}
	for _, b := range run.res.Benchmarks {
		if b.MemoryWall == nil {
			continue
		}
		for _, st := range b.MemoryWall.Steps {
			if st.Success && st.TTFTS > 0 {
				s.Pts = append(s.Pts, xy{X: float64(st.PromptTokens), Y: st.TTFTS, Ring: true,
					Title: fmt.Sprintf("memory wall probe: %s prompt tokens, TTFT %s s", commas(float64(st.PromptTokens)), num(st.TTFTS))})
			}
		}
	}
	return s
}

// seriesCharts: the long generation over time, decode speed beside GPU
// temperature, power and SM clock on the same time axis.
func seriesCharts(runs []dashRun) []*chart {
	specs := []struct {
		id, title, ylabel string
		value             func(schema.SeriesPoint) *float64
	}{
		{"series_tps", "Long generation: decode speed over time", "decode (tok/s)", func(p schema.SeriesPoint) *float64 { return &p.TPS }},
		{"series_temp", "Long generation: GPU temperature", "temperature (°C)", func(p schema.SeriesPoint) *float64 { return p.TempC }},
		{"series_power", "Long generation: GPU power", "power (W)", func(p schema.SeriesPoint) *float64 { return p.PowerW }},
		{"series_clock", "Long generation: SM clock", "SM clock (MHz)", func(p schema.SeriesPoint) *float64 { return p.SMClockMHz }},
	}
	var throttle []string
	sampled := false // a series holds GPU readings
	for _, run := range runs {
		for _, b := range run.res.Benchmarks {
			if len(b.Series) > 0 && len(b.GPUStats.ThrottleReasons) > 0 {
				throttle = append(throttle, fmt.Sprintf("%s %s: %s", run.label, b.TestID, strings.Join(b.GPUStats.ThrottleReasons, ", ")))
			}
			for _, p := range b.Series {
				sampled = sampled || p.TempC != nil || p.SMClockMHz != nil || p.PowerW != nil
			}
		}
	}
	var out []*chart
	xmax := 0.0
	for _, sp := range specs {
		var ss []dataSeries
		var thinned []string
		for _, run := range runs {
			for _, b := range run.res.Benchmarks {
				s := dataSeries{Name: run.label + " " + b.TestID, Color: run.color}
				for _, p := range b.Series {
					if v := sp.value(p); v != nil {
						s.Pts = append(s.Pts, xy{X: p.T, Y: *v, Title: fmt.Sprintf("%s at %s s: %s", b.TestID, num(p.T), num(*v))})
						xmax = max(xmax, p.T)
					}
				}
				if len(s.Pts) > maxSeriesPoints {
					thinned = append(thinned, fmt.Sprintf("%s %s: %s samples", run.label, b.TestID, commas(float64(len(s.Pts)))))
					s.Pts = thin(s.Pts, maxSeriesPoints)
				}
				if len(s.Pts) > 0 {
					ss = append(ss, s)
				}
			}
		}
		// The same time axis on every panel: a transparent point at the end.
		if len(ss) > 0 {
			ss = append(ss, dataSeries{NoLine: true, Pts: []xy{{X: xmax, Y: 0}}})
		}
		c := plot(newChart(sp.id, sp.title, "time since the test started (s)", sp.ylabel), ss, false)
		if c == nil {
			continue
		}
		c.Series = c.Series[:len(c.Series)-1]
		if len(throttle) > 0 {
			c.Caption = "GPU throttle reasons reported: " + strings.Join(throttle, "; ")
		} else if sp.id == "series_tps" && sampled {
			c.Caption = "The GPU reported no throttling during these tests."
		}
		if len(thinned) > 0 {
			c.Caption = strings.TrimSpace(c.Caption + " Drawn from the lowest and highest value of each interval of " +
				strings.Join(thinned, "; ") + ".")
		}
		out = append(out, c)
	}
	return out
}

// wallChart: the memory wall's probes in order, worked or failed with their
// failure class, with the server's configured context as a line and each
// wall's kind and size in the caption.
func wallChart(runs []dashRun) *chart {
	var ss []dataSeries
	var walls []string
	ctx := 0.0
	for _, run := range runs {
		for _, b := range run.res.Benchmarks {
			if b.MemoryWall == nil {
				continue
			}
			s := dataSeries{Name: run.label, Color: run.color}
			for i, st := range b.MemoryWall.Steps {
				s.Pts = append(s.Pts, wallStepPoint(i, st))
			}
			ss = append(ss, s)
			ctx = max(ctx, float64(run.res.Server.CtxSize))
			walls = append(walls, wallCaption(run.label, len(runs) > 1, b.MemoryWall))
		}
	}
	c := plot(newChart("memory_wall", "Memory wall search", "probe", "prompt tokens"), ss, false, ctx)
	if c == nil {
		return nil
	}
	intTicks(c)
	c.Caption = "Filled: the prompt worked; crossed: it failed, labelled with its failure class. " + strings.Join(walls, " ")
	if ctx > 0 {
		y := c.scaleY.px(ctx)
		c.Marks = append(c.Marks, mark{X1: c.L, X2: c.R, Y1: y, Y2: y, LX: c.L + 4, LY: y - 4,
			Label: fmt.Sprintf("configured context %s", commas(ctx))})
	}
	return c
}

// wallStepPoint is probe i of a memory wall search.
func wallStepPoint(i int, st schema.MemoryWallStep) xy {
	what := "worked"
	if !st.Success {
		what = "failed (" + orText(st.FailureClass, "unclassified") + "): " + oneLine(orText(strings.TrimSpace(st.ErrorKind+" "+st.Error), "no reason recorded"))
	}
	if st.Retried {
		what += ", retried once after a transient failure"
	}
	title := fmt.Sprintf("probe %d: %s prompt tokens %s", i+1, commas(float64(st.PromptTokens)), what)
	if st.TTFTS > 0 {
		title += fmt.Sprintf("; TTFT %s s", num(st.TTFTS))
	}
	if st.LoadS > 0 {
		title += fmt.Sprintf(" (model load %s s before it, untimed)", num(st.LoadS))
	}
	if st.CtxSize > 0 {
		title += fmt.Sprintf("; context %s", commas(float64(st.CtxSize)))
	}
	p := xy{X: float64(i + 1), Y: float64(st.PromptTokens), Failed: !st.Success, Title: title}
	if !st.Success {
		p.Label = st.FailureClass
	}
	return p
}

// wallCaption says where a wall stopped and why.
func wallCaption(label string, multi bool, w *schema.MemoryWall) string {
	s := fmt.Sprintf("Wall: %s at %s tokens", wallKind(w), commas(float64(wallTokens(w))))
	if multi {
		s = label + ": " + s
	}
	if w.FailedPromptTokens > 0 {
		s += fmt.Sprintf(", %s tokens failed (%s)", commas(float64(w.FailedPromptTokens)),
			orText(strings.Join(nonEmpty(w.FailureClass, w.FailureKind), ", "), "failure"))
	}
	if w.BoundTokens > 0 {
		s += fmt.Sprintf("; bound %s tokens", commas(float64(w.BoundTokens)))
	}
	return s + "."
}

// loadCharts: aggregate throughput against TTFT p90 and ITL p90, one point per
// number of users, with the knee and the capacity marked.
func loadCharts(runs []dashRun) []*chart {
	specs := []struct {
		id, title, xlabel string
		value             func(*schema.Stats) float64
	}{
		{"load_ttft", "Throughput against TTFT p90 under load", "TTFT p90 (s)", func(s *schema.Stats) float64 { return s.TTFTP90S }},
		{"load_itl", "Throughput against ITL p90 under load", "ITL p90 (ms)", func(s *schema.Stats) float64 { return s.ITLP90MS }},
	}
	var out []*chart
	for _, sp := range specs {
		var ss []dataSeries
		for _, run := range runs {
			lv := userLevels(run.res)
			knee, capIdx := kneeAndCapacity(lv)
			s := dataSeries{Name: run.label, Color: run.color}
			for i, b := range lv {
				if b.Stats == nil || sp.value(b.Stats) <= 0 {
					continue
				}
				label := fmt.Sprintf("%d", b.Concurrency)
				switch {
				case i == capIdx && i == knee:
					label += " knee, capacity"
				case i == capIdx:
					label += " capacity"
				case i == knee:
					label += " knee"
				}
				s.Pts = append(s.Pts, xy{X: sp.value(b.Stats), Y: b.AggregateTPS, Label: label, Ring: i == capIdx || i == knee,
					Title: fmt.Sprintf("%d users (%s): %s tok/s in all, %s %s", b.Concurrency, b.TestID, num(b.AggregateTPS), sp.xlabel, num(sp.value(b.Stats)))})
			}
			ss = append(ss, s)
		}
		if c := plot(newChart(sp.id, sp.title, sp.xlabel, "throughput, all users (tok/s)"), ss, false); c != nil {
			c.Caption = "Points are labelled with the number of users. Knee: the last level before throughput grew by less than 10%; capacity: the highest throughput."
			out = append(out, c)
		}
	}
	return out
}

// kneeAndCapacity are the indexes of the knee (the last level before the
// throughput grew by less than SaturatedGrowth) and of the highest throughput,
// -1 when there is none.
func kneeAndCapacity(lv []*schema.Benchmark) (knee, capacity int) {
	knee, capacity = -1, -1
	for i, b := range lv {
		if capacity < 0 || b.AggregateTPS > lv[capacity].AggregateTPS {
			capacity = i
		}
		if knee < 0 && i+1 < len(lv) && lv[i+1].AggregateTPS < (1+SaturatedGrowth)*b.AggregateTPS {
			knee = i
		}
	}
	return knee, capacity
}
