// Package report keeps the records of Typhon runs on disk and reads them back:
// the history of a machine, comparisons between runs, and summaries for people.
//
// # Records on disk
//
// A [Store] writes under its directory:
//
//	runs/<run_id>.json   one record per run (the JSON of [WriteJSON]), rewritten
//	                     after every test so a killed process loses at most the
//	                     test in progress
//	chronicle.jsonl      one flat [ChronicleLine] per test of every finished run
//	last_run.json        a copy of the latest finished record
//
// Every write goes to a temp file in the same directory, is fsynced and renamed
// over the old file, so a crash or a full disk leaves the old file or the new one,
// never a torn one. The lines of a run are appended to the chronicle in one write
// and fsynced; a failed append is cut back, and a line torn by a crash is repaired
// at the next append and skipped when reading. Errors of a write read
// "cannot write record: <cause>" ([WriteError]).
//
// At start-up, [Store.Recover] marks the records a dead process left "running" as
// "interrupted", keeping the tests they finished. [Store.List] pages through the
// records newest first and [Store.Load] reads one; both read the disk, so they
// see the runs of earlier processes.
//
// # Comparing runs
//
// [Compare] matches the benchmarks of two runs by test_id and judges each metric
// (decode tokens/s, time to first token, prefill tokens/s, peak VRAM, energy per
// token, failed runs) against a tolerance and the spread of the runs, with
// Welch's t-test. [Comparison.WriteTable] prints the outcome;
// package typhontest turns it into a go test that fails on a regression.
//
// # Summaries, dashboards and findings
//
// [Findings] applies one rule set to a record (decode speed against context,
// prefill collapse, the memory wall against the configured context, VRAM
// headroom, throttling, drift, runs stopped early, room for more users, missing
// GPU figures, failed and skipped tests), each [Finding] with its rule, severity
// and the figure that triggered it. [Suggest] derives a server command line for
// llama-server, Ollama or vLLM from the largest context that worked in every run.
// Both feed:
//
//   - [Markdown]: a run as a Markdown report for people;
//   - [Dashboard]: one self-contained HTML page of one or more runs, charts as
//     inline SVG, no script, no request to anywhere, every text escaped
//     ([Store.SaveDashboard] writes it beside the record);
//   - [NewBrief]: the compact [Brief] that the HTTP API serves as GET /report;
//   - [Benchstat]: the Go benchmark format, so benchstat compares two runs.
package report
