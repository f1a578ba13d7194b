package gpu

import (
	"context"
	"errors"
	"maps"
	"strings"
	"testing"

	"github.com/typhonbench/typhon/schema"
)

// withRegistry gives a test its own sampler registry and restores the real one.
// Tests that use it must not run in parallel.
func withRegistry(t *testing.T, reg map[string]func() (Sampler, error)) {
	t.Helper()
	registryMu.Lock()
	saved := registry
	registry = maps.Clone(reg)
	if registry == nil {
		registry = map[string]func() (Sampler, error){}
	}
	registryMu.Unlock()
	t.Cleanup(func() {
		registryMu.Lock()
		registry = saved
		registryMu.Unlock()
	})
}

type nopSampler struct{}

func (nopSampler) Devices(context.Context) ([]schema.GPUInfo, error) { return nil, nil }
func (nopSampler) Sample(context.Context) ([]Reading, error)         { return nil, nil }

func TestDefault(t *testing.T) {
	errNoLib := errors.New("libnvidia-ml.so.1: cannot open shared object file")
	tests := []struct {
		name        string
		reg         map[string]func() (Sampler, error)
		wantSampler bool
		wantErr     []string // substrings of the error; nil = no error
	}{
		{
			name:    "nothing registered",
			wantErr: []string{"gpu telemetry unavailable", "no GPU sampler registered", "gpu/nvml"},
		},
		{
			name: "driver error already wrapping ErrGPUUnavailable is passed on",
			reg: map[string]func() (Sampler, error){
				"nvml": func() (Sampler, error) { return nil, errors.Join(ErrGPUUnavailable, errNoLib) },
			},
			wantErr: []string{"libnvidia-ml.so.1"},
		},
		{
			name: "driver error not wrapping ErrGPUUnavailable gets wrapped",
			reg: map[string]func() (Sampler, error){
				"nvml": func() (Sampler, error) { return nil, errNoLib },
			},
			wantErr: []string{"gpu telemetry unavailable", "libnvidia-ml.so.1"},
		},
		{
			name: "the first sampler that opens wins",
			reg: map[string]func() (Sampler, error){
				"a": func() (Sampler, error) { return nil, errNoLib },
				"b": func() (Sampler, error) { return nopSampler{}, nil },
			},
			wantSampler: true,
		},
		{
			name: "every driver fails: all reasons, by name",
			reg: map[string]func() (Sampler, error){
				"a": func() (Sampler, error) { return nil, errNoLib },
				"b": func() (Sampler, error) { return nil, errors.New("no device") },
			},
			wantErr: []string{"a: gpu telemetry unavailable: libnvidia-ml", "b: gpu telemetry unavailable: no device"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			withRegistry(t, tt.reg)
			s, err := Default()
			if tt.wantErr == nil {
				if err != nil {
					t.Fatalf("Default() error = %v, want nil", err)
				}
				if (s != nil) != tt.wantSampler {
					t.Fatalf("Default() sampler = %v, want one: %v", s, tt.wantSampler)
				}
				return
			}
			if !errors.Is(err, ErrGPUUnavailable) {
				t.Fatalf("Default() error = %v, want one wrapping ErrGPUUnavailable", err)
			}
			if s != nil {
				t.Errorf("Default() sampler = %v, want nil with an error", s)
			}
			for _, sub := range tt.wantErr {
				if !strings.Contains(err.Error(), sub) {
					t.Errorf("Default() error = %q, want it to contain %q", err, sub)
				}
			}
		})
	}
}

func TestRegisterPanics(t *testing.T) {
	tests := []struct {
		name string
		reg  func()
	}{
		{"nil open", func() { Register("x", nil) }},
		{"twice", func() {
			Register("x", func() (Sampler, error) { return nopSampler{}, nil })
			Register("x", func() (Sampler, error) { return nopSampler{}, nil })
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			withRegistry(t, nil)
			defer func() {
				if recover() == nil {
					t.Errorf("Register did not panic")
				}
			}()
			tt.reg()
		})
	}
}
