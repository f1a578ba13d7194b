package report

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/typhonbench/typhon/schema"
)

// Benchmark outcomes (ChronicleLine.Status, BenchmarkStatus).
const (
	OutcomeOK      = "ok"      // every timed run succeeded
	OutcomePartial = "partial" // some timed runs failed
	OutcomeFailed  = "failed"  // no timed run succeeded
	OutcomeSkipped = "skipped" // the test was not run; the reason is kept
)

// ChronicleLine is one line of chronicle.jsonl: one benchmark of a finished run,
// flat, so that the history of a machine can be read with any JSON-lines tool.
// Failed and skipped tests have a line too, with the reason.
type ChronicleLine struct {
	SchemaVersion  int       `json:"schema_version"`
	RunID          string    `json:"run_id"`
	RunAt          time.Time `json:"run_at"`
	RunStatus      string    `json:"run_status"`
	Mode           string    `json:"mode"`
	Model          string    `json:"model"`
	Quantization   string    `json:"quantization,omitempty"`
	ServerName     string    `json:"server_name"`
	ServerKind     string    `json:"server_kind,omitempty"`
	ServerVersion  string    `json:"server_version,omitempty"`
	GPUName        string    `json:"gpu_name,omitempty"` // the GPUs of the profile, comma separated
	TestID         string    `json:"test_id"`
	Name           string    `json:"name"`
	Category       string    `json:"category"`
	CtxSize        int       `json:"ctx_size"`
	MaxTokens      int       `json:"max_tokens"`
	NRuns          int       `json:"n_runs"`
	SuccessfulRuns int       `json:"successful_runs"`
	AvgTPS         float64   `json:"avg_tps"`
	BestTPS        float64   `json:"best_tps"`
	AvgTTFTS       float64   `json:"avg_ttft_s"`
	AvgElapsedS    float64   `json:"avg_elapsed_s"`
	AvgPrefillTPS  float64   `json:"avg_prefill_tps,omitempty"`
	TPSStdev       float64   `json:"tps_stdev,omitempty"`
	PeakVRAMUsedMB *float64  `json:"peak_vram_used_mb,omitempty"`
	PeakTempC      *float64  `json:"peak_temp_c,omitempty"`
	AvgPowerW      *float64  `json:"avg_power_w,omitempty"`
	EnergyJ        *float64  `json:"energy_j,omitempty"`
	Status         string    `json:"status"`          // ok, partial, failed, skipped
	Error          string    `json:"error,omitempty"` // skip reason, test error or first run error
}

// BenchmarkStatus classifies a benchmark: OutcomeOK, OutcomePartial,
// OutcomeFailed or OutcomeSkipped. A memory wall test that found a last working
// size is OK even though its search ended on a failing probe.
func BenchmarkStatus(b *schema.Benchmark) string {
	switch {
	case b.Skipped:
		return OutcomeSkipped
	case b.Category == schema.CategoryMemoryWall && b.MemoryWall != nil && wallTokens(b.MemoryWall) > 0:
		return OutcomeOK
	case b.SuccessfulRuns <= 0 && (b.NRuns > 0 || b.Error != "" || len(b.Runs) > 0):
		return OutcomeFailed
	case b.Error != "" || b.SuccessfulRuns < b.NRuns:
		return OutcomePartial
	}
	return OutcomeOK
}

// benchmarkReason is why a benchmark is not OK: the skip reason, the test's error
// or the first failed run's error, "" when there is none.
func benchmarkReason(b *schema.Benchmark) string {
	if b.Skipped {
		return b.SkipReason
	}
	if b.Error != "" {
		return b.Error
	}
	for _, r := range b.Runs {
		if !r.Success {
			return runError(r)
		}
	}
	return ""
}

// runError is a failed run's reason: "kind: message", or what of them is set.
func runError(r schema.RunSample) string {
	switch {
	case r.ErrorKind != "" && r.Error != "" && !strings.HasPrefix(r.Error, r.ErrorKind):
		return r.ErrorKind + ": " + r.Error
	case r.Error != "":
		return r.Error
	case r.ErrorKind != "":
		return r.ErrorKind
	}
	return "failed (no reason recorded)"
}

// gpuNames is the profile's GPU names, comma separated.
func gpuNames(p *schema.Profile) string {
	if p == nil {
		return ""
	}
	names := make([]string, 0, len(p.GPUs))
	for _, g := range p.GPUs {
		names = append(names, g.Name)
	}
	return strings.Join(names, ", ")
}

// ChronicleLines flattens a run into its chronicle lines, one per benchmark.
func ChronicleLines(res *schema.Result) []ChronicleLine {
	lines := make([]ChronicleLine, 0, len(res.Benchmarks))
	v := res.SchemaVersion
	if v == 0 {
		v = schema.Version
	}
	gpus := gpuNames(res.ProfileSnapshot)
	for i := range res.Benchmarks {
		b := &res.Benchmarks[i]
		l := ChronicleLine{
			SchemaVersion:  v,
			RunID:          res.RunID,
			RunAt:          res.RunAt,
			RunStatus:      res.Status,
			Mode:           res.Mode,
			Model:          res.Model,
			Quantization:   res.Server.Quantization,
			ServerName:     res.Server.Name,
			ServerKind:     res.Server.Kind,
			ServerVersion:  res.Server.Version,
			GPUName:        gpus,
			TestID:         b.TestID,
			Name:           b.Name,
			Category:       b.Category,
			CtxSize:        b.CtxSize,
			MaxTokens:      b.MaxTokens,
			NRuns:          b.NRuns,
			SuccessfulRuns: b.SuccessfulRuns,
			AvgTPS:         b.AvgTPS,
			BestTPS:        b.BestTPS,
			AvgTTFTS:       b.AvgTTFTS,
			AvgElapsedS:    b.AvgElapsedS,
			AvgPrefillTPS:  b.AvgPrefillTPS,
			PeakVRAMUsedMB: b.GPUStats.PeakVRAMUsedMB,
			PeakTempC:      b.GPUStats.PeakTempC,
			AvgPowerW:      b.GPUStats.AvgPowerW,
			EnergyJ:        b.GPUStats.EnergyJ,
			Status:         BenchmarkStatus(b),
			Error:          benchmarkReason(b),
		}
		if b.Stats != nil {
			l.TPSStdev = b.Stats.TPSStdev
		}
		lines = append(lines, l)
	}
	return lines
}

// encodeChronicle is the bytes appended to chronicle.jsonl for lines: one compact
// JSON object per line, each ending in a newline.
func encodeChronicle(lines []ChronicleLine) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf) // Encode writes one line and its newline
	enc.SetEscapeHTML(false)
	for i := range lines {
		if err := enc.Encode(&lines[i]); err != nil {
			return nil, fmt.Errorf("report: encode chronicle line %s/%s: %w", lines[i].RunID, lines[i].TestID, err)
		}
	}
	return buf.Bytes(), nil
}

// DecodeChronicleLine decodes one line of chronicle.jsonl (without or with its
// newline). A line must be one JSON object with a run_id and a test_id.
func DecodeChronicleLine(b []byte) (ChronicleLine, error) {
	var l ChronicleLine
	b = bytes.TrimRight(b, "\r\n")
	if err := decodeOne(b, &l); err != nil {
		return ChronicleLine{}, fmt.Errorf("report: %w: %w", ErrInvalidLine, err)
	}
	if l.RunID == "" || l.TestID == "" {
		return ChronicleLine{}, fmt.Errorf("report: %w: no run_id or test_id", ErrInvalidLine)
	}
	return l, nil
}

// ReadChronicle reads chronicle lines from r. Lines that do not decode (a line
// torn by a crash, a line edited by hand) are skipped and counted; err is only
// for a failing reader.
func ReadChronicle(r io.Reader) (lines []ChronicleLine, skipped int, err error) {
	br := bufio.NewReader(r)
	for {
		b, rerr := br.ReadBytes('\n')
		if len(bytes.TrimSpace(b)) > 0 {
			if l, err := DecodeChronicleLine(b); err == nil {
				lines = append(lines, l)
			} else {
				skipped++
			}
		}
		if rerr != nil {
			if errors.Is(rerr, io.EOF) {
				return lines, skipped, nil
			}
			return lines, skipped, fmt.Errorf("report: read chronicle: %w", rerr)
		}
	}
}
