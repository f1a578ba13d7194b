//go:build !(linux && cgo)

package nvml

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/typhonbench/typhon/gpu"
)

func TestStubUnavailable(t *testing.T) {
	t.Parallel()
	var s Sampler
	_, devErr := s.Devices(context.Background())
	_, sampleErr := s.Sample(context.Background())
	_, openErr := Open()
	_, newErr := New(Options{})
	_, defaultErr := gpu.Default()
	tests := []struct {
		name string
		err  error
	}{
		{"Open", openErr},
		{"New", newErr},
		{"Devices", devErr},
		{"Sample", sampleErr},
		{"gpu.Default (registered stub)", defaultErr},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if !errors.Is(tt.err, gpu.ErrGPUUnavailable) || !strings.Contains(tt.err.Error(), "NVML") {
				t.Errorf("%s error = %v, want one wrapping ErrGPUUnavailable that says why NVML cannot be read", tt.name, tt.err)
			}
		})
	}
}
