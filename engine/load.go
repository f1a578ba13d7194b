package engine

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/typhonbench/typhon/schema"
)

// ErrInvalidLoad: a load option makes no sense (a negative rate, an unknown SLO).
var ErrInvalidLoad = errors.New("invalid load options")

// Defaults of a zero LoadOptions.
const (
	// DefaultMaxUsers caps a sweep of users that finds its own levels.
	DefaultMaxUsers = 256
	// DefaultLoadWindow is the measured window of a level.
	DefaultLoadWindow = 60 * time.Second
	// DefaultLoadInput and DefaultLoadOutput are each request's lengths in tokens.
	DefaultLoadInput  = 512
	DefaultLoadOutput = 128
	// DefaultMaxInFlight caps the requests in flight of a rate level.
	DefaultMaxInFlight = 1024
	// MaxLoadTokens bounds each request's lengths and their stdevs: each prompt
	// is built as text (about six bytes a token), a million tokens is past the
	// context of the servers Typhon measures.
	MaxLoadTokens = 1 << 20
	// MaxLoadUsers bounds the users of a level, max_users and max_in_flight.
	MaxLoadUsers = 100_000
	// MaxLoadDuration bounds a level's window, ramp-up and grace each: a sweep
	// is bounded in time.
	MaxLoadDuration = 24 * time.Hour
	// MaxLoadArrivals bounds the requests a rate level schedules (rate x
	// (ramp-up + window)): its schedule and records are kept in memory.
	MaxLoadArrivals = 1_000_000
	// DefaultPlateauGain: output throughput growing less than this over
	// DefaultPlateauLevels levels, while TTFT grows, is a plateau.
	DefaultPlateauGain   = 0.05
	DefaultPlateauLevels = 2
	// DefaultMaxErrorRate: a level whose failed share passes it ends the sweep.
	DefaultMaxErrorRate = 0.05
	// DefaultSLOAttainment: a level is within the SLOs when at least this share of
	// its completed requests meets every SLO.
	DefaultSLOAttainment = 0.9
	// DefaultSLOPatience: after the first level that breaks the SLOs, the sweep
	// stops when this many further levels break them too.
	DefaultSLOPatience = 1
	// DefaultGrace is how long after its window a level waits for the requests
	// in flight; those still running then are cut and counted incomplete.
	DefaultGrace = 30 * time.Second
	// DefaultMetricsInterval is how often a level samples the server's /metrics.
	DefaultMetricsInterval = time.Second
	// LoadTestPrefix precedes a level's users or rate in its test ID:
	// load_users_8, load_rate_2.
	LoadTestPrefix = "load_"
)

// LoadOptions configure a load sweep; zero fields take the defaults.
//
// A sweep of users (closed loop) runs N users, each sending its next request as
// soon as its last one ended; a sweep of rates (open loop) sends requests at R
// per second on a precomputed schedule. Every level ramps up, then measures for
// Window (see schema.LoadLevel for the window rule).
type LoadOptions struct {
	// Shape is schema.LoadUsers (default) or schema.LoadRate.
	Shape string
	// Users are the levels of a users sweep; nil means 1, 2, 4, ... up to
	// MaxUsers, until the stop rule ends the sweep.
	Users    []int
	MaxUsers int
	// Rates are the levels of a rate sweep in requests per second; nil means
	// from the rate one user achieves, doubling.
	Rates []float64
	// Burstiness is the gamma shape of the arrivals: 1 (or 0) is Poisson, below
	// 1 burstier, above 1 more regular; 0.01 to 100.
	Burstiness float64
	// MaxInFlight caps the requests in flight of a rate level; a send that finds
	// the cap reached waits, and its lateness shows in the schedule lag.
	MaxInFlight int

	Window time.Duration // measured window per level; 0 means DefaultLoadWindow
	// RampUp precedes each window; 0 means Window/4 capped at 10 s; negative none.
	RampUp time.Duration
	// Grace is how long a level waits after its window for the requests in
	// flight; 0 means DefaultGrace.
	Grace time.Duration

	// InputTokens and OutputTokens are each request's lengths (means when the
	// stdevs are set); 0 means the defaults.
	InputTokens, OutputTokens int
	InputStdev, OutputStdev   int
	// SharedPrefix, when above 0, starts every prompt with the same text of about
	// that many tokens and lets the server cache it: a prefix cache measured on
	// purpose. By default every request is cache-cold.
	SharedPrefix int
	// CtxSize is the num_ctx asked of Ollama; 0 means enough for the lengths.
	CtxSize int

	SLO  SLO
	Stop StopRule
	// MetricsInterval is how often the server's /metrics is sampled; 0 means
	// DefaultMetricsInterval, negative never.
	MetricsInterval time.Duration
	// Seed makes the lengths and the arrival schedule reproducible; 0 is random.
	Seed uint64
	// Worker, when set, makes the sweep one worker's share of a distributed
	// load on a shared clock (see LoadWorker).
	Worker *LoadWorker
	// Samples, when set, is given each level's raw latency samples in seconds
	// as the level ends: ttft_s, itl_s, tpot_s and e2e_s of the requests counted
	// in its window (the figures under latency summarise them).
	Samples func(testID string, series map[string][]float64)
}

// SLO are the service-level objectives of a request; a zero field is none.
type SLO struct {
	TTFT time.Duration `json:"ttft,omitempty"`
	TPOT time.Duration `json:"tpot,omitempty"`
	E2E  time.Duration `json:"e2e,omitempty"`
}

// Set reports whether any objective is set.
func (s SLO) Set() bool { return s.TTFT > 0 || s.TPOT > 0 || s.E2E > 0 }

// String formats s as ParseSLO reads it.
func (s SLO) String() string {
	var parts []string
	for _, p := range []struct {
		k string
		d time.Duration
	}{{"ttft", s.TTFT}, {"tpot", s.TPOT}, {"e2e", s.E2E}} {
		if p.d > 0 {
			parts = append(parts, p.k+"="+p.d.String())
		}
	}
	return strings.Join(parts, ",")
}

// ParseSLO reads "ttft=2s,tpot=100ms,e2e=30s" (any subset; "" is none; an
// objective given twice is an error).
func ParseSLO(s string) (SLO, error) {
	var slo SLO
	seen := map[string]bool{}
	for part := range strings.SplitSeq(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		k, v, ok := strings.Cut(part, "=")
		d, err := time.ParseDuration(strings.TrimSpace(v))
		if !ok || err != nil || d <= 0 {
			return SLO{}, fmt.Errorf("%w: SLO %q: want name=duration, e.g. ttft=2s", ErrInvalidLoad, part)
		}
		name := strings.ToLower(strings.TrimSpace(k))
		if seen[name] {
			return SLO{}, fmt.Errorf("%w: SLO %q given twice", ErrInvalidLoad, name)
		}
		seen[name] = true
		switch name {
		case "ttft":
			slo.TTFT = d
		case "tpot":
			slo.TPOT = d
		case "e2e":
			slo.E2E = d
		default:
			return SLO{}, fmt.Errorf("%w: SLO %q: want ttft, tpot or e2e", ErrInvalidLoad, k)
		}
	}
	return slo, nil
}

// meets reports whether a completed request meets every objective.
func (s SLO) meets(ttft, tpot, e2e float64) bool {
	return (s.TTFT <= 0 || ttft <= s.TTFT.Seconds()) &&
		(s.TPOT <= 0 || tpot <= s.TPOT.Seconds()) &&
		(s.E2E <= 0 || e2e <= s.E2E.Seconds())
}

// StopRule ends a sweep at its saturation point. A sweep stops after a level
// when (1) its output throughput grew less than PlateauGain over the last
// PlateauLevels levels while TTFT p50 grew over them, (2) its failed share
// passed MaxErrorRate, or (3) SLOs are set and the level broke them, as did
// every level since the first one that broke them, SLOPatience levels after it.
// Zero fields take the defaults; Off runs every level.
type StopRule struct {
	PlateauGain   float64
	PlateauLevels int
	MaxErrorRate  float64
	SLOAttainment float64
	SLOPatience   int
	Off           bool
}

func (r StopRule) withDefaults() StopRule {
	if r.PlateauGain <= 0 {
		r.PlateauGain = DefaultPlateauGain
	}
	if r.PlateauLevels <= 0 {
		r.PlateauLevels = DefaultPlateauLevels
	}
	if r.MaxErrorRate <= 0 {
		r.MaxErrorRate = DefaultMaxErrorRate
	}
	if r.SLOAttainment <= 0 {
		r.SLOAttainment = DefaultSLOAttainment
	}
	if r.SLOPatience <= 0 {
		r.SLOPatience = DefaultSLOPatience
	}
	return r
}

// Validate reports nonsense in o: an unknown shape, levels of zero or less,
// lengths or durations below zero. It wraps ErrInvalidLoad.
func (o LoadOptions) Validate() error {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalidLoad, fmt.Sprintf(format, a...))
	}
	switch o.Shape {
	case "", schema.LoadUsers, schema.LoadRate:
	default:
		return bad("shape %q: want users or rate", o.Shape)
	}
	for _, u := range o.Users {
		if u < 1 || u > MaxLoadUsers {
			return bad("users %d: want 1 to 100,000", u)
		}
	}
	for _, r := range o.Rates {
		if !(r > 0) || math.IsInf(r, 0) || r > 100_000 {
			return bad("rate %v: want above 0 and at most 100,000 per second", r)
		}
	}
	switch {
	case o.MaxUsers < 0, o.MaxInFlight < 0, o.MaxUsers > MaxLoadUsers, o.MaxInFlight > MaxLoadUsers:
		return bad("max users %d or max in flight %d: want 0 to 100,000", o.MaxUsers, o.MaxInFlight)
	case max(o.InputTokens, o.OutputTokens, o.InputStdev, o.OutputStdev) > MaxLoadTokens:
		return bad("input %d, output %d, stdevs %d and %d tokens: want at most %d each",
			o.InputTokens, o.OutputTokens, o.InputStdev, o.OutputStdev, MaxLoadTokens)
	case o.Window < 0 || o.Grace < 0:
		return bad("window %s or grace %s is negative", o.Window, o.Grace)
	case max(o.Window, o.RampUp, o.Grace) > MaxLoadDuration:
		return bad("window %s, ramp-up %s or grace %s: want at most %s each", o.Window, max(o.RampUp, 0), o.Grace, MaxLoadDuration)
	case len(o.Rates) > 0 && slices.Min(o.Rates)*o.window().Seconds() < 1:
		return bad("rate %v over a window of %s schedules no request in it: want rate x window of 1 or more", slices.Min(o.Rates), o.window())
	case slices.Max(append([]float64{0}, o.Rates...))*(o.rampUp()+o.window()).Seconds() > MaxLoadArrivals:
		return bad("rate %v over %s (ramp-up and window) schedules more than %d requests a level",
			slices.Max(o.Rates), o.rampUp()+o.window(), MaxLoadArrivals)
	case o.InputTokens < 0, o.OutputTokens < 0, o.InputStdev < 0, o.OutputStdev < 0, o.SharedPrefix < 0, o.CtxSize < 0:
		return bad("lengths must not be negative")
	case o.Burstiness != 0 && !(o.Burstiness >= 0.01 && o.Burstiness <= 100):
		// Below 0.01 every gamma gap underflows to 0 and the schedule to NaN.
		return bad("burstiness %v: want 0.01 to 100", o.Burstiness)
	case o.SharedPrefix > 0 && o.SharedPrefix >= o.input():
		return bad("shared prefix %d must be shorter than the input %d", o.SharedPrefix, o.input())
	}
	return o.Worker.validate(o)
}

func (o LoadOptions) input() int  { return cmpOr(o.InputTokens, DefaultLoadInput) }
func (o LoadOptions) output() int { return cmpOr(o.OutputTokens, DefaultLoadOutput) }

func cmpOr[T int | float64 | time.Duration](v, def T) T {
	if v > 0 {
		return v
	}
	return def
}

func (o LoadOptions) shape() string {
	if o.Shape == schema.LoadRate || (o.Shape == "" && len(o.Rates) > 0 && len(o.Users) == 0) {
		return schema.LoadRate
	}
	return schema.LoadUsers
}

func (o LoadOptions) window() time.Duration { return cmpOr(o.Window, DefaultLoadWindow) }

func (o LoadOptions) grace() time.Duration { return cmpOr(o.Grace, DefaultGrace) }

func (o LoadOptions) rampUp() time.Duration {
	switch {
	case o.RampUp < 0:
		return 0
	case o.RampUp > 0:
		return o.RampUp
	}
	return min(o.window()/4, 10*time.Second)
}

func (o LoadOptions) burstiness() float64 { return cmpOr(o.Burstiness, 1.0) }

func (o LoadOptions) maxInFlight() int { return cmpOr(o.MaxInFlight, DefaultMaxInFlight) }

// userLevels are the users of a users sweep: o.Users sorted without repeats, or
// 1, 2, 4, ... up to MaxUsers (which ends the list when not a power of two).
func (o LoadOptions) userLevels() []int {
	if len(o.Users) > 0 {
		l := slices.Clone(o.Users)
		slices.Sort(l)
		return slices.Compact(l)
	}
	limit := cmpOr(o.MaxUsers, DefaultMaxUsers)
	var l []int
	for n := 1; n < limit; n *= 2 {
		l = append(l, n)
	}
	return append(l, limit)
}

// LoadTestID names a level: load_users_8, load_rate_2, load_rate_0.5.
func LoadTestID(shape string, users int, rate float64) string {
	if shape == schema.LoadRate {
		return LoadTestPrefix + "rate_" + strconv.FormatFloat(rate, 'f', -1, 64)
	}
	return LoadTestPrefix + "users_" + strconv.Itoa(users)
}
