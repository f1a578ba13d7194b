package engine

import (
	"bytes"
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// metricsAccept asks for the Prometheus text format, which servers built on
// the Prometheus clients (vLLM, SGLang, TGI) give unless OpenMetrics is asked.
const metricsAccept = "text/plain;version=0.0.4;q=1,*/*;q=0.1"

// readFamilies are the families parseMetrics keeps: the ones Typhon reads.
var readFamilies = slices.Concat(metricsRunning, metricsQueued, metricsKV, metricsTokens)

// ratioFamilies are gauges of a share (0..1): several series of one (engines,
// data-parallel ranks) are averaged, not summed.
var ratioFamilies = metricsKV

// parseMetrics parses a /metrics answer (Prometheus text; OpenMetrics read as
// text once its exemplars and "# EOF" are dropped) into family -> value for
// the families Typhon reads: counters, gauges and untyped series summed (ratio
// gauges averaged), histograms and summaries by their sum. A series whose
// value is NaN, infinite or negative is left out and a duplicate series (same
// labels twice) counts once; each is said in the notes.
func parseMetrics(body []byte, openMetrics bool) (map[string]float64, []string, error) {
	body = bytes.ReplaceAll(body, []byte("\r\n"), []byte("\n"))
	if openMetrics {
		body = dropExemplars(body)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		return nil, nil, fmt.Errorf("parsing /metrics: %w", err)
	}
	out := map[string]float64{}
	var notes []string
	for _, name := range readFamilies {
		f, ok := fams[name]
		if !ok {
			continue
		}
		sum, n := 0.0, 0
		seen := map[string]bool{}
		for _, m := range f.GetMetric() {
			v := metricValue(f.GetType(), m)
			sig := labelKey(m)
			switch {
			case math.IsNaN(v) || math.IsInf(v, 0) || v < 0:
				notes = append(notes, fmt.Sprintf("%s%s is %v: left out", name, sig, v))
				continue
			case seen[sig]:
				notes = append(notes, fmt.Sprintf("%s%s appears twice: counted once", name, sig))
				continue
			}
			seen[sig] = true
			sum, n = sum+v, n+1
		}
		if n == 0 {
			continue
		}
		if slices.Contains(ratioFamilies, name) {
			sum /= float64(n)
		}
		out[name] = sum
	}
	return out, notes, nil
}

func labelKey(m *dto.Metric) string {
	var kv []string
	for _, l := range m.GetLabel() {
		kv = append(kv, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
	}
	if len(kv) == 0 {
		return ""
	}
	sort.Strings(kv)
	return "{" + strings.Join(kv, ",") + "}"
}

// dropExemplars removes what OpenMetrics adds to the text format that the
// text parser refuses: "# EOF" and the exemplar after a sample (" # {...} v").
func dropExemplars(body []byte) []byte {
	lines := bytes.Split(body, []byte("\n"))
	out := lines[:0]
	for _, l := range lines {
		if bytes.Equal(bytes.TrimSpace(l), []byte("# EOF")) {
			continue
		}
		if len(l) > 0 && l[0] != '#' {
			if i := bytes.LastIndex(l, []byte(" # {")); i > 0 {
				l = l[:i]
			}
		}
		out = append(out, l)
	}
	return bytes.Join(out, []byte("\n"))
}

func metricValue(t dto.MetricType, m *dto.Metric) float64 {
	switch t {
	case dto.MetricType_COUNTER:
		return m.GetCounter().GetValue()
	case dto.MetricType_GAUGE:
		return m.GetGauge().GetValue()
	case dto.MetricType_HISTOGRAM:
		return m.GetHistogram().GetSampleSum()
	case dto.MetricType_SUMMARY:
		return m.GetSummary().GetSampleSum()
	}
	return m.GetUntyped().GetValue()
}
