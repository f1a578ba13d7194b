package report

import (
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/typhonbench/typhon/schema"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// t0 is the fixed clock of the fixtures.
var t0 = time.Date(2025, 6, 1, 14, 22, 1, 0, time.UTC)

func f64(v float64) *float64 { return &v }
func intp(v int) *int        { return &v }

// at is t0 plus s seconds.
func at(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }

// okRun is a successful timed run.
func okRun(tps, ttft float64, prompt, out int) schema.RunSample {
	elapsed := ttft + float64(out-1)/tps
	return schema.RunSample{
		Success: true, TPS: tps, TTFTS: ttft, ElapsedS: round3(elapsed),
		PromptTokens: prompt, OutputTokens: out, MaxTokens: out, FinishReason: "length",
		PrefillTPS: round3(float64(prompt) / ttft),
	}
}

func round3(v float64) float64 { return float64(int64(v*1000+0.5)) / 1000 }

// fullResult is a crafted, fully populated record of a full run of llama-server
// on one GPU: every field of the schema appears somewhere in it.
func fullResult() *schema.Result {
	baseRun := okRun(82.1, 0.121, 48, 64)
	baseRun.FirstByteS = 0.004
	baseRun.FirstContentS = 0.135
	baseRun.LastTokenS = 0.888
	baseRun.ITLP50MS, baseRun.ITLP90MS, baseRun.ITLP99MS = 12.1, 12.9, 14.2
	baseRun.Chunks, baseRun.ChunkTokens = 64, 64
	baseRun.ServerTPS, baseRun.ServerPrefillTPS = 82.6, 401.2
	baseRun.ServerPromptMS, baseRun.ServerPredictedMS = 119.6, 762.7
	baseRun.CachedPromptTokens = intp(0)
	baseRun.CacheState = "cold"
	baseRun.PromptTokensTarget = 48
	baseRun.StartedAt = at(3)
	baseRun.Warnings = []string{"first chunk carried reasoning only"}
	warm := okRun(31.2, 1.9, 48, 64)
	warm.LoadS = 1.7
	warm.StoppedEarly = false

	timeout := schema.RunSample{Success: false, ElapsedS: 200, Error: "no token for 200 s", ErrorKind: schema.ErrKindTimeout,
		PromptTokens: 0, PromptTokensTarget: 16000, MaxTokens: 256}

	gpu := func(peak, avg, temp, power, energy float64) schema.GPUStats {
		return schema.GPUStats{
			PeakVRAMUsedMB: f64(peak), AvgVRAMUsedMB: f64(avg), PeakTempC: f64(temp), AvgTempC: f64(temp - 1.5),
			PeakPowerW: f64(power), AvgPowerW: f64(power - 12), AvgUtilPct: f64(94), PeakUtilPct: f64(99),
			EnergyJ: f64(energy), ProcessVRAMMB: f64(peak - 410), Samples: 24, WindowS: 2.4,
			PerGPU: []schema.GPUWindow{{
				Index: 0, UUID: "GPU-5f0c3c5e-1d2e-4b8a-9a51-3c1f3b1f0a42", Name: "NVIDIA GeForce RTX 4090", Samples: 24,
				PeakVRAMUsedMB: f64(peak), AvgVRAMUsedMB: f64(avg), PeakTempC: f64(temp), AvgTempC: f64(temp - 1.5),
				PeakPowerW: f64(power), AvgPowerW: f64(power - 12), AvgUtilPct: f64(94), PeakUtilPct: f64(99),
				AvgMemUtilPct: f64(61), AvgSMClockMHz: f64(2520), EnergyJ: f64(energy), ProcessVRAMMB: f64(peak - 410),
			}},
		}
	}
	longGPU := gpu(9410, 9388, 84, 431, 5120)
	longGPU.ThrottleReasons = []string{"sw_thermal_slowdown"}
	longGPU.PerGPU[0].ThrottleReasons = []string{"sw_thermal_slowdown"}
	longGPU.PerGPU[0].AvgSMClockMHz = f64(2385)

	return &schema.Result{
		SchemaVersion: schema.Version,
		RunID:         "a3f1c820",
		RunAt:         t0,
		FinishedAt:    at(579),
		Status:        schema.StatusComplete,
		Mode:          "full",
		Model:         "hermes-3-llama-3.1-8b-q8_0",
		Server: schema.ServerInfo{
			Name: "llama.cpp (llama-server)", Port: 8080, APIBase: "http://127.0.0.1:8080",
			Kind: "llama.cpp", Version: "b5123", CtxSize: 16384, Slots: 1, Quantization: "Q8_0",
			Settings: map[string]string{"n_gpu_layers": "99", "flash_attn": "true", "n_ctx": "16384"},
		},
		TyphonVersion: "0.1.0",
		ProfileSnapshot: &schema.Profile{
			GPUs: []schema.GPUInfo{{
				Index: 0, Name: "NVIDIA GeForce RTX 4090", UUID: "GPU-5f0c3c5e-1d2e-4b8a-9a51-3c1f3b1f0a42",
				MemoryTotalMB: 24564, DriverVersion: "550.54.14", CUDAVersion: "12.4", ComputeCapability: "8.9", PowerLimitW: 450,
			}},
			CPU: schema.CPUInfo{Model: "AMD Ryzen 9 7950X 16-Core Processor", PhysicalCores: 16, LogicalCores: 32},
			RAM: schema.RAMInfo{TotalMB: 63937, AvailableMB: 51234},
			OS:  schema.OSInfo{Name: "linux", Platform: "debian", Version: "12", Kernel: "6.1.0-18-amd64", Arch: "amd64"},
		},
		Benchmarks: []schema.Benchmark{
			{
				TestID: "baseline_short", Name: "Baseline (short prompt)", Category: schema.CategoryBaseline,
				CtxSize: 2048, MaxTokens: 64, NRuns: 3, SuccessfulRuns: 3, ValidRuns: 3,
				AvgTPS: 82.5, BestTPS: 83.0, AvgElapsedS: 0.886, AvgTTFTS: 0.118, AvgPrefillTPS: 406.9, AvgServerTPS: 82.9,
				PromptTokensTarget: 48, StartedAt: at(1), FinishedAt: at(6),
				GPUStats:  gpu(8240, 8180, 71, 218, 412),
				WarmupRun: &warm,
				Runs:      []schema.RunSample{baseRun, okRun(83.0, 0.114, 48, 64), okRun(82.4, 0.118, 48, 64)},
				Stats: &schema.Stats{N: 3, TPSMin: 82.1, TPSMedian: 82.4, TPSStdev: 0.46, TPSCI95Low: 81.36, TPSCI95High: 83.64,
					TTFTMedianS: 0.118, TTFTCI95Low: 0.108, TTFTCI95Hi: 0.127, TTFTP50S: 0.118, TTFTP90S: 0.121, TTFTP99S: 0.121,
					ITLP50MS: 12.1, ITLP90MS: 12.9, ITLP99MS: 14.2},
			},
			{
				TestID: "ctx_sweep_4096", Name: "Context sweep — 4,096 tokens", Category: schema.CategoryContextSweep,
				CtxSize: 4096, MaxTokens: 256, NRuns: 3, SuccessfulRuns: 3, ValidRuns: 3, AvgTPS: 75.8, BestTPS: 76.0, AvgElapsedS: 3.95, AvgTTFTS: 0.59,
				AvgPrefillTPS: 6305, PromptTokensTarget: 3712, StartedAt: at(7), FinishedAt: at(24),
				GPUStats: gpu(8610, 8590, 73, 281, 1890),
				Runs:     []schema.RunSample{okRun(76.0, 0.58, 3712, 256), okRun(75.6, 0.60, 3712, 256), okRun(75.8, 0.59, 3712, 256)},
				Stats:    &schema.Stats{N: 3, TPSMin: 75.6, TPSMedian: 75.8, TPSStdev: 0.2, TPSCI95Low: 75.3, TPSCI95High: 76.3, TTFTP50S: 0.59, TTFTP90S: 0.60, TTFTP99S: 0.60},
			},
			{
				TestID: "ctx_sweep_8192", Name: "Context sweep — 8,192 tokens", Category: schema.CategoryContextSweep,
				CtxSize: 8192, MaxTokens: 256, NRuns: 3, SuccessfulRuns: 3, ValidRuns: 3, AvgTPS: 68.0, BestTPS: 68.2, AvgElapsedS: 5.1, AvgTTFTS: 1.35,
				AvgPrefillTPS: 5783, PromptTokensTarget: 7808, StartedAt: at(25), FinishedAt: at(48),
				GPUStats: gpu(9120, 9080, 75, 302, 2610),
				Runs:     []schema.RunSample{okRun(68.2, 1.34, 7808, 256), okRun(67.8, 1.36, 7808, 256), okRun(68.0, 1.35, 7808, 256)},
				Stats:    &schema.Stats{N: 3, TPSMin: 67.8, TPSMedian: 68.0, TPSStdev: 0.2, TPSCI95Low: 67.5, TPSCI95High: 68.5, TTFTP50S: 1.35, TTFTP90S: 1.36, TTFTP99S: 1.36},
			},
			{
				TestID: "ctx_sweep_16384", Name: "Context sweep — 16,384 tokens", Category: schema.CategoryContextSweep,
				CtxSize: 16384, MaxTokens: 256, NRuns: 3, SuccessfulRuns: 2, ValidRuns: 2, AvgTPS: 54.9, BestTPS: 55.1, AvgElapsedS: 7.9, AvgTTFTS: 3.26,
				AvgPrefillTPS: 4908, PromptTokensTarget: 16000, StartedAt: at(49), FinishedAt: at(290),
				GPUStats: gpu(9380, 9350, 78, 318, 4170),
				Runs:     []schema.RunSample{okRun(55.1, 3.25, 16000, 256), timeout, okRun(54.7, 3.27, 16000, 256)},
				Stats:    &schema.Stats{N: 2, TPSMin: 54.7, TPSMedian: 54.9, TPSStdev: 0.28, TPSCI95Low: 52.36, TPSCI95High: 57.44, TTFTP50S: 3.26, TTFTP90S: 3.27, TTFTP99S: 3.27},
				Notes:    []string{"1 of 3 runs timed out"},
			},
			{
				TestID: "ctx_sweep_32768", Name: "Context sweep — 32,768 tokens", Category: schema.CategoryContextSweep,
				CtxSize: 32768, MaxTokens: 256, PromptTokensTarget: 32384, Skipped: true,
				SkipReason: "beyond the server's context (16,384 tokens per slot)",
			},
			{
				TestID: "long_gen", Name: "Long generation stress", Category: schema.CategoryStress,
				CtxSize: 2048, MaxTokens: 1024, NRuns: 2, SuccessfulRuns: 2, ValidRuns: 2, AvgTPS: 79.1, BestTPS: 80.3, AvgElapsedS: 13.1, AvgTTFTS: 0.12,
				StartedAt: at(291), FinishedAt: at(340), GPUStats: longGPU,
				Runs: []schema.RunSample{okRun(80.3, 0.12, 48, 1024), okRun(77.9, 0.12, 48, 1024)},
				Series: []schema.SeriesPoint{
					{T: 1, Tokens: 80, TPS: 81.0, TempC: f64(76), PowerW: f64(425), SMClockMHz: f64(2520)},
					{T: 4, Tokens: 322, TPS: 80.6, TempC: f64(79), PowerW: f64(428), SMClockMHz: f64(2520)},
					{T: 7, Tokens: 563, TPS: 80.2, TempC: f64(81), PowerW: f64(430), SMClockMHz: f64(2505)},
					{T: 10, Tokens: 800, TPS: 78.4, TempC: f64(83), PowerW: f64(431), SMClockMHz: f64(2385)},
					{T: 13, Tokens: 1010, TPS: 77.1, TempC: f64(84), PowerW: f64(429), SMClockMHz: f64(2340)},
				},
			},
			{
				TestID: "memory_wall", Name: "Memory wall detection", Category: schema.CategoryMemoryWall,
				CtxSize: 16384, MaxTokens: 512, NRuns: 1, SuccessfulRuns: 1, ValidRuns: 1, AvgTPS: 52.2, BestTPS: 52.2, AvgElapsedS: 13.2, AvgTTFTS: 3.4,
				StartedAt: at(341), FinishedAt: at(579), GPUStats: gpu(9402, 9380, 79, 320, 1330),
				Runs: []schema.RunSample{okRun(52.2, 3.4, 16120, 512)},
				MemoryWall: &schema.MemoryWall{
					LastOKPromptTokens: 16120, FailedPromptTokens: 16640, FailureKind: "http_400",
					Failure:  "http_400: the request exceeds the available context size",
					WallKind: schema.WallContextLimit, WallTokens: 16120, FailureClass: schema.FailContextRefused,
					BoundTokens: 16384, Bound: "the server's context per request", ElapsedS: 238,
					Steps: []schema.MemoryWallStep{
						{PromptTokens: 16640, PromptTokensSent: 16640, Success: false, ErrorKind: "http_400", Error: "the request exceeds the available context size",
							FailureClass: schema.FailContextRefused},
						{PromptTokens: 16120, Success: true, TTFTS: 3.4, PeakVRAMMB: f64(9402)},
					},
				},
			},
		},
	}
}

// troubledResult is a CPU-only run in which the server crashed: one test failed
// with connection_refused and the rest were skipped.
func troubledResult() *schema.Result {
	refused := schema.RunSample{Success: false, ElapsedS: 0.002, ErrorKind: schema.ErrKindConnectionRefused,
		Error: "dial tcp 127.0.0.1:41234: connect: connection refused", PromptTokensTarget: 3712, MaxTokens: 256}
	buffered := okRun(41000, 0.21, 1664, 256)
	buffered.Excluded, buffered.Chunks = schema.ExcludedBuffered, 1
	notRun := "not run: server at http://127.0.0.1:41234 stopped accepting connections during ctx_sweep_4096 (connection_refused: crashed or out of memory?)"
	return &schema.Result{
		SchemaVersion: schema.Version,
		RunID:         "0b7e44d1",
		RunAt:         at(3600),
		FinishedAt:    at(3612),
		Status:        schema.StatusFailed,
		Error:         "server stopped answering: server at http://127.0.0.1:41234 stopped accepting connections during ctx_sweep_4096 (connection_refused: crashed or out of memory?)",
		Mode:          "quick",
		Model:         "tiny",
		Server: schema.ServerInfo{Name: "llama.cpp (llama-server)", Port: 41234, APIBase: "http://127.0.0.1:41234",
			Kind: "llama.cpp", Version: "b5123", CtxSize: 4096, Slots: 1},
		GPUUnavailable: "gpu telemetry unavailable: NVML library not found",
		ProfileSnapshot: &schema.Profile{
			CPU:      schema.CPUInfo{Model: "Intel(R) Xeon(R) Platinum 8375C CPU @ 2.90GHz", PhysicalCores: 2, LogicalCores: 2},
			RAM:      schema.RAMInfo{TotalMB: 24000},
			OS:       schema.OSInfo{Name: "linux", Platform: "debian", Version: "12", Arch: "amd64"},
			GPUError: "gpu telemetry unavailable: NVML library not found",
		},
		Benchmarks: []schema.Benchmark{
			{
				TestID: "baseline_short", Name: "Baseline (short prompt)", Category: schema.CategoryBaseline,
				CtxSize: 2048, MaxTokens: 64, NRuns: 3, SuccessfulRuns: 3, AvgTPS: 310.4, BestTPS: 314.0, AvgElapsedS: 0.21, AvgTTFTS: 0.007,
				Runs: []schema.RunSample{okRun(310.0, 0.007, 48, 64), okRun(314.0, 0.007, 48, 64), okRun(307.2, 0.007, 48, 64)},
			},
			{
				TestID: "ctx_sweep_2048", Name: "Context sweep — 2,048 tokens", Category: schema.CategoryContextSweep,
				CtxSize: 2048, MaxTokens: 256, NRuns: 3, SuccessfulRuns: 3, ValidRuns: 2, AvgTPS: 290.5, BestTPS: 291.0, AvgElapsedS: 1.1, AvgTTFTS: 0.21,
				Runs:  []schema.RunSample{okRun(291.0, 0.21, 1664, 256), okRun(290.0, 0.21, 1664, 256), buffered},
				Stats: &schema.Stats{N: 2, TPSMin: 290.0, TPSMedian: 290.5, TPSStdev: 0.71, TPSCI95Low: 284.15, TPSCI95High: 296.85, TTFTMedianS: 0.21, TTFTP50S: 0.21},
				Notes: []string{"1 of 3 successful runs excluded from the averages (buffered 1): their decode speed cannot be measured honestly"},
			},
			{
				TestID: "ctx_sweep_4096", Name: "Context sweep — 4,096 tokens", Category: schema.CategoryContextSweep,
				CtxSize: 4096, MaxTokens: 256, NRuns: 2, SuccessfulRuns: 0,
				Error: "every run failed: connection_refused",
				Runs:  []schema.RunSample{refused, refused},
			},
			{
				TestID: "long_gen", Name: "Long generation stress", Category: schema.CategoryStress,
				CtxSize: 2048, MaxTokens: 1024, Skipped: true, SkipReason: notRun,
			},
		},
	}
}

// checkGolden compares got with testdata/name, or rewrites the file with -update.
func checkGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if string(got) != string(want) {
		t.Errorf("%s differs from the output (go test -update rewrites it); -want +got:\n%s", path, cmp.Diff(string(want), string(got)))
	}
}
