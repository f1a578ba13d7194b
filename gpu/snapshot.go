package gpu

import (
	"context"
	"fmt"
	"runtime"
	"strings"

	"github.com/shirou/gopsutil/v3/cpu"
	"github.com/shirou/gopsutil/v3/host"
	"github.com/shirou/gopsutil/v3/mem"
	"github.com/typhonbench/typhon/schema"
)

const mib = 1 << 20

// Snapshot takes the hardware profile of the machine: the GPUs from s.Devices,
// and the CPU, memory and operating system of the host. With s nil, or when
// Devices fails, GPUs is empty and GPUError says why (a caller that got s from
// [Default] may put Default's error there instead). Host figures that cannot be
// read are left zero.
func Snapshot(ctx context.Context, s Sampler) schema.Profile {
	p := schema.Profile{GPUs: []schema.GPUInfo{}}
	if s == nil {
		p.GPUError = fmt.Errorf("%w: no GPU sampler", ErrGPUUnavailable).Error()
	} else if gpus, err := s.Devices(ctx); err != nil {
		p.GPUError = err.Error()
	} else {
		p.GPUs = append(p.GPUs, gpus...)
	}

	if infos, err := cpu.InfoWithContext(ctx); err == nil && len(infos) > 0 {
		p.CPU.Model = strings.TrimSpace(infos[0].ModelName)
	}
	if n, err := cpu.CountsWithContext(ctx, false); err == nil {
		p.CPU.PhysicalCores = n
	}
	if n, err := cpu.CountsWithContext(ctx, true); err == nil {
		p.CPU.LogicalCores = n
	} else {
		p.CPU.LogicalCores = runtime.NumCPU()
	}
	if vm, err := mem.VirtualMemoryWithContext(ctx); err == nil {
		p.RAM.TotalMB = float64(vm.Total) / mib
		p.RAM.AvailableMB = float64(vm.Available) / mib
	}
	p.OS.Name = runtime.GOOS
	p.OS.Arch = runtime.GOARCH
	// Not host.Info: it also reads the host name and id, which a record must not carry.
	if platform, _, version, err := host.PlatformInformationWithContext(ctx); err == nil {
		p.OS.Platform, p.OS.Version = platform, version
	}
	if kernel, err := host.KernelVersionWithContext(ctx); err == nil {
		p.OS.Kernel = kernel
	}
	return p
}
