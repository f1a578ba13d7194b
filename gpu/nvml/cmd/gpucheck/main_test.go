//go:build linux

package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/typhonbench/typhon/gpu"
	"github.com/typhonbench/typhon/gpu/gputest"
	"github.com/typhonbench/typhon/schema"
)

type fakeSampler struct {
	*gputest.Sampler
	closed bool
}

func (f *fakeSampler) Notes() []string { return []string{"memory used comes from v1"} }
func (f *fakeSampler) Close() error    { f.closed = true; return nil }

// withSampler makes run open s (or fail with err) instead of NVML. Tests using
// it must not run in parallel.
func withSampler(t *testing.T, s sampler, err error) {
	t.Helper()
	saved := openSampler
	openSampler = func(*slog.Logger) (sampler, error) { return s, err }
	t.Cleanup(func() { openSampler = saved })
}

func TestRunTable(t *testing.T) {
	fake := &fakeSampler{Sampler: &gputest.Sampler{
		GPUs: []schema.GPUInfo{{Index: 0, Name: "Fake H100", UUID: "GPU-fake", MemoryTotalMB: 81559, DriverVersion: "580.1", CUDAVersion: "13.0", ComputeCapability: "9.0", PowerLimitW: 700}},
		Script: []gputest.Step{
			{Readings: []gpu.Reading{{Index: 0, MemUsedMB: gputest.F(1000), PowerW: gputest.F(100), UtilPct: gputest.F(0)}}},
			{Readings: []gpu.Reading{{Index: 0, MemUsedMB: gputest.F(4000), PowerW: gputest.F(650), UtilPct: gputest.F(100), ThrottleReasons: []string{"sw_power_cap"}}}},
		},
	}}
	tests := []struct {
		name    string
		args    []string
		want    []string
		wantErr string
	}{
		{
			name: "idle sampling for a duration",
			args: []string{"-interval", "10ms", "-duration", "200ms", "-cpu-budget", "100"},
			want: []string{
				"GPU 0: Fake H100 (GPU-fake), 81559 MiB, driver 580.1, CUDA 13.0, compute 9.0, power limit 700 W",
				"note: memory used comes from v1",
				"none (idle sampling)", "samples taken", "peak memory used          4000 MiB",
				"peak power                650.0 W", "peak utilisation          100 %", "energy", "sw_power_cap", "sampler CPU",
			},
		},
		{
			name: "sampling around a load command",
			args: []string{"-interval", "10ms", "-cpu-budget", "100", "-json", "--", "sh", "-c", "sleep 0.2"},
			want: []string{"sh -c sleep 0.2", "peak power                650.0 W", `"peak_power_w": 650`},
		},
		{
			name:    "a failing load is reported",
			args:    []string{"-interval", "10ms", "-cpu-budget", "100", "--", "sh", "-c", "exit 3"},
			want:    []string{"samples taken"},
			wantErr: "the load failed: exit status 3",
		},
		{
			name:    "the CPU budget is enforced",
			args:    []string{"-interval", "10ms", "-duration", "50ms", "-cpu-budget", "0"},
			wantErr: "over the 0% budget",
		},
		{
			name:    "bad flags",
			args:    []string{"-interval", "0s"},
			wantErr: "must be positive",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			withSampler(t, fake, nil)
			fake.closed = false
			var stdout, stderr bytes.Buffer
			err := run(context.Background(), tt.args, &stdout, &stderr)
			if !fake.closed && !strings.Contains(tt.wantErr, "must be positive") {
				t.Errorf("run() did not close the sampler")
			}
			if tt.wantErr == "" && err != nil {
				t.Fatalf("run() error = %v\nstderr:\n%s", err, stderr.String())
			}
			if tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("run() error = %v, want one containing %q", err, tt.wantErr)
			}
			for _, w := range tt.want {
				if !strings.Contains(stdout.String(), w) {
					t.Errorf("output lacks %q:\n%s", w, stdout.String())
				}
			}
			t.Logf("output:\n%s", stdout.String())
		})
	}
}

func TestRunNoGPU(t *testing.T) {
	noGPU := fmt.Errorf("%w: libnvidia-ml.so.1: cannot open shared object file", gpu.ErrGPUUnavailable)
	withSampler(t, nil, noGPU)
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), []string{"-duration", "10ms"}, &stdout, &stderr)
	if !errors.Is(err, gpu.ErrGPUUnavailable) {
		t.Errorf("run() error = %v, want one wrapping ErrGPUUnavailable", err)
	}
	if stdout.Len() != 0 {
		t.Errorf("run() printed %q without a GPU, want nothing", stdout.String())
	}
}
