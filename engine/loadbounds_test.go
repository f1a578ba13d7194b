package engine

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/typhonbench/typhon/schema"
)

// TestLoadParamsBounds: a length that would build a prompt of gigabytes, a cap
// on users or requests in flight without bound, a burstiness whose gamma gaps
// all underflow to 0 (a schedule of NaN offsets), an objective given twice, a
// window, ramp-up or grace past a day and a rate level of more than a million
// scheduled requests (gigabytes of schedule)
// are refused with ErrInvalidLoad naming the parameter; values at the bounds
// pass.
func TestLoadParamsBounds(t *testing.T) {
	tests := []struct {
		query map[string]string
		want  string // "" : accepted
	}{
		{map[string]string{"input": "2000000000"}, "input 2000000000"},
		{map[string]string{"output": "2000000000"}, "output 2000000000"},
		{map[string]string{"input_stdev": "1048577"}, "stdevs 1048577"},
		{map[string]string{"output_stdev": "1048577"}, "stdevs 0 and 1048577"},
		{map[string]string{"users": "1,2", "max_users": "100000000"}, "max users 100000000"},
		{map[string]string{"rate": "1", "max_in_flight": "2000000000"}, "max in flight 2000000000"},
		{map[string]string{"slo": "ttft=1s,ttft=2s"}, `SLO "ttft" given twice`},
		{map[string]string{"slo": "TTFT=1s, ttft=2s"}, `SLO "ttft" given twice`},
		{map[string]string{"rate": "1", "burstiness": "1e-300"}, "burstiness 1e-300"},
		{map[string]string{"rate": "1", "burstiness": "1e300"}, "burstiness 1e+300"},
		{map[string]string{"rate": "1", "burstiness": "0.01"}, ""},
		{map[string]string{"rate": "100000", "duration": "24h"}, "more than 1000000 requests"},
		{map[string]string{"rate": "0.5,1000", "duration": "1000s", "ramp_up": "10s"}, "rate 1000 over 16m50s"},
		{map[string]string{"users": "1", "duration": "100000h"}, "window 100000h0m0s"},
		{map[string]string{"users": "1", "ramp_up": "25h"}, "ramp-up 25h0m0s"},
		{map[string]string{"users": "1", "grace": "25h"}, "grace 25h0m0s"},
		{map[string]string{"rate": "1000", "duration": "990s", "ramp_up": "10s"}, ""},
		{map[string]string{"rate": "1e-300", "duration": "1s"}, "rate 1e-300 over a window of 1s schedules no request"},
		{map[string]string{"rate": "0.4,2", "duration": "2s"}, "rate 0.4 over a window of 2s"},
		{map[string]string{"rate": "0.5", "duration": "2s"}, ""},
		{map[string]string{"input": "1048576", "output": "1048576"}, ""},
		{map[string]string{"rate": "1", "max_in_flight": "100000", "slo": "ttft=1s,tpot=50ms,e2e=9s"}, ""},
	}
	for _, tc := range tests {
		_, err := ParseLoadParams(func(k string) string { return tc.query[k] })
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%v: %v, want accepted", tc.query, err)
		case tc.want != "" && (!errors.Is(err, ErrInvalidLoad) || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%v: %v, want ErrInvalidLoad naming %q", tc.query, err, tc.want)
		}
	}
}

// TestRateLevelsFromOneUserBounded: a rate sweep that doubles the one-user
// rate stops before a level would schedule more than MaxLoadArrivals requests
// (a fast server answering 5,000 requests/s to one user would otherwise reach
// 10 million requests/s).
func TestRateLevelsFromOneUserBounded(t *testing.T) {
	o := LoadOptions{Shape: schema.LoadRate, Window: 60 * time.Second}
	done := []schema.Benchmark{{LoadLevel: &schema.LoadLevel{RequestThroughput: 5000}}}
	n := 0
	for i := 1; ; i++ {
		_, r, ok := o.level(i, done)
		if !ok {
			break
		}
		n++
		if r*(o.rampUp()+o.window()).Seconds() > MaxLoadArrivals {
			t.Fatalf("level %d: rate %v schedules more than %d requests", i, r, MaxLoadArrivals)
		}
	}
	if n == 0 {
		t.Error("no rate level at all")
	}
}

// TestRunLoadEmptyWindow: a window too short to hold a request start (1 ns)
// ends its level with the reason, not a silent level of zeros, and the sweep
// is not said to have lost its server.
func TestRunLoadEmptyWindow(t *testing.T) {
	srv := newSlotServer(t, 2, time.Millisecond, 2*time.Millisecond)
	o := LoadOptions{Users: []int{2, 4}, Window: time.Nanosecond, InputTokens: 16, OutputTokens: 10}
	levels, c, err := loadEngine(srv.URL).RunLoad(t.Context(), o, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range levels {
		if l := b.LoadLevel; l.Completed+l.Failed+l.Incomplete == 0 && !strings.Contains(b.Error, "no request was sent inside the window") {
			t.Errorf("%s: an empty level without its reason: error %q", b.TestID, b.Error)
		}
	}
	if c.StoppedBy == schema.StopServer {
		t.Errorf("stopped by %q (%s): the server answered", c.StoppedBy, c.Reason)
	}
}
