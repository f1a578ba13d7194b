package gputest_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/typhonbench/typhon/gpu"
	"github.com/typhonbench/typhon/gpu/gputest"
	"github.com/typhonbench/typhon/schema"
)

func TestSamplerScript(t *testing.T) {
	t.Parallel()
	at := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	errLost := errors.New("GPU is lost")
	step := func(temp float64) gputest.Step {
		return gputest.Step{Readings: []gpu.Reading{{Index: 0, TempC: gputest.F(temp)}}}
	}
	tests := []struct {
		name   string
		s      *gputest.Sampler
		calls  int
		want   []float64 // temperature of each call; 0 = an error
		wantEr error
	}{
		{name: "repeats the last step", s: &gputest.Sampler{Script: []gputest.Step{step(40), step(50)}}, calls: 4, want: []float64{40, 50, 50, 50}},
		{name: "loops", s: &gputest.Sampler{Script: []gputest.Step{step(40), step(50)}, Loop: true}, calls: 4, want: []float64{40, 50, 40, 50}},
		{name: "scripted failure", s: &gputest.Sampler{Script: []gputest.Step{step(40), {Err: errLost}, step(60)}}, calls: 3, want: []float64{40, 0, 60}, wantEr: errLost},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.s.Now = func() time.Time { return at }
			var got []float64
			for range tt.calls {
				rds, err := tt.s.Sample(context.Background())
				if err != nil {
					if !errors.Is(err, tt.wantEr) {
						t.Fatalf("Sample() error = %v, want %v", err, tt.wantEr)
					}
					got = append(got, 0)
					continue
				}
				if len(rds) != 1 || !rds[0].At.Equal(at) {
					t.Fatalf("Sample() = %+v, want one reading stamped %v", rds, at)
				}
				got = append(got, *rds[0].TempC)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("temperatures mismatch (-want +got):\n%s", diff)
			}
			if tt.s.Calls() != tt.calls {
				t.Errorf("Calls() = %d, want %d", tt.s.Calls(), tt.calls)
			}
		})
	}
}

func TestSamplerUnavailable(t *testing.T) {
	t.Parallel()
	s := &gputest.Sampler{
		GPUs: []schema.GPUInfo{{Name: "never returned"}},
		Err:  gpu.ErrGPUUnavailable,
	}
	if devs, err := s.Devices(context.Background()); !errors.Is(err, gpu.ErrGPUUnavailable) || devs != nil {
		t.Errorf("Devices() = %v, %v; want nil, ErrGPUUnavailable", devs, err)
	}
	if rds, err := s.Sample(context.Background()); !errors.Is(err, gpu.ErrGPUUnavailable) || rds != nil {
		t.Errorf("Sample() = %v, %v; want nil, ErrGPUUnavailable", rds, err)
	}
}

func TestSamplerCopiesScript(t *testing.T) {
	t.Parallel()
	s := &gputest.Sampler{Script: []gputest.Step{{Readings: []gpu.Reading{{
		Index: 0, ThrottleReasons: []string{"sw_power_cap"}, ProcessMemMB: map[int]float64{1: 100},
	}}}}}
	rds, err := s.Sample(context.Background())
	if err != nil {
		t.Fatalf("Sample() error = %v", err)
	}
	rds[0].ThrottleReasons[0] = "changed"
	rds[0].ProcessMemMB[1] = 0
	if rds[0].At.IsZero() {
		t.Errorf("Sample() reading not stamped")
	}
	orig := s.Script[0].Readings[0]
	if orig.ThrottleReasons[0] != "sw_power_cap" || orig.ProcessMemMB[1] != 100 || !orig.At.IsZero() {
		t.Errorf("the script was modified through a returned reading: %+v", orig)
	}
}

func TestSamplerCancelled(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	s := &gputest.Sampler{}
	if _, err := s.Sample(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Sample(cancelled) error = %v, want context.Canceled", err)
	}
}
