// Package gpu samples GPU telemetry during a benchmark and summarises it per test
// window. Hardware sits behind the small [Sampler] interface, which returns Typhon's
// own types; the NVML implementation lives in package gpu/nvml (the only cgo), which
// registers itself when imported, like a database/sql driver:
//
//	import _ "github.com/typhonbench/typhon/gpu/nvml"
//
//	s, err := gpu.Default() // err wraps ErrGPUUnavailable: no driver, no GPU, no cgo
//
// # Sampling
//
// A [Recorder] calls [Sampler.Sample] in one goroutine every [Recorder.Interval]
// (default [DefaultInterval], 100 ms) until its context ends. A field a card does
// not report is nil in that [Reading]; the rest of the reading is kept.
//
// # Windows
//
// [Recorder.Open] starts a [Window]; [Window.Close] summarises it as a
// [schema.GPUStats]. Windows may overlap. How the figures are computed:
//
//   - Which GPUs: [Recorder.Indexes] when set ("given"); else the GPUs whose
//     process lists hold [Recorder.PIDs] or their descendants ("server"; once a
//     GPU is seen holding one it stays the server's); else every GPU ("all",
//     with the reason in gpu_selection_note). A window whose selection narrows
//     drops the other GPUs and restarts its sums.
//   - Edges: each GPU's figures start at Open from its latest reading (taken
//     before Open), held until the window's first reading of it; a reading taken
//     before Open and delivered after it replaces that start and is not counted
//     as a sample. A window without any reading of its own reports the latest
//     one (samples 0).
//   - Averages are weighted by time, step-wise (sample and hold): a reading's value
//     holds from its timestamp until the next reading of that GPU that has the field,
//     until the GPU stops answering, or until the window closes.
//   - energy_j of a card reads its total-energy counter at Open and at Close,
//     each interpolated between the readings around it (or extrapolated from the
//     nearest two); avg_power_w is then energy_j over the window. Without the
//     counter (or when it goes backwards) energy is the power integrated over the
//     window. peak_power_w comes from PowerInstantW where the card gives it.
//   - Per GPU (GPUStats.PerGPU, ordered by index), each figure is that GPU's own.
//   - Across the GPUs of the window (the top-level figures): VRAM is summed over
//     the GPUs at each sampling instant, so peak_vram_used_mb is the peak of the sum
//     and avg_vram_used_mb its time-weighted average (a server split over two cards
//     uses both cards' memory). Temperature, power and utilisation are per card:
//     peaks are the maximum over the cards, averages the mean of the cards' own
//     averages. energy_j is the total over the cards.
//   - A GPU missing from a round (lost, or failed while others answered) stops
//     there: lost_at_s (its first loss), no value held until it answers
//     again, out of the VRAM sum; each round it misses counts in
//     partial_errors. A round where no GPU answers (it counts in
//     sample_errors), and the end of [Recorder.Run] ("sampling stopped" in
//     error), stop every GPU of the window the same way; a window opened after
//     Run ended does not start from its last readings.
//   - A value no device can give (power above [MaxPlausiblePowerW] or
//     negative, memory above the card's total, utilisation outside 0-100, ...),
//     a reading stamped at or before an earlier one of its GPU (a clock that
//     went backwards), and an energy counter that goes backwards or jumps faster
//     than any device draws are left out; error says what ("N figures left
//     out: ..."), and energy then comes from the power readings.
//   - process_vram_used_mb is the peak, over the window, of the memory held by
//     [Recorder.PIDs] and their descendant processes (Ollama's runner is a child of
//     the server), summed over the GPUs; when absent, process_vram_note says why
//     (a process NVML lists without a figure still marks its GPU as the server's).
//     A process found not to be the server's is asked again after a few seconds.
//   - throttle_share gives, per clock event reason, the share of the window it
//     held (each reading's reasons hold until the next reading); at the top level,
//     the largest share over the GPUs. throttle_reasons lists the reasons seen.
//   - Figures are rounded to two decimals, window_s to milliseconds.
//   - samples counts sampling rounds with a reading in the window; sample_errors
//     and error report failed rounds (and a window without any reading).
package gpu

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/typhonbench/typhon/schema"
)

// ErrGPUUnavailable is returned when no GPU telemetry can be read (no driver, no GPU,
// a build without cgo).
var ErrGPUUnavailable = errors.New("gpu telemetry unavailable")

// DefaultInterval is the sampling interval of a zero Recorder.
const DefaultInterval = 100 * time.Millisecond

// MaxBackoff is the longest wait between two sampling attempts while Sample keeps
// failing: the wait doubles from the interval after each failure up to this.
const MaxBackoff = 5 * time.Second

// Reading is one GPU's telemetry at one instant. A nil field was not reported by the
// card; the rest of the reading is kept.
type Reading struct {
	Index      int
	UUID       string
	At         time.Time
	MemUsedMB  *float64
	TempC      *float64
	PowerW     *float64
	UtilPct    *float64
	MemUtilPct *float64
	SMClockMHz *float64
	EnergyMJ   *float64 // total energy counter since driver load, millijoules
	// ThrottleReasons names why the clocks are held down at this instant, e.g.
	// sw_power_cap, hw_thermal_slowdown (NVML's clock event reasons; an idle GPU
	// is not reported as throttled). Empty when none.
	ThrottleReasons []string
	// PowerInstantW is the instantaneous power draw where the driver gives it
	// (PowerW is a trailing average on recent cards); windows take their peak
	// power from it.
	PowerInstantW *float64
	// ProcessMemMB maps PID to the memory that process holds on this GPU (NaN
	// when the driver lists the process without a figure); nil when
	// the card does not list its processes.
	ProcessMemMB map[int]float64
}

// Sampler reads GPU telemetry. Implementations must be safe for use by one
// goroutine at a time. An implementation that holds resources also implements
// io.Closer; the caller closes it when done.
type Sampler interface {
	// Devices describes the GPUs. It returns an error wrapping ErrGPUUnavailable
	// when there are none to read.
	Devices(ctx context.Context) ([]schema.GPUInfo, error)
	// Sample takes one reading of every GPU. When some GPUs answer and others
	// fail, it returns the readings it has and an error saying what failed: the
	// readings are kept and the windows count the round as partial.
	Sample(ctx context.Context) ([]Reading, error)
}

var (
	registryMu sync.Mutex
	registry   = map[string]func() (Sampler, error){}
)

// Register makes a sampler implementation available to [Default] under name. It is
// meant to be called from an implementation package's init; it panics when name is
// registered twice or open is nil.
func Register(name string, open func() (Sampler, error)) {
	registryMu.Lock()
	defer registryMu.Unlock()
	if open == nil {
		panic("gpu: Register open func is nil")
	}
	if _, dup := registry[name]; dup {
		panic("gpu: Register called twice for sampler " + name)
	}
	registry[name] = open
}

// Default opens the registered sampler (in name order when several are, the first
// that opens). The error wraps ErrGPUUnavailable and says why: no sampler is
// registered, or the driver's reason (no library, no GPU, built without cgo).
func Default() (Sampler, error) {
	registryMu.Lock()
	names := make([]string, 0, len(registry))
	for name := range registry {
		names = append(names, name)
	}
	opens := make([]func() (Sampler, error), 0, len(names))
	sort.Strings(names)
	for _, name := range names {
		opens = append(opens, registry[name])
	}
	registryMu.Unlock()

	if len(names) == 0 {
		return nil, fmt.Errorf("%w: no GPU sampler registered (import github.com/typhonbench/typhon/gpu/nvml)", ErrGPUUnavailable)
	}
	var errs []error
	for i, open := range opens {
		s, err := open()
		if err == nil && s != nil {
			return s, nil
		}
		if err == nil {
			err = errors.New("opened no sampler")
		}
		if !errors.Is(err, ErrGPUUnavailable) {
			err = fmt.Errorf("%w: %w", ErrGPUUnavailable, err)
		}
		if len(names) > 1 {
			err = fmt.Errorf("%s: %w", names[i], err)
		}
		errs = append(errs, err)
	}
	if len(errs) == 1 {
		return nil, errs[0]
	}
	return nil, errors.Join(errs...)
}

// sortedKeys returns the keys of a set in order.
func sortedKeys(m map[string]bool) []string {
	if len(m) == 0 {
		return nil
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
