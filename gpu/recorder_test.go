package gpu_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/typhonbench/typhon/gpu"
	"github.com/typhonbench/typhon/gpu/gputest"
	"github.com/typhonbench/typhon/schema"
)

// waitFor polls cond until it holds or the test's patience (10 s, for a loaded
// machine) runs out.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// startRecorder runs r in a goroutine and returns a stop func that cancels it
// and returns Run's error.
func startRecorder(t *testing.T, r *gpu.Recorder) (stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	var once sync.Once
	var err error
	stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case err = <-done:
			case <-time.After(10 * time.Second):
				t.Fatalf("Run did not return after cancel")
			}
		})
		return err
	}
	t.Cleanup(func() { stop() })
	return stop
}

func TestRecorderRun(t *testing.T) {
	t.Parallel()
	s := &gputest.Sampler{
		GPUs: []schema.GPUInfo{{Index: 0, Name: "Fake 24G", UUID: "GPU-fake"}},
		Script: []gputest.Step{
			{Readings: []gpu.Reading{{Index: 0, UUID: "GPU-fake", MemUsedMB: gputest.F(1000), TempC: gputest.F(50)}}},
			{Readings: []gpu.Reading{{Index: 0, UUID: "GPU-fake", MemUsedMB: gputest.F(3000), TempC: gputest.F(70)}}},
		},
	}
	r := &gpu.Recorder{Sampler: s, Interval: time.Millisecond}
	if got := r.Latest(); got != nil {
		t.Errorf("Latest() before Run = %v, want nil", got)
	}
	w := r.Open()
	stop := startRecorder(t, r)
	waitFor(t, "five samples", func() bool { return s.Calls() >= 5 })
	waitFor(t, "a reading in Latest", func() bool { return len(r.Latest()) == 1 })
	st := w.Close()
	if err := stop(); err != nil {
		t.Errorf("Run() after cancel = %v, want nil", err)
	}

	if st.Samples < 2 {
		t.Errorf("Samples = %d, want at least 2", st.Samples)
	}
	if st.PeakVRAMUsedMB == nil || *st.PeakVRAMUsedMB != 3000 {
		t.Errorf("PeakVRAMUsedMB = %v, want 3000", st.PeakVRAMUsedMB)
	}
	if st.PeakTempC == nil || *st.PeakTempC != 70 {
		t.Errorf("PeakTempC = %v, want 70", st.PeakTempC)
	}
	if st.AvgTempC == nil || *st.AvgTempC < 50 || *st.AvgTempC > 70 {
		t.Errorf("AvgTempC = %v, want between 50 and 70", st.AvgTempC)
	}
	if len(st.PerGPU) != 1 {
		t.Fatalf("PerGPU has %d entries, want 1", len(st.PerGPU))
	}
	if got, want := st.PerGPU[0].Name, "Fake 24G"; got != want {
		t.Errorf("PerGPU[0].Name = %q, want %q (from Devices)", got, want)
	}
	if st.Error != "" || st.SampleErrors != 0 {
		t.Errorf("Error = %q, SampleErrors = %d, want none", st.Error, st.SampleErrors)
	}
	latest := r.Latest()
	if len(latest) != 1 || latest[0].UUID != "GPU-fake" || latest[0].At.IsZero() {
		t.Errorf("Latest() = %+v, want one stamped reading of GPU-fake", latest)
	}
}

func TestRecorderPersistentFailure(t *testing.T) {
	t.Parallel()
	s := &gputest.Sampler{Script: []gputest.Step{{Err: errors.New("GPU is lost")}}}
	r := &gpu.Recorder{Sampler: s, Interval: time.Millisecond}
	w := r.Open()
	stop := startRecorder(t, r)
	waitFor(t, "three failed rounds", func() bool { return s.Calls() >= 3 })
	// With a 1 ms interval and doubling waits, 100 ms holds at most ~8 rounds;
	// a sampler that did not back off would make about a hundred.
	time.Sleep(100 * time.Millisecond)
	calls := s.Calls()
	st := w.Close()
	if err := stop(); err != nil {
		t.Errorf("Run() = %v, want nil", err)
	}
	if calls > 20 {
		t.Errorf("Sample called %d times in ~100 ms of failures, want backoff (at most 20)", calls)
	}
	if st.SampleErrors < 3 {
		t.Errorf("SampleErrors = %d, want at least 3", st.SampleErrors)
	}
	if !strings.Contains(st.Error, "GPU is lost") {
		t.Errorf("Error = %q, want the sampler's error", st.Error)
	}
	if st.Samples != 0 || st.PerGPU != nil {
		t.Errorf("Samples = %d, PerGPU = %v, want none", st.Samples, st.PerGPU)
	}
}

func TestRecorderRunErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		r       *gpu.Recorder
		wantIs  error
		wantMsg string
	}{
		{name: "no sampler", r: &gpu.Recorder{}, wantIs: gpu.ErrGPUUnavailable, wantMsg: "no Sampler"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := tt.r.Run(context.Background())
			if !errors.Is(err, tt.wantIs) || !strings.Contains(fmt.Sprint(err), tt.wantMsg) {
				t.Errorf("Run() = %v, want an error wrapping %v containing %q", err, tt.wantIs, tt.wantMsg)
			}
		})
	}
}

func TestRecorderRunTwice(t *testing.T) {
	t.Parallel()
	s := &gputest.Sampler{}
	r := &gpu.Recorder{Sampler: s, Interval: time.Millisecond}
	stop := startRecorder(t, r)
	waitFor(t, "the first Run to sample", func() bool { return s.Calls() > 0 })
	if err := r.Run(context.Background()); err == nil || !strings.Contains(err.Error(), "already running") {
		t.Errorf("second Run() = %v, want an already running error", err)
	}
	if err := stop(); err != nil {
		t.Errorf("first Run() = %v, want nil", err)
	}
}

func TestRecorderNoLeak(t *testing.T) {
	// Not parallel: it counts goroutines.
	before := runtime.NumGoroutine()
	for range 5 {
		s := &gputest.Sampler{Script: []gputest.Step{{Readings: []gpu.Reading{{Index: 0, PowerW: gputest.F(100)}}}}}
		r := &gpu.Recorder{Sampler: s, Interval: time.Millisecond}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- r.Run(ctx) }()
		waitFor(t, "a sample", func() bool { return s.Calls() > 0 })
		cancel()
		if err := <-done; err != nil {
			t.Fatalf("Run() = %v, want nil", err)
		}
	}
	waitFor(t, "goroutines to end", func() bool { return runtime.NumGoroutine() <= before })
}

// TestRecorderConcurrentUse exercises Latest, Open and Close while Run samples:
// the race detector checks the locking.
func TestRecorderConcurrentUse(t *testing.T) {
	t.Parallel()
	s := &gputest.Sampler{
		Script: []gputest.Step{
			{Readings: []gpu.Reading{{Index: 0, MemUsedMB: gputest.F(10), ThrottleReasons: []string{"sw_power_cap"}}, {Index: 1, MemUsedMB: gputest.F(20)}}},
			{Readings: []gpu.Reading{{Index: 0, MemUsedMB: gputest.F(30)}, {Index: 1, MemUsedMB: gputest.F(40)}}},
		},
		Loop: true,
	}
	r := &gpu.Recorder{Sampler: s, Interval: time.Millisecond}
	stop := startRecorder(t, r)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 20 {
				w := r.Open()
				_ = r.Latest()
				time.Sleep(time.Millisecond)
				st := w.Close()
				if st.PeakVRAMUsedMB != nil && *st.PeakVRAMUsedMB > 70 {
					t.Errorf("PeakVRAMUsedMB = %v, want at most 70 (10+20 or 30+40)", *st.PeakVRAMUsedMB)
				}
			}
		})
	}
	wg.Wait()
	if err := stop(); err != nil {
		t.Errorf("Run() = %v, want nil", err)
	}
}

func TestSnapshotWithoutGPU(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		s       gpu.Sampler
		wantErr string
	}{
		{name: "no sampler", s: nil, wantErr: "gpu telemetry unavailable: no GPU sampler"},
		{
			name:    "sampler without driver",
			s:       &gputest.Sampler{Err: fmt.Errorf("%w: libnvidia-ml.so.1 not found", gpu.ErrGPUUnavailable)},
			wantErr: "gpu telemetry unavailable: libnvidia-ml.so.1 not found",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := gpu.Snapshot(context.Background(), tt.s)
			if p.GPUError != tt.wantErr {
				t.Errorf("GPUError = %q, want %q", p.GPUError, tt.wantErr)
			}
			if p.GPUs == nil || len(p.GPUs) != 0 {
				t.Errorf("GPUs = %#v, want an empty list", p.GPUs)
			}
			checkHost(t, p)
		})
	}
}

func TestSnapshotWithGPU(t *testing.T) {
	t.Parallel()
	gpus := []schema.GPUInfo{{
		Index: 0, Name: "Fake 24G", UUID: "GPU-fake", MemoryTotalMB: 24576,
		DriverVersion: "550.54", CUDAVersion: "12.4", ComputeCapability: "8.9", PowerLimitW: 450,
	}}
	p := gpu.Snapshot(context.Background(), &gputest.Sampler{GPUs: gpus})
	if diff := cmp.Diff(gpus, p.GPUs); diff != "" {
		t.Errorf("GPUs mismatch (-want +got):\n%s", diff)
	}
	if p.GPUError != "" {
		t.Errorf("GPUError = %q, want none", p.GPUError)
	}
	checkHost(t, p)
}

// checkHost checks the host part of a profile taken on this machine.
func checkHost(t *testing.T, p schema.Profile) {
	t.Helper()
	if p.CPU.LogicalCores < 1 {
		t.Errorf("CPU.LogicalCores = %d, want at least 1", p.CPU.LogicalCores)
	}
	if runtime.GOOS == "linux" {
		if p.CPU.Model == "" {
			t.Errorf("CPU.Model is empty")
		}
		if p.CPU.PhysicalCores < 1 || p.CPU.PhysicalCores > p.CPU.LogicalCores {
			t.Errorf("CPU.PhysicalCores = %d, want 1..%d", p.CPU.PhysicalCores, p.CPU.LogicalCores)
		}
		if p.OS.Kernel == "" {
			t.Errorf("OS.Kernel is empty")
		}
	}
	if p.RAM.TotalMB <= 0 || p.RAM.AvailableMB <= 0 || p.RAM.AvailableMB > p.RAM.TotalMB {
		t.Errorf("RAM = %+v, want 0 < available <= total", p.RAM)
	}
	if p.OS.Name != runtime.GOOS || p.OS.Arch != runtime.GOARCH {
		t.Errorf("OS = %+v, want name %s, arch %s", p.OS, runtime.GOOS, runtime.GOARCH)
	}
}

func TestRecorderPartialRounds(t *testing.T) {
	t.Parallel()
	// Two GPUs, each with its server process; GPU 1 is lost after two rounds and
	// the sampler then reports it beside GPU 0's reading.
	both := []gpu.Reading{
		{Index: 0, PowerW: gputest.F(100), ProcessMemMB: map[int]float64{4242: 100}},
		{Index: 1, PowerW: gputest.F(250), ProcessMemMB: map[int]float64{4242: 100}},
	}
	s := &gputest.Sampler{Script: []gputest.Step{
		{Readings: both},
		{Readings: both},
		{Readings: both[:1], Err: errors.New("nvml: GPU 1 power: GPU is lost")},
	}}
	r := &gpu.Recorder{Sampler: s, Interval: time.Millisecond, PIDs: []int{4242}}
	w := r.Open()
	stop := startRecorder(t, r)
	waitFor(t, "ten samples", func() bool { return s.Calls() >= 10 })
	st := w.Close()
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if st.PartialErrors == 0 || !strings.Contains(st.Error, "GPU is lost") {
		t.Errorf("partial_errors %d, error %q; want the lost GPU counted", st.PartialErrors, st.Error)
	}
	if len(st.PerGPU) != 2 || st.PerGPU[1].LostAtS == nil {
		t.Fatalf("per_gpu = %+v, want GPU 1 with lost_at_s", st.PerGPU)
	}
	if st.GPUSelection != gpu.SelectServer {
		t.Errorf("gpu_selection = %q, want %q", st.GPUSelection, gpu.SelectServer)
	}
}
