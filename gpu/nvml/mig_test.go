//go:build linux && cgo

package nvml

import (
	"context"
	"strings"
	"testing"

	nv "github.com/NVIDIA/go-nvml/pkg/nvml"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock"
	"github.com/google/go-cmp/cmp"

	"github.com/typhonbench/typhon/gpu"
	"github.com/typhonbench/typhon/schema"
)

// migSlice is a MIG instance: its own name, UUID, memory and processes; the
// whole-GPU calls are not supported on it.
func migSlice(uuid string, usedMiB, totalMiB uint64, pid uint32) *mock.Device {
	return &mock.Device{
		GetNameFunc: func() (string, nv.Return) { return "NVIDIA H100 80GB HBM3 MIG 3g.40gb", nv.SUCCESS },
		GetUUIDFunc: func() (string, nv.Return) { return uuid, nv.SUCCESS },
		GetMemoryInfoFunc: func() (nv.Memory, nv.Return) {
			return nv.Memory{Total: totalMiB << 20, Used: usedMiB << 20}, nv.SUCCESS
		},
		GetComputeRunningProcessesFunc: func() ([]nv.ProcessInfo, nv.Return) {
			return []nv.ProcessInfo{{Pid: pid, UsedGpuMemory: (usedMiB - 100) << 20}}, nv.SUCCESS
		},
		GetGraphicsRunningProcessesFunc: func() ([]nv.ProcessInfo, nv.Return) { return nil, nv.SUCCESS },
	}
}

func TestSamplerMIG(t *testing.T) {
	t.Parallel()
	parent := fakeGPU{name: "NVIDIA H100 80GB HBM3", uuid: "GPU-h100", usedV2: 30 * gib, total: 80 * gib,
		computeProcs: []nv.ProcessInfo{{Pid: 500, UsedGpuMemory: 20 * gib}, {Pid: 600, UsedGpuMemory: 10 * gib}}}
	parent.migs = []*mock.Device{
		migSlice("MIG-a", 20480, 40960, 500),
		migSlice("MIG-b", 10240, 40960, 600),
	}
	s, err := newSampler(fakeLib(nil, parent.device()), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	devs, _ := s.Devices(context.Background())
	zero := 0
	wantDevs := []schema.GPUInfo{
		{Index: 0, Name: "NVIDIA H100 80GB HBM3", UUID: "GPU-h100", MemoryTotalMB: 81920, DriverVersion: "550.54.15",
			CUDAVersion: "12.4", ComputeCapability: "8.9", PowerLimitW: 450},
		{Index: 1, Name: "NVIDIA H100 80GB HBM3 MIG 3g.40gb", UUID: "MIG-a", MemoryTotalMB: 40960, DriverVersion: "550.54.15",
			CUDAVersion: "12.4", ComputeCapability: "8.9", MIGParentIndex: &zero},
		{Index: 2, Name: "NVIDIA H100 80GB HBM3 MIG 3g.40gb", UUID: "MIG-b", MemoryTotalMB: 40960, DriverVersion: "550.54.15",
			CUDAVersion: "12.4", ComputeCapability: "8.9", MIGParentIndex: &zero},
	}
	if diff := cmp.Diff(wantDevs, devs); diff != "" {
		t.Errorf("Devices() with MIG on (-want +got):\n%s", diff)
	}
	got, err := s.Sample(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := []gpu.Reading{
		{Index: 0, UUID: "GPU-h100", MemUsedMB: f(30720), TempC: f(65), PowerW: f(215.5), PowerInstantW: f(230),
			UtilPct: f(97), MemUtilPct: f(41), SMClockMHz: f(2520), EnergyMJ: f(123_456_789)}, // processes left to the instances
		{Index: 1, UUID: "MIG-a", MemUsedMB: f(20480), ProcessMemMB: map[int]float64{500: 20380}},
		{Index: 2, UUID: "MIG-b", MemUsedMB: f(10240), ProcessMemMB: map[int]float64{600: 10140}},
	}
	if diff := cmp.Diff(want, got, ignoreAt); diff != "" {
		t.Errorf("Sample() with MIG on (-want +got):\n%s", diff)
	}
	// The server (PID 500) on instance MIG-a: that instance is its GPU.
	if got := gpu.ServerGPUs(got, []int{500}); !cmp.Equal(got, []int{1}) {
		t.Errorf("ServerGPUs(pid 500) = %v, want [1] (the MIG instance)", got)
	}
}

func TestSamplerNoPermissionAndSymbols(t *testing.T) {
	t.Parallel()
	g := fakeGPU{usedV2: gib, total: 8 * gib, memV2: nv.ERROR_NO_PERMISSION, memV1: nv.ERROR_NO_PERMISSION, compute: nv.ERROR_NO_PERMISSION}
	dev := g.device()
	s, err := newSampler(fakeLib([]string{"nvmlDeviceGetFieldValues", "nvmlDeviceGetMigMode"}, dev), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for range 3 {
		if _, err := s.Sample(context.Background()); err != nil {
			t.Fatalf("Sample() error = %v: no permission is a note, not a failure", err)
		}
	}
	notes := strings.Join(s.Notes(), "\n")
	if strings.Count(notes, "no permission to read memory") != 1 || strings.Count(notes, "no permission to read compute processes") != 1 {
		t.Errorf("notes = %q, want one no-permission note for memory and one for compute processes", notes)
	}
	calls := map[string]int{
		"GetMemoryInfo after open":   len(dev.GetMemoryInfoCalls()) - 1,
		"GetComputeRunningProcesses": len(dev.GetComputeRunningProcessesCalls()),
		"GetFieldValues (no symbol)": len(dev.GetFieldValuesCalls()),
		"GetMigMode (no symbol)":     len(dev.GetMigModeCalls()),
	}
	want := map[string]int{"GetMemoryInfo after open": 1, "GetComputeRunningProcesses": 1,
		"GetFieldValues (no symbol)": 0, "GetMigMode (no symbol)": 0}
	if diff := cmp.Diff(want, calls); diff != "" {
		t.Errorf("calls (-want +got):\n%s", diff)
	}
}
