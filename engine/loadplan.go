package engine

import (
	"time"

	"github.com/typhonbench/typhon/schema"
)

// ModeLoad is the mode of a plan that is one load sweep (LoadPlan).
const ModeLoad = schema.ModeLoad

// TestLoadSweep is the ID of a plan's load sweep; its levels are recorded as
// load_users_N or load_rate_R.
const TestLoadSweep = "load_sweep"

// The short user sweep of a full plan.
const (
	PlanSweepWindow = 10 * time.Second
	PlanSweepRampUp = 2 * time.Second
	// PlanSweepSlotFactor: the sweep goes up to this many users per slot.
	PlanSweepSlotFactor = 4
	// PlanSweepUnknownSlots is the slot count assumed when the server says none.
	PlanSweepUnknownSlots = 2
)

// LoadPlan is the plan of one load sweep with options o.
func LoadPlan(o LoadOptions) Plan {
	return Plan{Mode: ModeLoad, Tests: []Test{loadTest(o, 0)}}
}

func loadTest(o LoadOptions, ctx int) Test {
	name := "Load sweep — users"
	if o.shape() == schema.LoadRate {
		name = "Load sweep — request rate"
	}
	return Test{ID: TestLoadSweep, Name: name, Category: schema.CategoryLoad, CtxSize: ctx,
		PromptTokens: o.input(), MaxTokens: o.output(), Runs: 1, Load: &o}
}

// planSweep is the full plan's short user sweep for a server of slots parallel
// slots (0: unknown): 1, 2, 4, ... users up to PlanSweepSlotFactor x slots, with
// the baseline's short prompt and ConcurrencyMaxTokens of output.
func planSweep(slots, ctx int) Test {
	if slots <= 0 {
		slots = PlanSweepUnknownSlots
	}
	o := LoadOptions{MaxUsers: PlanSweepSlotFactor * slots, Window: PlanSweepWindow, RampUp: PlanSweepRampUp,
		InputTokens: BaselinePromptTokens, OutputTokens: ConcurrencyMaxTokens, CtxSize: ctx}
	t := loadTest(o, ctx)
	t.Name = "Load sweep — sustained users"
	return t
}

// WithLoadSweep returns p with its concurrency tests and load sweep replaced by
// one short sweep of users up to PlanSweepSlotFactor times slots (the server's
// parallel slots; 0 when unknown), placed before the long generation and memory
// wall tests. p itself is not modified.
func WithLoadSweep(p Plan, slots int) Plan {
	drop := func(c string) bool { return c == schema.CategoryConcurrency || c == schema.CategoryLoad }
	return spliceBeforeStress(p, drop, func(ctx int) []Test { return []Test{planSweep(slots, ctx)} })
}
