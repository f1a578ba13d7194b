package report

import (
	"fmt"
	"math"
	"strings"
)

// The geometry of the dashboard's charts: data in, pixel positions out. The
// template draws them as inline SVG; every text goes through html/template.

const (
	chartW, chartH = 640.0, 300.0
	plotL, plotR   = 64.0, 624.0 // left and right edges of the plot area
	plotT, plotB   = 28.0, 252.0 // top and bottom edges
)

// palette is one colour per run, readable on light and dark backgrounds.
var palette = []string{"#2f7ed8", "#e8743b", "#19a979", "#c23b8a", "#8c6bb1", "#b59a00"}

// runColor is run i's colour: the palette, then hues a golden angle apart.
func runColor(i int) string {
	if i < len(palette) {
		return palette[i]
	}
	h := math.Mod(float64(i-len(palette))*137.508+15, 360) / 60
	c := 0.55                                 // chroma at 50% lightness, 55% saturation
	x := c * (1 - math.Abs(math.Mod(h, 2)-1)) // the second component
	rgb := [6][3]float64{{c, x, 0}, {x, c, 0}, {0, c, x}, {0, x, c}, {x, 0, c}, {c, 0, x}}[int(h)%6]
	m := 0.5 - c/2
	return fmt.Sprintf("#%02x%02x%02x", int(255*(rgb[0]+m)), int(255*(rgb[1]+m)), int(255*(rgb[2]+m)))
}

// chart is one SVG chart ready to draw.
type chart struct {
	ID, Title, XLabel, YLabel, Caption string
	W, H, L, R, T, B                   float64
	XTicks, YTicks                     []tick
	Series                             []series
	Bars                               []bar
	Marks                              []mark

	scaleX, scaleY axis // set by plot, for marks drawn afterwards
}

type tick struct {
	Pos   float64
	Label string
}

type series struct {
	Name, Color string
	Line        string // polyline points, "" for markers only
	Points      []point
}

type point struct {
	X, Y           float64
	Title, Label   string
	Failed, Ring   bool
	LabelX, LabelY float64
}

type bar struct {
	X, Y, W, H   float64
	Color, Title string
}

// mark is a reference line with a label (a context limit, the card's memory).
type mark struct {
	X1, Y1, X2, Y2, LX, LY float64
	Label                  string
}

// xy is a data point before scaling.
type xy struct {
	X, Y         float64
	Title, Label string
	Failed, Ring bool
}

// dataSeries is a series before scaling.
type dataSeries struct {
	Name, Color string
	Pts         []xy
	NoLine      bool
}

// axis maps data values to pixels, linearly or by log2.
type axis struct {
	lo, hi     float64
	log        bool
	pxLo, pxHi float64
}

func (a axis) px(v float64) float64 {
	lo, hi := a.lo, a.hi
	if a.log {
		v, lo, hi = math.Log2(math.Max(v, a.lo)), math.Log2(lo), math.Log2(hi)
	}
	if hi <= lo {
		return (a.pxLo + a.pxHi) / 2
	}
	return round1(a.pxLo + (v-lo)/(hi-lo)*(a.pxHi-a.pxLo))
}

func round1(v float64) float64 { return math.Round(v*10) / 10 }

// newChart is an empty chart with its titles and plot area.
func newChart(id, title, xlabel, ylabel string) *chart {
	return &chart{ID: id, Title: title, XLabel: xlabel, YLabel: ylabel, W: chartW, H: chartH, L: plotL, R: plotR, T: plotT, B: plotB}
}

// plot scales series into a chart; it returns nil when no point is finite.
// logX draws x by log2 when its values span more than a factor of 8. extraY
// widens the y range (reference lines); y starts at 0, or below it when a
// figure is negative.
func plot(c *chart, ss []dataSeries, logX bool, extraY ...float64) *chart {
	xlo, xhi, ylo, yhi := math.Inf(1), math.Inf(-1), 0.0, 0.0
	n := 0
	for _, s := range ss {
		for _, p := range s.Pts {
			if !finite(p.X) || !finite(p.Y) || (logX && p.X <= 0) {
				continue
			}
			xlo, xhi, ylo, yhi = math.Min(xlo, p.X), math.Max(xhi, p.X), math.Min(ylo, p.Y), math.Max(yhi, p.Y)
			n++
		}
	}
	if n == 0 {
		return nil
	}
	for _, v := range extraY {
		if finite(v) {
			yhi = math.Max(yhi, v)
		}
	}
	xa := axis{lo: xlo, hi: xhi, pxLo: c.L + 12, pxHi: c.R - 12}
	if logX && xhi/xlo > 8 {
		xa.log = true
		xa.lo, xa.hi = xlo/1.15, xhi*1.15
		c.XTicks = log2Ticks(xa)
	} else {
		xa.lo, xa.hi, c.XTicks = linTicks(math.Min(xlo, 0), xhi, xa)
	}
	ya := axis{pxLo: c.B, pxHi: c.T}
	ya.lo, ya.hi, c.YTicks = linTicks(ylo, yhi, ya) // from 0, or below it for negative figures
	for _, s := range ss {
		out := series{Name: s.Name, Color: s.Color}
		var line []string
		for _, p := range s.Pts {
			if !finite(p.X) || !finite(p.Y) || (logX && p.X <= 0) {
				continue
			}
			x, y := xa.px(p.X), ya.px(p.Y)
			lx := x + 6
			if x > c.R-90 {
				lx = x - 6 - 6.2*float64(len([]rune(p.Label))) // keep the label inside the plot
			}
			out.Points = append(out.Points, point{X: x, Y: y, Title: p.Title, Label: p.Label, Failed: p.Failed, Ring: p.Ring,
				LabelX: round1(lx), LabelY: y - 8})
			line = append(line, fmt.Sprintf("%g,%g", x, y))
		}
		if !s.NoLine && len(line) > 1 {
			out.Line = strings.Join(line, " ")
		}
		c.Series = append(c.Series, out)
	}
	c.scaleY = ya
	c.scaleX = xa
	return c
}

// linTicks is a "nice" range from lo to hi with its ticks.
func linTicks(lo, hi float64, a axis) (float64, float64, []tick) {
	if hi <= lo {
		hi = lo + 1
	}
	if !finite(lo) || !finite(hi) || !finite(hi-lo) {
		lo, hi = 0, math.MaxFloat64/4 // figures beyond any scale: an axis without ticks
		return lo, hi, nil
	}
	step := niceStep((hi - lo) / 5)
	rawLo, rawHi := lo, hi
	lo = math.Floor(lo/step) * step
	hi = math.Ceil(hi/step) * step
	if !finite(lo) || !finite(hi) || !finite(hi-lo) {
		// Rounded out beyond the largest float: the figures' own range, no ticks.
		return rawLo, rawHi, nil
	}
	if hi <= lo || (hi-lo)/step > 12 || lo+step == lo {
		// Too fine a step for the figures' size: no ticks but the ends.
		a.lo, a.hi = lo, math.Max(hi, math.Nextafter(lo, math.Inf(1)))
		return a.lo, a.hi, []tick{{Pos: a.px(a.lo), Label: shortNum(a.lo)}, {Pos: a.px(a.hi), Label: shortNum(a.hi)}}
	}
	a.lo, a.hi = lo, hi
	var ts []tick
	for i := 0; i <= 12; i++ {
		v := lo + float64(i)*step
		if v > hi+step/2 {
			break
		}
		ts = append(ts, tick{Pos: a.px(v), Label: shortNum(v)})
	}
	return lo, hi, ts
}

func niceStep(raw float64) float64 {
	if raw <= 0 || !finite(raw) {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if m*p >= raw {
			return m * p
		}
	}
	return 10 * p
}

// log2Ticks is the powers of two within the axis, at most eight of them.
func log2Ticks(a axis) []tick {
	var vs []float64
	for e := math.Ceil(math.Log2(a.lo)); e <= math.Floor(math.Log2(a.hi)) && len(vs) < 4096; e++ {
		vs = append(vs, math.Pow(2, e))
	}
	for len(vs) > 8 {
		var half []float64
		for i := 0; i < len(vs); i += 2 {
			half = append(half, vs[i])
		}
		vs = half
	}
	ts := make([]tick, 0, len(vs))
	for _, v := range vs {
		ts = append(ts, tick{Pos: a.px(v), Label: shortNum(v)})
	}
	return ts
}

// shortNum writes an axis figure briefly: 16k, 2.5, 0.25, 1.5M.
func shortNum(v float64) string {
	a := math.Abs(v)
	switch {
	case a >= 1e6:
		return trimZero(fmt.Sprintf("%.1f", v/1e6)) + "M"
	case a >= 1e4 || (a >= 1000 && math.Mod(a, 1024) == 0):
		if math.Mod(a, 1024) == 0 {
			return trimZero(fmt.Sprintf("%.1f", v/1024)) + "k"
		}
		return trimZero(fmt.Sprintf("%.1f", v/1000)) + "k"
	case a >= 10 || a == math.Trunc(a):
		return fmt.Sprintf("%.0f", v)
	}
	return trimZero(fmt.Sprintf("%.3f", v))
}

func trimZero(s string) string {
	if strings.Contains(s, ".") {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	return s
}

// intTicks keeps only the x ticks at whole numbers (counts such as probes).
func intTicks(c *chart) {
	var ts []tick
	for _, t := range c.XTicks {
		if !strings.ContainsAny(t.Label, ".k") {
			ts = append(ts, t)
		}
	}
	c.XTicks = ts
}

// maxSeriesPoints bounds the points drawn of one series over time (the plot is
// 560 pixels wide): a longer one is thinned.
const maxSeriesPoints = 600

// thin keeps, of each of n/2 equal runs of pts, the points of the lowest and
// the highest y in their order, so that a drop or a spike stays drawn.
func thin(pts []xy, n int) []xy {
	buckets := max(n/2, 1)
	out := make([]xy, 0, 2*buckets)
	for b := range buckets {
		lo, hi := b*len(pts)/buckets, (b+1)*len(pts)/buckets
		if lo >= hi {
			continue
		}
		mn, mx := lo, lo
		for i := lo; i < hi; i++ {
			if pts[i].Y < pts[mn].Y {
				mn = i
			}
			if pts[i].Y > pts[mx].Y {
				mx = i
			}
		}
		out = append(out, pts[min(mn, mx)])
		if mn != mx {
			out = append(out, pts[max(mn, mx)])
		}
	}
	return out
}
