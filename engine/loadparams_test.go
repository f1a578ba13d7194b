package engine

import (
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/typhonbench/typhon/schema"
)

func TestParseLoadParams(t *testing.T) {
	t.Parallel()
	get := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	o, err := ParseLoadParams(get(map[string]string{"users": "1, 2,8", "duration": "30s", "ramp_up": "0s",
		"slo": "ttft=2s,tpot=100ms", "input": "256", "output": "64", "shared_prefix": "128", "max_users": "64"}))
	want := LoadOptions{Users: []int{1, 2, 8}, Window: 30 * time.Second, RampUp: -1, InputTokens: 256, OutputTokens: 64,
		SharedPrefix: 128, MaxUsers: 64, SLO: SLO{TTFT: 2 * time.Second, TPOT: 100 * time.Millisecond}}
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, o); diff != "" {
		t.Errorf("options (-want +got):\n%s", diff)
	}
	o, err = ParseLoadParams(get(map[string]string{"rate": "0.5,2", "burstiness": "0.5", "max_in_flight": "16"}))
	if err != nil || o.shape() != schema.LoadRate || len(o.Rates) != 2 || o.Burstiness != 0.5 || o.MaxInFlight != 16 {
		t.Errorf("rate options %+v, %v", o, err)
	}
	for name, m := range map[string]map[string]string{
		"users zero":     {"users": "0"},
		"users text":     {"users": "many"},
		"rate negative":  {"rate": "-2"},
		"rate NaN":       {"rate": "NaN"},
		"both":           {"users": "1", "rate": "1"},
		"duration":       {"duration": "-1s"},
		"input":          {"input": "-3"},
		"prefix too big": {"input": "64", "shared_prefix": "64"},
		"burstiness":     {"burstiness": "0"},
		"slo":            {"slo": "ttft"},
	} {
		if _, err := ParseLoadParams(get(m)); !errors.Is(err, ErrInvalidLoad) {
			t.Errorf("%s: %v, want ErrInvalidLoad", name, err)
		}
	}
}

func TestWithLoadSweep(t *testing.T) {
	t.Parallel()
	full, err := BuildPlan(ModeFull, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	p := WithLoadSweep(WithConcurrency(full, []int{2, 4}), 4)
	var ids []string
	var sweep *Test
	for i, tt := range p.Tests {
		ids = append(ids, tt.ID)
		if tt.Category == schema.CategoryLoad {
			sweep = &p.Tests[i]
		}
	}
	want := []string{"baseline_short", "ctx_sweep_2048", "ctx_sweep_4096", "ctx_sweep_8192", "load_sweep", "long_gen", "memory_wall"}
	if diff := cmp.Diff(want, ids); diff != "" {
		t.Errorf("tests (-want +got):\n%s", diff)
	}
	if sweep == nil || sweep.Load == nil {
		t.Fatal("no load sweep")
	}
	if got := sweep.Load.userLevels(); !cmp.Equal(got, []int{1, 2, 4, 8, 16}) {
		t.Errorf("levels %v, want 1 to 16 (4 slots x 4)", got)
	}
}

func TestCapacity(t *testing.T) {
	t.Parallel()
	level := func(users int, out, ttft float64) schema.Benchmark {
		met := 1.0
		if ttft > 1 {
			met = 0
		}
		return schema.Benchmark{TestID: LoadTestID(schema.LoadUsers, users, 0), LoadLevel: &schema.LoadLevel{
			Shape: schema.LoadUsers, Users: users, Completed: 10, OutputTPS: out, SLOMet: &met,
			Latency: schema.LoadLatency{TTFTS: schema.Dist{P50: ttft}}}}
	}
	levels := []schema.Benchmark{level(1, 100, 0.1), level(2, 190, 0.1), level(4, 350, 0.2), level(8, 360, 0.9), level(16, 355, 2)}
	r := StopRule{}.withDefaults()
	slo := SLO{TTFT: time.Second}
	stop, done := r.check(t.Context(), levels, slo)
	if !done || stop.by != schema.StopPlateau {
		t.Errorf("stop %+v %v, want a plateau", stop, done)
	}
	c := capacity(schema.LoadUsers, levels, r, slo, stop)
	if c.Peak == nil || c.Peak.Users != 8 || c.Saturation == nil || c.Saturation.Users != 4 || c.WithinSLO == nil || c.WithinSLO.Users != 8 {
		t.Errorf("capacity %+v / %+v / %+v, want peak 8, saturation 4, within SLO 8", c.Peak, c.Saturation, c.WithinSLO)
	}
	if _, done := r.check(t.Context(), levels[:3], slo); done {
		t.Error("stopped while the throughput still grows")
	}
}

// TestCapacityIgnoresCutLevels: a level cut short (cancelled, the server gone)
// has throughputs over part of its window; it must not show a plateau that
// names a saturation point, nor be the highest level within the SLOs.
func TestCapacityIgnoresCutLevels(t *testing.T) {
	t.Parallel()
	met := 1.0
	level := func(users int, out, ttft float64, err string) schema.Benchmark {
		return schema.Benchmark{TestID: LoadTestID(schema.LoadUsers, users, 0), Error: err, LoadLevel: &schema.LoadLevel{
			Shape: schema.LoadUsers, Users: users, Completed: 10, OutputTPS: out, SLOMet: &met,
			Latency: schema.LoadLatency{TTFTS: schema.Dist{P50: ttft}}}}
	}
	r := StopRule{}.withDefaults()
	slo := SLO{TTFT: time.Second}
	for _, cut := range []string{levelCancelled + "context canceled", levelRefused + "connection refused"} {
		levels := []schema.Benchmark{level(1, 100, 0.1, ""), level(2, 190, 0.1, ""), level(4, 60, 0.3, cut)}
		c := capacity(schema.LoadUsers, levels, r, slo, sweepStop{by: schema.StopCancelled})
		if c.Saturation != nil || c.Peak == nil || c.Peak.Users != 2 || c.WithinSLO == nil || c.WithinSLO.Users != 2 {
			t.Errorf("%s: saturation %+v, peak %+v, within SLO %+v: want none, 2, 2", cut, c.Saturation, c.Peak, c.WithinSLO)
		}
	}
}
