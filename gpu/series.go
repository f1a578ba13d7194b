package gpu

import (
	"fmt"
	"math"
	"slices"
	"time"
)

// series accumulates one figure of one GPU (or of a sum over GPUs) over a window:
// peak, and the step-wise time integral (each value holds until the next, until
// the series is stopped, or until the window closes).
type series struct {
	n        int
	first    float64
	firstAt  time.Time
	last     float64
	peak     float64
	lastAt   time.Time
	held     bool    // the last value is in force (not stopped)
	integral float64 // ∫ value dt between the first and the last reading
	span     float64 // seconds between the first and the last reading
	sum      float64 // plain sum, for a window whose readings share one instant
}

func (s *series) add(at time.Time, v float64) {
	if s.n == 0 {
		s.first, s.firstAt, s.peak = v, at, v
	} else {
		if dt := at.Sub(s.lastAt).Seconds(); dt > 0 && s.held {
			s.integral += s.last * dt
			s.span += dt
		}
		s.peak = max(s.peak, v)
	}
	s.last, s.lastAt, s.held = v, at, true
	s.sum += v
	s.n++
}

// addp adds a reported value; nil (not reported) and NaN are skipped.
func (s *series) addp(at time.Time, v *float64) {
	if v != nil && !math.IsNaN(*v) && !math.IsInf(*v, 0) {
		s.add(at, *v)
	}
}

// stop ends the hold of the last value at at (the GPU was lost): no time after
// it counts until the next value.
func (s *series) stop(at time.Time) {
	if s.n == 0 || !s.held {
		return
	}
	if dt := at.Sub(s.lastAt).Seconds(); dt > 0 {
		s.integral += s.last * dt
		s.span += dt
	}
	s.lastAt, s.held = at, false
}

// upTo returns the integral and its span with the last value held until end.
func (s *series) upTo(end time.Time) (integral, span float64) {
	integral, span = s.integral, s.span
	if dt := end.Sub(s.lastAt).Seconds(); dt > 0 && s.held {
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

// point is one reading of a cumulative counter.
type point struct {
	at time.Time
	v  float64
}

// counter keeps what a window needs of a GPU's total-energy counter to read it
// at the window's edges: the latest reading before the window opened, and the
// first two and last two readings inside it.
type counter struct {
	pre           *point
	first, second point
	prev, last    point
	n             int
	back          bool // the counter went backwards (driver reloaded) or jumped: unusable
}

func (c *counter) add(at time.Time, v *float64) string {
	if v == nil || math.IsNaN(*v) || math.IsInf(*v, 0) {
		return ""
	}
	p := point{at, *v}
	if c.n > 0 {
		if !p.at.After(c.last.at) {
			return ""
		}
		if why := c.implausible(c.last, p); why != "" && !c.back {
			c.back = true
			return why
		}
	} else if c.pre != nil && c.implausible(*c.pre, p) != "" {
		c.pre = nil // reset or glitch before the window: the pre-window reading is of no use
	}
	switch c.n {
	case 0:
		c.first = p
	case 1:
		c.second = p
	}
	c.prev, c.last = c.last, p
	c.n++
	return ""
}

// implausible says why the counter cannot have gone from a to b: it went
// backwards (the driver reloaded) or rose faster than any device draws.
func (c *counter) implausible(a, b point) string {
	if b.v < a.v {
		return fmt.Sprintf("energy counter went backwards (%g to %g mJ)", a.v, b.v)
	}
	if dt := b.at.Sub(a.at).Seconds(); dt > 0 && (b.v-a.v)/1000/dt > MaxPlausiblePowerW {
		return fmt.Sprintf("energy counter jumped by %g mJ in %.3f s", b.v-a.v, dt)
	}
	return ""
}

// setPre keeps the latest reading taken before the window opened.
func (c *counter) setPre(at time.Time, v *float64) {
	if v != nil && !math.IsNaN(*v) && !math.IsInf(*v, 0) {
		c.pre = &point{at, *v}
	}
}

// lineAt reads the counter at t on the line through a and b (interpolated between
// them, extrapolated beyond); ok is false when a and b share an instant.
func lineAt(a, b point, t time.Time) (float64, bool) {
	dt := b.at.Sub(a.at).Seconds()
	if dt <= 0 {
		return 0, false
	}
	return a.v + (b.v-a.v)*t.Sub(a.at).Seconds()/dt, true
}

// still is how long the counter has read the same value over its readings
// (from the pre-window reading on); 0 when it moved.
func (c *counter) still() float64 {
	if c.n == 0 {
		return 0
	}
	from := c.first
	if c.pre != nil {
		from = *c.pre
	}
	if c.last.v != from.v {
		return 0
	}
	return c.last.at.Sub(from.at).Seconds()
}

// stillLimit is how long a counter may read the same value while the card
// reports drawing power before it is taken as stale: the driver updates it
// far more often.
const stillLimit = 0.5

// joules is the energy between open and end in joules, read from the counter
// interpolated (or extrapolated from the nearest two readings) at both edges;
// ok is false when the counter cannot tell it.
func (c *counter) joules(open, end time.Time) (float64, bool) {
	if c.back || c.n == 0 {
		return 0, false
	}
	var e0, e1 float64
	ok0, ok1 := false, false
	if c.pre != nil {
		e0, ok0 = lineAt(*c.pre, c.first, open)
	}
	if !ok0 && c.n >= 2 {
		e0, ok0 = lineAt(c.first, c.second, open)
	}
	if c.n >= 2 {
		e1, ok1 = lineAt(c.prev, c.last, end)
	} else if c.pre != nil {
		e1, ok1 = lineAt(*c.pre, c.last, end)
	}
	if !ok0 || !ok1 || e1 < e0 {
		return 0, false
	}
	return (e1 - e0) / 1000, true
}

// throttle accumulates how long each clock event reason held in a window.
type throttle struct {
	held   map[string]float64 // reason -> seconds in force
	now    []string           // reasons of the latest reading, in force since at
	at     time.Time
	active bool
}

// set starts the reasons of a reading at at; the previous ones end there.
func (t *throttle) set(at time.Time, reasons []string) {
	t.until(at)
	if t.held == nil {
		t.held = map[string]float64{}
	}
	for _, r := range reasons {
		if _, ok := t.held[r]; !ok {
			t.held[r] = 0
		}
	}
	t.now, t.at, t.active = slices.Clone(reasons), at, true
}

// until credits the reasons in force up to at.
func (t *throttle) until(at time.Time) {
	if !t.active {
		return
	}
	if dt := at.Sub(t.at).Seconds(); dt > 0 {
		for _, r := range t.now {
			t.held[r] += dt
		}
		t.at = at
	}
}

// stop ends the reasons in force at at (the GPU was lost).
func (t *throttle) stop(at time.Time) {
	t.until(at)
	t.active = false
}
