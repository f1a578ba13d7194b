package gpu

import (
	"context"
	"fmt"

	"github.com/typhonbench/typhon/host"
	"github.com/typhonbench/typhon/schema"
)

// Snapshot takes the hardware profile of the machine: the GPUs from s.Devices,
// and the CPU, memory and operating system from [host.Profile]. With s nil, or
// when Devices fails, GPUs is empty and GPUError says why (a caller that got s
// from [Default] may put Default's error there instead). Host figures that
// cannot be read are left zero.
func Snapshot(ctx context.Context, s Sampler) schema.Profile {
	p := host.Profile(ctx)
	if s == nil {
		p.GPUError = fmt.Errorf("%w: no GPU sampler", ErrGPUUnavailable).Error()
	} else if gpus, err := s.Devices(ctx); err != nil {
		p.GPUError = err.Error()
	} else {
		p.GPUs = append(p.GPUs, gpus...)
	}
	return p
}
