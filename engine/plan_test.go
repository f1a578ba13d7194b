package engine

import (
	"errors"
	"strconv"
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
			[]string{"baseline_short", "ctx_sweep_2048", "ctx_sweep_4096", "ctx_sweep_8192", "load_sweep", "long_gen", "memory_wall"}},
		{"full 7.9 GiB", ModeFull, 0, 8191,
			[]string{"baseline_short", "ctx_sweep_2048", "ctx_sweep_4096", "ctx_sweep_8192", "load_sweep", "long_gen", "memory_wall"}},
		{"full 8 GiB", ModeFull, 0, 8192,
			[]string{"baseline_short", "ctx_sweep_2048", "ctx_sweep_4096", "ctx_sweep_8192", "ctx_sweep_16384", "load_sweep", "long_gen", "memory_wall"}},
		{"full 16 GiB", ModeFull, 0, 16384,
			[]string{"baseline_short", "ctx_sweep_2048", "ctx_sweep_4096", "ctx_sweep_8192", "ctx_sweep_16384", "ctx_sweep_32768", "load_sweep", "long_gen", "memory_wall"}},
		{"full 80 GiB", ModeFull, 0, 81920,
			[]string{"baseline_short", "ctx_sweep_2048", "ctx_sweep_4096", "ctx_sweep_8192", "ctx_sweep_16384", "ctx_sweep_32768", "ctx_sweep_65536", "load_sweep", "long_gen", "memory_wall"}},
		{"quick server context 4096", ModeQuick, 4096, 0,
			[]string{"baseline_short", "ctx_sweep_2048", "ctx_sweep_4096", "ctx_sweep_8192!", "long_gen"}},
		{"quick server context 3000", ModeQuick, 3000, 0,
			[]string{"baseline_short", "ctx_sweep_2048", "ctx_sweep_4096!", "ctx_sweep_8192!", "long_gen"}},
		{"quick server context 1024: long_gen does not fit", ModeQuick, 1024, 0,
			[]string{"baseline_short", "ctx_sweep_2048!", "ctx_sweep_4096!", "ctx_sweep_8192!", "long_gen!"}},
		{"full 80 GiB server context 32768", ModeFull, 32768, 81920,
			[]string{"baseline_short", "ctx_sweep_2048", "ctx_sweep_4096", "ctx_sweep_8192", "ctx_sweep_16384", "ctx_sweep_32768", "ctx_sweep_65536!", "load_sweep", "long_gen", "memory_wall"}},
		{"full server context 200: only the baseline fits", ModeFull, 200, 0,
			[]string{"baseline_short", "ctx_sweep_2048!", "ctx_sweep_4096!", "ctx_sweep_8192!", "load_sweep!", "long_gen!", "memory_wall"}},
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
		{ID: TestLoadSweep, Name: "Load sweep — sustained users", Category: schema.CategoryLoad,
			CtxSize: 2048, PromptTokens: BaselinePromptTokens, MaxTokens: ConcurrencyMaxTokens, Runs: 1,
			Load: &LoadOptions{MaxUsers: PlanSweepSlotFactor * PlanSweepUnknownSlots, Window: PlanSweepWindow, RampUp: PlanSweepRampUp,
				InputTokens: BaselinePromptTokens, OutputTokens: ConcurrencyMaxTokens, CtxSize: 2048}},
		{ID: "long_gen", Name: "Long generation stress", Category: schema.CategoryStress,
			CtxSize: 2048, PromptTokens: BaselinePromptTokens, MaxTokens: 1024, Runs: 3},
		{ID: "memory_wall", Name: "Memory wall detection", Category: schema.CategoryMemoryWall,
			CtxSize: 8192, PromptTokens: 8192 - SweepReserve, MaxTokens: WallStepTokens, Runs: 1},
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
	for _, mode := range []string{"", "Quick", "Zeus", "full "} {
		_, err := BuildPlan(mode, 0, 0)
		if !errors.Is(err, ErrInvalidMode) {
			t.Errorf("BuildPlan(%q) error = %v, want ErrInvalidMode", mode, err)
			continue
		}
		if !strings.Contains(err.Error(), "want quick, full or zeus") || !strings.Contains(err.Error(), `"`+mode+`"`) {
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

func TestConcurrencyLevels(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		slots int
		want  []int
	}{
		{"unknown", 0, []int{2, 4}},
		{"one slot: 2 and 4 show the queueing", 1, []int{2, 4}},
		{"three slots", 3, []int{2, 3, 4}},
		{"four slots", 4, []int{2, 4}},
		{"six slots", 6, []int{2, 4, 6}},
		{"eight slots", 8, []int{2, 4, 8}},
		{"sixty-four slots", 64, []int{2, 4, 64}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if diff := cmp.Diff(tc.want, ConcurrencyLevels(tc.slots)); diff != "" {
				t.Errorf("ConcurrencyLevels(%d) (-want +got):\n%s", tc.slots, diff)
			}
		})
	}
}

func TestWithConcurrency(t *testing.T) {
	t.Parallel()
	ids := func(p Plan) []string {
		var out []string
		for _, tt := range p.Tests {
			id := tt.ID
			if tt.SkipReason != "" {
				id += "!"
			}
			out = append(out, id)
		}
		return out
	}
	quick, err := BuildPlan(ModeQuick, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	full, err := BuildPlan(ModeFull, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	tiny, err := BuildPlan(ModeQuick, 200, 0)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		plan   Plan
		levels []int
		want   []string
		rounds int
	}{
		{"quick gains them before long_gen", quick, []int{4, 2},
			[]string{"baseline_short", "ctx_sweep_2048", "ctx_sweep_4096", "ctx_sweep_8192", "concurrency_2", "concurrency_4", "long_gen"}, 2},
		{"full: added after the load sweep, repeats and one user dropped", full, []int{1, 16, 8, 6, 0, 6},
			[]string{"baseline_short", "ctx_sweep_2048", "ctx_sweep_4096", "ctx_sweep_8192", "load_sweep", "concurrency_6", "concurrency_8", "concurrency_16", "long_gen", "memory_wall"}, 3},
		{"full: no level adds none", full, nil,
			[]string{"baseline_short", "ctx_sweep_2048", "ctx_sweep_4096", "ctx_sweep_8192", "load_sweep", "long_gen", "memory_wall"}, 0},
		{"a context too small: skipped", tiny, []int{2},
			[]string{"baseline_short", "ctx_sweep_2048!", "ctx_sweep_4096!", "ctx_sweep_8192!", "concurrency_2!", "long_gen!"}, 2},
		{"no stress test: appended", Plan{Mode: "custom", Tests: []Test{{ID: "x", Category: schema.CategoryBaseline, CtxSize: 1024}}}, []int{3},
			[]string{"x", "concurrency_3"}, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			before := ids(tc.plan)
			got := WithConcurrency(tc.plan, tc.levels)
			if diff := cmp.Diff(tc.want, ids(got)); diff != "" {
				t.Errorf("tests (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(before, ids(tc.plan)); diff != "" {
				t.Errorf("the plan passed in changed (-before +after):\n%s", diff)
			}
			if got.Mode != tc.plan.Mode {
				t.Errorf("Mode = %q, want %q", got.Mode, tc.plan.Mode)
			}
			for _, tt := range got.Tests {
				if tt.Category != schema.CategoryConcurrency {
					continue
				}
				if tt.Runs != tc.rounds {
					t.Errorf("%s: Runs = %d, want %d", tt.ID, tt.Runs, tc.rounds)
				}
				if want := ConcurrencyPrefix + strconv.Itoa(tt.Concurrency); tt.ID != want {
					t.Errorf("ID %s, Concurrency %d: want ID %s", tt.ID, tt.Concurrency, want)
				}
				if want := "Concurrency — " + strconv.Itoa(tt.Concurrency) + " users"; tt.Name != want {
					t.Errorf("Name = %q, want %q", tt.Name, want)
				}
				if tt.PromptTokens != BaselinePromptTokens || tt.MaxTokens != ConcurrencyMaxTokens {
					t.Errorf("%s: prompt %d, output %d, want %d and %d", tt.ID, tt.PromptTokens, tt.MaxTokens, BaselinePromptTokens, ConcurrencyMaxTokens)
				}
				if base := tc.plan.Tests[0]; tt.CtxSize != base.CtxSize {
					t.Errorf("%s: CtxSize = %d, want the baseline's %d", tt.ID, tt.CtxSize, base.CtxSize)
				}
			}
		})
	}
}
