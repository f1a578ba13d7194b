package report

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/typhonbench/typhon/schema"
)

// checkWorkerRecord reports a record that cannot be a worker of the run whose
// first worker is first: a record that fails ValidateRecord (its figures do
// not hold together, an index beyond its count, ...), or one that measured
// another server, model or plan, on another clock, or other levels.
func checkWorkerRecord(first, r *schema.Result) error {
	if err := ValidateRecord(r); err != nil {
		return fmt.Errorf("report: %w: record %q: %w", ErrMerge, cutID(r.RunID), err)
	}
	differ := func(what string, a, b any) error {
		return fmt.Errorf("report: %w: worker %d ran %s %v, worker %d %v: not one run", ErrMerge,
			first.Worker.Index, what, a, r.Worker.Index, b)
	}
	a, b := first.Worker, r.Worker
	switch {
	case first.Mode != r.Mode:
		return differ("mode", first.Mode, r.Mode)
	case first.Model != r.Model:
		return differ("model", fmt.Sprintf("%q", first.Model), fmt.Sprintf("%q", r.Model))
	case first.Server.Kind != r.Server.Kind || first.Server.APIBase != r.Server.APIBase:
		return differ("against server", fmt.Sprintf("%s at %q", first.Server.Kind, first.Server.APIBase),
			fmt.Sprintf("%s at %q", r.Server.Kind, r.Server.APIBase))
	case !a.StartAt.Equal(b.StartAt):
		return differ("on the clock", a.StartAt, b.StartAt)
	case first.Status == schema.StatusComplete && r.Status == schema.StatusComplete && len(a.Levels) != len(b.Levels):
		// A worker stopped early has fewer; two that ran to the end were
		// given different levels.
		return differ("to the end levels numbering", len(a.Levels), len(b.Levels))
	}
	for i := range min(len(a.Levels), len(b.Levels)) {
		if err := sameLevel(loadLevel(first, i), loadLevel(r, i), a.Levels[i], b.Levels[i]); err != "" {
			return fmt.Errorf("report: %w: level %d: worker %d and worker %d ran %s: not one run", ErrMerge,
				i+1, a.Index, b.Index, err)
		}
	}
	return nil
}

// sameLevel says how two workers' parts of one level differ ("" when they
// are parts of one level): the level's whole load, its requests, its timing.
func sameLevel(x, y *schema.Benchmark, wx, wy schema.WorkerLevel) string {
	lx, ly := x.LoadLevel, y.LoadLevel
	type pair struct {
		what string
		a, b any
	}
	for _, p := range []pair{
		{"shapes", lx.Shape, ly.Shape},
		{"whole loads of users", wx.TotalUsers, wy.TotalUsers},
		{"whole rates", wx.TotalRate, wy.TotalRate},
		{"input tokens", lx.InputTokens, ly.InputTokens},
		{"output tokens", lx.OutputTokens, ly.OutputTokens},
		{"prompt tokens", x.PromptTokensTarget, y.PromptTokensTarget},
		{"max tokens", x.MaxTokens, y.MaxTokens},
		{"burstiness", lx.Burstiness, ly.Burstiness},
		{"ramp-ups (s)", lx.RampUpS, ly.RampUpS},
		{"windows (s)", lx.WindowS, ly.WindowS},
	} {
		if p.a != p.b {
			return fmt.Sprintf("different %s (%v, %v)", p.what, p.a, p.b)
		}
	}
	if lx.Completed > 0 && ly.Completed > 0 && (lx.SLOMet != nil) != (ly.SLOMet != nil) {
		return "one with objectives (-slo), one without"
	}
	return ""
}

// missingWorkers names the workers of count without a record: "worker 1: no
// record", or "workers 1, 2, 4: no record" (the first ten, then how many more).
func missingWorkers(have map[int]bool, count int) string {
	var ids []string
	n := 0
	for i := range count {
		if have[i] {
			continue
		}
		if n++; n <= 10 {
			ids = append(ids, strconv.Itoa(i))
		}
	}
	switch {
	case n == 0:
		return ""
	case n == 1:
		return "worker " + ids[0] + ": no record"
	case n > 10:
		ids = append(ids, fmt.Sprintf("and %d more", n-10))
	}
	return "workers " + strings.Join(ids, ", ") + ": no record"
}
