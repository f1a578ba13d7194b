package report

import (
	"sort"
	"time"

	"github.com/typhonbench/typhon/schema"
)

// Brief is the compact summary of a run that GET /report serves and `typhon
// ask` sends to a model: the run, the server and hardware, the baseline speed,
// the context sweep, the findings and the suggested server command. Figures
// that were not measured are null (absent pointers), never zero.
type Brief struct {
	RunID         string    `json:"run_id"`
	RunAt         time.Time `json:"run_at,omitzero"`
	Status        string    `json:"status,omitempty"`
	Error         string    `json:"error,omitempty"`
	Mode          string    `json:"mode,omitempty"`
	Model         string    `json:"model,omitempty"`
	TyphonVersion string    `json:"typhon_version,omitempty"`

	Server   BriefServer   `json:"server"`
	Hardware BriefHardware `json:"hardware"`

	// BaselineTPS is the decode speed (tok/s) of the short-prompt baseline.
	BaselineTPS   *float64 `json:"baseline_tps"`
	BaselineTTFTS *float64 `json:"baseline_ttft_s"`
	// ContextSweep is one point per context sweep test, by increasing context.
	ContextSweep []SweepPoint `json:"context_sweep"`
	// Load is one point per test with several users at once, by increasing users.
	Load []LoadPoint `json:"load,omitempty"`
	// MemoryWall is what the memory wall search found, when it ran.
	MemoryWall *schema.MemoryWall `json:"memory_wall,omitempty"`

	// Peak GPU figures over the whole run.
	PeakVRAMUsedMB *float64 `json:"peak_vram_used_mb,omitempty"`
	PeakTempC      *float64 `json:"peak_temp_c,omitempty"`
	PeakPowerW     *float64 `json:"peak_power_w,omitempty"`

	Findings []Finding `json:"findings"`
	// SuggestedCtxSize is the context per request of the suggested command, null
	// when the record supports none.
	SuggestedCtxSize *int   `json:"suggested_ctx_size"`
	SuggestedCommand string `json:"suggested_command"`
	// Suggestion is the command with its reason and notes, absent when there is none.
	Suggestion *Suggestion `json:"suggestion,omitempty"`
	// Tests counts the tests by outcome (ok, partial, failed, skipped).
	Tests map[string]int `json:"tests"`
}

// BriefServer is the server a run measured.
type BriefServer struct {
	Kind         string `json:"kind,omitempty"`
	Name         string `json:"name,omitempty"`
	Version      string `json:"version,omitempty"`
	APIBase      string `json:"api_base,omitempty"`
	Quantization string `json:"quantization,omitempty"`
	CtxSize      int    `json:"ctx_size,omitempty"`
	Slots        int    `json:"slots,omitempty"`
}

// BriefHardware is the machine a run was on.
type BriefHardware struct {
	GPU         string  `json:"gpu,omitempty"` // names of the GPUs, comma separated
	GPUMemoryMB float64 `json:"gpu_memory_mb,omitempty"`
	Driver      string  `json:"driver,omitempty"`
	CUDA        string  `json:"cuda,omitempty"`
	PowerLimitW float64 `json:"power_limit_w,omitempty"`
	CPU         string  `json:"cpu,omitempty"`
	RAMMB       float64 `json:"ram_mb,omitempty"`
	OS          string  `json:"os,omitempty"`
	NoGPUReason string  `json:"gpu_unavailable,omitempty"`
	GPUCount    int     `json:"gpu_count"`
}

// SweepPoint is one context sweep test.
type SweepPoint struct {
	TestID         string   `json:"test_id"`
	CtxSize        int      `json:"ctx_size"`
	PromptTokens   int      `json:"prompt_tokens,omitempty"` // mean prompt tokens the server counted
	Status         string   `json:"status"`
	SuccessfulRuns int      `json:"successful_runs"`
	NRuns          int      `json:"n_runs"`
	TPS            *float64 `json:"avg_tps"`
	TTFTS          *float64 `json:"avg_ttft_s"`
	PrefillTPS     *float64 `json:"avg_prefill_tps"`
	ServerTPS      *float64 `json:"avg_server_tps,omitempty"`
	PeakVRAMUsedMB *float64 `json:"peak_vram_used_mb,omitempty"`
	Reason         string   `json:"reason,omitempty"` // why it is not ok

	// ValidRuns is the runs behind the figures (successful and not excluded),
	// absent in records made before valid_runs.
	ValidRuns *int `json:"valid_runs,omitempty"`
	// MedianTPS is the median decode speed of the valid runs, with the 95%
	// confidence interval of the mean where there are two or more.
	MedianTPS   *float64 `json:"median_tps,omitempty"`
	TPSCI95Low  *float64 `json:"tps_ci95_low,omitempty"`
	TPSCI95High *float64 `json:"tps_ci95_high,omitempty"`
	// Excluded counts the runs kept out of the figures, by reason.
	Excluded map[string]int `json:"excluded,omitempty"`
}

// LoadPoint is one test with several users at once.
type LoadPoint struct {
	TestID       string   `json:"test_id"`
	Users        int      `json:"users"`
	AggregateTPS float64  `json:"aggregate_tps"`
	TPS          *float64 `json:"avg_tps"` // per request
	TTFTP90S     *float64 `json:"ttft_p90_s,omitempty"`
	ITLP90MS     *float64 `json:"itl_p90_ms,omitempty"`
}

// NewBrief summarises a record; the result depends only on res. A nil record
// gives the zero Brief.
func NewBrief(res *schema.Result) Brief {
	if res == nil {
		return Brief{}
	}
	b := Brief{
		RunID: res.RunID, RunAt: res.RunAt, Status: res.Status, Error: res.Error, Mode: res.Mode,
		Model: res.Model, TyphonVersion: res.TyphonVersion,
		Server: BriefServer{Kind: res.Server.Kind, Name: res.Server.Name, Version: res.Server.Version,
			APIBase: res.Server.APIBase, Quantization: res.Server.Quantization, CtxSize: res.Server.CtxSize, Slots: res.Server.Slots},
		Hardware:     briefHardware(res),
		ContextSweep: []SweepPoint{},
		Findings:     Findings(res),
		Tests:        map[string]int{},
	}
	if b.Findings == nil {
		b.Findings = []Finding{}
	}
	if base := baselineBench(res); base != nil {
		b.BaselineTPS, b.BaselineTTFTS = pos(base.AvgTPS), pos(base.AvgTTFTS)
	}
	for i := range res.Benchmarks {
		bm := &res.Benchmarks[i]
		b.Tests[BenchmarkStatus(bm)]++
		b.PeakVRAMUsedMB = maxPtr(b.PeakVRAMUsedMB, bm.GPUStats.PeakVRAMUsedMB)
		b.PeakTempC = maxPtr(b.PeakTempC, bm.GPUStats.PeakTempC)
		b.PeakPowerW = maxPtr(b.PeakPowerW, bm.GPUStats.PeakPowerW)
		if bm.MemoryWall != nil && b.MemoryWall == nil {
			b.MemoryWall = bm.MemoryWall
		}
	}
	b.ContextSweep = append(b.ContextSweep, sweepPoints(res)...)
	for _, l := range concurrencyLevels(res) {
		p := LoadPoint{TestID: l.TestID, Users: l.Concurrency, AggregateTPS: l.AggregateTPS, TPS: pos(l.AvgTPS)}
		if l.Stats != nil {
			p.TTFTP90S, p.ITLP90MS = pos(l.Stats.TTFTP90S), pos(l.Stats.ITLP90MS)
		}
		b.Load = append(b.Load, p)
	}
	if s := Suggest(res); s != nil {
		b.Suggestion, b.SuggestedCommand = s, s.Command
		b.SuggestedCtxSize = &s.CtxSize
	}
	return b
}

func briefHardware(res *schema.Result) BriefHardware {
	h := BriefHardware{NoGPUReason: res.GPUUnavailable}
	p := res.ProfileSnapshot
	if p == nil {
		return h
	}
	h.GPU, h.GPUCount = gpuNames(p), len(p.GPUs)
	for _, g := range p.GPUs {
		h.GPUMemoryMB += g.MemoryTotalMB
		h.PowerLimitW += g.PowerLimitW
		h.Driver = orText(h.Driver, g.DriverVersion)
		h.CUDA = orText(h.CUDA, g.CUDAVersion)
	}
	if h.NoGPUReason == "" && len(p.GPUs) == 0 {
		h.NoGPUReason = p.GPUError
	}
	h.CPU, h.RAMMB = p.CPU.Model, p.RAM.TotalMB
	h.OS = oneLine(p.OS.Name + " " + p.OS.Platform + " " + p.OS.Version + " " + p.OS.Arch)
	return h
}

func sweepPoints(res *schema.Result) []SweepPoint {
	var out []SweepPoint
	for i := range res.Benchmarks {
		b := &res.Benchmarks[i]
		if b.Category != schema.CategoryContextSweep {
			continue
		}
		p := SweepPoint{TestID: b.TestID, CtxSize: b.CtxSize, Status: BenchmarkStatus(b), SuccessfulRuns: b.SuccessfulRuns,
			NRuns: b.NRuns, PromptTokens: meanPromptTokens(b), PeakVRAMUsedMB: b.GPUStats.PeakVRAMUsedMB, Reason: benchmarkReason(b)}
		if b.SuccessfulRuns > 0 {
			p.TPS, p.TTFTS, p.PrefillTPS, p.ServerTPS = pos(b.AvgTPS), pos(b.AvgTTFTS), pos(b.AvgPrefillTPS), pos(b.AvgServerTPS)
		}
		if validKnown(b) {
			p.ValidRuns = &b.ValidRuns
		}
		if s := b.Stats; s != nil {
			p.MedianTPS, p.TPSCI95Low, p.TPSCI95High = pos(s.TPSMedian), pos(s.TPSCI95Low), pos(s.TPSCI95High)
		}
		if c := excludedCounts(b); len(c) > 0 {
			p.Excluded = c
		}
		out = append(out, p)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].CtxSize < out[j].CtxSize })
	return out
}

// meanPromptTokens is the mean prompt size of the successful runs, 0 when unknown.
func meanPromptTokens(b *schema.Benchmark) int {
	var sum, n int
	for _, r := range b.Runs {
		if r.Success && r.PromptTokens > 0 {
			sum += r.PromptTokens
			n++
		}
	}
	if n == 0 {
		return 0
	}
	return sum / n
}

// pos is a pointer to v when it is a positive finite figure, nil otherwise.
func pos(v float64) *float64 {
	if v <= 0 || !finite(v) {
		return nil
	}
	return &v
}

func maxPtr(a, b *float64) *float64 {
	if b == nil || !finite(*b) || (a != nil && *a >= *b) {
		return a
	}
	v := *b
	return &v
}
