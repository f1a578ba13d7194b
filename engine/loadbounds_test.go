package engine

import (
	"errors"
	"strings"
	"testing"
)

// TestLoadParamsBounds: a length that would build a prompt of gigabytes, a cap
// on users or requests in flight without bound, a burstiness whose gamma gaps
// all underflow to 0 (a schedule of NaN offsets), and an objective given twice
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
