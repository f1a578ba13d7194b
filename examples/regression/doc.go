// Package regression is an example of a go test that guards an LLM server
// against performance regressions: it benchmarks the server named by
// TYPHON_URL with a small fixed plan, compares the run with the baseline record
// in testdata/baseline.json and fails when tokens per second dropped, or time to
// first token grew, beyond noise and tolerance. README.md shows how a team wires
// it into CI. The package holds no code of its own; the tests are the example.
package regression
