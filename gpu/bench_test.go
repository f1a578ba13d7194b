package gpu_test

import (
	"context"
	"testing"
	"time"

	"github.com/typhonbench/typhon/gpu"
	"github.com/typhonbench/typhon/gpu/gputest"
)

// benchSampler is a fake of a 2-GPU machine, with every field reported.
func benchSampler() *gputest.Sampler {
	rd := func(i int, mem float64) gpu.Reading {
		return gpu.Reading{
			Index: i, UUID: "GPU-bench", MemUsedMB: gputest.F(mem), TempC: gputest.F(70), PowerW: gputest.F(300),
			UtilPct: gputest.F(95), MemUtilPct: gputest.F(40), SMClockMHz: gputest.F(2500), EnergyMJ: gputest.F(1e9),
			ThrottleReasons: []string{"sw_power_cap"}, ProcessMemMB: map[int]float64{4242: mem - 500},
		}
	}
	return &gputest.Sampler{
		Script: []gputest.Step{
			{Readings: []gpu.Reading{rd(0, 8000), rd(1, 9000)}},
			{Readings: []gpu.Reading{rd(0, 8100), rd(1, 8900)}},
		},
		Loop: true,
	}
}

// BenchmarkRecorderRound times one sampling round with the fake (two GPUs, two
// open windows) and reports its duty cycle at the default 100 ms interval. The
// fake costs nothing to read; NVML's own cost on a GPU machine is what
// scripts/gpu-check.sh measures.
func BenchmarkRecorderRound(b *testing.B) {
	s := benchSampler()
	r := &gpu.Recorder{Sampler: s, PIDs: []int{4242}, Interval: time.Nanosecond}
	w1, w2 := r.Open(), r.Open()
	defer w1.Close()
	defer w2.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// Run's loop waits at least Interval/4 between rounds; count rounds by calls.
	b.ResetTimer()
	start := s.Calls()
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	for s.Calls()-start < b.N {
		time.Sleep(50 * time.Microsecond)
	}
	cancel()
	<-done
	b.StopTimer()
	perRound := float64(b.Elapsed().Nanoseconds()) / float64(s.Calls()-start)
	b.ReportMetric(perRound, "ns/round")
	b.ReportMetric(perRound/float64(gpu.DefaultInterval.Nanoseconds())*100, "%core@100ms")
}
