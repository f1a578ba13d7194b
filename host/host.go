// Package host reads the profile of the machine a run measures: its processor,
// memory and operating system. GPUs are package gpu's; gpu.Snapshot puts both
// together into a record's profile_snapshot.
package host

import (
	"context"
	"runtime"
	"strings"

	"github.com/shirou/gopsutil/v3/cpu"
	gohost "github.com/shirou/gopsutil/v3/host"
	"github.com/shirou/gopsutil/v3/mem"

	"github.com/typhonbench/typhon/schema"
)

const mib = 1 << 20

// Profile returns the host part of a profile: CPU, RAM and OS, with an empty GPU
// list. Figures that cannot be read are left zero; the logical core count falls
// back to runtime.NumCPU. It never reads the host name or id, which a record
// must not carry.
func Profile(ctx context.Context) schema.Profile {
	p := schema.Profile{GPUs: []schema.GPUInfo{}}
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
	// Not gohost.Info: it also reads the host name and id.
	if platform, _, version, err := gohost.PlatformInformationWithContext(ctx); err == nil {
		p.OS.Platform, p.OS.Version = platform, version
	}
	if kernel, err := gohost.KernelVersionWithContext(ctx); err == nil {
		p.OS.Kernel = kernel
	}
	return p
}
