package schema

import (
	"strings"
	"time"
)

// CategoryLoad: one level of a load sweep (sustained users or a request rate);
// see Benchmark.Load.
const CategoryLoad = "load"

// Load shapes (LoadLevel.Shape, Capacity.Shape).
const (
	LoadUsers = "users" // closed loop: N users, each sends when its last request ends
	LoadRate  = "rate"  // open loop: arrivals at a rate, on a precomputed schedule
)

// Why a sweep stopped (Capacity.StoppedBy).
const (
	StopPlateau   = "plateau"   // output throughput stopped growing while TTFT grew
	StopErrors    = "errors"    // the error rate passed its limit
	StopSLO       = "slo"       // the SLOs broke at every level after the first breach
	StopLevels    = "levels"    // every level asked for ran
	StopCancelled = "cancelled" // the run was cancelled
	StopServer    = "server"    // the server stopped accepting connections
)

// LoadLevel is what one level of a load sweep measured. Its fields sit inline in
// the Benchmark (category load): users or rate, completed, failed, ...
//
// The window rule: a level first ramps up (its requests are sent but not
// counted), then measures for window_s. The requests counted are those sent
// inside the window; no request is sent after the window closes, and the ones in
// flight then are awaited (within the request deadline) and counted whole, as
// AIPerf's grace period and vLLM's bench serve do. Throughputs divide by the
// window: request_throughput = completed / window_s, output_tps = their output
// tokens / window_s, goodput = those meeting every SLO / window_s. A rate level
// counts its throughputs over the requests that completed inside the window
// instead (any due time): past saturation an open loop builds a backlog, and
// what the server served is what completed.
type LoadLevel struct {
	Shape string  `json:"shape"`           // users or rate
	Users int     `json:"users,omitempty"` // closed loop: sustained users
	Rate  float64 `json:"rate,omitempty"`  // open loop: target requests per second
	// Burstiness is the gamma shape of the arrivals (1 = Poisson).
	Burstiness float64 `json:"burstiness,omitempty"`
	// MaxInFlight caps the requests in flight of a rate level.
	MaxInFlight int     `json:"max_in_flight,omitempty"`
	RampUpS     float64 `json:"ramp_up_s"`
	WindowS     float64 `json:"window_s"`
	// WindowStart is when the measured window opened.
	WindowStart time.Time `json:"window_start,omitzero"`
	// InputTokens and OutputTokens are the asked lengths (means when drawn).
	InputTokens  int `json:"input_tokens"`
	OutputTokens int `json:"output_tokens"`

	Completed int `json:"completed"`
	Failed    int `json:"failed"`
	// Incomplete were cut by a cancel or by the grace period after the window:
	// neither completed nor failed.
	Incomplete int `json:"incomplete,omitempty"`
	// ErrorKinds counts the failed requests by error kind.
	ErrorKinds map[string]int `json:"error_kinds,omitempty"`
	FirstError string         `json:"first_error,omitempty"`

	RequestThroughput float64 `json:"request_throughput"` // completed / window_s
	OutputTPS         float64 `json:"output_tps"`         // output tokens / window_s
	TotalTPS          float64 `json:"total_tps"`          // (prompt + output tokens) / window_s
	Goodput           float64 `json:"goodput"`            // requests meeting every SLO / window_s
	// TPSPerUser is the mean over completed requests of output_tokens / e2e_s.
	TPSPerUser float64 `json:"tps_per_user"`
	// AchievedRate (rate levels) is the requests sent in the window / window_s.
	AchievedRate float64 `json:"achieved_rate,omitempty"`
	// SLOMet is the share of completed requests meeting every SLO (0..1), when
	// SLOs are set.
	SLOMet *float64 `json:"slo_met,omitempty"`
	// EnergyPerTokenJ is the GPU energy of the window per output token.
	EnergyPerTokenJ *float64 `json:"energy_per_token_j,omitempty"`

	Latency LoadLatency `json:"latency"`
	// ScheduleLagS (rate levels) is how late each send was against its schedule.
	ScheduleLagS *Dist `json:"schedule_lag_s,omitempty"`

	// WindowShort says why the throughputs of a users level are unreliable: the
	// window was short against its requests (the last counted one ended well
	// after the window closed, and throughputs divide by the window).
	WindowShort string `json:"window_short,omitempty"`
	// TokenWarnings say where the output tokens counted are not the lengths
	// asked or may be miscounted: requests that got fewer or more tokens than
	// asked, requests without usage (counted from their chunks), usage that
	// disagrees with the chunks' own counts.
	TokenWarnings []string `json:"token_warnings,omitempty"`
	// AllOutputTokens counts the output tokens of every request of the level,
	// ramp-up and window, for a cross-check with the server's own counter.
	AllOutputTokens int `json:"all_output_tokens"`
	// Server holds the server's own Prometheus metrics sampled during the level.
	Server *ServerMetrics `json:"server_metrics,omitempty"`
	// Client is what the level cost Typhon itself.
	Client *ClientLoad `json:"client,omitempty"`

	// Requests are the counted requests, one column per figure.
	Requests *LoadRequests `json:"requests,omitempty"`
	// HDR holds HDR histograms of the latencies (base64 of HdrHistogram's V2
	// compressed encoding, microseconds), mergeable across runs.
	HDR map[string]string `json:"hdr,omitempty"`
}

// LoadLatency holds a level's latency distributions in seconds.
type LoadLatency struct {
	TTFTS Dist `json:"ttft_s"` // request sent -> first token
	// ITLS: each gap between consecutive token-carrying chunks (vLLM's ITL,
	// AIPerf's inter-chunk latency).
	ITLS Dist `json:"itl_s"`
	// TPOTS: (e2e_s - ttft_s) / (output_tokens - 1) per request (vLLM's TPOT,
	// AIPerf's inter-token latency).
	TPOTS Dist `json:"tpot_s"`
	E2ES  Dist `json:"e2e_s"` // request sent -> stream finished
}

// Dist summarises a distribution. Percentiles interpolate between closest ranks.
type Dist struct {
	Mean float64 `json:"mean"`
	Std  float64 `json:"std"`
	P50  float64 `json:"p50"`
	P90  float64 `json:"p90"`
	P95  float64 `json:"p95"`
	P99  float64 `json:"p99"`
	N    int     `json:"n"`
}

// LoadRequests are a level's counted requests as columns (index i is one
// request): compact in JSON and easy to plot.
type LoadRequests struct {
	StartS       []float64 `json:"start_s"`       // sent, seconds after the window opened
	TTFTS        []float64 `json:"ttft_s"`        // 0 when it failed before a token
	E2ES         []float64 `json:"e2e_s"`         // sent -> finished
	OutputTokens []int     `json:"output_tokens"` // per usage
	PromptTokens []int     `json:"prompt_tokens"`
	OK           []bool    `json:"ok"`
}

// ServerMetrics is what the server's Prometheus /metrics said during a level.
type ServerMetrics struct {
	Samples int `json:"samples"`
	// Running, Queued and KVCacheUse are sampled gauges: requests being decoded,
	// requests waiting, and the KV cache in use (0..1).
	Running    *GaugeStats `json:"running,omitempty"`
	Queued     *GaugeStats `json:"queued,omitempty"`
	KVCacheUse *GaugeStats `json:"kv_cache_use,omitempty"`
	// OutputTokens is the growth of the server's generated-token counter over the
	// level (llama-server tokens_predicted_total, vLLM and SGLang
	// generation_tokens_total); compare with all_output_tokens.
	OutputTokens *float64 `json:"output_tokens,omitempty"`
	Error        string   `json:"error,omitempty"`
}

// GaugeStats are the mean and maximum of a sampled gauge.
type GaugeStats struct {
	Mean float64 `json:"mean"`
	Max  float64 `json:"max"`
}

// ClientLoad is what a level cost the client: its CPU busy share (of every core)
// and whether it may have distorted the figures.
type ClientLoad struct {
	CPUPct    float64 `json:"cpu_pct"`
	Saturated bool    `json:"saturated,omitempty"`
	Reason    string  `json:"reason,omitempty"`
}

// Capacity sums up a sweep: the level with the highest output throughput, the
// highest level within the SLOs, and where saturation began, each with its
// figures, and why the sweep stopped.
type Capacity struct {
	Shape      string         `json:"shape"`
	Peak       *CapacityLevel `json:"peak,omitempty"`
	WithinSLO  *CapacityLevel `json:"within_slo,omitempty"`
	Saturation *CapacityLevel `json:"saturation,omitempty"`
	StoppedBy  string         `json:"stopped_by"`
	Reason     string         `json:"reason"`
}

// CapacityLevel names one level of a sweep with its figures.
type CapacityLevel struct {
	TestID            string  `json:"test_id"`
	Users             int     `json:"users,omitempty"`
	Rate              float64 `json:"rate,omitempty"`
	OutputTPS         float64 `json:"output_tps"`
	RequestThroughput float64 `json:"request_throughput"`
	Goodput           float64 `json:"goodput"`
	TTFTP50S          float64 `json:"ttft_p50_s"`
	TTFTP90S          float64 `json:"ttft_p90_s"`
	TPOTP50S          float64 `json:"tpot_p50_s"`
	Why               string  `json:"why,omitempty"`
}

// The beginnings of a load level's Error when the level was cut short: its
// throughputs divide part of a window's requests by the whole window.
const (
	LevelCancelled = "cancelled during the level: "
	LevelRefused   = "the server refused connections; the level ended there: "
)

// LevelCut reports whether b is a load level cut short (cancelled, or the
// server refused connections): such a level names no capacity.
func LevelCut(b *Benchmark) bool {
	return strings.HasPrefix(b.Error, LevelCancelled) || strings.HasPrefix(b.Error, LevelRefused)
}
