package nvml

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestDecodeThrottleReasons(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		mask uint64
		want []string
	}{
		{"none", 0, nil},
		{"idle", 0x1, []string{"gpu_idle"}},
		{"power cap and thermal", 0x4 | 0x40, []string{"sw_power_cap", "hw_thermal_slowdown"}},
		{"every defined bit", 0x7ff, []string{
			"gpu_idle", "applications_clocks_setting", "sw_power_cap", "hw_slowdown", "sync_boost",
			"sw_thermal_slowdown", "hw_thermal_slowdown", "hw_power_brake_slowdown",
			"display_clock_setting", "board_limit", "reliability",
		}},
		{"undefined bits are named", 0x8 | 0x800 | 1<<40, []string{"hw_slowdown", "unknown_0x800", "unknown_0x10000000000"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if diff := cmp.Diff(tt.want, DecodeThrottleReasons(tt.mask)); diff != "" {
				t.Errorf("DecodeThrottleReasons(%#x) mismatch (-want +got):\n%s", tt.mask, diff)
			}
		})
	}
}
