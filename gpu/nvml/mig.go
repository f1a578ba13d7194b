//go:build linux && cgo

package nvml

import (
	"fmt"
	"slices"
	"time"

	nv "github.com/NVIDIA/go-nvml/pkg/nvml"
)

// migRescan is how often Sample looks for MIG instances made or destroyed
// since the last look (at once after an instance failed to answer).
const migRescan = 10 * time.Second

// migState is what the sampler keeps to follow MIG instances over a run.
type migState struct {
	on       bool          // the library has the MIG calls
	whole    int           // s.devs[:whole] are whole GPUs
	next     int           // the index the next new instance gets
	every    time.Duration // how often to look again
	lastScan time.Time
	dirty    bool // an instance failed: look again at the next round
}

// addMIG lists the MIG instances of the GPUs that have MIG enabled, as devices
// of their own after the count whole GPUs (indexes count, count+1, ...). An
// instance reports its own memory and processes; power, temperature, clocks,
// utilisation and energy are the whole GPU's, so they are left to the parent,
// which in turn leaves its process lists to the instances (each process counted
// once). Instances made later get new indexes; an index is never reused.
func (s *Sampler) addMIG(sym symbols, count int) {
	s.migs = migState{on: sym.mig, whole: len(s.devs), next: count, every: migRescan}
	if sym.mig {
		s.scanMIG(true)
	}
}

// rescanMIG looks for instances made or destroyed when it is time to; the
// caller holds s.mu.
func (s *Sampler) rescanMIG() {
	m := &s.migs
	if m.on && (m.dirty || time.Since(m.lastScan) >= m.every) {
		s.scanMIG(false)
	}
}

// scanMIG brings the MIG instances up to date: new ones are added (noted
// unless first), ones no longer listed by a parent that could be asked are
// dropped with a note.
func (s *Sampler) scanMIG(first bool) {
	m := &s.migs
	m.lastScan, m.dirty = time.Now(), false
	present := map[string]bool{}
	asked := map[int]bool{} // parents whose instances were listed
	for k := range m.whole {
		parent := s.devs[k]
		current, _, ret := parent.h.GetMigMode()
		if ret != nv.SUCCESS {
			continue
		}
		asked[parent.index] = true
		if current != nv.DEVICE_MIG_ENABLE {
			continue
		}
		parent.unsupported[fCompute], parent.unsupported[fGraphics] = true, true
		n, ret := parent.h.GetMaxMigDeviceCount()
		if ret != nv.SUCCESS {
			delete(asked, parent.index)
			if first {
				s.note(fmt.Sprintf("GPU %d: MIG is on but its instances cannot be counted: %s", parent.index, errorString(s.lib, ret)))
			}
			continue
		}
		for j := range n {
			h, ret := parent.h.GetMigDeviceHandleByIndex(j)
			if ret != nv.SUCCESS {
				continue // an empty slot
			}
			uuid, _ := h.GetUUID()
			key := migKey(parent.index, j, uuid)
			present[key] = true
			if !slices.ContainsFunc(s.devs, func(d *device) bool { return d.mig && d.key == key }) {
				s.addInstance(k, h, key, uuid, first)
			}
		}
	}
	s.dropInstances(present, asked)
}

// migKey names an instance across scans: its UUID, or its parent and slot.
func migKey(parent, slot int, uuid string) string {
	if uuid != "" {
		return uuid
	}
	return fmt.Sprintf("GPU %d MIG slot %d", parent, slot)
}

// addInstance adds the MIG instance h of whole GPU s.devs[k].
func (s *Sampler) addInstance(k int, h nv.Device, key, uuid string, first bool) {
	d := &device{index: s.migs.next, h: h, mig: true, key: key, parent: s.devs[k].index}
	for _, f := range []field{fTemp, fPower, fUtil, fClock, fThrottle, fEnergy, fInstant} {
		d.unsupported[f] = true
	}
	info := s.infos[k]
	pi := d.parent
	info.Index = d.index
	info.Name, _ = h.GetName()
	info.UUID = uuid
	info.PowerLimitW = 0
	info.MIGParentIndex = &pi
	d.uuid = uuid
	if m, ret := h.GetMemoryInfo(); ret == nv.SUCCESS {
		info.MemoryTotalMB = float64(m.Total) / mib
	}
	s.devs = append(s.devs, d)
	s.infos = append(s.infos, info)
	s.migs.next++
	if !first {
		s.note(fmt.Sprintf("MIG instance %s of GPU %d appeared; it is sampled as GPU %d", key, d.parent, d.index))
	}
}

// dropInstances drops the instances of the asked parents that are not present.
func (s *Sampler) dropInstances(present map[string]bool, asked map[int]bool) {
	gone := func(d *device) bool { return d.mig && asked[d.parent] && !present[d.key] }
	for _, d := range s.devs {
		if gone(d) {
			s.note(fmt.Sprintf("MIG instance %s (GPU %d) of GPU %d is gone; it is no longer sampled", d.key, d.index, d.parent))
		}
	}
	keep := s.devs[:0]
	infos := s.infos[:0]
	for i, d := range s.devs {
		if !gone(d) {
			keep = append(keep, d)
			infos = append(infos, s.infos[i])
		}
	}
	clear(s.devs[len(keep):])
	clear(s.infos[len(infos):])
	s.devs, s.infos = keep, infos
}
