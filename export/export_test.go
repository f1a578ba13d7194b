package export

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/typhonbench/typhon/schema"
)

// record is a record full of what an export must not carry.
func record() *schema.Result {
	vram := 5120.0
	return &schema.Result{
		SchemaVersion: schema.Version, RunID: "20261201T101500Z-1a2b3c4d",
		RunAt:  time.Date(2026, 12, 1, 10, 15, 0, 0, time.UTC),
		Status: schema.StatusComplete, Mode: "quick", Model: "/home/alice/models/llama-8b.Q8_0.gguf",
		Server: schema.ServerInfo{Name: "llama.cpp", Port: 8080, APIBase: "http://192.168.1.7:8080", Kind: "llama.cpp",
			Version: "b11669-Debian", Quantization: "Q8_0", Settings: map[string]string{"model_path": "/home/alice/models/x.gguf"}},
		ProfileSnapshot: &schema.Profile{
			GPUs: []schema.GPUInfo{{Name: "NVIDIA H100 80GB HBM3", UUID: "GPU-6f1c2d3e-4a5b-6c7d-8e9f-0a1b2c3d4e5f",
				MemoryTotalMB: 81559, DriverVersion: "580.65.06"}},
			CPU: schema.CPUInfo{Model: "AMD EPYC 9654 96-Core Processor", LogicalCores: 16},
			RAM: schema.RAMInfo{TotalMB: 128900, AvailableMB: 120000},
			OS:  schema.OSInfo{Name: "linux", Platform: "debian", Kernel: "6.1.0-alice"},
		},
		Benchmarks: []schema.Benchmark{{
			TestID: "ctx_sweep_4096", Category: schema.CategoryContextSweep, CtxSize: 4096, MaxTokens: 256, NRuns: 2,
			SuccessfulRuns: 1, AvgTPS: 81.5, BestTPS: 81.5, AvgTTFTS: 0.5, GPUStats: schema.GPUStats{PeakVRAMUsedMB: &vram},
			SkipReason: "no", Notes: []string{"server at http://192.168.1.7:8080"},
			Runs: []schema.RunSample{{Success: true, TPS: 81.5, PromptTokens: 3700},
				{Error: "HTTP 400 from http://192.168.1.7:8080", ErrorKind: "http_400"}},
		}},
	}
}

func TestBuildAllowlist(t *testing.T) {
	salt := []byte("0123456789abcdef0123456789abcdef")
	f, err := Build([]*schema.Result{record()}, salt, time.Date(2026, 12, 2, 23, 59, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := Write(&buf, f); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, bad := range []string{"alice", "192.168", "8080", "GPU-6f1c", "6f1c2d3e", "10:15", "T10", "1a2b3c4d",
		"/home", "://", string(salt), "debian", "65.06", "Settings", "120000"} {
		if strings.Contains(out, bad) {
			t.Errorf("export holds %q:\n%s", bad, out)
		}
	}
	r := f.Runs[0]
	if r.Date != "2026-12-01" || f.ExportedOn != "2026-12-02" {
		t.Errorf("dates %q, %q; want 2026-12-01, 2026-12-02", r.Date, f.ExportedOn)
	}
	if r.Model.Name != "llama-8b.Q8_0.gguf" || r.Hardware.DriverMajor != 580 || r.Hardware.RAMGB != 126 ||
		r.Hardware.GPUs[0].Model != "NVIDIA H100 80GB HBM3" || r.Server.Version != "b11669-Debian" {
		t.Errorf("kept facts wrong: %+v", r)
	}
	if b := r.Benchmarks[0]; b.AvgTPS != 81.5 || b.PromptTokens != 3700 || len(b.ErrorKinds) != 1 || b.ErrorKinds[0] != "http_400" {
		t.Errorf("benchmark %+v", b)
	}
	if _, err := Check(bytes.NewReader(buf.Bytes())); err != nil {
		t.Errorf("Check of Build's output: %v", err)
	}
}

func TestSaltFingerprint(t *testing.T) {
	dirA, dirB := t.TempDir(), t.TempDir()
	a1, err := LoadSalt(dirA)
	if err != nil {
		t.Fatal(err)
	}
	a2, _ := LoadSalt(dirA)
	b, _ := LoadSalt(dirB)
	h := hardware(record().ProfileSnapshot)
	if Fingerprint(a1, h) != Fingerprint(a2, h) {
		t.Error("one data directory gave two fingerprints")
	}
	if Fingerprint(a1, h) == Fingerprint(b, h) {
		t.Error("two data directories gave one fingerprint")
	}
	st, err := os.Stat(filepath.Join(dirA, SaltFile))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("salt file: %v, mode %v; want 0600", err, st.Mode().Perm())
	}
	if err := os.WriteFile(filepath.Join(dirB, SaltFile), []byte("zz"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadSalt(dirB); err == nil {
		t.Error("a damaged salt was accepted")
	}
}

func TestCheckRejects(t *testing.T) {
	f, _ := Build([]*schema.Result{record()}, []byte("salt-salt-salt-salt"), time.Now())
	good, _ := json.Marshal(f)
	edit := func(fn func(m map[string]any)) []byte {
		var m map[string]any
		_ = json.Unmarshal(good, &m)
		fn(m)
		b, _ := json.Marshal(m)
		return b
	}
	run := func(m map[string]any) map[string]any { return m["runs"].([]any)[0].(map[string]any) }
	cases := []struct {
		name string
		data []byte
		want string
	}{
		{"extra top-level field", edit(func(m map[string]any) { m["hostname"] = "box" }), "unknown field"},
		{"extra run field", edit(func(m map[string]any) { run(m)["api_base"] = "x" }), "unknown field"},
		{"extra gpu field", edit(func(m map[string]any) {
			run(m)["hardware"].(map[string]any)["gpus"].([]any)[0].(map[string]any)["uuid"] = "x"
		}), "unknown field"},
		{"time in date", edit(func(m map[string]any) { run(m)["date"] = "2026-12-01T10:15:00Z" }), "not a date"},
		{"path as model", edit(func(m map[string]any) { run(m)["model"].(map[string]any)["name"] = "/home/a/x" }), "path"},
		{"ip in cpu", edit(func(m map[string]any) { run(m)["hardware"].(map[string]any)["cpu_model"] = "at 10.0.0.2" }), "IP"},
		{"bad fingerprint", edit(func(m map[string]any) { run(m)["machine"] = "abc" }), "machine"},
		{"other version", edit(func(m map[string]any) { m["format_version"] = 2 }), "format_version"},
		{"two objects", append(append([]byte{}, good...), good...), "after"},
		{"not json", []byte("hello"), "invalid"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Check(bytes.NewReader(c.data))
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), c.want) {
				t.Errorf("Check: %v; want ErrInvalid mentioning %q", err, c.want)
			}
		})
	}
}
