package engine

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/typhonbench/typhon/schema"
)

func TestBuildPlanTiers(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		mode      string
		serverCtx int
		vramMB    float64
		want      []string // test IDs, skipped ones marked with a trailing "!"
	}{
		{"quick no GPU", ModeQuick, 0, 0,
			[]string{"baseline_short", "ctx_sweep_2048", "ctx_sweep_4096", "ctx_sweep_8192", "long_gen"}},
		{"quick 24 GiB keeps three sizes", ModeQuick, 0, 24576,
			[]string{"baseline_short", "ctx_sweep_2048", "ctx_sweep_4096", "ctx_sweep_8192", "long_gen"}},
		{"full no GPU", ModeFull, 0, 0,
			[]string{"baseline_short", "ctx_sweep_2048", "ctx_sweep_4096", "ctx_sweep_8192", "long_gen", "memory_wall"}},
		{"full 7.9 GiB", ModeFull, 0, 8191,
			[]string{"baseline_short", "ctx_sweep_2048", "ctx_sweep_4096", "ctx_sweep_8192", "long_gen", "memory_wall"}},
		{"full 8 GiB", ModeFull, 0, 8192,
			[]string{"baseline_short", "ctx_sweep_2048", "ctx_sweep_4096", "ctx_sweep_8192", "ctx_sweep_16384", "long_gen", "memory_wall"}},
		{"full 16 GiB", ModeFull, 0, 16384,
			[]string{"baseline_short", "ctx_sweep_2048", "ctx_sweep_4096", "ctx_sweep_8192", "ctx_sweep_16384", "ctx_sweep_32768", "long_gen", "memory_wall"}},
		{"full 80 GiB", ModeFull, 0, 81920,
			[]string{"baseline_short", "ctx_sweep_2048", "ctx_sweep_4096", "ctx_sweep_8192", "ctx_sweep_16384", "ctx_sweep_32768", "ctx_sweep_65536", "long_gen", "memory_wall"}},
		{"quick server context 4096", ModeQuick, 4096, 0,
			[]string{"baseline_short", "ctx_sweep_2048", "ctx_sweep_4096", "ctx_sweep_8192!", "long_gen"}},
		{"quick server context 3000", ModeQuick, 3000, 0,
			[]string{"baseline_short", "ctx_sweep_2048", "ctx_sweep_4096!", "ctx_sweep_8192!", "long_gen"}},
		{"quick server context 1024: long_gen does not fit", ModeQuick, 1024, 0,
			[]string{"baseline_short", "ctx_sweep_2048!", "ctx_sweep_4096!", "ctx_sweep_8192!", "long_gen!"}},
		{"full 80 GiB server context 32768", ModeFull, 32768, 81920,
			[]string{"baseline_short", "ctx_sweep_2048", "ctx_sweep_4096", "ctx_sweep_8192", "ctx_sweep_16384", "ctx_sweep_32768", "ctx_sweep_65536!", "long_gen", "memory_wall"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p, err := BuildPlan(tc.mode, tc.serverCtx, tc.vramMB)
			if err != nil {
				t.Fatalf("BuildPlan: %v", err)
			}
			if p.Mode != tc.mode {
				t.Errorf("Mode = %q, want %q", p.Mode, tc.mode)
			}
			var got []string
			for _, tt := range p.Tests {
				id := tt.ID
				if tt.SkipReason != "" {
					id += "!"
				}
				got = append(got, id)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("tests (-want +got):\n%s", diff)
			}
		})
	}
}

func TestBuildPlanTests(t *testing.T) {
	t.Parallel()
	p, err := BuildPlan(ModeFull, 8192, 0)
	if err != nil {
		t.Fatal(err)
	}
	want := []Test{
		{ID: "baseline_short", Name: "Baseline (short prompt)", Category: schema.CategoryBaseline,
			CtxSize: 2048, PromptTokens: BaselinePromptTokens, MaxTokens: 64, Runs: 10},
		{ID: "ctx_sweep_2048", Name: "Context sweep — 2,048 tokens", Category: schema.CategoryContextSweep,
			CtxSize: 2048, PromptTokens: 2048 - SweepReserve, MaxTokens: 256, Runs: 5},
		{ID: "ctx_sweep_4096", Name: "Context sweep — 4,096 tokens", Category: schema.CategoryContextSweep,
			CtxSize: 4096, PromptTokens: 4096 - SweepReserve, MaxTokens: 256, Runs: 5},
		{ID: "ctx_sweep_8192", Name: "Context sweep — 8,192 tokens", Category: schema.CategoryContextSweep,
			CtxSize: 8192, PromptTokens: 8192 - SweepReserve, MaxTokens: 256, Runs: 5},
		{ID: "long_gen", Name: "Long generation stress", Category: schema.CategoryStress,
			CtxSize: 2048, PromptTokens: BaselinePromptTokens, MaxTokens: 1024, Runs: 3},
		{ID: "memory_wall", Name: "Memory wall detection", Category: schema.CategoryMemoryWall,
			CtxSize: 8192, PromptTokens: 8192 - SweepReserve, MaxTokens: 512, Runs: 1},
	}
	if diff := cmp.Diff(want, p.Tests); diff != "" {
		t.Errorf("full plan (-want +got):\n%s", diff)
	}

	q, err := BuildPlan(ModeQuick, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range q.Tests {
		if tt.Runs < 1 {
			t.Errorf("%s: Runs = %d, want at least 1", tt.ID, tt.Runs)
		}
		if tt.Category == schema.CategoryMemoryWall {
			t.Errorf("quick plan has %s", tt.ID)
		}
		if tt.PromptTokens+tt.MaxTokens > tt.CtxSize {
			t.Errorf("%s: prompt %d + output %d exceed its context %d", tt.ID, tt.PromptTokens, tt.MaxTokens, tt.CtxSize)
		}
	}
}

func TestBuildPlanSkipReason(t *testing.T) {
	t.Parallel()
	p, err := BuildPlan(ModeQuick, 4096, 0)
	if err != nil {
		t.Fatal(err)
	}
	last := p.Tests[3]
	if last.ID != "ctx_sweep_8192" {
		t.Fatalf("test 3 = %s, want ctx_sweep_8192", last.ID)
	}
	for _, want := range []string{"8,192", "4,096"} {
		if !strings.Contains(last.SkipReason, want) {
			t.Errorf("SkipReason = %q, want it to mention %s", last.SkipReason, want)
		}
	}
}

func TestBuildPlanInvalidMode(t *testing.T) {
	t.Parallel()
	for _, mode := range []string{"", "Quick", "zeus", "full "} {
		_, err := BuildPlan(mode, 0, 0)
		if !errors.Is(err, ErrInvalidMode) {
			t.Errorf("BuildPlan(%q) error = %v, want ErrInvalidMode", mode, err)
			continue
		}
		if !strings.Contains(err.Error(), "want quick or full") || !strings.Contains(err.Error(), `"`+mode+`"`) {
			t.Errorf("BuildPlan(%q) error = %q, want the bad value and the choices", mode, err)
		}
	}
}

func TestThousands(t *testing.T) {
	t.Parallel()
	tests := map[int]string{0: "0", 7: "7", 999: "999", 1000: "1,000", 8192: "8,192", 65536: "65,536",
		131072: "131,072", 1048576: "1,048,576", -4096: "-4,096"}
	for n, want := range tests {
		if got := Thousands(n); got != want {
			t.Errorf("Thousands(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestDefaultTimeout(t *testing.T) {
	t.Parallel()
	tests := []struct {
		prompt int
		want   string
	}{{0, "2m0s"}, {-5, "2m0s"}, {1000, "2m5s"}, {3712, "2m18.56s"}, {64000, "7m20s"}}
	for _, tc := range tests {
		if got := DefaultTimeout(tc.prompt).String(); got != tc.want {
			t.Errorf("DefaultTimeout(%d) = %s, want %s", tc.prompt, got, tc.want)
		}
	}
}

func TestPlanCtx(t *testing.T) {
	t.Parallel()
	tests := []struct {
		kind             string
		ctx, train, want int
	}{
		{KindLlamaCpp, 4096, 32768, 4096},
		{KindVLLM, 8192, 0, 8192},
		{"", 0, 0, 0},
		{KindOllama, 2048, 32768, 32768}, // Ollama allocates what a request asks for
		{KindOllama, 2048, 0, 0},
		{"Ollama", 4096, 131072, 131072},
	}
	for _, tc := range tests {
		if got := PlanCtx(tc.kind, tc.ctx, tc.train); got != tc.want {
			t.Errorf("PlanCtx(%q, %d, %d) = %d, want %d", tc.kind, tc.ctx, tc.train, got, tc.want)
		}
	}
}
