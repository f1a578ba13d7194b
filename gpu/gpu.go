// Package gpu samples GPU telemetry during a benchmark and summarises it per test
// window. Hardware sits behind the small Sampler interface, which returns Typhon's
// own types; the NVML implementation lives in package gpu/nvml (the only cgo).
package gpu

import (
	"context"
	"errors"
	"time"

	"github.com/typhonbench/typhon/schema"
)

// ErrGPUUnavailable is returned when no GPU telemetry can be read (no driver, no GPU,
// a build without cgo).
var ErrGPUUnavailable = errors.New("gpu telemetry unavailable")

// DefaultInterval is the sampling interval of a zero Recorder.
const DefaultInterval = 100 * time.Millisecond

// Reading is one GPU's telemetry at one instant. A nil field was not reported by the
// card; the rest of the reading is kept.
type Reading struct {
	Index           int
	UUID            string
	At              time.Time
	MemUsedMB       *float64
	TempC           *float64
	PowerW          *float64
	UtilPct         *float64
	MemUtilPct      *float64
	SMClockMHz      *float64
	EnergyMJ        *float64 // total energy counter since driver load, millijoules
	ThrottleReasons []string
	// ProcessMemMB maps PID to the memory that process holds on this GPU.
	ProcessMemMB map[int]float64
}

// Sampler reads GPU telemetry. Implementations must be safe for use by one
// goroutine at a time.
type Sampler interface {
	// Devices describes the GPUs. It returns an error wrapping ErrGPUUnavailable
	// when there are none to read.
	Devices(ctx context.Context) ([]schema.GPUInfo, error)
	// Sample takes one reading of every GPU.
	Sample(ctx context.Context) ([]Reading, error)
}

// Recorder runs a Sampler in one goroutine (Run) and hands out windows over the
// readings. The zero value is not usable: set Sampler.
type Recorder struct {
	Sampler  Sampler
	Interval time.Duration // 0 means DefaultInterval
	// Indexes restricts windows to these GPUs (the ones the server uses); nil = all.
	Indexes []int
	// PIDs are the server's processes, whose own memory is reported when listed.
	PIDs []int
}

// Run samples until ctx is done; it returns nil on cancellation.
func (r *Recorder) Run(ctx context.Context) error {
	<-ctx.Done()
	return nil
}

// Window collects the readings between Open and Close.
type Window struct{}

// Open starts a window.
func (r *Recorder) Open() *Window { return &Window{} }

// Close ends the window and summarises it.
func (w *Window) Close() schema.GPUStats { return schema.GPUStats{} }

// Latest returns the most recent reading of each GPU (nil before the first sample).
func (r *Recorder) Latest() []Reading { return nil }
