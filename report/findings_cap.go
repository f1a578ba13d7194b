package report

import (
	"fmt"
	"strings"
)

// Bounds of the findings of one record, however many tests, runs and reasons
// it holds: each finding a line, a few of each rule.
const (
	maxPerRule = 10 // findings of one rule; the rest are counted in the last
	maxListed  = 5  // reasons or tests named in one finding
)

// capFindings keeps the first maxPerRule-1 findings of each rule and puts the
// rest of that rule into one that counts them and names their tests.
func capFindings(fs []Finding) []Finding {
	n := map[string]int{}
	for _, f := range fs {
		n[f.Rule]++
	}
	kept, at := map[string]int{}, map[string]int{}
	rest := map[string][]Finding{}
	var out []Finding
	for _, f := range fs {
		if n[f.Rule] > maxPerRule && kept[f.Rule] >= maxPerRule-1 {
			if len(rest[f.Rule]) == 0 {
				at[f.Rule] = len(out)
				out = append(out, Finding{}) // its place, filled below
			}
			rest[f.Rule] = append(rest[f.Rule], f)
			continue
		}
		kept[f.Rule]++
		out = append(out, f)
	}
	for rule, i := range at {
		out[i] = othersFinding(rest[rule])
	}
	return out
}

// othersFinding counts findings of one rule left out of the list.
func othersFinding(fs []Finding) Finding {
	sev := SeverityInfo
	var tests []string
	for _, f := range fs {
		if severityRank(f.Severity) > severityRank(sev) {
			sev = f.Severity
		}
		if f.TestID != "" {
			tests = append(tests, "`"+code(f.TestID)+"`")
		}
	}
	text := fmt.Sprintf("%s more like the above", commas(float64(len(fs))))
	if len(tests) > 0 {
		text += ": " + listSome(tests, maxListed, "other tests")
	}
	return Finding{Rule: fs[0].Rule, Severity: sev, Title: othersTitle(fs), Text: text + ".", Value: float64(len(fs)), Unit: "findings"}
}

// othersTitle is the title the findings share, else the part before a colon
// of the first one's ("Runs excluded: cache_hit"), else the rule's name.
func othersTitle(fs []Finding) string {
	t := fs[0].Title
	for _, f := range fs {
		if f.Title != t {
			t = ""
			break
		}
	}
	if t == "" {
		if head, _, ok := strings.Cut(fs[0].Title, ":"); ok {
			t = head
		}
	}
	return orText(t, "More "+fs[0].Rule) + " (more)"
}

func severityRank(s string) int {
	switch s {
	case SeverityProblem:
		return 2
	case SeverityWarning:
		return 1
	}
	return 0
}

// listSome joins the first n items and counts the rest: "a; b; and 7 other reasons".
func listSome(items []string, n int, others string) string {
	if len(items) <= n {
		return strings.Join(items, "; ")
	}
	return strings.Join(items[:n], "; ") + fmt.Sprintf("; and %s %s", commas(float64(len(items)-n)), others)
}
