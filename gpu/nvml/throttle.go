package nvml

import "fmt"

// Clock event ("throttle") reason bits of NVML (nvmlClocksEventReason*).
var reasonNames = []struct {
	bit  uint64
	name string
}{
	{0x1, "gpu_idle"},
	{0x2, "applications_clocks_setting"},
	{0x4, "sw_power_cap"},
	{0x8, "hw_slowdown"},
	{0x10, "sync_boost"},
	{0x20, "sw_thermal_slowdown"},
	{0x40, "hw_thermal_slowdown"},
	{0x80, "hw_power_brake_slowdown"},
	{0x100, "display_clock_setting"},
	{0x200, "board_limit"},
	{0x400, "reliability"},
}

// idleReason is the bit NVML sets when the GPU has nothing to do. It is not a
// slowdown, so readings leave it out.
const idleReason = 0x1

// DecodeThrottleReasons names the bits of an NVML clock event reasons mask, in
// bit order; a bit NVML has not defined is named unknown_0x<bit>. A zero mask
// gives nil.
func DecodeThrottleReasons(mask uint64) []string {
	var names []string
	for _, r := range reasonNames {
		if mask&r.bit != 0 {
			names = append(names, r.name)
			mask &^= r.bit
		}
	}
	for bit := uint64(1); mask != 0; bit <<= 1 {
		if mask&bit != 0 {
			names = append(names, fmt.Sprintf("unknown_%#x", bit))
			mask &^= bit
		}
	}
	return names
}
