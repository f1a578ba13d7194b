package engine

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/typhonbench/typhon/schema"
)

// LoadParams are the names of the load parameters that ParseLoadParams reads:
// the flags of `typhon run -mode load` and the query of POST /jobs/run?mode=load.
var LoadParams = []string{"users", "rate", "duration", "ramp_up", "grace", "slo", "input", "output",
	"input_stdev", "output_stdev", "shared_prefix", "burstiness", "max_in_flight", "max_users"}

// ParseLoadParams builds LoadOptions from named text parameters (get returns ""
// for one not given): users=1,2,4 rate=0.5,1,2 duration=60s ramp_up=10s
// grace=30s slo=ttft=2s,tpot=100ms input=512 output=128 input_stdev=0 output_stdev=0
// shared_prefix=0 burstiness=1 max_in_flight=1024 max_users=256. Users and rate
// together are refused. The options are validated; errors wrap ErrInvalidLoad.
func ParseLoadParams(get func(name string) string) (LoadOptions, error) {
	var o LoadOptions
	bad := func(name, v, want string) error {
		return fmt.Errorf("%w: %s=%q: want %s", ErrInvalidLoad, name, v, want)
	}
	var err error
	if v := get("users"); v != "" {
		if o.Users, err = intList(v); err != nil {
			return o, bad("users", v, "numbers of users, e.g. 1,2,4")
		}
	}
	if v := get("rate"); v != "" {
		if len(o.Users) > 0 {
			return o, fmt.Errorf("%w: users and rate together: a sweep is of one or the other", ErrInvalidLoad)
		}
		if o.Rates, err = floatList(v); err != nil {
			return o, bad("rate", v, "requests per second, e.g. 0.5,1,2")
		}
		o.Shape = schema.LoadRate
	}
	for _, d := range []struct {
		name string
		p    *time.Duration
	}{{"duration", &o.Window}, {"ramp_up", &o.RampUp}, {"grace", &o.Grace}} {
		if v := get(d.name); v != "" {
			if *d.p, err = time.ParseDuration(v); err != nil || *d.p < 0 {
				return o, bad(d.name, v, "a duration, e.g. 60s")
			}
			if *d.p == 0 && d.name == "ramp_up" {
				*d.p = -1 // asked for none
			}
		}
	}
	if o.SLO, err = ParseSLO(get("slo")); err != nil {
		return o, err
	}
	for _, n := range []struct {
		name string
		p    *int
	}{{"input", &o.InputTokens}, {"output", &o.OutputTokens}, {"input_stdev", &o.InputStdev},
		{"output_stdev", &o.OutputStdev}, {"shared_prefix", &o.SharedPrefix}, {"max_in_flight", &o.MaxInFlight},
		{"max_users", &o.MaxUsers}} {
		if v := get(n.name); v != "" {
			if *n.p, err = strconv.Atoi(v); err != nil || *n.p < 0 {
				return o, bad(n.name, v, "a whole number of 0 or more")
			}
		}
	}
	if v := get("burstiness"); v != "" {
		if o.Burstiness, err = strconv.ParseFloat(v, 64); err != nil || !(o.Burstiness > 0) {
			return o, bad("burstiness", v, "a number from 0.01 to 100 (1 is Poisson)")
		}
	}
	return o, o.Validate()
}

func intList(s string) ([]int, error) {
	var out []int
	for part := range strings.SplitSeq(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(part))
		if err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	return out, nil
}

func floatList(s string) ([]float64, error) {
	var out []float64
	for part := range strings.SplitSeq(s, ",") {
		f, err := strconv.ParseFloat(strings.TrimSpace(part), 64)
		if err != nil || math.IsNaN(f) {
			return nil, fmt.Errorf("not a number: %q", part)
		}
		out = append(out, f)
	}
	return out, nil
}
