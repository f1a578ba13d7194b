//go:build !(linux && cgo)

package nvml

import (
	"context"
	"fmt"
	"log/slog"
	"runtime"

	"github.com/typhonbench/typhon/gpu"
	"github.com/typhonbench/typhon/schema"
)

var _ gpu.Sampler = (*Sampler)(nil)

func init() { gpu.Register(Name, Open) }

// errNoCgo says why this build cannot read NVML.
var errNoCgo = func() error {
	if runtime.GOOS == "linux" {
		return fmt.Errorf("%w: NVML needs cgo, and this binary was built without it (CGO_ENABLED=0)", gpu.ErrGPUUnavailable)
	}
	return fmt.Errorf("%w: NVML is read on linux only, and this binary is built for %s", gpu.ErrGPUUnavailable, runtime.GOOS)
}()

// Options configure New.
type Options struct {
	// LibraryPath is the NVML library to load; empty means libnvidia-ml.so.1.
	LibraryPath string
	// Logger receives notes on what the driver lacks; nil discards them.
	Logger *slog.Logger
}

// Sampler reads NVML. In this build it has nothing to read.
type Sampler struct{}

// Open opens NVML with default options. In this build it always fails with an
// error wrapping gpu.ErrGPUUnavailable.
func Open() (gpu.Sampler, error) { return nil, errNoCgo }

// New opens NVML. In this build it always fails with an error wrapping
// gpu.ErrGPUUnavailable.
func New(Options) (*Sampler, error) { return nil, errNoCgo }

// Devices fails: there is no NVML in this build.
func (*Sampler) Devices(context.Context) ([]schema.GPUInfo, error) { return nil, errNoCgo }

// Sample fails: there is no NVML in this build.
func (*Sampler) Sample(context.Context) ([]gpu.Reading, error) { return nil, errNoCgo }

// Notes is empty in this build.
func (*Sampler) Notes() []string { return nil }

// Close does nothing in this build.
func (*Sampler) Close() error { return nil }
