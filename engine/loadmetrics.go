package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

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
	metricsTokens  = []string{"llamacpp:tokens_predicted_total", "vllm:generation_tokens_total", "sglang:generation_tokens_total", "tgi_request_generated_tokens"}
)

// errNoMetrics: the server has no /metrics (404 or 405): nothing to say.
var errNoMetrics = errors.New("no /metrics")

// scrape reads the server's /metrics: the value of each family Typhon reads,
// and notes on series left out. A server without the endpoint gives
// errNoMetrics; an answer over MaxMetricsBody is refused, not cut.
func (e *Engine) scrape(ctx context.Context) (map[string]float64, []string, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := e.newRequest(ctx, http.MethodGet, "/metrics", nil)
	if err != nil {
		return nil, nil, err
	}
	req.Header.Set("Accept", metricsAccept)
	resp, err := e.httpClient().Do(req)
	if err != nil {
		return nil, nil, fmt.Errorf("GET /metrics: %w", err)
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusNotFound, http.StatusMethodNotAllowed, http.StatusNotImplemented:
		io.Copy(io.Discard, io.LimitReader(resp.Body, MaxErrorBody))
		return nil, nil, errNoMetrics
	default:
		io.Copy(io.Discard, io.LimitReader(resp.Body, MaxErrorBody))
		return nil, nil, fmt.Errorf("GET /metrics: HTTP %d", resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxMetricsBody+1))
	if err != nil {
		return nil, nil, fmt.Errorf("GET /metrics: reading: %w", err)
	}
	if len(body) > MaxMetricsBody {
		return nil, nil, fmt.Errorf("GET /metrics: the answer is over %d MiB: not read", MaxMetricsBody>>20)
	}
	om := strings.HasPrefix(resp.Header.Get("Content-Type"), "application/openmetrics-text")
	return parseMetrics(body, om)
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

// maxMetricsNotes bounds the notes a level keeps on its /metrics.
const maxMetricsNotes = 4

// metricsRec samples /metrics during a level.
type metricsRec struct {
	e       *Engine
	first   map[string]float64
	stop    context.CancelFunc
	done    chan struct{}
	mu      sync.Mutex
	notes   []string
	samples []map[string]float64
}

// note keeps a distinct note, at most maxMetricsNotes of them.
func (r *metricsRec) note(ss ...string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, s := range ss {
		if len(r.notes) < maxMetricsNotes && !slices.Contains(r.notes, s) {
			r.notes = append(r.notes, s)
		}
	}
}

// startMetrics takes a first /metrics sample and, when the server answers it,
// samples it every interval until finish. A nil result samples nothing: the
// server has no /metrics. A first sample that fails otherwise (an answer that
// does not parse, too large, too slow) gives a recorder that says why.
func (e *Engine) startMetrics(ctx context.Context, interval time.Duration) *metricsRec {
	if interval < 0 {
		return nil
	}
	interval = cmpOr(interval, DefaultMetricsInterval)
	first, notes, err := e.scrape(ctx)
	if errors.Is(err, errNoMetrics) || (err != nil && ctx.Err() != nil) {
		return nil
	}
	ctx, stop := context.WithCancel(ctx)
	r := &metricsRec{e: e, first: first, stop: stop, done: make(chan struct{})}
	if err != nil {
		r.note("first sample: " + err.Error())
	}
	r.note(notes...)
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
			m, notes, err := e.scrape(ctx)
			if err != nil && ctx.Err() == nil {
				r.note(err.Error())
			} else if err == nil {
				r.note(notes...)
				r.mu.Lock()
				r.samples = append(r.samples, m)
				r.mu.Unlock()
			}
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
	last, notes, err := r.e.scrape(ctx)
	if err != nil {
		r.note("last sample: " + err.Error())
	} else {
		r.note(notes...)
		d, why := tokenGrowth(r.first, r.samples, last)
		if why != "" {
			r.note(why)
		} else {
			sm.OutputTokens = d
		}
	}
	sm.Running = gauge(r.samples, metricsRunning)
	sm.Queued = gauge(r.samples, metricsQueued)
	sm.KVCacheUse = gauge(r.samples, metricsKV)
	sm.Error = strings.Join(r.notes, "; ")
	return sm
}

// tokenGrowth is how much the server's generated-token counter grew from first
// to last; nil when a sample lacks it, with a reason when it went back (the
// server restarted or reset it) and the growth is unknown.
func tokenGrowth(first map[string]float64, samples []map[string]float64, last map[string]float64) (*float64, string) {
	seq := append(append([]map[string]float64{first}, samples...), last)
	prev, have := 0.0, false
	for _, s := range seq {
		v, ok := pick(s, metricsTokens)
		if !ok {
			if !have {
				continue
			}
			return nil, "the server's generated-token counter went missing during the level: no token count"
		}
		if have && v < prev {
			return nil, fmt.Sprintf("the server's generated-token counter went back from %g to %g during the level (restarted or reset): no token count", prev, v)
		}
		prev, have = v, true
	}
	a, ok1 := pick(first, metricsTokens)
	b, ok2 := pick(last, metricsTokens)
	if !ok1 || !ok2 {
		return nil, ""
	}
	d := b - a
	return &d, ""
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
