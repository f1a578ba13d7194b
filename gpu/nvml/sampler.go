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
	log *slog.Logger

	mu     sync.Mutex
	devs   []*device
	infos  []schema.GPUInfo
	notes  []string
	closed bool
	migs   migState
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
	fInstant
	nFields
)

var fieldNames = [nFields]string{"memory", "temperature", "power", "utilization", "SM clock", "throttle reasons",
	"energy counter", "compute processes", "graphics processes", "instant power"}

type device struct {
	index       int
	uuid        string
	h           nv.Device
	memV2       bool
	eventReason bool // nvmlDeviceGetCurrentClocksEventReasons exists
	unsupported [nFields]bool
	worked      [nFields]bool // the field has been read once: a later refusal is a failure, not a lack
	mig         bool          // a MIG instance: memory and processes are its own, the rest is the parent GPU's
	key         string        // a MIG instance's name across scans (its UUID)
	parent      int           // a MIG instance's whole GPU
}

// symbols says which optional NVML calls the loaded library has. go-nvml binds
// symbols lazily: calling one the library lacks aborts the process, so every
// call newer than NVML's oldest supported API is asked for here first.
type symbols struct {
	memV2, eventReason, energy, fieldValues, mig bool
}

func lookupSymbols(lib nv.Interface) symbols {
	ext := lib.Extensions()
	has := func(symbol string) bool { return ext.LookupSymbol(symbol) == nil }
	return symbols{
		memV2:       has("nvmlDeviceGetMemoryInfo_v2"),
		eventReason: has("nvmlDeviceGetCurrentClocksEventReasons"),
		energy:      has("nvmlDeviceGetTotalEnergyConsumption"),
		fieldValues: has("nvmlDeviceGetFieldValues"),
		mig: has("nvmlDeviceGetMigMode") && has("nvmlDeviceGetMaxMigDeviceCount") &&
			has("nvmlDeviceGetMigDeviceHandleByIndex"),
	}
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
	s := &Sampler{lib: lib, log: log}
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
	base := schema.GPUInfo{}
	base.DriverVersion, _ = lib.SystemGetDriverVersion()
	if v, ret := lib.SystemGetCudaDriverVersion_v2(); ret == nv.SUCCESS && v > 0 {
		base.CUDAVersion = fmt.Sprintf("%d.%d", v/1000, v%1000/10)
	}
	sym := lookupSymbols(lib)
	if !sym.memV2 {
		s.note("the driver has no nvmlDeviceGetMemoryInfo_v2; memory used comes from GetMemoryInfo (v1), which also counts memory the driver reserves")
	}
	var failures []string
	for i := range count {
		h, ret := lib.DeviceGetHandleByIndex(i)
		if ret != nv.SUCCESS {
			failures = append(failures, fmt.Sprintf("GPU %d: %s", i, errorString(lib, ret)))
			continue
		}
		d, info := s.describe(h, i, base, sym)
		s.devs = append(s.devs, d)
		s.infos = append(s.infos, info)
	}
	if len(s.devs) == 0 {
		return nil, fmt.Errorf("%w: NVML cannot open any of its %d GPUs: %v", gpu.ErrGPUUnavailable, count, failures)
	}
	for _, f := range failures {
		s.note("skipped " + f)
	}
	s.addMIG(sym, count)
	ok = true
	return s, nil
}

// describe opens GPU i: what a reading may ask of it, and its description.
func (s *Sampler) describe(h nv.Device, i int, base schema.GPUInfo, sym symbols) (*device, schema.GPUInfo) {
	d := &device{index: i, h: h, eventReason: sym.eventReason}
	d.unsupported[fEnergy] = !sym.energy
	d.unsupported[fInstant] = !sym.fieldValues
	info := base
	info.Index = i
	info.Name, _ = h.GetName()
	info.UUID, _ = h.GetUUID()
	d.uuid = info.UUID
	if sym.memV2 {
		m, ret := h.GetMemoryInfo_v2()
		if ret == nv.SUCCESS {
			d.memV2 = true
			info.MemoryTotalMB = float64(m.Total) / mib
		} else {
			s.note(fmt.Sprintf("GPU %d: GetMemoryInfo_v2 failed (%s); memory used comes from GetMemoryInfo (v1), which also counts memory the driver reserves", i, errorString(s.lib, ret)))
		}
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
	return d, info
}

// note keeps what the driver lacks and logs it; the caller holds s.mu or owns s.
func (s *Sampler) note(msg string) {
	s.notes = append(s.notes, msg)
	s.log.Warn("nvml: " + msg)
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

// Sample reads every GPU (and MIG instance). A field the card does not support
// is nil. When some GPUs answer and others fail (or a field fails), Sample
// returns the readings with an error saying what failed; it fails outright
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
	s.rescanMIG()
	out := make([]gpu.Reading, 0, len(s.devs))
	var errs []error
	for _, d := range s.devs {
		rd, got, err := s.read(d)
		if err != nil {
			errs = append(errs, err)
			s.migs.dirty = s.migs.dirty || d.mig
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
	return out, errors.Join(errs...)
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
