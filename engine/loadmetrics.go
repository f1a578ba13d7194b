package engine

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/typhonbench/typhon/internal/stats"
	"github.com/typhonbench/typhon/schema"
)

// MaxMetricsBody bounds a /metrics answer Typhon reads.
const MaxMetricsBody = 4 << 20

// Prometheus metric families Typhon reads, per figure, for llama-server
// (--metrics), vLLM, SGLang and TGI. A figure sums a family's series.
var (
	metricsRunning = []string{"llamacpp:requests_processing", "vllm:num_requests_running", "sglang:num_running_reqs", "tgi_batch_current_size"}
	metricsQueued  = []string{"llamacpp:requests_deferred", "vllm:num_requests_waiting", "sglang:num_queue_reqs", "tgi_queue_size"}
	metricsKV      = []string{"llamacpp:kv_cache_usage_ratio", "vllm:kv_cache_usage_perc", "vllm:gpu_cache_usage_perc", "sglang:token_usage"}
	metricsTokens  = []string{"llamacpp:tokens_predicted_total", "vllm:generation_tokens_total", "sglang:generation_tokens_total"}
)

// scrape reads the server's /metrics: the value of each family, its series summed.
// A server without the endpoint gives an error.
func (e *Engine) scrape(ctx context.Context) (map[string]float64, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := e.newRequest(ctx, http.MethodGet, "/metrics", nil)
	if err != nil {
		return nil, err
	}
	resp, err := e.httpClient().Do(req)
	if err != nil {
		return nil, fmt.Errorf("GET /metrics: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		io.Copy(io.Discard, io.LimitReader(resp.Body, MaxErrorBody))
		return nil, fmt.Errorf("GET /metrics: HTTP %d", resp.StatusCode)
	}
	return parseMetrics(io.LimitReader(resp.Body, MaxMetricsBody))
}

// parseMetrics parses Prometheus text into family -> summed value (counters,
// gauges and untyped series; histograms and summaries by their sum).
func parseMetrics(r io.Reader) (map[string]float64, error) {
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(r)
	if err != nil {
		return nil, fmt.Errorf("parsing /metrics: %w", err)
	}
	out := make(map[string]float64, len(fams))
	for name, f := range fams {
		sum := 0.0
		for _, m := range f.GetMetric() {
			sum += metricValue(f.GetType(), m)
		}
		out[name] = sum
	}
	return out, nil
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

// pick returns the first family of names that fam holds.
func pick(fam map[string]float64, names []string) (float64, bool) {
	for _, n := range names {
		if v, ok := fam[n]; ok {
			return v, true
		}
	}
	return 0, false
}

// metricsRec samples /metrics during a level.
type metricsRec struct {
	e       *Engine
	first   map[string]float64
	err     error
	stop    context.CancelFunc
	done    chan struct{}
	mu      sync.Mutex
	samples []map[string]float64
}

// startMetrics takes a first /metrics sample and, when the server answers it,
// samples it every interval until finish. A nil result samples nothing.
func (e *Engine) startMetrics(ctx context.Context, interval time.Duration) *metricsRec {
	if interval < 0 {
		return nil
	}
	interval = cmpOr(interval, DefaultMetricsInterval)
	first, err := e.scrape(ctx)
	if err != nil {
		return nil // no /metrics: nothing to say
	}
	ctx, stop := context.WithCancel(ctx)
	r := &metricsRec{e: e, first: first, stop: stop, done: make(chan struct{})}
	go func() {
		defer close(r.done)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			m, err := e.scrape(ctx)
			r.mu.Lock()
			if err != nil && ctx.Err() == nil {
				r.err = err
			} else if err == nil {
				r.samples = append(r.samples, m)
			}
			r.mu.Unlock()
		}
	}()
	return r
}

// finish stops the sampling, takes a last sample and sums up the level.
func (r *metricsRec) finish(ctx context.Context) *schema.ServerMetrics {
	if r == nil {
		return nil
	}
	r.stop()
	<-r.done
	sm := &schema.ServerMetrics{Samples: len(r.samples)}
	if r.err != nil {
		sm.Error = r.err.Error()
	}
	last, err := r.e.scrape(ctx)
	if err != nil {
		sm.Error = "last sample: " + err.Error()
	} else if a, ok := pick(r.first, metricsTokens); ok {
		if b, ok := pick(last, metricsTokens); ok {
			d := b - a
			sm.OutputTokens = &d
		}
	}
	sm.Running = gauge(r.samples, metricsRunning)
	sm.Queued = gauge(r.samples, metricsQueued)
	sm.KVCacheUse = gauge(r.samples, metricsKV)
	return sm
}

func gauge(samples []map[string]float64, names []string) *schema.GaugeStats {
	var xs []float64
	for _, s := range samples {
		if v, ok := pick(s, names); ok {
			xs = append(xs, v)
		}
	}
	if len(xs) == 0 {
		return nil
	}
	g := &schema.GaugeStats{Mean: round(stats.Mean(xs), 4)}
	for _, x := range xs {
		g.Max = max(g.Max, x)
	}
	return g
}
