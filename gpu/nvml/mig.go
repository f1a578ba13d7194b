//go:build linux && cgo

package nvml

import (
	"fmt"

	nv "github.com/NVIDIA/go-nvml/pkg/nvml"
)

// addMIG lists the MIG instances of the GPUs that have MIG enabled, as devices
// of their own after the count whole GPUs (indexes count, count+1, ...). An
// instance reports its own memory and processes; power, temperature, clocks,
// utilisation and energy are the whole GPU's, so they are left to the parent,
// which in turn leaves its process lists to the instances (each process counted
// once).
func (s *Sampler) addMIG(sym symbols, count int) {
	if !sym.mig {
		return
	}
	next := count
	whole := len(s.devs)
	for k := range whole {
		parent := s.devs[k]
		current, _, ret := parent.h.GetMigMode()
		if ret != nv.SUCCESS || current != nv.DEVICE_MIG_ENABLE {
			continue
		}
		parent.unsupported[fCompute], parent.unsupported[fGraphics] = true, true
		n, ret := parent.h.GetMaxMigDeviceCount()
		if ret != nv.SUCCESS {
			s.note(fmt.Sprintf("GPU %d: MIG is on but its instances cannot be counted: %s", parent.index, errorString(s.lib, ret)))
			continue
		}
		for j := range n {
			h, ret := parent.h.GetMigDeviceHandleByIndex(j)
			if ret != nv.SUCCESS {
				continue // an empty slot
			}
			d := &device{index: next, h: h, mig: true}
			for _, f := range []field{fTemp, fPower, fUtil, fClock, fThrottle, fEnergy, fInstant} {
				d.unsupported[f] = true
			}
			info := s.infos[k]
			pi := parent.index
			info.Index = next
			info.Name, _ = h.GetName()
			info.UUID, _ = h.GetUUID()
			info.PowerLimitW = 0
			info.MIGParentIndex = &pi
			d.uuid = info.UUID
			if m, ret := h.GetMemoryInfo(); ret == nv.SUCCESS {
				info.MemoryTotalMB = float64(m.Total) / mib
			}
			s.devs = append(s.devs, d)
			s.infos = append(s.infos, info)
			next++
		}
	}
}
