package report

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/typhonbench/typhon/schema"
)

// TestResultJSONGolden pins the JSON of a fully populated record: every field
// name of the job contract, its units and its order.
// The troubled record adds the error fields (run error, test error, skipped
// tests, failed runs, gpu_unavailable).
func TestResultJSONGolden(t *testing.T) {
	t.Parallel()
	tests := []struct {
		golden string
		res    func() *schema.Result
	}{
		{"result.golden.json", fullResult},
		{"result_troubled.golden.json", troubledResult},
	}
	for _, tt := range tests {
		t.Run(tt.golden, func(t *testing.T) {
			t.Parallel()
			var buf bytes.Buffer
			if err := WriteJSON(&buf, tt.res()); err != nil {
				t.Fatal(err)
			}
			checkGolden(t, tt.golden, buf.Bytes())

			got, err := DecodeResult(buf.Bytes())
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.res(), got); diff != "" {
				t.Errorf("golden JSON does not decode to the same result (-want +got):\n%s", diff)
			}
		})
	}
}

// TestResultJSONHasContractFields checks the field names of spec/jobs.md's
// example result, independently of the golden file.
func TestResultJSONHasContractFields(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	if err := WriteJSON(&buf, fullResult()); err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(buf.Bytes(), &m); err != nil {
		t.Fatal(err)
	}
	keys := func(v any) []string {
		obj, _ := v.(map[string]any)
		var ks []string
		for k := range obj {
			ks = append(ks, k)
		}
		return ks
	}
	bench := m["benchmarks"].([]any)[0].(map[string]any)
	tests := []struct {
		name string
		obj  any
		want []string
	}{
		{"result", m, []string{"schema_version", "run_at", "mode", "model", "server", "benchmarks", "profile_snapshot"}},
		{"server", m["server"], []string{"name", "port", "api_base"}},
		{"benchmark", bench, []string{"test_id", "name", "category", "ctx_size", "max_tokens", "n_runs", "successful_runs",
			"avg_tps", "best_tps", "avg_elapsed_s", "avg_ttft_s", "gpu_stats", "warmup_run", "runs"}},
		{"gpu_stats", bench["gpu_stats"], []string{"peak_vram_used_mb", "avg_vram_used_mb", "peak_temp_c", "avg_temp_c", "peak_power_w", "avg_util_pct"}},
		{"run", bench["runs"].([]any)[0], []string{"success", "tps", "elapsed_s", "ttft_s", "prompt_tokens", "output_tokens"}},
		{"warmup_run", bench["warmup_run"], []string{"success", "tps", "elapsed_s"}},
		{"profile_snapshot", m["profile_snapshot"], []string{"gpus", "cpu", "ram"}},
	}
	for _, tt := range tests {
		got := keys(tt.obj)
		for _, k := range tt.want {
			if !strings.Contains(" "+strings.Join(got, " ")+" ", " "+k+" ") {
				t.Errorf("%s: field %q missing; fields: %v", tt.name, k, got)
			}
		}
	}
}

func TestWriteJSONNil(t *testing.T) {
	t.Parallel()
	if err := WriteJSON(&bytes.Buffer{}, nil); err == nil {
		t.Error("WriteJSON(nil): no error")
	}
}

func TestDecodeResult(t *testing.T) {
	t.Parallel()
	var rec bytes.Buffer
	if err := WriteJSON(&rec, troubledResult()); err != nil {
		t.Fatal(err)
	}
	job := `{"job_id":"0b7e44d1","status":"error","mode":"quick","result":` + rec.String() + `,"error":"x"}`
	tests := []struct {
		name    string
		in      string
		want    *schema.Result
		wantErr string
	}{
		{"record", rec.String(), troubledResult(), ""},
		{"job of the HTTP API", job, troubledResult(), ""},
		{"minimal", `{"run_at":"2025-06-01T14:22:01Z"}`, &schema.Result{RunAt: t0}, ""},
		{"unknown fields of a newer schema", `{"schema_version":9,"benchmarks":[],"shiny":1}`, &schema.Result{SchemaVersion: 9, Benchmarks: []schema.Benchmark{}}, ""},
		{"job without result", `{"job_id":"x","status":"error","result":null,"error":"No LLM server detected or benchmark produced no results."}`, nil,
			"the job has no result (job error: No LLM server detected or benchmark produced no results.)"},
		{"empty", ``, nil, "empty input"},
		{"not json", `hello`, nil, "invalid character"},
		{"array", `[1,2]`, nil, "cannot unmarshal array"},
		{"null", `null`, nil, "null instead of an object"},
		{"other object", `{"name":"x"}`, nil, "not a Typhon result"},
		{"two objects", `{"run_at":"2025-06-01T14:22:01Z"} {}`, nil, "data after the JSON value"},
		{"truncated", rec.String()[:rec.Len()/2], nil, "unexpected EOF"},
		{"wrong type", `{"run_at":"2025-06-01T14:22:01Z","benchmarks":[{"avg_tps":"fast"}]}`, nil, "cannot unmarshal string"},
		{"bad time", `{"run_at":"yesterday"}`, nil, "cannot parse"},
		{"negative schema version", `{"run_at":"2025-06-01T14:22:01Z","schema_version":-1}`, nil, "schema_version -1"},
		{"job result not an object", `{"job_id":"x","result":[1]}`, nil, "job result is not an object"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := ReadResult(strings.NewReader(tt.in))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !errors.Is(err, ErrInvalidRecord) {
					t.Fatalf("err = %v, want ErrInvalidRecord containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestLoadFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "run.json")
	var buf bytes.Buffer
	if err := WriteJSON(&buf, fullResult()); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := LoadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(fullResult(), got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if _, err := LoadFile(filepath.Join(dir, "missing.json")); err == nil || !strings.Contains(err.Error(), "missing.json") {
		t.Errorf("LoadFile of a missing file: err = %v, want one naming the file", err)
	}
	if err := os.WriteFile(path, []byte("{"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadFile(path); !errors.Is(err, ErrInvalidRecord) || !strings.Contains(err.Error(), path) {
		t.Errorf("LoadFile of a torn file: err = %v, want ErrInvalidRecord naming the file", err)
	}
}

func TestDecodeChronicleLine(t *testing.T) {
	t.Parallel()
	full, err := encodeChronicle(ChronicleLines(fullResult())[:1])
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		in      string
		wantErr string
	}{
		{"a line with its newline", string(full), ""},
		{"a line without newline", strings.TrimSuffix(string(full), "\n"), ""},
		{"CRLF", strings.TrimSuffix(string(full), "\n") + "\r\n", ""},
		{"minimal", `{"run_id":"r","test_id":"t"}`, ""},
		{"torn", string(full[:30]), "unexpected EOF"},
		{"no test id", `{"run_id":"r"}`, "no run_id or test_id"},
		{"no run id", `{"test_id":"t"}`, "no run_id or test_id"},
		{"two lines", `{"run_id":"r","test_id":"t"}` + "\n" + `{"run_id":"r","test_id":"t"}`, "data after"},
		{"array", `[]`, "cannot unmarshal"},
		{"empty", ``, "empty input"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := DecodeChronicleLine([]byte(tt.in))
			if tt.wantErr == "" {
				if err != nil {
					t.Errorf("err = %v, want nil", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !errors.Is(err, ErrInvalidLine) {
				t.Errorf("err = %v, want ErrInvalidLine containing %q", err, tt.wantErr)
			}
		})
	}
}

// FuzzDecodeResult: any input either fails with ErrInvalidRecord or decodes to a
// result that survives WriteJSON and decoding unchanged.
func FuzzDecodeResult(f *testing.F) {
	var buf bytes.Buffer
	for _, res := range []*schema.Result{fullResult(), troubledResult()} {
		buf.Reset()
		if err := WriteJSON(&buf, res); err != nil {
			f.Fatal(err)
		}
		f.Add(bytes.Clone(buf.Bytes()))
	}
	f.Add([]byte(`{"job_id":"a","result":{"run_at":"2025-06-01T14:22:01Z","benchmarks":[]}}`))
	f.Add([]byte(`{"run_at":"2025-06-01T14:22:01+02:00","benchmarks":null,"server":{"settings":{"a":"b"}}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		res, err := DecodeResult(b)
		if err != nil {
			if !errors.Is(err, ErrInvalidRecord) {
				t.Fatalf("error %v does not wrap ErrInvalidRecord", err)
			}
			return
		}
		var out bytes.Buffer
		if err := WriteJSON(&out, res); err != nil {
			// Only values JSON cannot hold (a time past year 9999) may fail.
			if !strings.Contains(err.Error(), "year outside of range") {
				t.Fatalf("WriteJSON of a decoded record: %v", err)
			}
			return
		}
		again, err := DecodeResult(out.Bytes())
		if err != nil {
			t.Fatalf("record written by WriteJSON does not decode: %v\n%s", err, out.Bytes())
		}
		if res.SchemaVersion == 0 {
			res.SchemaVersion = schema.Version // WriteJSON writes the current version
		}
		// omitempty turns an empty list into an absent one: the same record.
		if diff := cmp.Diff(res, again, cmpopts.EquateEmpty()); diff != "" {
			t.Fatalf("round trip changed the record (-first +second):\n%s", diff)
		}
	})
}

// FuzzReadChronicle: any file either yields lines that round-trip or skips them;
// reading never fails on a byte reader and every skipped line fails to decode.
func FuzzReadChronicle(f *testing.F) {
	good, err := encodeChronicle(ChronicleLines(fullResult()))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add(good[:len(good)-17])
	f.Add([]byte("{\"run_id\":\"r\",\"test_id\":\"t\"}\n\n{\"run_id\":\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		lines, skipped, err := ReadChronicle(bytes.NewReader(b))
		if err != nil {
			t.Fatalf("ReadChronicle on bytes: %v", err)
		}
		nonEmpty := 0
		for _, l := range bytes.Split(b, []byte("\n")) {
			if len(bytes.TrimSpace(l)) > 0 {
				nonEmpty++
			}
		}
		if len(lines)+skipped != nonEmpty {
			t.Fatalf("%d lines + %d skipped != %d non-empty lines", len(lines), skipped, nonEmpty)
		}
		for _, l := range lines {
			enc, err := encodeChronicle([]ChronicleLine{l})
			if err != nil {
				if strings.Contains(err.Error(), "year outside of range") {
					continue
				}
				t.Fatalf("encode a decoded line: %v", err)
			}
			back, err := DecodeChronicleLine(enc)
			if err != nil {
				t.Fatalf("encoded line does not decode: %v: %s", err, enc)
			}
			if diff := cmp.Diff(l, back, cmpopts.EquateEmpty()); diff != "" {
				t.Fatalf("round trip changed the line (-first +second):\n%s", diff)
			}
		}
	})
}
