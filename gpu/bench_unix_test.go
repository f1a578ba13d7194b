//go:build unix

package gpu_test

import (
	"context"
	"syscall"
	"testing"
	"time"

	"github.com/typhonbench/typhon/gpu"
)

func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatalf("getrusage: %v", err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkRecorderCPU runs a Recorder at the default 100 ms interval with the
// fake (two GPUs, two open windows) for b.N intervals and reports the process
// CPU time it used as a percentage of one core. Run it with -benchtime=30x or
// more for a stable figure; the goal is under 1%.
func BenchmarkRecorderCPU(b *testing.B) {
	s := benchSampler()
	r := &gpu.Recorder{Sampler: s, PIDs: []int{4242}}
	w1, w2 := r.Open(), r.Open()
	defer w1.Close()
	defer w2.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	cpu0, wall0 := cpuTime(b), time.Now()
	go func() { done <- r.Run(ctx) }()
	time.Sleep(time.Duration(b.N) * gpu.DefaultInterval)
	cancel()
	<-done
	cpu, wall := cpuTime(b)-cpu0, time.Since(wall0)
	b.ReportMetric(float64(cpu)/float64(wall)*100, "%core")
	b.ReportMetric(float64(s.Calls()), "rounds")
}
