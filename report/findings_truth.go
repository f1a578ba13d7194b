package report

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/typhonbench/typhon/schema"
)

// WallBelowShare: a wall whose wall_tokens is below this share of the
// configured context fires wall_below_context.
const WallBelowShare = 0.9

// wallKind is the memory wall's kind: wall_kind where the record has it, else
// read from the failure (records made before wall_kind).
func wallKind(w *schema.MemoryWall) string {
	switch {
	case w.WallKind != "":
		return w.WallKind
	case w.FailedPromptTokens <= 0:
		return schema.WallNone
	case w.FailureClass == schema.FailContextRefused || w.FailureClass == schema.FailTruncated:
		return schema.WallContextLimit
	case w.FailureClass == "" && contextLimitFailure(w):
		return schema.WallContextLimit
	}
	return schema.WallMemory
}

// contextLimitFailure tells a refusal for the context size (an HTTP 400 or a
// message about the context) from a failure of memory or of the server, for
// records without failure_class.
func contextLimitFailure(w *schema.MemoryWall) bool {
	msg := strings.ToLower(w.Failure)
	return w.FailureKind == "http_400" || strings.Contains(msg, "context") && !strings.Contains(msg, "memory")
}

// wallFailure says what failed past the wall: the size, its class and kind,
// and the server's own words.
func wallFailure(w *schema.MemoryWall) string {
	if w.FailedPromptTokens <= 0 {
		return ""
	}
	why := strings.Join(nonEmpty(w.FailureClass, w.FailureKind), ", ")
	s := fmt.Sprintf("%s tokens failed (%s)", commas(float64(w.FailedPromptTokens)), orText(why, "failure"))
	if w.Failure != "" {
		s += fmt.Sprintf(", the server said %q", oneLine(w.Failure))
	}
	return s
}

// wallFindings places the memory wall (wall_kind, wall_tokens) against the
// server's configured context: a context limit, a memory wall below, close to
// or well above the context, or no wall within the search's bound.
func wallFindings(r *schema.Result) []Finding {
	var out []Finding
	for i := range r.Benchmarks {
		b := &r.Benchmarks[i]
		if w := b.MemoryWall; w != nil && wallTokens(w) > 0 {
			out = append(out, wallFinding(b, w, r.Server.CtxSize))
		}
	}
	return out
}

func wallFinding(b *schema.Benchmark, w *schema.MemoryWall, ctx int) Finding {
	kind, wt := wallKind(w), float64(wallTokens(w))
	what := fmt.Sprintf("`%s`: `wall_kind` %s, the largest prompt that worked had %s tokens", code(b.TestID), code(kind), commas(wt))
	if f := wallFailure(w); f != "" {
		what += "; " + f
	}
	if ctx > 0 {
		what += fmt.Sprintf("; the server is configured for %s tokens per slot", commas(float64(ctx)))
	}
	if w.ContextTokens > 0 {
		what += fmt.Sprintf(" (the search set the context to %s tokens per request)", commas(float64(w.ContextTokens)))
	}
	c := float64(ctx)
	below := ctx > 0 && wt < WallBelowShare*c
	switch {
	case kind == schema.WallNone:
		bound := "the search's bound"
		if w.BoundTokens > 0 {
			bound = fmt.Sprintf("the search's bound of %s tokens (%s)", commas(float64(w.BoundTokens)), orText(w.Bound, "no reason recorded"))
		}
		return finding(RuleWallNone, SeverityInfo, "No memory wall within the bound", wt, "tokens", b.TestID,
			"%s: every size worked up to %s; there is no wall within it.", what, bound)
	case kind == schema.WallUnknown:
		return finding(RuleWallUnknown, SeverityWarning, "No memory wall could be claimed", wt, "tokens", b.TestID,
			"%s: the search ended on failures that named no cause (5xx or timeouts after a retry), at its time bound or with the server gone; see its notes, and run it again.", what)
	case kind == schema.WallContextLimit && below:
		return finding(RuleWallBelowContext, SeverityWarning, "Context refused below the configured context", wt, "tokens", b.TestID,
			"%s: the server refused prompts %s tokens short of the configured context (%s); set the context to what works.",
			what, commas(c-wt), pct(wt, c))
	case kind == schema.WallContextLimit:
		stop := "the configured context stops prompts, not memory"
		if w.FailedPromptTokens <= 0 && w.BoundTokens > 0 {
			stop = fmt.Sprintf("the search reached its bound of %s tokens (%s) without a failure: the context, not memory, stops prompts",
				commas(float64(w.BoundTokens)), orText(w.Bound, "no reason recorded"))
		}
		return finding(RuleWallAtLimit, SeverityInfo, "Memory wall at the context limit", wt, "tokens", b.TestID,
			"%s: %s; the VRAM headroom says whether a larger context fits.", what, stop)
	case below:
		return finding(RuleWallBelowContext, SeverityWarning, "Memory wall below the context", wt, "tokens", b.TestID,
			"%s: memory runs out %s tokens short of the configured context (%s); set the context to what works.",
			what, commas(c-wt), pct(wt, c))
	case ctx > 0 && wt <= (1+WallCloseShare)*c:
		return finding(RuleWallClose, SeverityWarning, "Memory wall close to the context", wt, "tokens", b.TestID,
			"%s: memory runs out %s from the configured context, little room to raise it.", what, pct(wt, c))
	}
	return finding(RuleWallMemory, SeverityInfo, "Memory wall", wt, "tokens", b.TestID,
		"%s: memory runs out there, the largest context this server can hold with this model.", what)
}

// excludedReasons says, per reason of schema.RunSample.Excluded, why a run
// stays out of the averages.
var excludedReasons = map[string]string{
	schema.ExcludedStoppedEarly:  "fewer output tokens than asked: the model stopped at its end of sequence",
	schema.ExcludedTruncated:     "the server took far fewer prompt tokens than were sent",
	schema.ExcludedBuffered:      "the tokens came in one burst: a buffering proxy or a server that does not flush",
	schema.ExcludedTokenMismatch: "the chunks' token counts and the usage disagree",
	schema.ExcludedCacheHit:      "more prompt tokens came from the server's cache than the chat template's prefix",
}

// stopCauses says why the runs excluded as stopped_early stopped, from their
// finish_reason: the end of sequence, a length limit before max_tokens (the
// context filled), a content filter, a tool call, or a reason Typhon does not
// know (named).
func stopCauses(r *schema.Result) string {
	n := map[string]int{}
	var unknown []string
	for _, b := range r.Benchmarks {
		for _, run := range b.Runs {
			if run.Excluded != schema.ExcludedStoppedEarly {
				continue
			}
			switch f := strings.ToLower(run.FinishReason); f {
			case "", "stop", "eos", "eos_token", "stop_sequence", "end_turn":
				n["eos"]++
			case "length", "max_tokens", "limit":
				n["length"]++
			case "content_filter", "safety", "refusal":
				n["filter"]++
			case "tool_calls", "function_call", "tool_use":
				n["tool"]++
			default:
				if n["unknown"]++; !slices.Contains(unknown, run.FinishReason) {
					unknown = append(unknown, run.FinishReason)
				}
			}
		}
	}
	var out []string
	for _, c := range []struct{ key, text string }{
		{"eos", "at the model's end of sequence (or a stop string)"},
		{"length", "at a length limit (finish_reason length below max_tokens: the context filled, or the server caps output)"},
		{"filter", "by a content filter"},
		{"tool", "at a tool call"},
		{"unknown", "for a finish_reason Typhon does not know (" + strings.Join(unknown, ", ") + ")"},
	} {
		if n[c.key] > 0 {
			out = append(out, fmt.Sprintf("%d %s", n[c.key], c.text))
		}
	}
	return strings.Join(out, ", ")
}

// excludedFindings: timed runs kept out of the averages and comparisons, one
// finding per reason with the count of runs and the tests they belong to.
func excludedFindings(r *schema.Result) []Finding {
	byReason := map[string][]string{}
	count := map[string]int{}
	for _, b := range r.Benchmarks {
		per := map[string]int{}
		for _, run := range b.Runs {
			if run.Excluded != "" {
				per[run.Excluded]++
			}
		}
		for reason, n := range per {
			count[reason] += n
			t := fmt.Sprintf("`%s` (%d, %d valid run%s left)", code(b.TestID), n, b.ValidRuns, plural(b.ValidRuns))
			byReason[reason] = append(byReason[reason], t)
		}
	}
	reasons := make([]string, 0, len(count))
	for reason := range count {
		reasons = append(reasons, reason)
	}
	sort.Strings(reasons)
	var out []Finding
	for _, reason := range reasons {
		n, why := count[reason], orText(excludedReasons[reason], "no explanation known")
		if reason == schema.ExcludedStoppedEarly {
			why = "fewer output tokens than asked: " + stopCauses(r)
		}
		out = append(out, finding(RuleExcluded, SeverityWarning, "Runs excluded: "+reason, float64(n), "runs", "",
			"%d run%s excluded as `%s` (%s): %s; they keep their figures but stay out of the averages and comparisons.",
			n, plural(n), code(reason), why, strings.Join(byReason[reason], ", ")))
	}
	return out
}

// stoppedEarlyFindings: timed runs that ended before max_tokens and are not
// excluded (records made before excluded), so they are in the averages.
func stoppedEarlyFindings(r *schema.Result) []Finding {
	var n int
	var tests []string
	for _, b := range r.Benchmarks {
		c := 0
		for _, run := range b.Runs {
			if run.StoppedEarly && run.Excluded == "" {
				c++
			}
		}
		if c > 0 {
			n += c
			tests = append(tests, fmt.Sprintf("`%s` (%d)", code(b.TestID), c))
		}
	}
	if n == 0 {
		return nil
	}
	return []Finding{finding(RuleStoppedEarly, SeverityWarning, "Stopped early", float64(n), "runs", "",
		"%d run%s ended before max_tokens: %s; their speed covers fewer tokens than planned and is in the averages.",
		n, plural(n), strings.Join(tests, ", "))}
}
