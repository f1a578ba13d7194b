package report

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/typhonbench/typhon/schema"
)

// loadFailureFinding: requests failed at the most users tested (a concurrency
// test or a load level of users, whatever its throughput: failures compare
// across the two). Throughput that grew below that level says nothing of room
// for more users.
func loadFailureFinding(r *schema.Result) (Finding, bool) {
	var last *schema.Benchmark
	for i := range r.Benchmarks {
		b := withUsers(&r.Benchmarks[i])
		if (b.Category == schema.CategoryConcurrency || b.Category == schema.CategoryLoad) && b.Concurrency > 0 && !b.Skipped &&
			(last == nil || b.Concurrency > last.Concurrency) {
			last = b
		}
	}
	if last == nil {
		return Finding{}, false
	}
	failed, n := failedRuns(last)
	if l := last.LoadLevel; l != nil {
		failed, n = l.Failed+l.Incomplete, l.Completed+l.Failed+l.Incomplete
	}
	if failed <= 0 {
		return Finding{}, false
	}
	what := fmt.Sprintf("`%s`: %d of %d requests failed with %d users at once", code(last.TestID), failed, n, last.Concurrency)
	if why := loadFailureReason(last); why != "" {
		what += " (" + why + ")"
	}
	if last.AggregateTPS > 0 {
		what += fmt.Sprintf(", aggregate throughput %.1f tok/s", fig(last.AggregateTPS))
	}
	return finding(RuleLoadFailures, SeverityWarning, "Failures under load", float64(failed), "requests", last.TestID,
		"%s: the server did not serve that many users without failures.", what), true
}

// loadFailureReason is a level's failures by kind, else its first reason.
func loadFailureReason(b *schema.Benchmark) string {
	if l := b.LoadLevel; l != nil && len(l.ErrorKinds) > 0 {
		var ks []string
		for _, k := range slices.Sorted(maps.Keys(l.ErrorKinds)) {
			ks = append(ks, fmt.Sprintf("%s %d", k, l.ErrorKinds[k]))
		}
		return strings.Join(ks, ", ")
	}
	if rs := failureReasons(b); rs[0] != "no reason recorded" {
		return rs[0]
	}
	return ""
}

// withUsers is b, or a copy of it with the users of its load level as its
// concurrency when the record left that out (fleet records merged before
// merged levels carried it).
func withUsers(b *schema.Benchmark) *schema.Benchmark {
	if b.Concurrency > 0 || b.LoadLevel == nil || b.LoadLevel.Shape != schema.LoadUsers || b.LoadLevel.Users <= 0 {
		return b
	}
	c := *b
	c.Concurrency = b.LoadLevel.Users
	return &c
}

// userLevels is the levels of users that findings and charts compare: the load
// sweep's when the record has one, else the concurrency tests (shorter outputs
// in rounds: their throughput is not comparable with a sustained level's).
func userLevels(r *schema.Result) []*schema.Benchmark {
	all := concurrencyLevels(r)
	load := slices.DeleteFunc(slices.Clone(all), func(b *schema.Benchmark) bool { return b.Category != schema.CategoryLoad })
	if len(load) > 0 {
		return load
	}
	return all
}
