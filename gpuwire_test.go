package typhon_test

import (
	"context"
	"math"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/typhonbench/typhon"
	"github.com/typhonbench/typhon/engine"
	"github.com/typhonbench/typhon/gpu"
	"github.com/typhonbench/typhon/gpu/gputest"
	"github.com/typhonbench/typhon/internal/testbed"
	"github.com/typhonbench/typhon/schema"
)

// twoGPUs plays a host with two GPUs: the server (pid) on GPU 0 at 300 W
// holding 20 GB, another job on GPU 1 at 60 W holding 30 GB.
func twoGPUs(pid int) *gputest.Sampler {
	return &gputest.Sampler{
		GPUs: []schema.GPUInfo{
			{Index: 0, Name: "Fake A", MemoryTotalMB: 24576},
			{Index: 1, Name: "Fake B", MemoryTotalMB: 49152},
		},
		Script: []gputest.Step{{Readings: []gpu.Reading{
			{Index: 0, PowerW: gputest.F(300), MemUsedMB: gputest.F(20000), ProcessMemMB: map[int]float64{pid: 19000}},
			{Index: 1, PowerW: gputest.F(60), MemUsedMB: gputest.F(30000), ProcessMemMB: map[int]float64{1 << 22: 29000}},
		}}},
	}
}

var tinyPlan = &engine.Plan{Tests: []engine.Test{{
	ID: "baseline_short", Name: "Baseline (short prompt)", Category: schema.CategoryBaseline,
	CtxSize: 2048, PromptTokens: 32, MaxTokens: 16, Runs: 2,
}}}

// TestRunSamplesTheServersGPU: against the real llama-server, with a host of two
// (scripted) GPUs of which the server's process holds GPU 0, each test's
// figures are GPU 0's only, and energy per output token is the window's energy
// over the tokens of its runs.
func TestRunSamplesTheServersGPU(t *testing.T) {
	srv := testbed.LlamaServer(t, testbed.Options{CtxSize: 2048})
	s := twoGPUs(srv.PID())
	r := typhon.Runner{URL: srv.URL, Model: srv.Model, DataDir: t.TempDir(), Plan: tinyPlan, GPU: s,
		GPUInterval: 20 * time.Millisecond}
	res, err := r.Run(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.ProfileSnapshot.GPUs) != 2 {
		t.Errorf("profile lists %d GPUs, want both", len(res.ProfileSnapshot.GPUs))
	}
	b := res.Benchmarks[0]
	st := b.GPUStats
	if st.GPUSelection != gpu.SelectServer || len(st.PerGPU) != 1 || st.PerGPU[0].Index != 0 {
		t.Fatalf("gpu_selection %q, per_gpu %+v; want the server's GPU 0 only", st.GPUSelection, st.PerGPU)
	}
	if *st.PeakVRAMUsedMB != 20000 || *st.PeakPowerW != 300 || *st.ProcessVRAMMB != 19000 {
		t.Errorf("peak VRAM %v, peak power %v, process VRAM %v; want 20000, 300, 19000",
			*st.PeakVRAMUsedMB, *st.PeakPowerW, *st.ProcessVRAMMB)
	}
	if want := 300 * st.WindowS; math.Abs(*st.EnergyJ-want) > 0.02*want+0.01 {
		t.Errorf("energy %v J over %v s, want 300 W x window = %v J", *st.EnergyJ, st.WindowS, want)
	}
	tokens := 0
	for _, run := range b.Runs {
		tokens += run.OutputTokens
	}
	if tokens == 0 || st.EnergyPerOutputTokenJ == nil {
		t.Fatalf("output tokens %d, energy per token %v", tokens, st.EnergyPerOutputTokenJ)
	}
	if want := *st.EnergyJ / float64(tokens); math.Abs(*st.EnergyPerOutputTokenJ-want) > 1e-6 {
		t.Errorf("energy per output token %v J, want %v (%v J / %d tokens)", *st.EnergyPerOutputTokenJ, want, *st.EnergyJ, tokens)
	}
	t.Logf("window %.3f s: energy %.2f J, %d tokens, %.4f J/token, selection %s", st.WindowS, *st.EnergyJ, tokens,
		*st.EnergyPerOutputTokenJ, st.GPUSelection)
}

// TestRunRemoteServerGetsNoGPUFigures: a server whose URL names another host
// (here a documentation address whose connections the test routes to the real
// llama-server) gets no GPU figure and no GPU profile of this machine, and the
// record says why; naming its GPUs samples them anyway.
func TestRunRemoteServerGetsNoGPUFigures(t *testing.T) {
	srv := testbed.LlamaServer(t, testbed.Options{CtxSize: 2048})
	const remote = "192.0.2.7:8080"
	dial := &net.Dialer{Timeout: 5 * time.Second}
	client := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		if addr == remote {
			addr = strings.TrimPrefix(srv.URL, "http://")
		}
		return dial.DialContext(ctx, network, addr)
	}}}
	for _, tc := range []struct {
		name    string
		indexes []int
	}{{"no GPUs named", nil}, {"GPU 1 named", []int{1}}} {
		t.Run(tc.name, func(t *testing.T) {
			s := twoGPUs(srv.PID())
			r := typhon.Runner{URL: "http://" + remote, Model: srv.Model, DataDir: t.TempDir(), Plan: tinyPlan, GPU: s,
				GPUInterval: 20 * time.Millisecond, HTTPClient: client, GPUIndexes: tc.indexes}
			r.Detect.Client = client
			res, err := r.Run(context.Background(), nil)
			if err != nil {
				t.Fatal(err)
			}
			st := res.Benchmarks[0].GPUStats
			if tc.indexes == nil {
				if !strings.Contains(res.GPUUnavailable, "not on this machine") || len(res.ProfileSnapshot.GPUs) != 0 {
					t.Errorf("gpu_unavailable %q, profile GPUs %d; want the reason and none", res.GPUUnavailable, len(res.ProfileSnapshot.GPUs))
				}
				if st.Samples != 0 || st.EnergyJ != nil || st.PeakVRAMUsedMB != nil || s.Calls() != 0 {
					t.Errorf("remote server got GPU figures: %+v (%d samples taken)", st, s.Calls())
				}
				t.Logf("gpu_unavailable: %s", res.GPUUnavailable)
				return
			}
			if st.GPUSelection != gpu.SelectGiven || len(st.PerGPU) != 1 || st.PerGPU[0].Index != 1 {
				t.Errorf("named GPU 1: selection %q, per_gpu %+v", st.GPUSelection, st.PerGPU)
			}
		})
	}
}
