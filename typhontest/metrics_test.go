package typhontest

import (
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/typhonbench/typhon/schema"
)

// metricsFixture is a run with two tests that ran and one skipped.
func metricsFixture() *schema.Result {
	res := result("m1", "m", []float64{100, 102, 98}, []float64{80, 81, 79})
	res.Benchmarks[0].Stats = &schema.Stats{TPSMedian: 100, TTFTP50S: 0.25}
	res.Benchmarks[1].AvgTPS, res.Benchmarks[1].AvgTTFTS, res.Benchmarks[1].AvgPrefillTPS = 80, 0.5, 3200
	res.Benchmarks = append(res.Benchmarks, schema.Benchmark{TestID: "long_gen", Skipped: true, SkipReason: "not run"})
	return res
}

// BenchmarkReportMetricsFixture is run by TestReportMetrics in a child process.
func BenchmarkReportMetricsFixture(b *testing.B) {
	ReportMetrics(b, metricsFixture())
}

// TestReportMetrics runs BenchmarkReportMetricsFixture as `go test -bench` does
// (this test binary, in a child process) and reads the lines it printed.
func TestReportMetrics(t *testing.T) {
	t.Parallel()
	cmd := exec.Command(os.Args[0], "-test.run=^$", "-test.bench=^BenchmarkReportMetricsFixture$", "-test.benchtime=1x", "-test.count=2")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	line := regexp.MustCompile(`(?m)^BenchmarkReportMetricsFixture/(\S+?)(-\d+)?\s+1\s+(.*)$`)
	got := map[string][]string{}
	for _, m := range line.FindAllStringSubmatch(string(out), -1) {
		got[m[1]] = append(got[m[1]], strings.Join(strings.Fields(m[3]), " "))
	}
	want := map[string]map[string]float64{
		"ctx_sweep_2048": {"tok/s": 100, "ttft-s": 0.25},
		"ctx_sweep_4096": {"tok/s": 80, "ttft-s": 0.5, "prefill-tok/s": 3200},
	}
	if len(got) != len(want) {
		t.Fatalf("benchmarks %v, want %d of them (skipped tests left out):\n%s", got, len(want), out)
	}
	for name, units := range want {
		lines := got[name]
		if len(lines) != 2 {
			t.Errorf("%s: %d lines, want 2 (-count 2):\n%s", name, len(lines), out)
			continue
		}
		f := strings.Fields(lines[0])
		seen := map[string]float64{}
		for i := 0; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				t.Fatalf("%s: %q is not a value: %s", name, f[i], lines[0])
			}
			seen[f[i+1]] = v
		}
		if _, ok := seen["ns/op"]; ok {
			t.Errorf("%s reports ns/op: %s", name, lines[0])
		}
		for u, v := range units {
			if seen[u] != v {
				t.Errorf("%s: %s = %v, want %v (line %q)", name, u, seen[u], v, lines[0])
			}
		}
		if len(seen) != len(units) {
			t.Errorf("%s: units %v, want %v", name, seen, units)
		}
	}
}
