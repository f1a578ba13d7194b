// Package export turns Typhon records into anonymised community data that a
// user can share: figures, what was measured and on what kind of hardware, and
// nothing that names the machine or its owner.
//
// # Format (format "typhon-community", format_version 1)
//
// A file is one JSON object, a [File]. Only the fields of the types below are
// written, and [Check] refuses any other (the schema is an allowlist):
//
//	format, format_version, exported_on (YYYY-MM-DD, UTC), runs[]:
//	  date (YYYY-MM-DD, UTC: the day of run_at, no time), mode, status,
//	  typhon_version, machine (HMAC-SHA-256 fingerprint, 64 hex),
//	  server {kind, version}, model {name, quantization},
//	  hardware {gpus[] {model, memory_mb}, driver_major, os_family, cpu_model,
//	            cpu_cores, ram_gb},
//	  benchmarks[] {test_id, category, ctx_size, max_tokens, n_runs,
//	                successful_runs, skipped, avg_tps, best_tps, avg_ttft_s,
//	                avg_elapsed_s, avg_prefill_tps, avg_server_tps,
//	                prompt_tokens, concurrency, aggregate_tps,
//	                peak_vram_used_mb, error_kinds[]}
//
// Left out on purpose: host names, user names, IP addresses, URLs, ports,
// paths, API keys, serial numbers and GPU UUIDs, the run id (it holds the time
// of day), times of day, and every free text of a record (errors, skip reasons,
// notes, server settings), which may quote any of those. A model name keeps only
// its last path element; an error is kept as its kind (timeout, http_400, ...).
//
// mode, status, server.kind, category, error_kinds and os_family are written
// only when they are values of the schema's vocabulary (error kinds also
// http_<status>), test_id only in the shape of a test id. A text or version
// is left out (written empty) when it holds a path, URL, IPv4 address (hex
// parts too), IPv6 or MAC address (two ':' or a MAC with '-'), e-mail address,
// UUID, number of nine digits or more, hex run of sixteen or more, a run of
// twenty letters and digits mixing both (a key), a dotted name ending in a
// top-level domain (a host name), or, when exported, this machine's host
// name, user name or an address of its network interfaces as a word.
//
// # Machine fingerprint
//
// machine lets the community tell runs of one machine from runs of another
// without learning which machine it is: HMAC-SHA-256, keyed with a random salt
// of this installation, of the hardware facts of the run (CPU model and cores,
// RAM, GPU models and memory). The salt is created once in the data directory
// (file [SaltFile], mode 0600) and never exported, so two exports from one
// installation share fingerprints, and nobody without the salt can compute the
// fingerprint of a known machine. Another data directory has another salt.
package export

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/typhonbench/typhon/schema"
)

// The format's name and version (File.Format, File.FormatVersion).
const (
	Format        = "typhon-community"
	FormatVersion = 1
	// DateLayout is the layout of every date of the format: a day, no time.
	DateLayout = "2006-01-02"
)

// File is an export.
type File struct {
	Format        string `json:"format"`
	FormatVersion int    `json:"format_version"`
	ExportedOn    string `json:"exported_on"`
	Runs          []Run  `json:"runs"`
}

// Run is one benchmark run, anonymised.
type Run struct {
	Date          string      `json:"date"`
	Mode          string      `json:"mode"`
	Status        string      `json:"status"`
	TyphonVersion string      `json:"typhon_version,omitempty"`
	Machine       string      `json:"machine"`
	Server        Server      `json:"server"`
	Model         Model       `json:"model"`
	Hardware      Hardware    `json:"hardware"`
	Benchmarks    []Benchmark `json:"benchmarks"`
}

// Server is the kind and version of the inference server.
type Server struct {
	Kind    string `json:"kind,omitempty"`
	Version string `json:"version,omitempty"`
}

// Model is the model's name without any path, and its quantisation.
type Model struct {
	Name         string `json:"name"`
	Quantization string `json:"quantization,omitempty"`
}

// Hardware is what the run ran on, coarsely.
type Hardware struct {
	GPUs        []GPU  `json:"gpus"`
	DriverMajor int    `json:"driver_major,omitempty"`
	OSFamily    string `json:"os_family,omitempty"`
	CPUModel    string `json:"cpu_model,omitempty"`
	CPUCores    int    `json:"cpu_cores,omitempty"`
	RAMGB       int    `json:"ram_gb,omitempty"`
}

// GPU is one GPU's model and memory (MiB).
type GPU struct {
	Model    string  `json:"model"`
	MemoryMB float64 `json:"memory_mb"`
}

// Benchmark is one test's figures.
type Benchmark struct {
	TestID         string   `json:"test_id"`
	Category       string   `json:"category"`
	CtxSize        int      `json:"ctx_size"`
	MaxTokens      int      `json:"max_tokens"`
	NRuns          int      `json:"n_runs"`
	SuccessfulRuns int      `json:"successful_runs"`
	Skipped        bool     `json:"skipped,omitempty"`
	AvgTPS         float64  `json:"avg_tps"`
	BestTPS        float64  `json:"best_tps"`
	AvgTTFTS       float64  `json:"avg_ttft_s"`
	AvgElapsedS    float64  `json:"avg_elapsed_s"`
	AvgPrefillTPS  float64  `json:"avg_prefill_tps,omitempty"`
	AvgServerTPS   float64  `json:"avg_server_tps,omitempty"`
	PromptTokens   int      `json:"prompt_tokens,omitempty"`
	Concurrency    int      `json:"concurrency,omitempty"`
	AggregateTPS   float64  `json:"aggregate_tps,omitempty"`
	PeakVRAMUsedMB *float64 `json:"peak_vram_used_mb,omitempty"`
	ErrorKinds     []string `json:"error_kinds,omitempty"`
}

// Build anonymises records into a File dated now (UTC, truncated to the day).
// salt keys the machine fingerprint (see [LoadSalt]); it must not be empty.
func Build(results []*schema.Result, salt []byte, now time.Time) (*File, error) {
	if len(salt) == 0 {
		return nil, fmt.Errorf("export: empty salt")
	}
	f := &File{Format: Format, FormatVersion: FormatVersion, ExportedOn: day(now), Runs: []Run{}}
	for _, res := range results {
		if res == nil || day(res.RunAt) == "" {
			continue // no date the format can hold: see Skipped
		}
		f.Runs = append(f.Runs, anonymise(res, salt))
	}
	return f, nil
}

// anonymise copies the allowed facts of one record.
func anonymise(res *schema.Result, salt []byte) Run {
	r := Run{
		Date:          day(res.RunAt),
		Mode:          oneOf(modes, string(res.Mode)),
		Status:        oneOf(statuses, string(res.Status)),
		TyphonVersion: token(res.TyphonVersion),
		Server:        Server{Kind: oneOf(kinds, string(res.Server.Kind)), Version: token(res.Server.Version)},
		Model:         Model{Name: modelName(res.Model), Quantization: token(res.Server.Quantization)},
		Hardware:      hardware(res.ProfileSnapshot),
		Benchmarks:    []Benchmark{},
	}
	for i := range res.Benchmarks {
		r.Benchmarks = append(r.Benchmarks, benchmark(&res.Benchmarks[i]))
	}
	r.dropLocal(localNames())
	r.Machine = Fingerprint(salt, r.Hardware)
	return r
}

func hardware(p *schema.Profile) Hardware {
	h := Hardware{GPUs: []GPU{}}
	if p == nil {
		return h
	}
	for _, g := range p.GPUs {
		h.GPUs = append(h.GPUs, GPU{Model: text(g.Name), MemoryMB: math.Round(finite(g.MemoryTotalMB))})
		if h.DriverMajor == 0 {
			h.DriverMajor = driverMajor(g.DriverVersion)
		}
	}
	h.OSFamily = oneOf(osFamilies, strings.ToLower(p.OS.Name))
	h.CPUModel = text(p.CPU.Model)
	h.CPUCores = count(p.CPU.LogicalCores)
	if h.CPUCores == 0 {
		h.CPUCores = count(p.CPU.PhysicalCores)
	}
	if finite(p.RAM.TotalMB) > 0 {
		h.RAMGB = max(1, int(math.Round(p.RAM.TotalMB/1024)))
	}
	return h
}

func benchmark(b *schema.Benchmark) Benchmark {
	out := Benchmark{
		TestID:         testID(b.TestID),
		Category:       oneOf(categories, b.Category),
		CtxSize:        count(b.CtxSize),
		MaxTokens:      count(b.MaxTokens),
		NRuns:          count(b.NRuns),
		SuccessfulRuns: count(b.SuccessfulRuns),
		Skipped:        b.Skipped,
		AvgTPS:         finite(b.AvgTPS),
		BestTPS:        finite(b.BestTPS),
		AvgTTFTS:       finite(b.AvgTTFTS),
		AvgElapsedS:    finite(b.AvgElapsedS),
		AvgPrefillTPS:  finite(b.AvgPrefillTPS),
		AvgServerTPS:   finite(b.AvgServerTPS),
		Concurrency:    count(b.Concurrency),
		AggregateTPS:   finite(b.AggregateTPS),
	}
	if v := b.GPUStats.PeakVRAMUsedMB; v != nil {
		x := finite(*v)
		out.PeakVRAMUsedMB = &x
	}
	seen := map[string]bool{}
	for _, r := range b.Runs {
		if r.Success && r.PromptTokens > out.PromptTokens { // > 0
			out.PromptTokens = r.PromptTokens
		}
		if k := errorKind(r.ErrorKind); k != "" && !seen[k] {
			seen[k] = true
			out.ErrorKinds = append(out.ErrorKinds, k)
		}
	}
	return out
}

// Fingerprint is the machine fingerprint of hardware h under salt: the hex
// HMAC-SHA-256 of its CPU model and cores, RAM and GPU models and memory.
func Fingerprint(salt []byte, h Hardware) string {
	var b strings.Builder
	fmt.Fprintf(&b, "typhon-machine/1\ncpu=%s\ncores=%d\nram_gb=%d\n", h.CPUModel, h.CPUCores, h.RAMGB)
	for _, g := range h.GPUs {
		fmt.Fprintf(&b, "gpu=%s/%.0f\n", g.Model, g.MemoryMB)
	}
	m := hmac.New(sha256.New, salt)
	m.Write([]byte(b.String()))
	return hex.EncodeToString(m.Sum(nil))
}

// day is t's date in UTC, without the time; "" when t is zero or outside
// the years 1 to 9999 (no YYYY-MM-DD holds it).
func day(t time.Time) string {
	if y := t.UTC().Year(); t.IsZero() || y < 1 || y > 9999 {
		return ""
	}
	return t.UTC().Format(DateLayout)
}

// Skipped counts the records Build leaves out: nil ones and those without a
// date the format can hold (no run_at, or outside the years 1 to 9999).
func Skipped(results []*schema.Result) int {
	n := 0
	for _, res := range results {
		if res == nil || day(res.RunAt) == "" {
			n++
		}
	}
	return n
}

// driverMajor is the major version of a driver version such as "580.65.06".
func driverMajor(v string) int {
	major, _, _ := strings.Cut(strings.TrimSpace(v), ".")
	n, err := strconv.Atoi(major)
	if err != nil || n < 0 {
		return 0
	}
	return n
}

// modelName keeps the last element of a model name that is a path
// ("/home/u/models/x.gguf" -> "x.gguf"), in either slash style.
func modelName(m string) string {
	m = strings.TrimSpace(strings.ReplaceAll(m, "\\", "/"))
	if strings.Contains(m, "/") {
		m = path.Base(strings.TrimRight(m, "/"))
		if m == "." || m == "/" {
			m = ""
		}
	}
	return text(m)
}

// finite is v when it is a finite figure of at least 0, else 0 (the format
// holds no negative figure; a record from elsewhere may).
func finite(v float64) float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
		return 0
	}
	return v
}

// count is n when it is at least 0, else 0.
func count(n int) int { return max(n, 0) }
