//go:build linux

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/typhonbench/typhon/gpu"
	"github.com/typhonbench/typhon/gpu/gputest"
	"github.com/typhonbench/typhon/schema"
)

var smiT0 = time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)

// smiLog writes nvidia-smi lines for two GPUs every 100 ms over secs seconds:
// GPU 0 at watts0 holding 20000 MiB, GPU 1 at 60 W holding 30000 MiB.
func smiLog(secs, watts0 float64) string {
	var b strings.Builder
	for k := 0; float64(k)*0.1 <= secs+1e-9; k++ {
		at := smiT0.Add(time.Duration(k) * 100 * time.Millisecond).Format(smiLayout)
		fmt.Fprintf(&b, "%s, 0, 20000, %.2f, 97\n%s, 1, 30000, 60.00, [N/A]\n", at, watts0, at)
	}
	b.WriteString("garbage line\n")
	return b.String()
}

func TestSummariseSMI(t *testing.T) {
	t.Parallel()
	rows := parseSMI(strings.NewReader(smiLog(10, 300)))
	if len(rows) != 202 {
		t.Fatalf("parsed %d rows, want 202 (the garbage line skipped)", len(rows))
	}
	from, to := smiT0.Add(2050*time.Millisecond), smiT0.Add(3050*time.Millisecond)
	for _, tc := range []struct {
		index           int
		peakMem, energy float64
		util            float64
	}{{0, 20000, 300, 97}, {1, 30000, 60, 0}} {
		s := summariseSMI(rows, tc.index, from, to)
		if s.peakMem != tc.peakMem || math.Abs(s.energyJ-tc.energy) > 1e-6 || s.n != 10 || s.peakUtil != tc.util {
			t.Errorf("GPU %d over 1 s: peak %v MiB, energy %v J, %d rows, util %v; want %v, %v, 10, %v",
				tc.index, s.peakMem, s.energyJ, s.n, s.peakUtil, tc.peakMem, tc.energy, tc.util)
		}
	}
	// A window between two polls holds the poll before it.
	if s := summariseSMI(rows, 0, smiT0.Add(5010*time.Millisecond), smiT0.Add(5070*time.Millisecond)); math.Abs(s.energyJ-18) > 1e-6 || s.peakMem != 20000 {
		t.Errorf("60 ms window: energy %v J, peak %v; want 18 J, 20000", s.energyJ, s.peakMem)
	}
}

func TestCompareRecord(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	res := schema.Result{Benchmarks: []schema.Benchmark{{
		TestID: "baseline_short", FinishedAt: smiT0.Add(4 * time.Second),
		Runs: []schema.RunSample{{OutputTokens: 64}, {OutputTokens: 64}},
		GPUStats: schema.GPUStats{WindowS: 2, PerGPU: []schema.GPUWindow{{
			Index: 0, PeakVRAMUsedMB: gputest.F(20010), AvgPowerW: gputest.F(299), PeakPowerW: gputest.F(305), EnergyJ: gputest.F(598),
		}}},
	}, {TestID: "memory_wall", Skipped: true, SkipReason: "beyond the context"}}}
	raw, _ := json.Marshal(res)
	rec, smi := filepath.Join(dir, "record.json"), filepath.Join(dir, "smi.csv")
	if err := os.WriteFile(rec, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(smi, []byte(smiLog(10, 300)), 0o600); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := run(context.Background(), []string{"-record", rec, "-smi-log", smi}, &out, &out); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"20010 / 20000", "299.0 / 300.0", "598.0 / 600.0", "4.6719 / 4.6875", "memory_wall", "beyond the context"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("comparison lacks %q:\n%s", want, out.String())
		}
	}
	t.Logf("\n%s", out.String())
}

// TestRunWithSMI runs a stand-in nvidia-smi (a shell loop printing what the real
// one prints) beside the sampling: its per-GPU figures are printed beside ours.
func TestRunWithSMI(t *testing.T) {
	smi := filepath.Join(t.TempDir(), "nvidia-smi")
	script := "#!/bin/sh\nwhile :; do printf '%s, 0, 4000, 650.00, 100\\n' \"$(date -u '+%Y/%m/%d %H:%M:%S.%3N')\"; sleep 0.05; done\n"
	if err := os.WriteFile(smi, []byte(script), 0o700); err != nil {
		t.Fatal(err)
	}
	fake := &fakeSampler{Sampler: &gputest.Sampler{
		GPUs:   []schema.GPUInfo{{Index: 0, Name: "Fake H100"}},
		Script: []gputest.Step{{Readings: []gpu.Reading{{Index: 0, MemUsedMB: gputest.F(4000), PowerW: gputest.F(650)}}}},
	}}
	withSampler(t, fake, nil)
	var out, errs bytes.Buffer
	if err := run(context.Background(), []string{"-interval", "10ms", "-duration", "500ms", "-cpu-budget", "100", "-smi", smi}, &out, &errs); err != nil {
		t.Fatalf("run: %v\n%s", err, errs.String())
	}
	if !strings.Contains(out.String(), "4000 / 4000") || !strings.Contains(out.String(), "650.0 / 650.0") {
		t.Errorf("no nvidia-smi figures beside ours:\n%s", out.String())
	}
	t.Logf("\n%s", out.String())
}
