package main

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/typhonbench/typhon/report"
)

// TestDashboardCommand writes dashboards of crafted records: the last run of a
// data directory by default, beside it; several files overlaid into -o; "-o -"
// to stdout; a missing record is an error.
func TestDashboardCommand(t *testing.T) {
	t.Parallel()
	data := t.TempDir()
	last := writeRecord(t, data, report.LastRunFile, record("20250601T142201Z-00000001", t0, "tiny", 100, 101, 99))
	other := writeRecord(t, t.TempDir(), "other.json", record("20250601T152201Z-00000002", t0.Add(3600e9), "tiny", 90, 91, 89))

	code, stdout, stderr, err := runCLI(t, "dashboard", "-data", data)
	want := strings.TrimSuffix(last, ".json") + ".html"
	if code != 0 || stdout != "dashboard: "+want+"\n" {
		t.Fatalf("dashboard of the last run: exit %d, %v, stdout %q, stderr %q; want the path %s", code, err, stdout, stderr, want)
	}
	page, err := os.ReadFile(want)
	if err != nil || !strings.Contains(string(page), "<title>Typhon run 20250601T142201Z-00000001</title>") {
		t.Errorf("dashboard file: %v\n%.300s", err, page)
	}

	out := filepath.Join(t.TempDir(), "both.html")
	if code, _, stderr, err := runCLI(t, "dashboard", "-o", out, last, other); code != 0 {
		t.Fatalf("dashboard of two records: exit %d, %v, %s", code, err, stderr)
	}
	if page, _ := os.ReadFile(out); !strings.Contains(string(page), "Typhon: 2 runs") || !strings.Contains(string(page), "Compared with the first run") {
		t.Errorf("two-record dashboard lacks its title or comparison")
	}

	code, stdout, _, _ = runCLI(t, "dashboard", "-o", "-", other)
	if code != 0 || !strings.HasPrefix(stdout, "<!DOCTYPE html>") {
		t.Errorf(`dashboard -o -: exit %d, stdout starts %.40q`, code, stdout)
	}
	if code, _, _, err := runCLI(t, "dashboard", filepath.Join(data, "gone.json")); code != 1 || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing record: exit %d, %v; want 1 and a missing file", code, err)
	}
	if code, _, _, err := runCLI(t, "dashboard", "-data", t.TempDir()); code != 1 || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("no last run: exit %d, %v; want 1 and a missing file", code, err)
	}
}

// TestSummaryFormats: -format json is report.NewBrief of the record, -format
// benchstat the Go benchmark lines, another format a usage error.
func TestSummaryFormats(t *testing.T) {
	t.Parallel()
	path := writeRecord(t, t.TempDir(), "run.json", record("20250601T142201Z-00000001", t0, "tiny", 100, 101, 99))
	code, stdout, stderr, err := runCLI(t, "summary", "-format", "json", path)
	if code != 0 {
		t.Fatalf("-format json: exit %d, %v, %s", code, err, stderr)
	}
	var b report.Brief
	if err := json.Unmarshal([]byte(stdout), &b); err != nil || b.BaselineTPS == nil || *b.BaselineTPS != 100 || b.RunID != "20250601T142201Z-00000001" {
		t.Errorf("-format json: %v, brief %+v", err, b)
	}
	code, stdout, _, _ = runCLI(t, "summary", path, "-format", "benchstat")
	lines := strings.Count(stdout, "BenchmarkTyphon/test=baseline_short 1 ")
	if code != 0 || lines != 3 || !strings.Contains(stdout, "model: tiny\n") || !strings.Contains(stdout, " 100 tok/s 0.1 ttft-s") {
		t.Errorf("-format benchstat: exit %d, %d lines of baseline_short (want 3):\n%s", code, lines, stdout)
	}
	if code, _, stderr, _ := runCLI(t, "summary", "-format", "html", path); code != 2 || !strings.Contains(stderr, `unknown format "html"`) {
		t.Errorf("-format html: exit %d, stderr %q; want 2 and the reason", code, stderr)
	}
}
