package main

import (
	"encoding/json"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/typhonbench/typhon"
	"github.com/typhonbench/typhon/export"
	"github.com/typhonbench/typhon/gpu"
	"github.com/typhonbench/typhon/gpu/gputest"
	"github.com/typhonbench/typhon/internal/testbed"
	"github.com/typhonbench/typhon/report"
	"github.com/typhonbench/typhon/schema"
)

// TestExportOfRealRunHoldsNoSecret runs a real quick job on the test bed's
// llama-server (behind an API key, with a fake GPU that has an NVML UUID),
// exports it with the CLI, and searches the export for everything that would
// identify the machine or its owner.
func TestExportOfRealRunHoldsNoSecret(t *testing.T) {
	const apiKey = "sk-typhon-export-test-9f3b2c71"
	const gpuUUID = "GPU-6f1c2d3e-4a5b-6c7d-8e9f-0a1b2c3d4e5f"
	srv := testbed.LlamaServer(t, testbed.Options{ExtraArgs: []string{"--api-key", apiKey}})
	fake := &gputest.Sampler{
		GPUs: []schema.GPUInfo{{Index: 0, Name: "Fake GPU 24GB", UUID: gpuUUID, MemoryTotalMB: 24576, DriverVersion: "580.65.06"}},
		Script: []gputest.Step{{Readings: []gpu.Reading{{Index: 0, UUID: gpuUUID, MemUsedMB: gputest.F(9000),
			PowerW: gputest.F(120), TempC: gputest.F(55)}}}},
	}
	data := t.TempDir()
	r := typhon.Runner{Mode: typhon.ModeQuick, URL: srv.URL, Model: srv.Model, APIKey: apiKey, DataDir: data, GPU: fake}
	res, err := r.Run(t.Context(), nil)
	if err != nil {
		t.Fatalf("quick run: %v", err)
	}
	raw, err := os.ReadFile(filepath.Join(data, report.RunsDir, res.RunID+".json"))
	if err != nil {
		t.Fatal(err)
	}
	port := strconv.Itoa(srv.Port)
	for _, s := range []string{gpuUUID, srv.URL, port} {
		if !strings.Contains(string(raw), s) {
			t.Fatalf("the record itself lacks %q: the search below would prove nothing", s)
		}
	}

	out := filepath.Join(t.TempDir(), "community.json")
	if code, _, stderr, err := runCLI(t, "export", "-data", data, "-o", out); code != 0 {
		t.Fatalf("export: exit %d, %v\n%s", code, err, stderr)
	}
	text := readText(t, out)
	secret := secrets(t, data, srv.URL, port, apiKey, gpuUUID)
	t.Logf("searching the export for %d strings: %q", len(secret), secret)
	for _, s := range secret {
		// A short name (a host called "vm") is searched as a word, not inside one.
		if strings.Contains(text, s) && (len(s) > 4 || regexp.MustCompile(`\b`+regexp.QuoteMeta(s)+`\b`).MatchString(text)) {
			t.Errorf("the export holds %q", s)
		}
	}
	checkNoNumber(t, text, srv.Port)
	f := decodeExport(t, text)
	if len(f.Runs) != 1 || len(f.Runs[0].Benchmarks) != len(res.Benchmarks) || f.Runs[0].Benchmarks[0].AvgTPS <= 0 {
		t.Fatalf("export lacks the run's figures:\n%s", text)
	}
	t.Logf("export of %d tests, machine %s, baseline %.1f tokens/s:\n%.600s", len(f.Runs[0].Benchmarks),
		f.Runs[0].Machine, f.Runs[0].Benchmarks[0].AvgTPS, text)
	if code, stdout, stderr, err := runCLI(t, "export", "-check", out); code != 0 {
		t.Errorf("export -check of the export: exit %d, %v\n%s%s", code, err, stdout, stderr)
	}
	checkFingerprints(t, data, filepath.Join(data, report.RunsDir, res.RunID+".json"), f.Runs[0].Machine)
}

// secrets lists what must not be in an export of this machine.
func secrets(t *testing.T, data, url, port, apiKey, uuid string) []string {
	t.Helper()
	out := []string{url, "127.0.0.1:" + port, ":" + port, apiKey, uuid, strings.TrimPrefix(uuid, "GPU-"), data}
	if h, err := os.Hostname(); err == nil && h != "" {
		out = append(out, h)
	}
	if u, err := user.Current(); err == nil {
		out = append(out, u.Username, u.HomeDir)
	}
	if home, err := os.UserHomeDir(); err == nil {
		out = append(out, home)
	}
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range addrs {
		if ipn, ok := a.(*net.IPNet); ok {
			out = append(out, ipn.IP.String())
		}
	}
	salt, err := os.ReadFile(filepath.Join(data, export.SaltFile))
	if err != nil {
		t.Fatalf("salt: %v", err)
	}
	return append(out, strings.TrimSpace(string(salt)))
}

// checkNoNumber fails when any number of the export equals n (the port).
func checkNoNumber(t *testing.T, text string, n int) {
	t.Helper()
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			for _, x := range v {
				walk(x)
			}
		case []any:
			for _, x := range v {
				walk(x)
			}
		case float64:
			if v == float64(n) {
				t.Errorf("the export holds the number %d (the server's port)", n)
			}
		}
	}
	var v any
	if err := json.Unmarshal([]byte(text), &v); err != nil {
		t.Fatal(err)
	}
	walk(v)
}

// checkFingerprints exports again from the same data directory (same
// fingerprint) and the record from another data directory (another one).
func checkFingerprints(t *testing.T, data, record, want string) {
	t.Helper()
	again := filepath.Join(t.TempDir(), "again.json")
	if code, _, stderr, err := runCLI(t, "export", "-data", data, "-o", again); code != 0 {
		t.Fatalf("second export: exit %d, %v\n%s", code, err, stderr)
	}
	if got := decodeExport(t, readText(t, again)).Runs[0].Machine; got != want {
		t.Errorf("second export from one installation: machine %s, want %s", got, want)
	}
	other := filepath.Join(t.TempDir(), "other.json")
	if code, _, stderr, err := runCLI(t, "export", "-data", t.TempDir(), "-o", other, record); code != 0 {
		t.Fatalf("export from another data directory: exit %d, %v\n%s", code, err, stderr)
	}
	if got := decodeExport(t, readText(t, other)).Runs[0].Machine; got == want {
		t.Errorf("another data directory gave the same fingerprint %s", got)
	}
}

func readText(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func decodeExport(t *testing.T, text string) *export.File {
	t.Helper()
	f, err := export.Check(strings.NewReader(text))
	if err != nil {
		t.Fatalf("%v\n%s", err, text)
	}
	return f
}

func TestExportCheckRejectsExtraField(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.json")
	if err := os.WriteFile(good, []byte(`{"format":"typhon-community","format_version":1,"exported_on":"2026-12-01","runs":[]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(dir, "bad.json")
	if err := os.WriteFile(bad, []byte(`{"format":"typhon-community","format_version":1,"exported_on":"2026-12-01","runs":[],"hostname":"x"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, out, stderr, err := runCLI(t, "export", "-check", good); code != 0 || !strings.Contains(out, "valid") {
		t.Errorf("-check good: exit %d, %v, %s%s", code, err, out, stderr)
	}
	code, _, _, err := runCLI(t, "export", "-check", bad)
	if code != exitError || err == nil || !strings.Contains(err.Error(), `unknown field "hostname"`) {
		t.Errorf("-check with an extra field: exit %d, err %v; want exit 1 naming the field", code, err)
	}
	if code, _, _, err := runCLI(t, "export", "-data", t.TempDir()); code != exitError || err == nil {
		t.Errorf("export without records: exit %d, err %v; want an error", code, err)
	}
}
