//go:build linux && cgo

package nvml

import (
	"context"
	"math"
	"strings"
	"sync/atomic"
	"testing"

	nv "github.com/NVIDIA/go-nvml/pkg/nvml"
)

// A field that worked and then answers NOT_SUPPORTED, NO_PERMISSION, UNKNOWN
// or TIMEOUT mid-run is a failure of that round, said as such, and is asked
// for again: it is not silently dropped for the rest of the run.
func TestFieldFailingMidRunIsAnErrorAndAskedAgain(t *testing.T) {
	t.Parallel()
	for _, ret := range []nv.Return{nv.ERROR_NOT_SUPPORTED, nv.ERROR_NO_PERMISSION, nv.ERROR_UNKNOWN, nv.ERROR_TIMEOUT, nv.ERROR_GPU_IS_LOST} {
		t.Run(ret.String(), func(t *testing.T) {
			t.Parallel()
			dev := fakeGPU{usedV2: gib, total: 8 * gib}.device()
			var calls atomic.Int32
			dev.GetPowerUsageFunc = func() (uint32, nv.Return) {
				if calls.Add(1) == 2 {
					return 0, ret
				}
				return 215_500, nv.SUCCESS
			}
			s, err := newSampler(fakeLib(nil, dev), nil)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			ctx := context.Background()
			if rd, err := s.Sample(ctx); err != nil || rd[0].PowerW == nil {
				t.Fatalf("round 1: error %v, power %v; want 215.5 W", err, rd[0].PowerW)
			}
			rd, err := s.Sample(ctx)
			if err == nil || !strings.Contains(err.Error(), "power") {
				t.Errorf("round 2 (%s after power was read): error %v, want one naming power", ret, err)
			}
			if len(rd) != 1 || rd[0].PowerW != nil || rd[0].MemUsedMB == nil {
				t.Errorf("round 2: readings %+v, want GPU 0's other figures without power", rd)
			}
			rd, err = s.Sample(ctx)
			if err != nil || len(rd) != 1 || rd[0].PowerW == nil {
				t.Errorf("round 3: error %v, readings %+v; want power asked again and read", err, rd)
			}
		})
	}
}

// A process NVML lists without its memory (NVML_VALUE_NOT_AVAILABLE) is still
// listed, as NaN, so that its GPU is known to be the server's and the record
// can say why the figure is missing.
func TestProcessWithoutMemoryFigureIsListed(t *testing.T) {
	t.Parallel()
	g := fakeGPU{usedV2: gib, total: 8 * gib, computeProcs: []nv.ProcessInfo{{Pid: 12, UsedGpuMemory: ^uint64(0)}},
		graphicsProcs: []nv.ProcessInfo{{Pid: 13, UsedGpuMemory: ^uint64(0)}, {Pid: 12, UsedGpuMemory: ^uint64(0)}}}
	g2 := g
	g2.graphicsProcs = []nv.ProcessInfo{{Pid: 12, UsedGpuMemory: gib}}
	s, err := newSampler(fakeLib(nil, g.device(), g2.device()), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	rd, err := s.Sample(context.Background())
	if err != nil || len(rd) != 2 {
		t.Fatalf("Sample() = %v, %v", rd, err)
	}
	if v, ok := rd[0].ProcessMemMB[12]; !ok || !math.IsNaN(v) {
		t.Errorf("GPU 0 process 12 = %v (listed %v), want NaN: listed, memory not available", v, ok)
	}
	if v := rd[1].ProcessMemMB[12]; v != 1024 {
		t.Errorf("GPU 1 process 12 = %v MB, want 1024 (the list that gives a figure wins)", v)
	}
}

// A GPU that answers GPU_IS_LOST or TIMEOUT is not asked for its other figures
// in that round: a timing-out card would hold every round for each call.
func TestLostGPUIsNotAskedForEveryFieldEachRound(t *testing.T) {
	t.Parallel()
	for _, ret := range []nv.Return{nv.ERROR_GPU_IS_LOST, nv.ERROR_TIMEOUT} {
		dev := fakeGPU{usedV2: gib, total: 8 * gib}.device()
		s, err := newSampler(fakeLib(nil, dev), nil)
		if err != nil {
			t.Fatal(err)
		}
		dev.GetMemoryInfo_v2Func = func() (nv.Memory_v2, nv.Return) { return nv.Memory_v2{}, ret }
		for range 3 {
			if _, err := s.Sample(context.Background()); err == nil || !strings.Contains(err.Error(), ret.String()) {
				t.Errorf("%s: Sample() error %v, want it named", ret, err)
			}
		}
		if n := len(dev.GetTemperatureCalls()) + len(dev.GetPowerUsageCalls()) + len(dev.GetComputeRunningProcessesCalls()); n != 0 {
			t.Errorf("%s: %d further calls to the card after it failed, want 0", ret, n)
		}
		s.Close()
	}
}
