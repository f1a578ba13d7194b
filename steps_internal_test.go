package typhon

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/typhonbench/typhon/detect"
	"github.com/typhonbench/typhon/engine"
	"github.com/typhonbench/typhon/gpu"
	"github.com/typhonbench/typhon/gpu/gputest"
	"github.com/typhonbench/typhon/schema"
)

// The steps of Runner.Run, each on its own.

func TestMode(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		r       Runner
		want    Mode
		wantErr error
	}{
		{"zero value", Runner{}, ModeQuick, nil},
		{"full", Runner{Mode: ModeFull}, ModeFull, nil},
		{"unknown", Runner{Mode: "turbo"}, "", ErrInvalidMode},
		{"a plan's mode wins", Runner{Mode: ModeQuick, Plan: &engine.Plan{Mode: ModeFull}}, ModeFull, nil},
		{"a plan may name its own mode", Runner{Plan: &engine.Plan{Mode: "nightly"}}, "nightly", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := tc.r.mode()
			if got != tc.want || !errors.Is(err, tc.wantErr) {
				t.Errorf("mode() = %q, %v; want %q, %v", got, err, tc.want, tc.wantErr)
			}
		})
	}
}

func TestRecordOutcome(t *testing.T) {
	t.Parallel()
	tests := []struct {
		err        error
		wantStatus schema.Status
		wantText   string
	}{
		{nil, schema.StatusComplete, ""},
		{fmt.Errorf("run: %w", context.Canceled), schema.StatusCancelled, "cancelled"},
		{fmt.Errorf("run: %w", context.DeadlineExceeded), schema.StatusCancelled, "timed out"},
		{fmt.Errorf("%w: test_a: http_500", ErrAllTestsFailed), schema.StatusFailed, "every test failed: test_a: http_500"},
	}
	for _, tc := range tests {
		if status, text := recordOutcome(tc.err); status != tc.wantStatus || text != tc.wantText {
			t.Errorf("recordOutcome(%v) = %s %q, want %s %q", tc.err, status, text, tc.wantStatus, tc.wantText)
		}
	}
}

// TestTracker: the progress of a run, step by step, and the final value a
// Manager keeps.
func TestTracker(t *testing.T) {
	t.Parallel()
	ch := make(chan Progress, 16)
	pr := &tracker{ch: ch}
	pr.detecting()
	pr.planned(engine.Plan{Tests: []engine.Test{{Name: "A"}, {Name: "B"}}})
	pr.starting(0)
	pr.finished(0)
	pr.starting(1)
	pr.finished(1)
	pr.ended(2)
	close(ch)
	var got []Progress
	for p := range ch {
		got = append(got, p)
	}
	want := []Progress{
		{CurrentTest: "detecting server"}, {Total: 2, CurrentTest: "A"},
		{Done: 0, Total: 2, CurrentTest: "A"}, {Done: 1, Total: 2, CurrentTest: "B"},
		{Done: 1, Total: 2, CurrentTest: "B"}, {Done: 2, Total: 2},
		{Done: 2, Total: 2},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("progress (-want +got):\n%s", diff)
	}
	full := &tracker{ch: make(chan Progress)} // nobody reads: sends must not block
	full.detecting()
	if (&tracker{}).name(3) != "" || full.last.CurrentTest != "detecting server" {
		t.Error("a tracker without a reader blocked or lost its state")
	}
}

func TestOpenTelemetry(t *testing.T) {
	t.Parallel()
	gpus := []schema.GPUInfo{{Name: "Fake", MemoryTotalMB: 8192}}
	tests := []struct {
		name        string
		s           gpu.Sampler
		wantSampler bool
		wantVRAM    float64
		wantErr     string
	}{
		{"a GPU", &gputest.Sampler{GPUs: gpus}, true, 8192, ""},
		{"no driver", &gputest.Sampler{Err: errors.New("gpu telemetry unavailable: no driver")}, false, 0,
			"gpu telemetry unavailable: no driver"},
		{"no GPU listed", &gputest.Sampler{}, false, 0, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tel := openTelemetry(t.Context(), tc.s)
			defer tel.close()
			vram := 0.0
			if len(tel.profile.GPUs) > 0 {
				vram = tel.profile.GPUs[0].MemoryTotalMB
			}
			if (tel.sampler != nil) != tc.wantSampler || vram != tc.wantVRAM || tel.profile.GPUError != tc.wantErr {
				t.Errorf("telemetry: sampler %v, vram %v, error %q; want sampler %v, vram %v, error %q",
					tel.sampler != nil, vram, tel.profile.GPUError, tc.wantSampler, tc.wantVRAM, tc.wantErr)
			}
			if tel.profile.CPU.LogicalCores < 1 {
				t.Errorf("no host profile: %+v", tel.profile.CPU)
			}
		})
	}
}

func TestBuildPlan(t *testing.T) {
	t.Parallel()
	r := &Runner{}
	srv := detect.Server{Kind: detect.KindLlamaCpp, CtxSize: 16384, Slots: 8}
	quick, err := r.buildPlan(ModeQuick, srv, 0)
	if err != nil || len(quick.Tests) == 0 || quick.Mode != ModeQuick {
		t.Fatalf("quick plan = %+v, %v", quick, err)
	}
	full, err := r.buildPlan(ModeFull, srv, 0)
	if err != nil {
		t.Fatal(err)
	}
	sweeps := 0
	for _, tt := range full.Tests {
		if tt.Load != nil {
			sweeps++
		}
	}
	if sweeps != 1 {
		t.Errorf("full plan has %d load sweeps, want 1 sized for the server's slots", sweeps)
	}
	load, err := r.buildPlan(ModeLoad, srv, 0)
	if err != nil || len(load.Tests) != 1 || load.Tests[0].Load == nil || load.Mode != ModeLoad {
		t.Errorf("load plan = %+v, %v; want one load sweep", load, err)
	}
	given := &engine.Plan{Tests: []engine.Test{{ID: "x"}}}
	if p, err := (&Runner{Plan: given}).buildPlan(ModeFull, srv, 0); err != nil || len(p.Tests) != 1 || p.Tests[0].ID != "x" {
		t.Errorf("a set Plan = %+v, %v; want it as given", p, err)
	}
}
