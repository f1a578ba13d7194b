package report

import (
	"bufio"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// WriteTable writes the comparison as a plain-text table: the two runs, why they
// are not comparable if they are not, one row per metric of every benchmark, and
// the overall verdict.
func (c Comparison) WriteTable(w io.Writer) error {
	bw := bufio.NewWriter(w)
	tw := tabwriter.NewWriter(bw, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "baseline:\t%s\n", refLine(c.Baseline))
	fmt.Fprintf(tw, "current:\t%s\n", refLine(c.Current))
	fmt.Fprintf(tw, "tolerance:\t%g%%\n", 100*c.Tolerance)
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, r := range c.Reasons {
		fmt.Fprintf(bw, "not comparable: %s\n", r)
	}
	for _, n := range c.Notes {
		fmt.Fprintf(bw, "note: %s\n", n)
	}
	fmt.Fprintln(bw)

	tw = tabwriter.NewWriter(bw, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "TEST\tMETRIC\tBASELINE\tCURRENT\tCHANGE\tVERDICT\tWHY")
	for _, b := range c.Benchmarks {
		if len(b.Metrics) == 0 {
			fmt.Fprintf(tw, "%s\t-\t-\t-\t-\t%s\t%s\n", b.TestID, b.Verdict, b.Reason)
			continue
		}
		for _, m := range b.Metrics {
			writeRow(tw, m)
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(bw)
	if c.Method != "" {
		fmt.Fprintf(bw, "method: %s\n", c.Method)
	}
	fmt.Fprintf(bw, "verdict: %s\n", verdictLine(c))
	return bw.Flush()
}

// WriteChanges writes metric changes (e.g. Comparison.Regressions) as a table.
func WriteChanges(w io.Writer, changes []MetricChange) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "TEST\tMETRIC\tBASELINE\tCURRENT\tCHANGE\tVERDICT\tWHY")
	for _, m := range changes {
		writeRow(tw, m)
	}
	return tw.Flush()
}

func writeRow(w io.Writer, m MetricChange) {
	why := m.Noise
	if m.Metric == MetricFailedRuns {
		why = m.Reason
	}
	fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", m.TestID, m.Metric, figure(m, m.Baseline, m.BaselineStdev, m.BaselineN),
		figure(m, m.Current, m.CurrentStdev, m.CurrentN), changeText(m), m.Verdict, why)
}

func figure(m MetricChange, mean, sd float64, n int) string {
	if m.Metric == MetricFailedRuns {
		return fmt.Sprintf("%.0f%% of %d", 100*mean, n)
	}
	s := num(mean)
	if sd > 0 {
		s += " ±" + num(sd)
	}
	return fmt.Sprintf("%s n=%d", s, n)
}

func changeText(m MetricChange) string {
	if m.Metric == MetricFailedRuns {
		return fmt.Sprintf("%+.0f pts", 100*m.Change)
	}
	return fmt.Sprintf("%+.1f%%", m.ChangePct)
}

func refLine(r RunRef) string {
	if r.RunID == "" && r.RunAt.IsZero() && r.Model == "" {
		return "(none)"
	}
	parts := []string{r.RunID}
	if !r.RunAt.IsZero() {
		parts = append(parts, r.RunAt.UTC().Format("2006-01-02 15:04:05 UTC"))
	}
	for _, p := range []string{r.Mode, r.Model, r.Server, r.Hardware} {
		if p != "" {
			parts = append(parts, p)
		}
	}
	return strings.Join(parts, "  ")
}

func verdictLine(c Comparison) string {
	switch c.Verdict {
	case VerdictRegressed:
		regs := c.Regressions()
		names := make([]string, 0, len(regs))
		for _, m := range regs {
			names = append(names, m.TestID+" "+m.Metric)
		}
		return fmt.Sprintf("regressed (%d: %s)", len(regs), strings.Join(names, ", "))
	case VerdictImproved:
		return fmt.Sprintf("improved (%d metrics better, none worse)", len(c.Improvements()))
	case VerdictInconclusive:
		return "inconclusive (a fall beyond the tolerance within the runs' spread: no regression shown, none ruled out; run more timed runs)"
	case VerdictNotComparable:
		if len(c.Reasons) > 0 {
			return "not comparable: " + strings.Join(c.Reasons, "; ")
		}
		return "not comparable: no benchmark could be compared"
	}
	weak := 0
	for _, b := range c.Benchmarks {
		for _, m := range b.Metrics {
			if m.Weak {
				weak++
			}
		}
	}
	if weak > 0 {
		return fmt.Sprintf("unchanged (%d comparisons are weak: run more timed runs)", weak)
	}
	return "unchanged"
}
