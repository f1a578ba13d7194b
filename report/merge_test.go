package report

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
	"github.com/typhonbench/typhon/schema"
)

// encodeHDR encodes xs (seconds) as the engine does.
func encodeHDR(t *testing.T, xs []float64) string {
	t.Helper()
	h := hdrhistogram.New(1, 3600e6, 3)
	for _, x := range xs {
		if err := h.RecordValue(max(1, int64(math.Round(x*1e6)))); err != nil {
			t.Fatal(err)
		}
	}
	b, err := h.Encode(hdrhistogram.V2CompressedEncodingCookieBase)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// rawDist is the engine's summary of xs: sample std, interpolated percentiles.
func rawDist(xs []float64) schema.Dist {
	s := slices.Sorted(slices.Values(xs))
	var sum, ss float64
	for _, x := range s {
		sum += x
	}
	m := sum / float64(len(s))
	for _, x := range s {
		ss += (x - m) * (x - m)
	}
	return schema.Dist{Mean: m, Std: math.Sqrt(ss / float64(len(s)-1)), P50: rawPct(s, 50), P90: rawPct(s, 90), P95: rawPct(s, 95), P99: rawPct(s, 99), N: len(s)}
}

func rawPct(s []float64, p float64) float64 {
	r := p / 100 * float64(len(s)-1)
	lo := int(math.Floor(r))
	if lo >= len(s)-1 {
		return s[len(s)-1]
	}
	return s[lo] + (r-float64(lo))*(s[lo+1]-s[lo])
}

// fleetRecord is worker i of n: its requests start at starts (seconds after
// its window opened, off seconds after t0), all completed with 10 output
// tokens, ttft from ttft; fail of them failed (counted apart).
func fleetRecord(t *testing.T, i, n int, off float64, starts, ttft []float64, fail int) *schema.Result {
	t.Helper()
	t0 := time.Date(2026, 1, 2, 15, 0, 0, 0, time.UTC)
	ws := t0.Add(time.Duration(off * float64(time.Second)))
	cols := &schema.LoadRequests{}
	for k, s := range starts {
		cols.StartS = append(cols.StartS, s)
		cols.TTFTS = append(cols.TTFTS, ttft[k])
		cols.E2ES = append(cols.E2ES, ttft[k]+0.5)
		cols.OutputTokens = append(cols.OutputTokens, 10)
		cols.PromptTokens = append(cols.PromptTokens, 20)
		cols.OK = append(cols.OK, true)
	}
	for range fail {
		cols.StartS = append(cols.StartS, 1)
		cols.TTFTS, cols.E2ES = append(cols.TTFTS, 0), append(cols.E2ES, 0.1)
		cols.OutputTokens, cols.PromptTokens, cols.OK = append(cols.OutputTokens, 0), append(cols.PromptTokens, 20), append(cols.OK, false)
	}
	lvl := &schema.LoadLevel{Shape: schema.LoadUsers, Users: 4, WindowS: 10, WindowStart: ws, Completed: len(starts), Failed: fail,
		RequestThroughput: float64(len(starts)) / 10, OutputTPS: float64(10*len(starts)) / 10, TotalTPS: float64(30*len(starts)) / 10,
		Goodput: float64(len(starts)) / 10, AllOutputTokens: 10 * len(starts), Requests: cols,
		Latency: schema.LoadLatency{TTFTS: rawDist(ttft), E2ES: rawDist(cols.E2ES[:len(starts)])},
		HDR:     map[string]string{"ttft_s": encodeHDR(t, ttft), "e2e_s": encodeHDR(t, cols.E2ES[:len(starts)])}}
	if fail > 0 {
		lvl.ErrorKinds, lvl.FirstError = map[string]int{"timeout": fail}, "deadline"
	}
	return &schema.Result{SchemaVersion: 1, RunID: fmt.Sprintf("f-w%d", i), RunAt: t0, Status: schema.StatusComplete,
		Benchmarks: []schema.Benchmark{{TestID: "load_users_4", Category: schema.CategoryLoad, LoadLevel: lvl,
			AvgTTFTS: lvl.Latency.TTFTS.Mean, AvgElapsedS: lvl.Latency.E2ES.Mean, AggregateTPS: lvl.OutputTPS}},
		Worker: &schema.Worker{Run: "f", Index: i, Count: n, Levels: []schema.WorkerLevel{{TestID: "load_users_4", Users: 4,
			WindowStart: ws, WindowEnd: ws.Add(10 * time.Second)}}}}
}

// TestMergePercentiles: merged percentiles of skewed samples spread over three
// workers equal those of the union within HDRPrecision; mean, std and n exactly.
func TestMergePercentiles(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(1, 2))
	var recs []*schema.Result
	var union []float64
	for i := range 3 {
		var starts, ttft []float64
		for k := range 500 + 300*i {
			starts = append(starts, float64(k%100)/10)
			ttft = append(ttft, math.Exp(rng.NormFloat64()-1+0.3*float64(i)))
		}
		union = append(union, ttft...)
		recs = append(recs, fleetRecord(t, i, 3, 0, starts, ttft, 0))
	}
	m, err := Merge(recs)
	if err != nil {
		t.Fatal(err)
	}
	got, want := m.Benchmarks[0].Latency.TTFTS, rawDist(union)
	for _, c := range []struct {
		name      string
		got, want float64
	}{{"p50", got.P50, want.P50}, {"p90", got.P90, want.P90}, {"p95", got.P95, want.P95}, {"p99", got.P99, want.P99}} {
		if tol := max(HDRPrecision*c.want, 2*HDRResolutionS); math.Abs(c.got-c.want) > tol {
			t.Errorf("%s: merged %.6f, union %.6f: beyond %.6f", c.name, c.got, c.want, tol)
		}
	}
	if got.N != want.N || math.Abs(got.Mean-want.Mean) > 2e-6 || math.Abs(got.Std-want.Std) > 2e-6 {
		t.Errorf("merged n %d mean %.6f std %.6f, union n %d mean %.6f std %.6f", got.N, got.Mean, got.Std, want.N, want.Mean, want.Std)
	}
}

// TestMergeCommonWindow: counts and throughputs over the common window, the
// load summed, errors kept per worker.
func TestMergeCommonWindow(t *testing.T) {
	t.Parallel()
	// Worker 1's window opened 0.5 s late: its first request (0.0 s, so 0.5 s
	// on the common clock) counts; worker 0's at 0.2 s (before the common
	// window) does not, nor worker 1's at 9.8 s (after it).
	a := fleetRecord(t, 0, 2, 0, []float64{0.2, 1, 2, 9.6}, []float64{0.1, 0.1, 0.1, 0.1}, 0)
	b := fleetRecord(t, 1, 2, 0.5, []float64{0, 3, 9.8}, []float64{0.2, 0.2, 0.2}, 2)
	m, err := Merge([]*schema.Result{b, a})
	if err != nil {
		t.Fatal(err)
	}
	l := m.Benchmarks[0].LoadLevel
	if m.RunID != "f" || m.Benchmarks[0].TestID != "load_users_8" || l.Users != 8 {
		t.Errorf("run %q level %s users %d, want f, load_users_8, 8", m.RunID, m.Benchmarks[0].TestID, l.Users)
	}
	if l.WindowS != 9.5 || l.Completed != 5 || l.Failed != 2 || l.OutputTPS != math.Round(50/9.5*1000)/1000 {
		t.Errorf("window %.3f, %d completed, %d failed, %.3f tok/s; want 9.5, 5, 2, %.3f", l.WindowS, l.Completed, l.Failed, l.OutputTPS, 50/9.5)
	}
	if l.ErrorKinds["timeout"] != 2 || !strings.HasPrefix(l.FirstError, "worker 1:") {
		t.Errorf("error kinds %v, first error %q", l.ErrorKinds, l.FirstError)
	}
	if len(m.Workers) != 2 || m.Workers[1].Levels[0].Failed != 2 || m.Workers[0].Levels[0].Failed != 0 {
		t.Errorf("workers %+v: want the failures of worker 1 only", m.Workers)
	}
	if l.Latency.TTFTS.N != 7 {
		t.Errorf("ttft n %d, want every worker's 7 samples", l.Latency.TTFTS.N)
	}
}

// TestMergeRefuses: records that are not the workers of one run.
func TestMergeRefuses(t *testing.T) {
	t.Parallel()
	rec := func(i int) *schema.Result { return fleetRecord(t, i, 2, 0, []float64{1}, []float64{0.1}, 0) }
	other := rec(1)
	other.Worker.Run = "g"
	late := rec(1)
	late.Worker.Levels[0].WindowStart = late.Worker.Levels[0].WindowStart.Add(time.Minute)
	late.Worker.Levels[0].WindowEnd = late.Worker.Levels[0].WindowEnd.Add(time.Minute)
	late.Benchmarks[0].LoadLevel.WindowStart = late.Worker.Levels[0].WindowStart
	plain := rec(1)
	plain.Worker = nil
	noHDR := rec(1)
	noHDR.Benchmarks[0].HDR = nil
	tests := []struct {
		name string
		recs []*schema.Result
		want string
	}{
		{"none", nil, "no records"},
		{"another run", []*schema.Result{rec(0), other}, `belongs to run "g"`},
		{"a worker twice", []*schema.Result{rec(0), rec(0)}, "worker 0 twice"},
		{"not a worker", []*schema.Result{rec(0), plain}, "not a worker's"},
		{"windows apart", []*schema.Result{rec(0), late}, "do not overlap"},
		{"no histogram", []*schema.Result{rec(0), noHDR}, "cannot be merged"},
	}
	for _, tt := range tests {
		_, err := Merge(tt.recs)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %v, want %q", tt.name, err, tt.want)
		}
		if !errors.Is(err, ErrMerge) {
			t.Errorf("%s: %v does not wrap ErrMerge", tt.name, err)
		}
	}
	// A missing worker is no error: the result says so.
	m, err := Merge([]*schema.Result{rec(0)})
	if err != nil || m.Status != schema.StatusFailed || !strings.Contains(m.Error, "worker 1: no record") {
		t.Errorf("one worker of two: status %q error %q (%v), want failed, worker 1: no record", m.Status, m.Error, err)
	}
}

// FuzzDecodeStrictMerge: whatever a collector is sent, DecodeStrict does not
// panic, and a record it accepts re-encodes to one it accepts again and merges
// (alone or beside a copy under another index) without panicking.
func FuzzDecodeStrictMerge(f *testing.F) {
	t := &testing.T{}
	r := fleetRecord(t, 0, 2, 0, []float64{1, 2}, []float64{0.1, 0.2}, 1)
	r.Benchmarks[0].Runs = []schema.RunSample{}
	var seed strings.Builder
	if err := WriteJSON(&seed, r); err != nil {
		f.Fatal(err)
	}
	f.Add([]byte(seed.String()))
	f.Add([]byte(`{"schema_version":1,"run_id":"a","run_at":"2026-01-02T15:04:05Z","status":"complete","benchmarks":[]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		res, err := DecodeStrict(b)
		if err != nil {
			return
		}
		var again strings.Builder
		if err := WriteJSON(&again, res); err != nil {
			t.Fatalf("re-encoding an accepted record: %v", err)
		}
		if _, err := DecodeStrict([]byte(again.String())); err != nil {
			t.Fatalf("an accepted record, re-encoded, is refused: %v", err)
		}
		if res.Worker == nil {
			return
		}
		_, _ = Merge([]*schema.Result{res})
		other := *res
		w := *res.Worker
		w.Index = (w.Index + 1) % max(w.Count, 1)
		other.Worker = &w
		_, _ = Merge([]*schema.Result{res, &other})
	})
}

// TestMergeCapacitySkipsCutLevels: a level that a worker cut short (cancelled,
// or its server refused connections) divides part of a window's requests by
// the whole window; the fleet's capacity never names it.
func TestMergeCapacitySkipsCutLevels(t *testing.T) {
	t.Parallel()
	for _, cut := range []string{"", schema.LevelCancelled + "context canceled", schema.LevelRefused + "connection refused"} {
		a := fleetRecord(t, 0, 2, 0, []float64{1, 2}, []float64{0.1, 0.1}, 0)
		b := fleetRecord(t, 1, 2, 0, []float64{1, 3}, []float64{0.2, 0.2}, 0)
		for i := range b.Benchmarks {
			if b.Benchmarks[i].Category == schema.CategoryLoad {
				b.Benchmarks[i].Error = cut
			}
		}
		m, err := Merge([]*schema.Result{a, b})
		if err != nil {
			t.Fatalf("%q: %v", cut, err)
		}
		c := m.Capacity
		switch {
		case c == nil:
			t.Errorf("%q: no capacity", cut)
		case cut == "" && (c.Peak == nil || c.Peak.TestID != "load_users_8"):
			t.Errorf("whole levels: peak %+v, want load_users_8", c.Peak)
		case cut != "" && (c.Peak != nil || !strings.Contains(c.Reason, "cut short")):
			t.Errorf("%q: peak %+v, reason %q: want no level named, and why", cut, c.Peak, c.Reason)
		}
	}
}
