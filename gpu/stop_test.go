package gpu_test

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/typhonbench/typhon/gpu"
	"github.com/typhonbench/typhon/gpu/gputest"
)

// Run ends (its context is cancelled) while a window is open: the window's
// GPUs stop where sampling stopped, and the record says so; a window opened
// afterwards does not report the last reading taken before Run ended.
func TestWindowOutlivingRun(t *testing.T) {
	t.Parallel()
	s := &gputest.Sampler{Script: []gputest.Step{{Readings: []gpu.Reading{{Index: 0, PowerW: gputest.F(300), MemUsedMB: gputest.F(1000)}}}}}
	r := &gpu.Recorder{Sampler: s, Interval: 10 * time.Millisecond}
	stop := startRecorder(t, r)
	waitFor(t, "a first reading", func() bool { return len(r.Latest()) > 0 })
	w := r.Open()
	waitFor(t, "readings in the window", func() bool { return s.Calls() > 5 })
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(400 * time.Millisecond)
	late := r.Open()
	st := w.Close()
	if len(st.PerGPU) != 1 || st.PerGPU[0].LostAtS == nil {
		t.Fatalf("per GPU %+v: want lost_at_s where sampling stopped", st.PerGPU)
	}
	lost := *st.PerGPU[0].LostAtS
	if e := *st.EnergyJ; lost > st.WindowS-0.3 || math.Abs(e-300*lost) > 300*0.02 {
		t.Errorf("energy %v J, lost at %v s of %v s; want 300 W x the time sampled", e, lost, st.WindowS)
	}
	if !strings.Contains(st.Error, "sampling stopped") {
		t.Errorf("error %q does not say sampling stopped before the window closed", st.Error)
	}
	lst := late.Close()
	if lst.PeakPowerW != nil || lst.Error == "" {
		t.Errorf("window opened after Run ended: peak power %v, error %q; want no figure and a reason", lst.PeakPowerW, lst.Error)
	}
}
