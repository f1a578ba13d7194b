package report

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode"

	"github.com/typhonbench/typhon/schema"
)

// Units of the Go benchmark format that Benchstat writes and the typhontest
// helper reports.
const (
	UnitTPS        = "tok/s"         // decode speed
	UnitTTFT       = "ttft-s"        // time to first token, seconds
	UnitPrefillTPS = "prefill-tok/s" // prompt tokens per second
)

// BenchstatBenchmark is the benchmark name prefix of Benchstat's lines.
const BenchstatBenchmark = "BenchmarkTyphon"

// Benchstat writes a run in the Go benchmark format, so that `benchstat
// old.txt new.txt` compares two runs: configuration lines (goos, goarch, cpu,
// gpu, model, server) and one line per valid timed run of every test
// (successful and not excluded: schema.RunSample.Excluded),
// named BenchmarkTyphon/test=<test_id>, with decode speed (tok/s), time to
// first token (ttft-s) and prefill speed (prefill-tok/s). A test without its
// runs writes one line of its averages. benchstat keeps runs whose
// configuration differs in separate tables; `benchstat -ignore server` (or
// model, gpu) compares them anyway.
func Benchstat(w io.Writer, res *schema.Result) error {
	if res == nil {
		return errors.New("report: nil result")
	}
	bw := bufio.NewWriter(w)
	for _, kv := range benchstatConfig(res) {
		fmt.Fprintf(bw, "%s: %s\n", kv[0], kv[1])
	}
	for i := range res.Benchmarks {
		b := &res.Benchmarks[i]
		if b.Skipped || b.SuccessfulRuns <= 0 {
			continue
		}
		name := BenchstatBenchmark + "/test=" + benchName(b.TestID)
		n := 0
		for _, r := range b.Runs {
			if r.Success && r.Excluded == "" {
				fmt.Fprintf(bw, "%s 1%s\n", name, benchValues(r.TPS, r.TTFTS, r.PrefillTPS))
				n++
			}
		}
		if v := benchValues(b.AvgTPS, b.AvgTTFTS, b.AvgPrefillTPS); n == 0 && v != "" {
			fmt.Fprintf(bw, "%s 1%s\n", name, v)
		}
	}
	return bw.Flush()
}

func benchValues(tps, ttft, prefill float64) string {
	var s strings.Builder
	for _, m := range []struct {
		v    float64
		unit string
	}{{tps, UnitTPS}, {ttft, UnitTTFT}, {prefill, UnitPrefillTPS}} {
		if m.v > 0 && finite(m.v) {
			fmt.Fprintf(&s, " %.6g %s", m.v, m.unit)
		}
	}
	return s.String()
}

// benchstatConfig is the run's configuration as benchstat's key: value lines.
func benchstatConfig(res *schema.Result) [][2]string {
	var kv [][2]string
	add := func(k, v string) {
		if v = oneLine(clean(v)); v != "" {
			kv = append(kv, [2]string{k, v})
		}
	}
	if p := res.ProfileSnapshot; p != nil {
		add("goos", p.OS.Name)
		add("goarch", p.OS.Arch)
		add("cpu", p.CPU.Model)
		add("gpu", gpuNames(p))
	}
	add("model", res.Model)
	add("server", strings.TrimSpace(orText(string(res.Server.Kind), res.Server.Name)+" "+res.Server.Version))
	return kv
}

// benchName makes a test id fit a benchmark name: no spaces or control
// characters, which end a name in the Go benchmark format, no '/' or '=',
// which start another configuration key, no bidi overrides.
func benchName(id string) string {
	s := strings.Map(func(r rune) rune {
		if unicode.IsSpace(r) || unicode.IsControl(r) || r == '/' || r == '=' || r >= '\u202a' && r <= '\u202e' || r >= '\u2066' && r <= '\u2069' {
			return '_' // one name part: benchstat reads "/key=value" as a key
		}
		return r
	}, id)
	return orText(s, "unnamed")
}
