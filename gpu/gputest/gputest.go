// Package gputest provides a scripted gpu.Sampler for tests of code that samples
// GPUs (the engine, a test harness) on machines without one.
//
//	s := &gputest.Sampler{
//		GPUs: []schema.GPUInfo{{Index: 0, Name: "Fake GPU", MemoryTotalMB: 24576}},
//		Script: []gputest.Step{
//			{Readings: []gpu.Reading{{Index: 0, MemUsedMB: gputest.F(8000), PowerW: gputest.F(200)}}},
//			{Err: errors.New("driver hiccup")},
//		},
//	}
//
// A sampler with Err set plays a machine without a GPU:
//
//	s := &gputest.Sampler{Err: fmt.Errorf("%w: no driver", gpu.ErrGPUUnavailable)}
package gputest

import (
	"context"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/typhonbench/typhon/gpu"
	"github.com/typhonbench/typhon/schema"
)

var _ gpu.Sampler = (*Sampler)(nil)

// Step is what one call of Sample returns: Readings, Err, or both (a partial
// round: some GPUs answered, others failed).
type Step struct {
	Readings []gpu.Reading
	Err      error
}

// Sampler replays a script. It is safe for concurrent use. Set its fields before
// the first call.
type Sampler struct {
	// GPUs is what Devices returns.
	GPUs []schema.GPUInfo
	// Err, when set, is returned by Devices and by every Sample.
	Err error
	// Script: the n-th call of Sample returns Script[n]. After the last step,
	// Sample repeats it, or starts over when Loop is set. An empty script
	// returns no readings.
	Script []Step
	Loop   bool
	// Now stamps readings whose At is zero; nil means time.Now.
	Now func() time.Time

	mu    sync.Mutex
	calls int
}

// Devices returns GPUs, or Err.
func (s *Sampler) Devices(ctx context.Context) ([]schema.GPUInfo, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if s.Err != nil {
		return nil, s.Err
	}
	return slices.Clone(s.GPUs), nil
}

// Sample returns the next step of the script. Readings are copies: the script
// is not modified.
func (s *Sampler) Sample(ctx context.Context) ([]gpu.Reading, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	n := s.calls
	s.calls++
	s.mu.Unlock()
	if s.Err != nil {
		return nil, s.Err
	}
	if len(s.Script) == 0 {
		return nil, nil
	}
	if n >= len(s.Script) {
		if s.Loop {
			n %= len(s.Script)
		} else {
			n = len(s.Script) - 1
		}
	}
	step := s.Script[n]
	if step.Err != nil && len(step.Readings) == 0 {
		return nil, step.Err
	}
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	at := now()
	out := make([]gpu.Reading, len(step.Readings))
	for i, rd := range step.Readings {
		rd.ThrottleReasons = slices.Clone(rd.ThrottleReasons)
		rd.ProcessMemMB = maps.Clone(rd.ProcessMemMB)
		if rd.At.IsZero() {
			rd.At = at
		}
		out[i] = rd
	}
	return out, step.Err
}

// Calls returns how many times Sample was called.
func (s *Sampler) Calls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls
}

// F returns a pointer to v, for the optional fields of gpu.Reading.
func F(v float64) *float64 { return &v }
