package main

import (
	"bytes"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/typhonbench/typhon"
	"github.com/typhonbench/typhon/internal/testbed"
	"github.com/typhonbench/typhon/report"
)

// TestRecordDirBlocked: where the runs directory should be there is a file, so no
// record can be written: the job ends in error "cannot write record: ...", the
// files already there are untouched, and GET /results answers 500 without the
// Go error (the path) in the body.
func TestRecordDirBlocked(t *testing.T) {
	srv := testbed.LlamaServer(t, testbed.Options{CtxSize: 2048})
	data := t.TempDir()
	files := map[string][]byte{
		report.RunsDir:       []byte("not a directory\n"),
		report.ChronicleFile: []byte(`{"run_id":"kept"}` + "\n"),
		report.LastRunFile:   []byte(`{"run_id":"kept"}`),
	}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(data, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	mgr := &typhon.Manager{Runner: typhon.Runner{
		URL: srv.URL, Model: srv.Model, DataDir: data, RequestTimeout: fixedTimeout,
		Plan: tinyPlan(tinyTest("first", 1, 8)),
	}}
	base := startAPI(t, mgr, "")
	var raw map[string]any
	if code := doJSON(t, "POST", base+"/jobs/run", &raw); code != http.StatusAccepted {
		t.Fatalf("POST /jobs/run: status %d (%v)", code, raw)
	}
	j := pollJob(t, base, raw["job_id"].(string), time.Minute, nil)
	if j.Status != "error" || !strings.HasPrefix(j.Error, "cannot write record: ") || !strings.Contains(j.Error, "not a directory") {
		t.Errorf("job = %s %q, want error \"cannot write record: ... not a directory\"", j.Status, j.Error)
	}
	for name, want := range files {
		got, err := os.ReadFile(filepath.Join(data, name))
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s = %q, %v; want it untouched: %q", name, got, err, want)
		}
	}

	code, body, _ := doRaw(t, "GET", base+"/results", "", nil)
	if code != http.StatusInternalServerError || string(bytes.TrimSpace(body)) != "{\n  \"detail\": \"internal error\"\n}" {
		t.Errorf("GET /results over a broken data dir = %d %s, want 500 {\"detail\": \"internal error\"}", code, body)
	}
	if bytes.Contains(body, []byte(data)) {
		t.Errorf("500 answer shows the data directory: %s", body)
	}
}
