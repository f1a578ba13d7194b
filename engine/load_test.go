package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/typhonbench/typhon/engine/enginetest"
	"github.com/typhonbench/typhon/schema"
)

// newSlotServer is a fake server with a number of slots: a request waits for a
// free slot (its TTFT grows with the queue), then streams its tokens at a fixed
// pace and frees the slot, so throughput grows with the users up to the slots
// and then stays flat.
func newSlotServer(t *testing.T, slots int, prefill, interval time.Duration) *httptest.Server {
	sem := make(chan struct{}, slots)
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/chat/completions", func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			MaxTokens int `json:"max_tokens"`
			Messages  []struct{ Content string }
		}
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil || len(body.Messages) == 0 {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		select {
		case sem <- struct{}{}:
		case <-r.Context().Done():
			return
		}
		defer func() { <-sem }()
		w.Header().Set("Content-Type", "text/event-stream")
		fl := w.(http.Flusher)
		time.Sleep(prefill)
		for i := range body.MaxTokens {
			if i > 0 {
				time.Sleep(interval)
			}
			fmt.Fprintf(w, "data: {\"choices\":[{\"delta\":{\"content\":\" tok\"},\"finish_reason\":null}],\"timings\":{\"predicted_n\":%d}}\n\n", i+1)
			fl.Flush()
		}
		prompt := enginetest.Tokens(body.Messages[0].Content) + enginetest.TemplateTokens
		fmt.Fprintf(w, "data: {\"choices\":[{\"delta\":{},\"finish_reason\":\"length\"}]}\n\n")
		fmt.Fprintf(w, "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":%d,\"completion_tokens\":%d}}\n\ndata: [DONE]\n\n", prompt, body.MaxTokens)
		fl.Flush()
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func loadEngine(url string) *Engine {
	return &Engine{Target: Target{BaseURL: url, Model: "fake", CtxSize: 4096}}
}

func TestRunLoadSweepFindsSlots(t *testing.T) {
	if testing.Short() {
		t.Skip("timing")
	}
	srv := newSlotServer(t, 2, 2*time.Millisecond, 3*time.Millisecond)
	e := loadEngine(srv.URL)
	var seen []string
	o := LoadOptions{MaxUsers: 16, Window: 2 * time.Second, RampUp: 300 * time.Millisecond,
		InputTokens: 32, OutputTokens: 20, SLO: SLO{TTFT: 40 * time.Millisecond}, Stop: StopRule{SLOPatience: 3}}
	levels, c, err := e.RunLoad(t.Context(), o, func(b schema.Benchmark) { seen = append(seen, b.TestID) })
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range levels {
		l := b.LoadLevel
		t.Logf("%s: %d ok %d failed, %.1f req/s, %.1f tok/s, ttft p50 %.4f s, tpot p50 %.4f s, itl p50 %.4f s, goodput %.1f, cpu %.1f%%",
			b.TestID, l.Completed, l.Failed, l.RequestThroughput, l.OutputTPS, l.Latency.TTFTS.P50, l.Latency.TPOTS.P50, l.Latency.ITLS.P50, l.Goodput, l.Client.CPUPct)
		if l.Failed > 0 || l.Completed == 0 {
			t.Errorf("%s: %d completed, %d failed (%s)", b.TestID, l.Completed, l.Failed, l.FirstError)
		}
		if got := len(l.Requests.E2ES); got != l.Completed+l.Failed {
			t.Errorf("%s: %d request samples, want %d", b.TestID, got, l.Completed+l.Failed)
		}
		if l.Latency.ITLS.N == 0 || l.Latency.TPOTS.N != l.Completed || l.HDR["ttft_s"] == "" {
			t.Errorf("%s: latency %+v, hdr %d", b.TestID, l.Latency, len(l.HDR))
		}
	}
	if len(seen) != len(levels) {
		t.Errorf("level callback saw %v, want %d levels", seen, len(levels))
	}
	t.Logf("capacity: %+v", c)
	if c.StoppedBy != schema.StopPlateau {
		t.Fatalf("stopped by %q (%s), want plateau", c.StoppedBy, c.Reason)
	}
	if len(levels) >= 5 {
		t.Errorf("%d levels: the sweep should stop at 8 users", len(levels))
	}
	one, two := levels[0].LoadLevel, levels[1].LoadLevel
	if two.OutputTPS < 1.3*one.OutputTPS {
		t.Errorf("output_tps %.1f at 2 users, %.1f at 1: two slots should nearly double it", two.OutputTPS, one.OutputTPS)
	}
	if c.Saturation == nil || c.Saturation.Users > 4 {
		t.Errorf("saturation %+v, want 2 users (4 on a busy machine)", c.Saturation)
	}
	if c.WithinSLO == nil || c.WithinSLO.Users > 2 {
		t.Errorf("within SLO %+v, want at most 2 users (queueing beyond)", c.WithinSLO)
	}
}

func TestRunLoadRate(t *testing.T) {
	if testing.Short() {
		t.Skip("timing")
	}
	srv := newSlotServer(t, 64, 2*time.Millisecond, 2*time.Millisecond)
	e := loadEngine(srv.URL)
	o := LoadOptions{Rates: []float64{10, 40}, Window: 2 * time.Second, RampUp: 250 * time.Millisecond,
		InputTokens: 16, OutputTokens: 8, Seed: 7}
	levels, c, err := e.RunLoad(t.Context(), o, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(levels) != 2 || c.StoppedBy != schema.StopLevels {
		t.Fatalf("%d levels, stopped by %q (%s)", len(levels), c.StoppedBy, c.Reason)
	}
	for _, b := range levels {
		l := b.LoadLevel
		t.Logf("%s: achieved %.2f/s of %.0f, lag p50 %.2f ms p99 %.2f ms, %d completed", b.TestID, l.AchievedRate, l.Rate,
			l.ScheduleLagS.P50*1000, l.ScheduleLagS.P99*1000, l.Completed)
		if math.Abs(l.AchievedRate-l.Rate) > 0.05*l.Rate {
			t.Errorf("%s: achieved rate %.2f, want %.0f within 5%%", b.TestID, l.AchievedRate, l.Rate)
		}
		if l.ScheduleLagS == nil || l.ScheduleLagS.N != int(math.Round(l.Rate*(l.WindowS+l.RampUpS))) {
			t.Errorf("%s: schedule lag %+v", b.TestID, l.ScheduleLagS)
		}
		if b.TestID != LoadTestID(schema.LoadRate, 0, l.Rate) {
			t.Errorf("test_id %q", b.TestID)
		}
	}
}

func TestRunLoadFailingLevelStops(t *testing.T) {
	srv := enginetest.NewServer(func(r enginetest.Request) enginetest.Response {
		if r.MaxTokens < DefaultLoadOutput {
			return enginetest.Stream{}.Response(r) // the warmup
		}
		return enginetest.Response{Status: http.StatusServiceUnavailable, Body: `{"error":{"message":"no slot"}}`}
	})
	defer srv.Close()
	e := loadEngine(srv.URL)
	o := LoadOptions{Users: []int{1, 2}, Window: 400 * time.Millisecond, RampUp: -1, InputTokens: 16}
	start := time.Now()
	levels, c, err := e.RunLoad(t.Context(), o, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(levels) != 1 || c.StoppedBy != schema.StopErrors {
		t.Fatalf("%d levels, stopped by %q, want 1 and errors", len(levels), c.StoppedBy)
	}
	b := levels[0]
	if b.Error == "" || !strings.Contains(b.LoadLevel.FirstError, "no slot") || b.LoadLevel.ErrorKinds["http_503"] == 0 {
		t.Errorf("error %q, first %q, kinds %v", b.Error, b.LoadLevel.FirstError, b.LoadLevel.ErrorKinds)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("took %s", d)
	}
	if c.Peak != nil {
		t.Errorf("peak %+v of a sweep without a completed request", c.Peak)
	}
}

func TestRunLoadCancel(t *testing.T) {
	srv := newSlotServer(t, 2, 5*time.Millisecond, 20*time.Millisecond)
	e := loadEngine(srv.URL)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var mu sync.Mutex
	var cancelAt time.Time
	o := LoadOptions{Users: []int{1, 2, 4}, Window: 600 * time.Millisecond, RampUp: -1, InputTokens: 16, OutputTokens: 50}
	levels, c, err := e.RunLoad(ctx, o, func(b schema.Benchmark) {
		if b.LoadLevel.Users == 1 {
			time.AfterFunc(300*time.Millisecond, func() {
				mu.Lock()
				cancelAt = time.Now()
				mu.Unlock()
				cancel()
			})
		}
	})
	mu.Lock()
	took := time.Since(cancelAt)
	mu.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	if took > time.Second {
		t.Errorf("returned %s after the cancel, want within 1 s", took)
	}
	if len(levels) != 2 || c.StoppedBy != schema.StopCancelled {
		t.Fatalf("%d levels, stopped by %q", len(levels), c.StoppedBy)
	}
	if levels[0].Error != "" || levels[0].LoadLevel.Completed == 0 {
		t.Errorf("first level: error %q, %d completed", levels[0].Error, levels[0].LoadLevel.Completed)
	}
	if !strings.Contains(levels[1].Error, "cancelled") || levels[1].LoadLevel.Incomplete == 0 {
		t.Errorf("cut level: error %q, %d incomplete", levels[1].Error, levels[1].LoadLevel.Incomplete)
	}
}

func TestLoadOptionsValidate(t *testing.T) {
	for name, o := range map[string]LoadOptions{
		"shape":    {Shape: "burst"},
		"users":    {Users: []int{0}},
		"rate":     {Rates: []float64{-1}},
		"nan rate": {Rates: []float64{math.NaN()}},
		"window":   {Window: -time.Second},
		"input":    {InputTokens: -5},
		"prefix":   {InputTokens: 100, SharedPrefix: 100},
		"burst":    {Burstiness: math.Inf(1)},
	} {
		if err := o.Validate(); !errors.Is(err, ErrInvalidLoad) {
			t.Errorf("%s: %v, want ErrInvalidLoad", name, err)
		}
	}
	if err := (LoadOptions{Users: []int{1, 8}, SharedPrefix: 64}).Validate(); err != nil {
		t.Errorf("valid options: %v", err)
	}
}

func TestParseSLO(t *testing.T) {
	got, err := ParseSLO("ttft=2s, tpot=100ms,e2e=1m")
	want := SLO{TTFT: 2 * time.Second, TPOT: 100 * time.Millisecond, E2E: time.Minute}
	if err != nil || got != want {
		t.Errorf("got %+v, %v; want %+v", got, err, want)
	}
	if back, _ := ParseSLO(got.String()); back != got {
		t.Errorf("String %q reads back as %+v", got.String(), back)
	}
	for _, bad := range []string{"ttft", "ttft=fast", "queue=1s", "tpot=-1s"} {
		if _, err := ParseSLO(bad); !errors.Is(err, ErrInvalidLoad) {
			t.Errorf("%q: %v, want ErrInvalidLoad", bad, err)
		}
	}
}

func TestArrivals(t *testing.T) {
	for _, burst := range []float64{1, 0.25, 4} {
		s := arrivals(20, time.Second, 5*time.Second, burst, 1)
		if len(s) != 120 {
			t.Fatalf("burstiness %v: %d arrivals, want 120", burst, len(s))
		}
		in := 0
		for i, at := range s {
			if i > 0 && at < s[i-1] {
				t.Fatalf("burstiness %v: not sorted at %d", burst, i)
			}
			if at >= time.Second && at < 6*time.Second {
				in++
			}
		}
		if in != 100 {
			t.Errorf("burstiness %v: %d arrivals in the window, want 100", burst, in)
		}
	}
}

const llamaMetrics = `# HELP llamacpp:prompt_tokens_total Number of prompt tokens processed.
# TYPE llamacpp:prompt_tokens_total counter
llamacpp:prompt_tokens_total 1200
# TYPE llamacpp:tokens_predicted_total counter
llamacpp:tokens_predicted_total %d
# TYPE llamacpp:requests_processing gauge
llamacpp:requests_processing 3
# TYPE llamacpp:requests_deferred gauge
llamacpp:requests_deferred 1
`

func TestServerMetrics(t *testing.T) {
	var mu sync.Mutex
	tokens := 100
	mux := http.NewServeMux()
	mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		_, _ = w.Write([]byte(strings.Replace(llamaMetrics, "%d", strconv.Itoa(tokens), 1)))
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	e := loadEngine(srv.URL)
	rec := e.startMetrics(t.Context(), 20*time.Millisecond)
	if rec == nil {
		t.Fatal("no recorder")
	}
	time.Sleep(100 * time.Millisecond)
	mu.Lock()
	tokens = 350
	mu.Unlock()
	sm := rec.finish(t.Context())
	if sm.OutputTokens == nil || *sm.OutputTokens != 250 {
		t.Errorf("output tokens %v, want 250", sm.OutputTokens)
	}
	if sm.Samples == 0 || sm.Running == nil || sm.Running.Max != 3 || sm.Queued == nil || sm.Queued.Mean != 1 {
		t.Errorf("metrics %+v", sm)
	}
	if e2 := loadEngine(srv.URL + "/nothing"); e2.startMetrics(t.Context(), 0) != nil {
		t.Error("a server without /metrics gave a recorder")
	}
}

// TestRunLoadRateFromOneUser: a rate sweep without rates starts from the rate
// one user achieves and doubles it until the server saturates.
func TestRunLoadRateFromOneUser(t *testing.T) {
	if testing.Short() {
		t.Skip("timing")
	}
	srv := newSlotServer(t, 2, 2*time.Millisecond, 3*time.Millisecond)
	e := loadEngine(srv.URL)
	o := LoadOptions{Shape: schema.LoadRate, Window: time.Second, RampUp: 200 * time.Millisecond, Grace: 2 * time.Second,
		InputTokens: 16, OutputTokens: 10, Seed: 3}
	levels, c, err := e.RunLoad(t.Context(), o, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range levels {
		t.Logf("%s: %.1f req/s, ttft p50 %.4f s", b.TestID, b.LoadLevel.RequestThroughput, b.LoadLevel.Latency.TTFTS.P50)
	}
	if len(levels) < 3 || levels[0].LoadLevel.Users != 1 {
		t.Fatalf("%d levels (%s), want one user then rates", len(levels), c.Reason)
	}
	first := levels[0].LoadLevel.RequestThroughput
	if r := levels[1].LoadLevel.Rate; math.Abs(r-first) > 0.01 || levels[2].LoadLevel.Rate != 2*r {
		t.Errorf("rates %v, %v after one user's %v: want it, then doubled", r, levels[2].LoadLevel.Rate, first)
	}
	if c.Shape != schema.LoadRate {
		t.Errorf("capacity shape %q", c.Shape)
	}
}
