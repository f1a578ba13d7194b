//go:build linux && cgo

package nvml

import (
	"encoding/binary"
	"fmt"
	"math"
	"time"

	nv "github.com/NVIDIA/go-nvml/pkg/nvml"

	"github.com/typhonbench/typhon/gpu"
)

// reading is one GPU's reading in progress.
type reading struct {
	s    *Sampler
	d    *device
	rd   gpu.Reading
	got  bool  // some figure was read
	err  error // the first failure other than "not supported" or "no permission"
	dead bool  // the card is lost or timed out: not asked for more this round
}

// read takes one GPU's reading. got says whether any figure was read; err is the
// first failure other than "not supported" or "no permission". The caller
// holds s.mu.
func (s *Sampler) read(d *device) (rd gpu.Reading, got bool, err error) {
	x := &reading{s: s, d: d, rd: gpu.Reading{Index: d.index, UUID: d.uuid, At: time.Now()}}
	x.memory()
	x.scalars()
	x.throttle()
	x.instantPower()
	x.processes()
	return x.rd, x.got, x.err
}

// check records the outcome of one call: true when the value can be used. A
// field the card does not support, or that Typhon may not read, is not asked
// for again; no permission is noted once, as what it is. A field that was read
// before and is now refused (a driver that changes its mind mid-run) is a
// failure of this round and is asked for again.
func (x *reading) check(f field, ret nv.Return) bool {
	if ret == nv.SUCCESS {
		x.got = true
		x.d.worked[f] = true
		return true
	}
	if ret == nv.ERROR_GPU_IS_LOST || ret == nv.ERROR_TIMEOUT {
		x.dead = true
	}
	if x.d.worked[f] {
		if x.err == nil {
			x.err = fmt.Errorf("nvml: GPU %d %s: %s", x.d.index, fieldNames[f], errorString(x.s.lib, ret))
		}
		return false
	}
	switch ret {
	case nv.ERROR_NOT_SUPPORTED, nv.ERROR_FUNCTION_NOT_FOUND:
		x.d.unsupported[f] = true
	case nv.ERROR_NO_PERMISSION:
		x.d.unsupported[f] = true
		x.s.note(fmt.Sprintf("GPU %d: no permission to read %s (%s); it is left out of the readings",
			x.d.index, fieldNames[f], errorString(x.s.lib, ret)))
	default: // GPU_IS_LOST, UNKNOWN, TIMEOUT, ...: asked again next round
		if x.err == nil {
			x.err = fmt.Errorf("nvml: GPU %d %s: %s", x.d.index, fieldNames[f], errorString(x.s.lib, ret))
		}
	}
	return false
}

// want reports whether field f is still asked for (not in a round where the
// card was found lost or timing out).
func (x *reading) want(f field) bool { return !x.dead && !x.d.unsupported[f] }

func (x *reading) memory() {
	if !x.want(fMem) {
		return
	}
	h := x.d.h
	if x.d.memV2 {
		if m, ret := h.GetMemoryInfo_v2(); x.check(fMem, ret) {
			x.rd.MemUsedMB = ptr(float64(m.Used) / mib)
		}
	} else if m, ret := h.GetMemoryInfo(); x.check(fMem, ret) {
		x.rd.MemUsedMB = ptr(float64(m.Used) / mib)
	}
}

// scalars reads temperature, power, utilisation, SM clock and the energy counter.
func (x *reading) scalars() {
	h := x.d.h
	if x.want(fTemp) {
		if t, ret := h.GetTemperature(nv.TEMPERATURE_GPU); x.check(fTemp, ret) {
			x.rd.TempC = ptr(float64(t))
		}
	}
	if x.want(fPower) {
		if mw, ret := h.GetPowerUsage(); x.check(fPower, ret) {
			x.rd.PowerW = ptr(float64(mw) / 1000)
		}
	}
	if x.want(fUtil) {
		if u, ret := h.GetUtilizationRates(); x.check(fUtil, ret) {
			x.rd.UtilPct = ptr(float64(u.Gpu))
			x.rd.MemUtilPct = ptr(float64(u.Memory))
		}
	}
	if x.want(fClock) {
		if mhz, ret := h.GetClockInfo(nv.CLOCK_SM); x.check(fClock, ret) {
			x.rd.SMClockMHz = ptr(float64(mhz))
		}
	}
	if x.want(fEnergy) {
		if mj, ret := h.GetTotalEnergyConsumption(); x.check(fEnergy, ret) {
			x.rd.EnergyMJ = ptr(float64(mj))
		}
	}
}

func (x *reading) throttle() {
	if !x.want(fThrottle) {
		return
	}
	var mask uint64
	var ret nv.Return
	if x.d.eventReason {
		mask, ret = x.d.h.GetCurrentClocksEventReasons()
	} else {
		mask, ret = x.d.h.GetCurrentClocksThrottleReasons()
	}
	if x.check(fThrottle, ret) {
		x.rd.ThrottleReasons = DecodeThrottleReasons(mask &^ idleReason)
	}
}

// instantPower reads NVML_FI_DEV_POWER_INSTANT (milliwatts) where the driver
// has it: GetPowerUsage is a one-second trailing average on recent cards.
func (x *reading) instantPower() {
	if !x.want(fInstant) {
		return
	}
	vals := []nv.FieldValue{{FieldId: nv.FI_DEV_POWER_INSTANT}}
	ret := x.d.h.GetFieldValues(vals)
	if ret == nv.SUCCESS {
		ret = nv.Return(vals[0].NvmlReturn) // the call succeeds; the field may not
	}
	if !x.check(fInstant, ret) {
		return
	}
	if mw, ok := fieldValue(vals[0]); ok {
		x.rd.PowerInstantW = ptr(mw / 1000)
	}
}

// fieldValue decodes a field value of a numeric type.
func fieldValue(v nv.FieldValue) (float64, bool) {
	b := v.Value[:]
	e := binary.NativeEndian
	switch nv.ValueType(v.ValueType) {
	case nv.VALUE_TYPE_DOUBLE:
		return math.Float64frombits(e.Uint64(b)), true
	case nv.VALUE_TYPE_UNSIGNED_INT:
		return float64(e.Uint32(b)), true
	case nv.VALUE_TYPE_UNSIGNED_LONG, nv.VALUE_TYPE_UNSIGNED_LONG_LONG:
		return float64(e.Uint64(b)), true
	case nv.VALUE_TYPE_SIGNED_LONG_LONG:
		return float64(int64(e.Uint64(b))), true
	case nv.VALUE_TYPE_SIGNED_INT:
		return float64(int32(e.Uint32(b))), true
	case nv.VALUE_TYPE_UNSIGNED_SHORT:
		return float64(e.Uint16(b)), true
	}
	return 0, false
}

// processes reads the memory each compute and graphics process holds. A
// process NVML lists without a memory figure (NVML_VALUE_NOT_AVAILABLE) is
// kept as NaN: it shows which GPU the process uses.
func (x *reading) processes() {
	var procs map[int]float64
	add := func(list []nv.ProcessInfo) {
		if procs == nil {
			procs = make(map[int]float64, len(list))
		}
		for _, p := range list {
			pid, mb := int(p.Pid), math.NaN()
			if p.UsedGpuMemory != notAvailable {
				mb = float64(p.UsedGpuMemory) / mib
			}
			// A process can be in both lists with the same figure: keep the
			// larger, and a figure over none.
			if old, ok := procs[pid]; ok && (math.IsNaN(mb) || old > mb) {
				continue
			}
			procs[pid] = mb
		}
	}
	if x.want(fCompute) {
		if list, ret := x.d.h.GetComputeRunningProcesses(); x.check(fCompute, ret) {
			add(list)
		}
	}
	if x.want(fGraphics) {
		if list, ret := x.d.h.GetGraphicsRunningProcesses(); x.check(fGraphics, ret) {
			add(list)
		}
	}
	x.rd.ProcessMemMB = procs
}

func ptr(v float64) *float64 { return &v }
