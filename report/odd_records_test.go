package report

import (
	"bytes"
	"strings"
	"testing"
)

// TestDashboardExtremeFigures: figures near the largest a JSON number holds
// (1.7e308 tok/s in a long generation's series, 1e20 MiB of VRAM) are drawn
// and written without NaN, Inf or a wrapped-around negative number, on the
// page and in the Markdown summary.
func TestDashboardExtremeFigures(t *testing.T) {
	t.Parallel()
	r := fullResult()
	for i := range r.Benchmarks {
		for j := range r.Benchmarks[i].Series {
			r.Benchmarks[i].Series[j].TPS = 1.7e308
		}
		if v := r.Benchmarks[i].GPUStats.PeakVRAMUsedMB; v != nil {
			*v = 1e20
		}
	}
	var md bytes.Buffer
	if err := Markdown(&md, r); err != nil {
		t.Fatal(err)
	}
	for what, text := range map[string]string{"page": dashboard(t, r), "summary": md.String()} {
		for _, bad := range []string{"NaN", "Inf", "-9,223", "--9"} {
			if i := strings.Index(text, bad); i >= 0 {
				t.Errorf("%s holds %q: ...%s...", what, bad, text[max(0, i-80):min(len(text), i+40)])
			}
		}
	}
}

// TestCommasHuge: figures beyond an int64 are written, not wrapped around.
func TestCommasHuge(t *testing.T) {
	t.Parallel()
	for v, want := range map[float64]string{1e20: "1e+20", -1e20: "-1e+20", 1.7e308: "1.7e+308", 1234567: "1,234,567", -1234.4: "-1,234"} {
		if got := commas(v); got != want {
			t.Errorf("commas(%g) = %q, want %q", v, got, want)
		}
	}
}
