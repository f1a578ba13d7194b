//go:build linux && cgo

package nvml

import (
	"context"
	"encoding/binary"
	"errors"
	"math"
	"strings"
	"testing"

	nv "github.com/NVIDIA/go-nvml/pkg/nvml"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/typhonbench/typhon/gpu"
	"github.com/typhonbench/typhon/schema"
)

func f(v float64) *float64 { return &v }

// fakeGPU scripts one mock device. A zero Return is SUCCESS.
type fakeGPU struct {
	name, uuid                                           string
	memV2, memV1, temp, power, util, clock, event, throt nv.Return
	energy, compute, graphics, instant                   nv.Return
	usedV2, usedV1, total                                uint64
	migs                                                 []*mock.Device // MIG instances; nil: MIG off
	mask                                                 uint64
	computeProcs, graphicsProcs                          []nv.ProcessInfo
}

func (g fakeGPU) device() *mock.Device {
	return &mock.Device{
		GetNameFunc: func() (string, nv.Return) { return g.name, nv.SUCCESS },
		GetUUIDFunc: func() (string, nv.Return) { return g.uuid, nv.SUCCESS },
		GetMemoryInfo_v2Func: func() (nv.Memory_v2, nv.Return) {
			return nv.Memory_v2{Total: g.total, Used: g.usedV2, Free: g.total - g.usedV2}, g.memV2
		},
		GetMemoryInfoFunc: func() (nv.Memory, nv.Return) {
			return nv.Memory{Total: g.total, Used: g.usedV1, Free: g.total - g.usedV1}, g.memV1
		},
		GetCudaComputeCapabilityFunc: func() (int, int, nv.Return) { return 8, 9, nv.SUCCESS },
		GetEnforcedPowerLimitFunc:    func() (uint32, nv.Return) { return 450_000, nv.SUCCESS },
		GetPowerManagementLimitFunc:  func() (uint32, nv.Return) { return 0, nv.ERROR_NOT_SUPPORTED },
		GetTemperatureFunc: func(s nv.TemperatureSensors) (uint32, nv.Return) {
			return 65, g.temp
		},
		GetPowerUsageFunc: func() (uint32, nv.Return) { return 215_500, g.power },
		GetUtilizationRatesFunc: func() (nv.Utilization, nv.Return) {
			return nv.Utilization{Gpu: 97, Memory: 41}, g.util
		},
		GetClockInfoFunc:                    func(nv.ClockType) (uint32, nv.Return) { return 2520, g.clock },
		GetCurrentClocksEventReasonsFunc:    func() (uint64, nv.Return) { return g.mask, g.event },
		GetCurrentClocksThrottleReasonsFunc: func() (uint64, nv.Return) { return g.mask, g.throt },
		GetTotalEnergyConsumptionFunc:       func() (uint64, nv.Return) { return 123_456_789, g.energy },
		GetComputeRunningProcessesFunc: func() ([]nv.ProcessInfo, nv.Return) {
			return g.computeProcs, g.compute
		},
		GetGraphicsRunningProcessesFunc: func() ([]nv.ProcessInfo, nv.Return) {
			return g.graphicsProcs, g.graphics
		},
		GetFieldValuesFunc: func(vals []nv.FieldValue) nv.Return {
			for i := range vals {
				if vals[i].FieldId != nv.FI_DEV_POWER_INSTANT {
					vals[i].NvmlReturn = uint32(nv.ERROR_NOT_SUPPORTED)
					continue
				}
				vals[i].ValueType = uint32(nv.VALUE_TYPE_UNSIGNED_INT)
				binary.NativeEndian.PutUint32(vals[i].Value[:], 230_000)
				vals[i].NvmlReturn = uint32(g.instant)
			}
			return nv.SUCCESS
		},
		GetMigModeFunc: func() (int, int, nv.Return) {
			if g.migs == nil {
				return nv.DEVICE_MIG_DISABLE, nv.DEVICE_MIG_DISABLE, nv.SUCCESS
			}
			return nv.DEVICE_MIG_ENABLE, nv.DEVICE_MIG_ENABLE, nv.SUCCESS
		},
		GetMaxMigDeviceCountFunc: func() (int, nv.Return) { return len(g.migs) + 1, nv.SUCCESS },
		GetMigDeviceHandleByIndexFunc: func(i int) (nv.Device, nv.Return) {
			if i >= len(g.migs) {
				return nil, nv.ERROR_NOT_FOUND // an empty slot
			}
			return g.migs[i], nv.SUCCESS
		},
	}
}

// fakeLib is a mock NVML with the given devices; symbols in missing are absent
// from the library.
func fakeLib(missing []string, devs ...*mock.Device) *mock.Interface {
	return &mock.Interface{
		InitFunc:                          func() nv.Return { return nv.SUCCESS },
		ShutdownFunc:                      func() nv.Return { return nv.SUCCESS },
		ErrorStringFunc:                   func(r nv.Return) string { return r.Error() },
		DeviceGetCountFunc:                func() (int, nv.Return) { return len(devs), nv.SUCCESS },
		SystemGetDriverVersionFunc:        func() (string, nv.Return) { return "550.54.15", nv.SUCCESS },
		SystemGetCudaDriverVersion_v2Func: func() (int, nv.Return) { return 12040, nv.SUCCESS },
		DeviceGetHandleByIndexFunc: func(i int) (nv.Device, nv.Return) {
			if i < 0 || i >= len(devs) {
				return nil, nv.ERROR_INVALID_ARGUMENT
			}
			return devs[i], nv.SUCCESS
		},
		ExtensionsFunc: func() nv.ExtendedInterface {
			return &mock.ExtendedInterface{LookupSymbolFunc: func(s string) error {
				for _, m := range missing {
					if s == m {
						return errors.New("undefined symbol: " + s)
					}
				}
				return nil
			}}
		},
	}
}

const gib = 1 << 30

var ignoreAt = cmpopts.IgnoreFields(gpu.Reading{}, "At")

func TestSamplerFullSupport(t *testing.T) {
	t.Parallel()
	g := fakeGPU{
		name: "NVIDIA GeForce RTX 4090", uuid: "GPU-1234",
		total: 24 * gib, usedV2: 8 * gib, usedV1: 9 * gib,
		mask: 0x1 | 0x4, // idle is left out
		computeProcs: []nv.ProcessInfo{
			{Pid: 10, UsedGpuMemory: 6 * gib},
			{Pid: 12, UsedGpuMemory: ^uint64(0)}, // memory not available: NaN
		},
		graphicsProcs: []nv.ProcessInfo{{Pid: 10, UsedGpuMemory: 6 * gib}, {Pid: 11, UsedGpuMemory: gib / 2}},
	}
	lib := fakeLib(nil, g.device())
	s, err := newSampler(lib, nil)
	if err != nil {
		t.Fatalf("newSampler() error = %v", err)
	}
	defer s.Close()

	devs, err := s.Devices(context.Background())
	if err != nil {
		t.Fatalf("Devices() error = %v", err)
	}
	wantDevs := []schema.GPUInfo{{
		Index: 0, Name: "NVIDIA GeForce RTX 4090", UUID: "GPU-1234", MemoryTotalMB: 24576,
		DriverVersion: "550.54.15", CUDAVersion: "12.4", ComputeCapability: "8.9", PowerLimitW: 450,
	}}
	if diff := cmp.Diff(wantDevs, devs); diff != "" {
		t.Errorf("Devices() mismatch (-want +got):\n%s", diff)
	}

	got, err := s.Sample(context.Background())
	if err != nil {
		t.Fatalf("Sample() error = %v", err)
	}
	want := []gpu.Reading{{
		Index: 0, UUID: "GPU-1234",
		MemUsedMB: f(8192), // v2, not v1's 9216
		TempC:     f(65), PowerW: f(215.5), PowerInstantW: f(230), UtilPct: f(97), MemUtilPct: f(41), SMClockMHz: f(2520),
		EnergyMJ:        f(123_456_789),
		ThrottleReasons: []string{"sw_power_cap"},
		ProcessMemMB:    map[int]float64{10: 6144, 11: 512, 12: math.NaN()},
	}}
	if diff := cmp.Diff(want, got, ignoreAt, cmpopts.EquateNaNs()); diff != "" {
		t.Errorf("Sample() mismatch (-want +got):\n%s", diff)
	}
	if got[0].At.IsZero() {
		t.Errorf("Sample() reading has no timestamp")
	}
	if notes := s.Notes(); len(notes) != 0 {
		t.Errorf("Notes() = %q, want none", notes)
	}
}

func TestSamplerFallbacks(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		missing   []string
		gpu       fakeGPU
		want      gpu.Reading
		wantNote  string // substring of Notes; "" = no note
		wantErr   string // substring of Sample's error (a partial round); "" = none
		wantCalls map[string]int
	}{
		{
			name:     "driver without GetMemoryInfo_v2 uses v1 and says so",
			missing:  []string{"nvmlDeviceGetMemoryInfo_v2"},
			gpu:      fakeGPU{usedV2: 8 * gib, usedV1: 9 * gib, total: 24 * gib},
			want:     gpu.Reading{MemUsedMB: f(9216), TempC: f(65), PowerW: f(215.5), PowerInstantW: f(230), UtilPct: f(97), MemUtilPct: f(41), SMClockMHz: f(2520), EnergyMJ: f(123_456_789), ProcessMemMB: map[int]float64{}},
			wantNote: "v1",
		},
		{
			name:     "GetMemoryInfo_v2 not supported by the card uses v1 and says so",
			gpu:      fakeGPU{memV2: nv.ERROR_NOT_SUPPORTED, usedV2: 8 * gib, usedV1: 9 * gib, total: 24 * gib},
			want:     gpu.Reading{MemUsedMB: f(9216), TempC: f(65), PowerW: f(215.5), PowerInstantW: f(230), UtilPct: f(97), MemUtilPct: f(41), SMClockMHz: f(2520), EnergyMJ: f(123_456_789), ProcessMemMB: map[int]float64{}},
			wantNote: "GPU 0: GetMemoryInfo_v2 failed (ERROR_NOT_SUPPORTED)",
		},
		{
			name:    "unsupported fields are nil and not asked again; the rest is kept",
			missing: []string{"nvmlDeviceGetTotalEnergyConsumption"},
			gpu: fakeGPU{
				usedV2: gib, total: 8 * gib,
				temp: nv.ERROR_NOT_SUPPORTED, power: nv.ERROR_NOT_SUPPORTED, clock: nv.ERROR_NOT_SUPPORTED,
				compute: nv.ERROR_NOT_SUPPORTED, graphics: nv.ERROR_NOT_SUPPORTED,
			},
			want: gpu.Reading{MemUsedMB: f(1024), UtilPct: f(97), MemUtilPct: f(41), PowerInstantW: f(230)},
			wantCalls: map[string]int{
				"GetTemperature": 1, "GetPowerUsage": 1, "GetTotalEnergyConsumption": 0,
				"GetMemoryInfo_v2": 3, // one at open, two samples
			},
		},
		{
			name:      "driver without clock event reasons uses throttle reasons",
			missing:   []string{"nvmlDeviceGetCurrentClocksEventReasons"},
			gpu:       fakeGPU{usedV2: gib, total: 8 * gib, event: nv.ERROR_FUNCTION_NOT_FOUND, mask: 0x40},
			want:      gpu.Reading{MemUsedMB: f(1024), TempC: f(65), PowerW: f(215.5), PowerInstantW: f(230), UtilPct: f(97), MemUtilPct: f(41), SMClockMHz: f(2520), EnergyMJ: f(123_456_789), ThrottleReasons: []string{"hw_thermal_slowdown"}, ProcessMemMB: map[int]float64{}},
			wantCalls: map[string]int{"GetCurrentClocksEventReasons": 0, "GetCurrentClocksThrottleReasons": 2},
		},
		{
			name:      "a transient failure leaves the field nil this round only",
			gpu:       fakeGPU{usedV2: gib, total: 8 * gib, power: nv.ERROR_UNKNOWN},
			want:      gpu.Reading{MemUsedMB: f(1024), TempC: f(65), UtilPct: f(97), MemUtilPct: f(41), SMClockMHz: f(2520), EnergyMJ: f(123_456_789), PowerInstantW: f(230), ProcessMemMB: map[int]float64{}},
			wantErr:   "GPU 0 power: ERROR_UNKNOWN",
			wantCalls: map[string]int{"GetPowerUsage": 2},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dev := tt.gpu.device()
			s, err := newSampler(fakeLib(tt.missing, dev), nil)
			if err != nil {
				t.Fatalf("newSampler() error = %v", err)
			}
			defer s.Close()
			var got []gpu.Reading
			for range 2 {
				got, err = s.Sample(context.Background())
				if tt.wantErr == "" && err != nil {
					t.Fatalf("Sample() error = %v", err)
				}
				if tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
					t.Fatalf("Sample() error = %v, want one containing %q (readings kept beside it)", err, tt.wantErr)
				}
			}
			if diff := cmp.Diff([]gpu.Reading{tt.want}, got, ignoreAt); diff != "" {
				t.Errorf("Sample() mismatch (-want +got):\n%s", diff)
			}
			notes := strings.Join(s.Notes(), "\n")
			if tt.wantNote == "" && notes != "" {
				t.Errorf("Notes() = %q, want none", notes)
			}
			if tt.wantNote != "" && !strings.Contains(notes, tt.wantNote) {
				t.Errorf("Notes() = %q, want it to contain %q", notes, tt.wantNote)
			}
			calls := map[string]int{
				"GetTemperature":                  len(dev.GetTemperatureCalls()),
				"GetPowerUsage":                   len(dev.GetPowerUsageCalls()),
				"GetTotalEnergyConsumption":       len(dev.GetTotalEnergyConsumptionCalls()),
				"GetMemoryInfo_v2":                len(dev.GetMemoryInfo_v2Calls()),
				"GetCurrentClocksEventReasons":    len(dev.GetCurrentClocksEventReasonsCalls()),
				"GetCurrentClocksThrottleReasons": len(dev.GetCurrentClocksThrottleReasonsCalls()),
			}
			for name, want := range tt.wantCalls {
				if calls[name] != want {
					t.Errorf("%s called %d times, want %d", name, calls[name], want)
				}
			}
		})
	}
}

// lost is a GPU that answers nothing.
var lost = fakeGPU{
	memV2: nv.ERROR_GPU_IS_LOST, memV1: nv.ERROR_GPU_IS_LOST, temp: nv.ERROR_GPU_IS_LOST,
	power: nv.ERROR_GPU_IS_LOST, util: nv.ERROR_GPU_IS_LOST, clock: nv.ERROR_GPU_IS_LOST,
	event: nv.ERROR_GPU_IS_LOST, energy: nv.ERROR_GPU_IS_LOST, compute: nv.ERROR_GPU_IS_LOST,
	graphics: nv.ERROR_GPU_IS_LOST, instant: nv.ERROR_GPU_IS_LOST,
}

func TestSamplerLostGPU(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		gpus        []fakeGPU
		wantIndexes []int
		wantErr     string
	}{
		{name: "the only GPU is lost", gpus: []fakeGPU{lost}, wantErr: "ERROR_GPU_IS_LOST"},
		{name: "one of two GPUs is lost: the other's reading and the loss", gpus: []fakeGPU{lost, {usedV2: gib, total: 8 * gib}},
			wantIndexes: []int{1}, wantErr: "GPU 0 memory: ERROR_GPU_IS_LOST"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var devs []*mock.Device
			for _, g := range tt.gpus {
				devs = append(devs, g.device())
			}
			s, err := newSampler(fakeLib(nil, devs...), nil)
			if err != nil {
				t.Fatalf("newSampler() error = %v", err)
			}
			defer s.Close()
			got, err := s.Sample(context.Background())
			if tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("Sample() error = %v, want one containing %q", err, tt.wantErr)
			}
			if tt.wantErr == "" && err != nil {
				t.Fatalf("Sample() error = %v", err)
			}
			var idx []int
			for _, rd := range got {
				idx = append(idx, rd.Index)
			}
			if diff := cmp.Diff(tt.wantIndexes, idx); diff != "" {
				t.Errorf("Sample() GPU indexes mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestNewSamplerErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name          string
		lib           *mock.Interface
		wantErr       string
		wantShutdowns int
	}{
		{
			name: "init fails",
			lib: func() *mock.Interface {
				l := fakeLib(nil, fakeGPU{}.device())
				l.InitFunc = func() nv.Return { return nv.ERROR_DRIVER_NOT_LOADED }
				return l
			}(),
			wantErr: "NVML init: ERROR_DRIVER_NOT_LOADED",
		},
		{name: "no GPU", lib: fakeLib(nil), wantErr: "NVML sees no GPU", wantShutdowns: 1},
		{
			name: "no GPU can be opened",
			lib: func() *mock.Interface {
				l := fakeLib(nil, fakeGPU{}.device())
				l.DeviceGetHandleByIndexFunc = func(int) (nv.Device, nv.Return) { return nil, nv.ERROR_NO_PERMISSION }
				return l
			}(),
			wantErr:       "cannot open any of its 1 GPUs",
			wantShutdowns: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, err := newSampler(tt.lib, nil)
			if s != nil || !errors.Is(err, gpu.ErrGPUUnavailable) || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("newSampler() = %v, %v; want nil and an error wrapping ErrGPUUnavailable containing %q", s, err, tt.wantErr)
			}
			if got := len(tt.lib.ShutdownCalls()); got != tt.wantShutdowns {
				t.Errorf("Shutdown called %d times, want %d", got, tt.wantShutdowns)
			}
		})
	}
}

func TestSamplerClose(t *testing.T) {
	t.Parallel()
	lib := fakeLib(nil, fakeGPU{usedV2: gib, total: 8 * gib}.device())
	s, err := newSampler(lib, nil)
	if err != nil {
		t.Fatalf("newSampler() error = %v", err)
	}
	for i := range 2 {
		if err := s.Close(); err != nil {
			t.Errorf("Close() #%d = %v, want nil", i+1, err)
		}
	}
	if got := len(lib.ShutdownCalls()); got != 1 {
		t.Errorf("Shutdown called %d times, want 1", got)
	}
	if _, err := s.Sample(context.Background()); !errors.Is(err, gpu.ErrGPUUnavailable) {
		t.Errorf("Sample() after Close = %v, want an error wrapping ErrGPUUnavailable", err)
	}
}

// TestOpenOnThisMachine runs the real loader. Without the NVIDIA driver (the CI
// machines) it must fail cleanly, wrapping ErrGPUUnavailable and naming the
// library; on a GPU machine it must describe and sample the GPUs.
func TestOpenOnThisMachine(t *testing.T) {
	s, err := Open()
	if err != nil {
		if !errors.Is(err, gpu.ErrGPUUnavailable) {
			t.Fatalf("Open() error = %v, want one wrapping ErrGPUUnavailable", err)
		}
		if !strings.Contains(err.Error(), "libnvidia-ml.so") {
			t.Errorf("Open() error = %q, want it to name libnvidia-ml.so", err)
		}
		if s != nil {
			t.Errorf("Open() sampler = %v, want nil with an error", s)
		}
		_, defErr := gpu.Default()
		if !errors.Is(defErr, gpu.ErrGPUUnavailable) || !strings.Contains(defErr.Error(), "libnvidia-ml.so") {
			t.Errorf("gpu.Default() error = %v, want the registered nvml sampler's reason", defErr)
		}
		t.Logf("no driver, as expected here: %v", err)
		return
	}
	defer s.(*Sampler).Close()
	devs, err := s.Devices(context.Background())
	if err != nil || len(devs) == 0 {
		t.Fatalf("Devices() = %v, %v; want at least one GPU", devs, err)
	}
	readings, err := s.Sample(context.Background())
	if err != nil || len(readings) == 0 {
		t.Fatalf("Sample() = %v, %v; want readings", readings, err)
	}
	t.Logf("GPU 0: %+v", devs[0])
}
