//go:build linux && cgo

package nvml

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/NVIDIA/go-nvml/pkg/dl"
	nv "github.com/NVIDIA/go-nvml/pkg/nvml"

	"github.com/typhonbench/typhon/gpu"
	"github.com/typhonbench/typhon/schema"
)

var _ gpu.Sampler = (*Sampler)(nil)

func init() { gpu.Register(Name, Open) }

// defaultLibrary is the NVML library the driver installs.
const defaultLibrary = "libnvidia-ml.so.1"

const mib = 1 << 20

// notAvailable is NVML_VALUE_NOT_AVAILABLE as an unsigned 64-bit value: a process
// whose memory NVML cannot tell.
const notAvailable = ^uint64(0)

// Options configure New.
type Options struct {
	// LibraryPath is the NVML library to load; empty means libnvidia-ml.so.1.
	LibraryPath string
	// Logger receives notes on what the driver lacks; nil discards them.
	Logger *slog.Logger
}

// Sampler reads NVML. It is safe for concurrent use; Close shuts NVML down.
type Sampler struct {
	lib nv.Interface

	mu     sync.Mutex
	devs   []*device
	infos  []schema.GPUInfo
	notes  []string
	closed bool
}

// field is one optional figure of a reading.
type field int

const (
	fMem field = iota
	fTemp
	fPower
	fUtil
	fClock
	fThrottle
	fEnergy
	fCompute
	fGraphics
	nFields
)

var fieldNames = [nFields]string{"memory", "temperature", "power", "utilization", "SM clock", "throttle reasons", "energy counter", "compute processes", "graphics processes"}

type device struct {
	index       int
	uuid        string
	h           nv.Device
	memV2       bool
	eventReason bool // nvmlDeviceGetCurrentClocksEventReasons exists
	unsupported [nFields]bool
}

// Open opens NVML with default options; it is what the package registers with
// gpu.Register. The error wraps gpu.ErrGPUUnavailable when there is no driver or
// no GPU.
func Open() (gpu.Sampler, error) {
	s, err := New(Options{})
	if err != nil {
		return nil, err
	}
	return s, nil
}

// New loads the NVML library, initialises it and describes the GPUs. The error
// wraps gpu.ErrGPUUnavailable when the library is missing, NVML does not start,
// or it sees no GPU.
func New(opts Options) (*Sampler, error) {
	path := opts.LibraryPath
	if path == "" {
		path = defaultLibrary
	}
	// go-nvml reports a missing library as a bare ERROR_LIBRARY_NOT_FOUND; load it
	// once ourselves to say why (the dlopen message).
	probe := dl.New(path, dl.RTLD_LAZY|dl.RTLD_GLOBAL)
	if err := probe.Open(); err != nil {
		return nil, fmt.Errorf("%w: NVML library not found (is the NVIDIA driver installed?): %v", gpu.ErrGPUUnavailable, err)
	}
	defer probe.Close()
	return newSampler(nv.New(nv.WithLibraryPath(path)), opts.Logger)
}

// newSampler initialises lib (a real library, or a mock in tests).
func newSampler(lib nv.Interface, log *slog.Logger) (*Sampler, error) {
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if ret := lib.Init(); ret != nv.SUCCESS {
		return nil, fmt.Errorf("%w: NVML init: %s", gpu.ErrGPUUnavailable, errorString(lib, ret))
	}
	s := &Sampler{lib: lib}
	ok := false
	defer func() {
		if !ok {
			lib.Shutdown()
		}
	}()

	count, ret := lib.DeviceGetCount()
	if ret != nv.SUCCESS {
		return nil, fmt.Errorf("%w: NVML device count: %s", gpu.ErrGPUUnavailable, errorString(lib, ret))
	}
	if count == 0 {
		return nil, fmt.Errorf("%w: NVML sees no GPU", gpu.ErrGPUUnavailable)
	}

	driver, _ := lib.SystemGetDriverVersion()
	cuda := ""
	if v, ret := lib.SystemGetCudaDriverVersion_v2(); ret == nv.SUCCESS && v > 0 {
		cuda = fmt.Sprintf("%d.%d", v/1000, v%1000/10)
	}
	ext := lib.Extensions()
	has := func(symbol string) bool { return ext.LookupSymbol(symbol) == nil }
	memV2 := has("nvmlDeviceGetMemoryInfo_v2")
	eventReason := has("nvmlDeviceGetCurrentClocksEventReasons")
	energy := has("nvmlDeviceGetTotalEnergyConsumption")

	var failures []string
	for i := range count {
		h, ret := lib.DeviceGetHandleByIndex(i)
		if ret != nv.SUCCESS {
			failures = append(failures, fmt.Sprintf("GPU %d: %s", i, errorString(lib, ret)))
			continue
		}
		d := &device{index: i, h: h, eventReason: eventReason}
		d.unsupported[fEnergy] = !energy
		info := schema.GPUInfo{Index: i, DriverVersion: driver, CUDAVersion: cuda}
		info.Name, _ = h.GetName()
		info.UUID, _ = h.GetUUID()
		d.uuid = info.UUID

		if memV2 {
			m, ret := h.GetMemoryInfo_v2()
			if ret == nv.SUCCESS {
				d.memV2 = true
				info.MemoryTotalMB = float64(m.Total) / mib
			} else {
				s.note(log, fmt.Sprintf("GPU %d: GetMemoryInfo_v2 failed (%s); memory used comes from GetMemoryInfo (v1), which also counts memory the driver reserves", i, errorString(lib, ret)))
			}
		} else if i == 0 {
			s.note(log, "the driver has no nvmlDeviceGetMemoryInfo_v2; memory used comes from GetMemoryInfo (v1), which also counts memory the driver reserves")
		}
		if !d.memV2 {
			if m, ret := h.GetMemoryInfo(); ret == nv.SUCCESS {
				info.MemoryTotalMB = float64(m.Total) / mib
			}
		}
		if major, minor, ret := h.GetCudaComputeCapability(); ret == nv.SUCCESS {
			info.ComputeCapability = fmt.Sprintf("%d.%d", major, minor)
		}
		if mw, ret := h.GetEnforcedPowerLimit(); ret == nv.SUCCESS {
			info.PowerLimitW = float64(mw) / 1000
		} else if mw, ret := h.GetPowerManagementLimit(); ret == nv.SUCCESS {
			info.PowerLimitW = float64(mw) / 1000
		}
		s.devs = append(s.devs, d)
		s.infos = append(s.infos, info)
	}
	if len(s.devs) == 0 {
		return nil, fmt.Errorf("%w: NVML cannot open any of its %d GPUs: %v", gpu.ErrGPUUnavailable, count, failures)
	}
	for _, f := range failures {
		s.note(log, "skipped "+f)
	}
	ok = true
	return s, nil
}

func (s *Sampler) note(log *slog.Logger, msg string) {
	s.notes = append(s.notes, msg)
	log.Warn("nvml: " + msg)
}

func errorString(lib nv.Interface, ret nv.Return) string {
	return lib.ErrorString(ret)
}

// Notes says what this driver lacks that changes the figures (for example memory
// used read with the v1 call), and which GPUs could not be opened.
func (s *Sampler) Notes() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.notes)
}

// Devices describes the GPUs, as read when the sampler was opened.
func (s *Sampler) Devices(ctx context.Context) ([]schema.GPUInfo, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, fmt.Errorf("%w: NVML sampler is closed", gpu.ErrGPUUnavailable)
	}
	return slices.Clone(s.infos), nil
}

// Sample reads every GPU. A field the card does not support is nil; Sample fails
// only when no GPU gave any figure.
func (s *Sampler) Sample(ctx context.Context) ([]gpu.Reading, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, fmt.Errorf("%w: NVML sampler is closed", gpu.ErrGPUUnavailable)
	}
	out := make([]gpu.Reading, 0, len(s.devs))
	var errs []error
	for _, d := range s.devs {
		rd, got, err := s.read(d)
		if err != nil {
			errs = append(errs, err)
		}
		if got {
			out = append(out, rd)
		}
	}
	if len(out) == 0 {
		if len(errs) == 0 {
			return nil, errors.New("nvml: no GPU reports any figure")
		}
		return nil, errors.Join(errs...)
	}
	return out, nil
}

// read takes one GPU's reading. got says whether any figure was read; err is the
// first failure other than "not supported".
func (s *Sampler) read(d *device) (rd gpu.Reading, got bool, err error) {
	rd = gpu.Reading{Index: d.index, UUID: d.uuid, At: time.Now()}
	// check records the outcome of one call: true when the value can be used.
	check := func(f field, ret nv.Return) bool {
		switch ret {
		case nv.SUCCESS:
			got = true
			return true
		case nv.ERROR_NOT_SUPPORTED, nv.ERROR_FUNCTION_NOT_FOUND:
			d.unsupported[f] = true
		default:
			if err == nil {
				err = fmt.Errorf("nvml: GPU %d %s: %s", d.index, fieldNames[f], errorString(s.lib, ret))
			}
		}
		return false
	}
	h := d.h
	if !d.unsupported[fMem] {
		if d.memV2 {
			if m, ret := h.GetMemoryInfo_v2(); check(fMem, ret) {
				rd.MemUsedMB = ptr(float64(m.Used) / mib)
			}
		} else if m, ret := h.GetMemoryInfo(); check(fMem, ret) {
			rd.MemUsedMB = ptr(float64(m.Used) / mib)
		}
	}
	if !d.unsupported[fTemp] {
		if t, ret := h.GetTemperature(nv.TEMPERATURE_GPU); check(fTemp, ret) {
			rd.TempC = ptr(float64(t))
		}
	}
	if !d.unsupported[fPower] {
		if mw, ret := h.GetPowerUsage(); check(fPower, ret) {
			rd.PowerW = ptr(float64(mw) / 1000)
		}
	}
	if !d.unsupported[fUtil] {
		if u, ret := h.GetUtilizationRates(); check(fUtil, ret) {
			rd.UtilPct = ptr(float64(u.Gpu))
			rd.MemUtilPct = ptr(float64(u.Memory))
		}
	}
	if !d.unsupported[fClock] {
		if mhz, ret := h.GetClockInfo(nv.CLOCK_SM); check(fClock, ret) {
			rd.SMClockMHz = ptr(float64(mhz))
		}
	}
	if !d.unsupported[fThrottle] {
		var mask uint64
		var ret nv.Return
		if d.eventReason {
			mask, ret = h.GetCurrentClocksEventReasons()
		} else {
			mask, ret = h.GetCurrentClocksThrottleReasons()
		}
		if check(fThrottle, ret) {
			rd.ThrottleReasons = DecodeThrottleReasons(mask &^ idleReason)
		}
	}
	if !d.unsupported[fEnergy] {
		if mj, ret := h.GetTotalEnergyConsumption(); check(fEnergy, ret) {
			rd.EnergyMJ = ptr(float64(mj))
		}
	}
	var procs map[int]float64
	add := func(list []nv.ProcessInfo) {
		if procs == nil {
			procs = make(map[int]float64, len(list))
		}
		for _, p := range list {
			if p.UsedGpuMemory == notAvailable {
				continue
			}
			// A process can be in both lists with the same figure: keep the larger.
			procs[int(p.Pid)] = max(procs[int(p.Pid)], float64(p.UsedGpuMemory)/mib)
		}
	}
	if !d.unsupported[fCompute] {
		if list, ret := h.GetComputeRunningProcesses(); check(fCompute, ret) {
			add(list)
		}
	}
	if !d.unsupported[fGraphics] {
		if list, ret := h.GetGraphicsRunningProcesses(); check(fGraphics, ret) {
			add(list)
		}
	}
	rd.ProcessMemMB = procs
	return rd, got, err
}

// Close shuts NVML down. Calling it again does nothing.
func (s *Sampler) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	if ret := s.lib.Shutdown(); ret != nv.SUCCESS {
		return fmt.Errorf("nvml: shutdown: %s", errorString(s.lib, ret))
	}
	return nil
}

func ptr(v float64) *float64 { return &v }
