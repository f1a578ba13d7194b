// Package schema holds the JSON shape of a Typhon run: the result of spec/jobs.md
// and the record written to disk. It is a leaf package so that the root package
// typhon, the engine, the gpu sampler and the report package can all share these
// types without an import cycle; package typhon re-exports them as aliases.
//
// Field names are fixed by the job contract: fields may be added, never renamed.
// Durations carry their unit in the name (_s, _ms), sizes in MB are MiB.
package schema

import "time"

// Version is the schema_version of records written by this code.
const Version = 1

// Test categories (Benchmark.Category).
const (
	CategoryBaseline     = "baseline"
	CategoryContextSweep = "context_sweep"
	CategoryStress       = "stress"
	CategoryMemoryWall   = "memory_wall"
	// CategoryConcurrency: several users at once; see Benchmark.Concurrency.
	CategoryConcurrency = "concurrency"
	// CategoryZeus: a long-context torture test (mode zeus), one prompt filling
	// most of 131,072 or 262,144 tokens of context.
	CategoryZeus = "zeus"
)

// Error kinds of a failed request (RunSample.ErrorKind). HTTP errors are "http_<status>".
const (
	ErrKindConnectionRefused = "connection_refused" // server not accepting connections: crashed or OOM
	ErrKindTimeout           = "timeout"            // the request deadline passed
	ErrKindStreamBroken      = "stream_broken"      // the stream ended or stalled without finishing
	ErrKindCancelled         = "cancelled"          // the run was cancelled
	ErrKindBadResponse       = "bad_response"       // the server answered something that is not a completion
)

// Reasons a run is excluded from the averages and comparisons
// (RunSample.Excluded): its decode speed cannot be measured honestly. The run
// keeps its figures.
const (
	// ExcludedStoppedEarly: fewer output tokens than asked (end of sequence).
	ExcludedStoppedEarly = "stopped_early"
	// ExcludedTruncated: the server took far fewer prompt tokens than were sent.
	ExcludedTruncated = "truncated"
	// ExcludedBuffered: the tokens came in one burst (under 0.1 ms per token, or
	// in one read): a buffering proxy or a server that does not flush.
	ExcludedBuffered = "buffered"
	// ExcludedTokenMismatch: the chunks' token counts and usage disagree beyond
	// the tolerance (1 token or 2%).
	ExcludedTokenMismatch = "token_mismatch"
	// ExcludedCacheHit: more prompt tokens came from the server's cache than
	// the chat template's fixed prefix, although the request was made unique.
	ExcludedCacheHit = "cache_hit"
)

// Memory wall kinds (MemoryWall.WallKind).
const (
	// WallContextLimit: the server's configured or trained context stops it.
	WallContextLimit = "context_limit"
	// WallMemory: it failed below its context for lack of memory (or crashed).
	WallMemory = "memory"
	// WallNone: no wall within the search's bound.
	WallNone = "none"
	// WallUnknown: the search ended on failures that name no cause (5xx or
	// timeouts after a retry, a server gone away, its time bound): no wall can be
	// claimed, nor its absence.
	WallUnknown = "unknown"
)

// Failure classes of a memory wall step (MemoryWallStep.FailureClass).
const (
	FailContextRefused = "context_refused" // the server refused the size, in its own words
	FailOutOfMemory    = "out_of_memory"   // out of memory, or the server crashed
	FailTransient      = "transient"       // a 5xx or timeout that a retry may cure
	FailTruncated      = "truncated"       // answered with far fewer prompt tokens than sent
)

// Result is one benchmark run: the "result" of a job and the record on disk.
type Result struct {
	SchemaVersion   int         `json:"schema_version"`
	RunID           string      `json:"run_id"`
	RunAt           time.Time   `json:"run_at"`
	FinishedAt      time.Time   `json:"finished_at,omitzero"`
	Status          Status      `json:"status"`
	Error           string      `json:"error,omitempty"`
	Mode            Mode        `json:"mode"`
	Model           string      `json:"model"`
	Server          ServerInfo  `json:"server"`
	Benchmarks      []Benchmark `json:"benchmarks"`
	ProfileSnapshot *Profile    `json:"profile_snapshot,omitempty"`
	// GPUUnavailable says why gpu_stats are absent (no driver, no GPU), empty when sampled.
	GPUUnavailable string `json:"gpu_unavailable,omitempty"`
	// TyphonVersion is the version of the code that made the record.
	TyphonVersion string `json:"typhon_version,omitempty"`
	// Capacity sums up the load sweep of users (or, without one, of rates).
	Capacity *Capacity `json:"capacity,omitempty"`
	// RateCapacity sums up the sweep of rates when a run has both.
	RateCapacity *Capacity `json:"rate_capacity,omitempty"`
	// Worker (a worker's record) says which share of a distributed run it holds.
	Worker *Worker `json:"worker,omitempty"`
	// Workers (a merged result) lists the workers whose records were merged.
	Workers []FleetWorker `json:"workers,omitempty"`
}

// ServerInfo names the server a run measured.
type ServerInfo struct {
	Name    string `json:"name"`
	Port    int    `json:"port"`
	APIBase string `json:"api_base"`
	Kind    Kind   `json:"kind,omitempty"`    // llama.cpp, ollama, vllm, ...
	Version string `json:"version,omitempty"` // server version or build
	// CtxSize is the context a request really gets (per slot), 0 when unknown.
	CtxSize int `json:"ctx_size,omitempty"`
	Slots   int `json:"slots,omitempty"`
	// Quantization of the model file where the server says it (e.g. Q8_0).
	Quantization string `json:"quantization,omitempty"`
	// Settings the server reports about itself (flags, build info), for reproducibility.
	Settings map[string]string `json:"settings,omitempty"`
}

// Benchmark is one test of the plan: a warmup and n timed runs.
type Benchmark struct {
	TestID         string      `json:"test_id"`
	Name           string      `json:"name"`
	Category       string      `json:"category"`
	CtxSize        int         `json:"ctx_size"`
	MaxTokens      int         `json:"max_tokens"`
	NRuns          int         `json:"n_runs"`
	SuccessfulRuns int         `json:"successful_runs"`
	AvgTPS         float64     `json:"avg_tps"`
	BestTPS        float64     `json:"best_tps"`
	AvgElapsedS    float64     `json:"avg_elapsed_s"`
	AvgTTFTS       float64     `json:"avg_ttft_s"`
	GPUStats       GPUStats    `json:"gpu_stats"`
	WarmupRun      *RunSample  `json:"warmup_run"`
	Runs           []RunSample `json:"runs"`

	// Additions to the seed contract.
	PromptTokensTarget int           `json:"prompt_tokens_target,omitempty"`
	Skipped            bool          `json:"skipped,omitempty"`
	SkipReason         string        `json:"skip_reason,omitempty"`
	Error              string        `json:"error,omitempty"` // why the test failed as a whole
	StartedAt          time.Time     `json:"started_at,omitzero"`
	FinishedAt         time.Time     `json:"finished_at,omitzero"`
	Stats              *Stats        `json:"stats,omitempty"`
	AvgPrefillTPS      float64       `json:"avg_prefill_tps,omitempty"`
	AvgServerTPS       float64       `json:"avg_server_tps,omitempty"`
	MemoryWall         *MemoryWall   `json:"memory_wall,omitempty"`
	Series             []SeriesPoint `json:"series,omitempty"` // time series of a stress test
	Notes              []string      `json:"notes,omitempty"`

	// Concurrency is how many requests a concurrency test sends at once in each of
	// its rounds; runs then holds every request of every round (n_runs of them,
	// concurrency x rounds), and avg_tps, ttft and stats stay per request.
	Concurrency int `json:"concurrency,omitempty"`
	// AggregateTPS (concurrency tests) is what the server delivered to all users
	// together: the output tokens of a round's successful requests over the round's
	// wall time, from its first request sent to its last one finished, averaged
	// over the rounds in which any request succeeded.
	AggregateTPS float64 `json:"aggregate_tps,omitempty"`

	// ValidRuns is how many timed runs the averages and statistics use: the
	// successful runs that are not excluded (RunSample.Excluded).
	ValidRuns int `json:"valid_runs"`
	// AggregateTPSRounds is each round's aggregate_tps (concurrency tests): the
	// round, not the request, is the sample of a comparison.
	AggregateTPSRounds []float64 `json:"aggregate_tps_rounds,omitempty"`
	// TemplatePrefixTokens is the chat template's fixed prefix in tokens
	// (measured once per server; 0 when unknown): cached prompt tokens up to it
	// still make a cold run.
	TemplatePrefixTokens int `json:"template_prefix_tokens,omitempty"`

	// LoadLevel (category load) holds one level of a load sweep; its fields sit
	// inline: users or rate, completed, failed, request_throughput, output_tps,
	// total_tps, goodput, latency, ...
	*LoadLevel
}

// Stats are distribution figures over the valid timed runs (valid_runs). A
// percentile is given only where n is large enough for it (p90 from 10 values,
// p99 from 100), else omitted; the 95% confidence intervals of the mean need two.
type Stats struct {
	// N is the number of runs behind the tps and ttft figures.
	N         int     `json:"n"`
	TPSMin    float64 `json:"tps_min"`
	TPSMedian float64 `json:"tps_median"`
	TPSStdev  float64 `json:"tps_stdev"`
	// TPSCI95Low and TPSCI95High bound the mean decode speed at 95% (Student's t).
	TPSCI95Low  float64 `json:"tps_ci95_low,omitempty"`
	TPSCI95High float64 `json:"tps_ci95_high,omitempty"`
	TTFTMedianS float64 `json:"ttft_median_s,omitempty"`
	TTFTCI95Low float64 `json:"ttft_ci95_low_s,omitempty"`
	TTFTCI95Hi  float64 `json:"ttft_ci95_high_s,omitempty"`
	TTFTP50S    float64 `json:"ttft_p50_s"`
	TTFTP90S    float64 `json:"ttft_p90_s,omitempty"`
	TTFTP99S    float64 `json:"ttft_p99_s,omitempty"`
	// ITLN is the number of inter-token gaps behind the itl percentiles.
	ITLN     int     `json:"itl_n,omitempty"`
	ITLP50MS float64 `json:"itl_p50_ms,omitempty"`
	ITLP90MS float64 `json:"itl_p90_ms,omitempty"`
	ITLP99MS float64 `json:"itl_p99_ms,omitempty"`
}

// RunSample is one request: a warmup or a timed run. Failed runs are kept with
// their reason.
type RunSample struct {
	Success  bool    `json:"success"`
	TPS      float64 `json:"tps"`
	ElapsedS float64 `json:"elapsed_s"`
	TTFTS    float64 `json:"ttft_s"`

	Error     string `json:"error,omitempty"`
	ErrorKind string `json:"error_kind,omitempty"`

	PromptTokens       int     `json:"prompt_tokens"`
	PromptTokensTarget int     `json:"prompt_tokens_target,omitempty"`
	OutputTokens       int     `json:"output_tokens"`
	MaxTokens          int     `json:"max_tokens,omitempty"`
	FinishReason       string  `json:"finish_reason,omitempty"`
	StoppedEarly       bool    `json:"stopped_early,omitempty"`
	FirstByteS         float64 `json:"first_byte_s,omitempty"`
	FirstContentS      float64 `json:"first_content_s,omitempty"` // set when it differs from ttft_s
	LastTokenS         float64 `json:"last_token_s,omitempty"`
	PrefillTPS         float64 `json:"prefill_tps,omitempty"`
	ITLP50MS           float64 `json:"itl_p50_ms,omitempty"`
	ITLP90MS           float64 `json:"itl_p90_ms,omitempty"`
	ITLP99MS           float64 `json:"itl_p99_ms,omitempty"`
	Chunks             int     `json:"chunks,omitempty"`
	ChunkTokens        int     `json:"chunk_tokens,omitempty"` // tokens summed over chunks, beside usage's output_tokens

	// The server's own figures, beside ours.
	ServerTPS          float64 `json:"server_tps,omitempty"`
	ServerPrefillTPS   float64 `json:"server_prefill_tps,omitempty"`
	ServerPromptMS     float64 `json:"server_prompt_ms,omitempty"`
	ServerPredictedMS  float64 `json:"server_predicted_ms,omitempty"`
	CachedPromptTokens *int    `json:"cached_prompt_tokens,omitempty"`
	CacheState         string  `json:"cache_state,omitempty"` // cold, warm, unknown
	LoadS              float64 `json:"load_s,omitempty"`

	// Excluded says why the run stays out of the averages and comparisons
	// (stopped_early, truncated, buffered, token_mismatch, cache_hit); empty for
	// a valid run. The run keeps its figures.
	Excluded string `json:"excluded,omitempty"`
	// ComputedPromptTokens is the prompt tokens the server computed (prompt
	// tokens less cached ones), what prefill_tps counts, when cached is known.
	ComputedPromptTokens int `json:"computed_prompt_tokens,omitempty"`
	// Round is the concurrency round (from 1) the request belongs to.
	Round int `json:"round,omitempty"`

	StartedAt time.Time `json:"started_at,omitzero"`
	Warnings  []string  `json:"warnings,omitempty"`
}

// MemoryWall is what the memory wall search found.
type MemoryWall struct {
	LastOKPromptTokens int              `json:"last_ok_prompt_tokens"`
	FailedPromptTokens int              `json:"failed_prompt_tokens,omitempty"`
	FailureKind        string           `json:"failure_kind,omitempty"`
	Failure            string           `json:"failure,omitempty"` // the server's own words
	Steps              []MemoryWallStep `json:"steps"`

	// WallKind is context_limit, memory or none (see the Wall constants).
	WallKind string `json:"wall_kind,omitempty"`
	// WallTokens is the largest prompt that worked (prompt tokens).
	WallTokens int `json:"wall_tokens"`
	// FailureClass classifies the failure at failed_prompt_tokens.
	FailureClass string `json:"failure_class,omitempty"`
	// BoundTokens is the largest prompt the search could try: the server's
	// advertised context, Ollama's trained context, or the plan's cap.
	BoundTokens int `json:"bound_tokens,omitempty"`
	// Bound says where bound_tokens comes from.
	Bound string `json:"bound,omitempty"`
	// ContextTokens is the context (Ollama num_ctx) at the wall, when the search
	// set it per request.
	ContextTokens int `json:"context_tokens,omitempty"`
	// ElapsedS is how long the search took.
	ElapsedS float64 `json:"elapsed_s,omitempty"`
}

// MemoryWallStep is one probe of the memory wall search.
type MemoryWallStep struct {
	PromptTokens int      `json:"prompt_tokens"`
	Success      bool     `json:"success"`
	ErrorKind    string   `json:"error_kind,omitempty"`
	Error        string   `json:"error,omitempty"`
	TTFTS        float64  `json:"ttft_s,omitempty"`
	PeakVRAMMB   *float64 `json:"peak_vram_used_mb,omitempty"`

	// PromptTokensSent is the prompt the step sent (Typhon's count);
	// prompt_tokens is what the server says it took.
	PromptTokensSent int `json:"prompt_tokens_sent,omitempty"`
	// CtxSize is the context the step asked for (Ollama num_ctx), 0 when none.
	CtxSize int `json:"ctx_size,omitempty"`
	// LoadS is the model load the server reported for the step's untimed
	// warm-up request (Ollama reloads the model when num_ctx changes); ttft_s
	// is from the timed request after it, free of the load.
	LoadS float64 `json:"load_s,omitempty"`
	// FailureClass classifies a failed step (see the Fail constants).
	FailureClass string `json:"failure_class,omitempty"`
	// Retried: the step failed transiently once and was sent again.
	Retried bool `json:"retried,omitempty"`
}

// SeriesPoint is one point of a stress test's time series.
type SeriesPoint struct {
	T          float64  `json:"t_s"`    // seconds since the test started
	Tokens     int      `json:"tokens"` // output tokens so far in the current request
	TPS        float64  `json:"tps"`    // decode speed over the last interval
	TempC      *float64 `json:"temp_c,omitempty"`
	PowerW     *float64 `json:"power_w,omitempty"`
	SMClockMHz *float64 `json:"sm_clock_mhz,omitempty"`
}

// GPUStats are the GPU figures over one test window (warmup excluded), for the GPUs
// the server uses. Every figure is optional: a field the card does not report is absent.
type GPUStats struct {
	PeakVRAMUsedMB *float64 `json:"peak_vram_used_mb,omitempty"`
	AvgVRAMUsedMB  *float64 `json:"avg_vram_used_mb,omitempty"`
	PeakTempC      *float64 `json:"peak_temp_c,omitempty"`
	AvgTempC       *float64 `json:"avg_temp_c,omitempty"`
	PeakPowerW     *float64 `json:"peak_power_w,omitempty"`
	AvgPowerW      *float64 `json:"avg_power_w,omitempty"`
	AvgUtilPct     *float64 `json:"avg_util_pct,omitempty"`
	PeakUtilPct    *float64 `json:"peak_util_pct,omitempty"`
	EnergyJ        *float64 `json:"energy_j,omitempty"`
	// ProcessVRAMMB is what the server process itself holds, when NVML lists it.
	ProcessVRAMMB   *float64    `json:"process_vram_used_mb,omitempty"`
	ThrottleReasons []string    `json:"throttle_reasons,omitempty"`
	Samples         int         `json:"samples,omitempty"`
	WindowS         float64     `json:"window_s,omitempty"`
	PerGPU          []GPUWindow `json:"per_gpu,omitempty"`
	// SampleErrors counts the sampling rounds of the window that failed.
	SampleErrors int `json:"sample_errors,omitempty"`
	// Error says why figures are missing or partial (sampling failed, no reading in
	// the window), empty when every round succeeded.
	Error string `json:"error,omitempty"`
	// PartialErrors counts the rounds of the window in which some GPU gave no
	// reading or an error while others answered (a GPU lost mid-window).
	PartialErrors int `json:"partial_errors,omitempty"`
	// ThrottleShare maps each clock event reason to the share (0-1) of the window
	// during which it held, on the most throttled GPU.
	ThrottleShare map[string]float64 `json:"throttle_share,omitempty"`
	// GPUSelection says which GPUs the figures cover: "given" (GPUs named in the
	// job), "server" (those whose process lists hold the server's processes) or
	// "all" (every GPU of the host: the server's could not be told, see
	// gpu_selection_note).
	GPUSelection     string `json:"gpu_selection,omitempty"`
	GPUSelectionNote string `json:"gpu_selection_note,omitempty"`
	// ProcessVRAMNote says why process_vram_used_mb is absent.
	ProcessVRAMNote string `json:"process_vram_note,omitempty"`
	// EnergyPerOutputTokenJ is energy_j over the output tokens of the test's
	// timed runs (joules per generated token).
	EnergyPerOutputTokenJ *float64 `json:"energy_per_output_token_j,omitempty"`
}

// GPUWindow is one GPU's figures over a window.
type GPUWindow struct {
	Index           int      `json:"index"`
	UUID            string   `json:"uuid,omitempty"`
	Name            string   `json:"name,omitempty"`
	Samples         int      `json:"samples"`
	PeakVRAMUsedMB  *float64 `json:"peak_vram_used_mb,omitempty"`
	AvgVRAMUsedMB   *float64 `json:"avg_vram_used_mb,omitempty"`
	PeakTempC       *float64 `json:"peak_temp_c,omitempty"`
	AvgTempC        *float64 `json:"avg_temp_c,omitempty"`
	PeakPowerW      *float64 `json:"peak_power_w,omitempty"`
	AvgPowerW       *float64 `json:"avg_power_w,omitempty"`
	AvgUtilPct      *float64 `json:"avg_util_pct,omitempty"`
	PeakUtilPct     *float64 `json:"peak_util_pct,omitempty"`
	AvgMemUtilPct   *float64 `json:"avg_mem_util_pct,omitempty"`
	AvgSMClockMHz   *float64 `json:"avg_sm_clock_mhz,omitempty"`
	EnergyJ         *float64 `json:"energy_j,omitempty"`
	ProcessVRAMMB   *float64 `json:"process_vram_used_mb,omitempty"`
	ThrottleReasons []string `json:"throttle_reasons,omitempty"`
	// ThrottleShare maps each clock event reason to the share (0-1) of the window
	// during which it held on this GPU.
	ThrottleShare map[string]float64 `json:"throttle_share,omitempty"`
	// LostAtS is when, in seconds from the window's start, the GPU first
	// stopped answering; no value is held after it (figures resume if it came
	// back, and partial_errors counts the rounds it missed).
	LostAtS *float64 `json:"lost_at_s,omitempty"`
}

// Profile is the hardware profile snapshot taken at the start of a run.
type Profile struct {
	GPUs []GPUInfo `json:"gpus"`
	CPU  CPUInfo   `json:"cpu"`
	RAM  RAMInfo   `json:"ram"`
	OS   OSInfo    `json:"os"`
	// GPUError says why gpus is empty (no driver, no GPU).
	GPUError string `json:"gpu_error,omitempty"`
}

// GPUInfo describes one GPU.
type GPUInfo struct {
	Index             int     `json:"index"`
	Name              string  `json:"name"`
	UUID              string  `json:"uuid,omitempty"`
	MemoryTotalMB     float64 `json:"memory_total_mb"`
	DriverVersion     string  `json:"driver_version,omitempty"`
	CUDAVersion       string  `json:"cuda_version,omitempty"`
	ComputeCapability string  `json:"compute_capability,omitempty"`
	PowerLimitW       float64 `json:"power_limit_w,omitempty"`
	// MIGParentIndex is, for a MIG instance, the index of the GPU it is a slice
	// of; absent for a whole GPU.
	MIGParentIndex *int `json:"mig_parent_index,omitempty"`
}

// CPUInfo describes the host processor.
type CPUInfo struct {
	Model         string `json:"model,omitempty"`
	PhysicalCores int    `json:"physical_cores,omitempty"`
	LogicalCores  int    `json:"logical_cores,omitempty"`
}

// RAMInfo describes host memory.
type RAMInfo struct {
	TotalMB     float64 `json:"total_mb,omitempty"`
	AvailableMB float64 `json:"available_mb,omitempty"`
}

// OSInfo describes the operating system.
type OSInfo struct {
	Name     string `json:"name,omitempty"` // linux, darwin, ...
	Platform string `json:"platform,omitempty"`
	Version  string `json:"version,omitempty"`
	Kernel   string `json:"kernel,omitempty"`
	Arch     string `json:"arch,omitempty"`
}
