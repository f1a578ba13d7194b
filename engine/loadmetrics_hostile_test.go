package engine

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestParseMetricsHostile: odd /metrics answers give right figures or say why.
func TestParseMetricsHostile(t *testing.T) {
	const run = "llamacpp:requests_processing"
	cases := []struct {
		name, body string
		om         bool
		want       map[string]float64
		note       string // a note that must be given ("" none)
		err        bool
	}{
		{name: "NaN and Inf left out", body: "# TYPE " + run + " gauge\n" + run + " NaN\n# TYPE llamacpp:tokens_predicted_total counter\nllamacpp:tokens_predicted_total +Inf\n",
			want: map[string]float64{}, note: "NaN"},
		{name: "negative gauge left out", body: run + "{slot=\"0\"} -3\n" + run + "{slot=\"1\"} 2\n",
			want: map[string]float64{run: 2}, note: "-3"},
		{name: "duplicate series once", body: "# TYPE " + run + " gauge\n" + run + " 3\n" + run + " 3\n",
			want: map[string]float64{run: 3}, note: "twice"},
		{name: "CRLF", body: "# TYPE " + run + " gauge\r\n" + run + " 3\r\n", want: map[string]float64{run: 3}},
		{name: "OpenMetrics with exemplars", om: true,
			body: "# TYPE vllm:generation_tokens counter\n# UNIT vllm:generation_tokens tokens\nvllm:generation_tokens_total{model_name=\"m\"} 5.0 # {trace_id=\"a\"} 1.0\nvllm:generation_tokens_created{model_name=\"m\"} 1.7e9\n# TYPE vllm:num_requests_running gauge\nvllm:num_requests_running{model_name=\"m\"} 2.0\n# EOF\n",
			want: map[string]float64{"vllm:generation_tokens_total": 5, "vllm:num_requests_running": 2}},
		{name: "KV of two engines averaged", body: "vllm:kv_cache_usage_perc{engine=\"0\"} 0.5\nvllm:kv_cache_usage_perc{engine=\"1\"} 0.7\n",
			want: map[string]float64{"vllm:kv_cache_usage_perc": 0.6}},
		{name: "TGI tokens histogram", body: "# TYPE tgi_request_generated_tokens histogram\ntgi_request_generated_tokens_bucket{le=\"+Inf\"} 3\ntgi_request_generated_tokens_sum 300\ntgi_request_generated_tokens_count 3\n",
			want: map[string]float64{"tgi_request_generated_tokens": 300}},
		{name: "second TYPE line", body: "# TYPE " + run + " gauge\n" + run + " 3\n# TYPE " + run + " gauge\n" + run + " 4\n", err: true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m, notes, err := parseMetrics([]byte(c.body), c.om)
			if c.err {
				if err == nil {
					t.Fatalf("no error; got %v", m)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(m) != len(c.want) {
				t.Errorf("got %v, want %v", m, c.want)
			}
			for k, v := range c.want {
				if got, ok := m[k]; !ok || fmt.Sprintf("%.6f", got) != fmt.Sprintf("%.6f", v) {
					t.Errorf("%s = %v (%v), want %v", k, got, ok, v)
				}
			}
			if j := strings.Join(notes, "; "); c.note != "" && !strings.Contains(j, c.note) {
				t.Errorf("notes %q lack %q", j, c.note)
			}
			if _, err := json.Marshal(m); err != nil {
				t.Errorf("not JSON: %v", err)
			}
		})
	}
}

// metricsServer serves /metrics from body(), counting the scrapes.
func metricsServer(t *testing.T, ctype string, body func(n int) string) *httptest.Server {
	var mu sync.Mutex
	n := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		n++
		b := body(n)
		mu.Unlock()
		w.Header().Set("Content-Type", ctype)
		_, _ = w.Write([]byte(b))
	}))
	t.Cleanup(srv.Close)
	return srv
}

// TestMetricsCounterReset: a token counter that goes back during a level (the
// server restarted) gives no token count and says why, never a negative one.
func TestMetricsCounterReset(t *testing.T) {
	srv := metricsServer(t, "text/plain", func(n int) string {
		v := 1000 + n*10
		if n >= 3 {
			v = n * 5 // restarted: counting from 0 again
		}
		return fmt.Sprintf("llamacpp:tokens_predicted_total %d\n", v)
	})
	rec := loadEngine(srv.URL).startMetrics(t.Context(), 10*time.Millisecond)
	if rec == nil {
		t.Fatal("no recorder")
	}
	time.Sleep(80 * time.Millisecond)
	sm := rec.finish(t.Context())
	if sm.OutputTokens != nil || !strings.Contains(sm.Error, "went back") {
		t.Errorf("output tokens %v, error %q: want none and the reason", sm.OutputTokens, sm.Error)
	}
}

// TestMetricsHostileAnswers: /metrics answers that cannot be read (too large,
// not Prometheus text) give a level a reason, never a silent nothing, and the
// JSON of NaN gauges still encodes.
func TestMetricsHostileAnswers(t *testing.T) {
	huge := strings.Repeat("llamacpp:requests_processing{slot=\"x\"} 1\n", MaxMetricsBody/30)
	for _, c := range []struct{ name, ctype, body, want string }{
		{"over the limit", "text/plain", huge, "over"},
		{"HTML", "text/html", "<html><body>metrics</body></html>", "parsing"},
		{"NaN gauge", "text/plain", "llamacpp:requests_processing NaN\nllamacpp:tokens_predicted_total 5\n", "NaN"},
	} {
		t.Run(c.name, func(t *testing.T) {
			srv := metricsServer(t, c.ctype, func(int) string { return c.body })
			rec := loadEngine(srv.URL).startMetrics(t.Context(), 10*time.Millisecond)
			if rec == nil {
				t.Fatal("no recorder: the reason is lost")
			}
			time.Sleep(40 * time.Millisecond)
			sm := rec.finish(t.Context())
			if !strings.Contains(sm.Error, c.want) {
				t.Errorf("error %q lacks %q", sm.Error, c.want)
			}
			if _, err := json.Marshal(sm); err != nil {
				t.Errorf("not JSON: %v", err)
			}
		})
	}
}

// TestRunLoadShortWindowFlagged: a users level whose window is much shorter
// than its requests says its throughputs are unreliable (its 4 users' first
// requests in a 50 ms window read as 80 requests/s where 4 slots serve about 7).
func TestRunLoadShortWindowFlagged(t *testing.T) {
	srv := newSlotServer(t, 4, 2*time.Millisecond, 20*time.Millisecond)
	o := LoadOptions{Users: []int{4}, Window: 50 * time.Millisecond, RampUp: -1, InputTokens: 32, OutputTokens: 20}
	levels, _, err := loadEngine(srv.URL).RunLoad(t.Context(), o, nil)
	if err != nil {
		t.Fatal(err)
	}
	l := levels[0].LoadLevel
	if l.Completed == 0 || !strings.Contains(l.WindowShort, "short") {
		t.Errorf("completed %d, window_short %q: want it flagged", l.Completed, l.WindowShort)
	}
}
