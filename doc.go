// Package typhon stress-tests the LLM inference servers people run on their own
// machines (llama.cpp's llama-server, Ollama, vLLM, LM Studio, SGLang and other
// OpenAI-compatible servers) and keeps a record of every run.
//
// # Running a benchmark
//
// A zero [Runner] finds a local server by what it answers (package detect), builds
// the quick plan from the server's real context size and the GPU's memory
// (package engine), runs every test while sampling the GPUs (package gpu), and
// writes the record to disk (package report) before [Runner.Run] returns:
//
//	r := typhon.Runner{Mode: typhon.ModeQuick}
//	res, err := r.Run(ctx, nil)
//
// Set [Runner.URL] and [Runner.Model] to skip detection. Progress goes to a
// caller-owned channel with non-blocking sends; the final numbers are always in
// the returned [Result]. Cancelling ctx stops the run within about a second and
// returns an error wrapping ctx.Err(), with the finished tests kept.
//
// # GPU telemetry
//
// Importing package typhon pulls in no cgo. GPU figures come from the sampler
// registered by importing github.com/typhonbench/typhon/gpu/nvml (the binaries
// do), or from [Runner.GPU]. Without a driver or a GPU the run goes on and
// [Result].GPUUnavailable says why gpu_stats are empty; so does a server whose
// URL is not this machine's. The figures cover the server's GPUs: those whose
// process lists hold its processes, or [Runner.GPUIndexes]; each test's
// gpu_stats says which (gpu_selection) and gives its energy per output token.
//
// # Reading a Result
//
// A [Result] holds one [Benchmark] per test of the plan, in plan order. Each has
// a warmup run (not in the averages) and the timed runs, failed ones included with
// their reason. The figures follow one vocabulary:
//
//   - ttft_s: request sent to the first generated token of any kind (reasoning
//     included); first_content_s when the first visible content came later.
//   - tps: decode speed, (output_tokens - 1) / (t_last_token - t_first_token).
//   - prefill_tps: prompt_tokens / ttft_s.
//   - server_tps, server_prefill_tps: what the server itself reported, kept beside
//     ours.
//   - elapsed_s: request sent to stream finished.
//
// Every timed request is unique at its first token, and prompt caching is turned
// off where the server allows it, so no prompt cache serves a timed run.
//
// # Load: where a server saturates
//
// [ModeLoad] runs a load sweep instead of a plan, configured by [Runner.Load]
// (an engine.LoadOptions): sustained users (closed loop) or a request rate
// (open loop, Poisson arrivals on a precomputed schedule), level by level, each
// a ramp-up then a measured window, until output throughput stops growing
// while TTFT grows, the error rate passes 5%, or the SLOs break. Each level is a
// [Benchmark] of category load (test_id load_users_8, load_rate_2) with
// request_throughput, output_tps, total_tps, goodput and latency distributions
// (ttft_s, itl_s, tpot_s, e2e_s); [Result].Capacity names the peak, the highest
// level within the SLOs and where saturation began. A full plan ends its
// tests with a short sweep of users up to four times the server's slots.
//
// # Jobs
//
// A [Manager] queues jobs and runs them one at a time (two benchmarks on one GPU
// corrupt each other). Jobs move pending -> running -> done, or error; the record
// on disk is written before a job turns done. The HTTP job API of spec/jobs.md
// is in examples/httpserver, a command line tool in examples/typhon, and a
// regression test harness in examples/regression.
package typhon
