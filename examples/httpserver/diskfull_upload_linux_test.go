package main

import (
	"bytes"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/typhonbench/typhon"
	"github.com/typhonbench/typhon/report"
	"github.com/typhonbench/typhon/schema"
)

// TestUploadDiskFull: an upload to a collector whose disk is full is 507 and
// leaves nothing behind; once space is freed the same upload (the worker's
// retry) is stored as sent. Before, the collector kept a "failed" copy of the
// record to write when the disk took it, and the retry met 409 ("another
// record") forever.
func TestUploadDiskFull(t *testing.T) {
	data := tinyTmpfs(t, 256<<10)
	a := newAPI(&typhon.Manager{Runner: typhon.Runner{DataDir: data}}, "s3cret", slog.New(slog.NewTextHandler(io.Discard, nil)))
	ts := httptest.NewServer(a)
	t.Cleanup(ts.Close)
	rec := recordBytes(t, workerRecord(t, 0))
	fill(t, data)
	code, body, _ := doRaw(t, "POST", ts.URL+"/results", "s3cret", bytes.NewReader(rec))
	if code != http.StatusInsufficientStorage {
		t.Errorf("upload to a full disk: %d %s, want 507", code, body)
	}
	if err := os.Remove(filepath.Join(data, "filler")); err != nil {
		t.Fatal(err)
	}
	code, body, _ = doRaw(t, "POST", ts.URL+"/results", "s3cret", bytes.NewReader(rec))
	if code != http.StatusCreated {
		t.Errorf("the same upload with space again: %d %s, want 201", code, body)
	}
	got, err := (&report.Store{Dir: data}).Load("fleet-up-w0")
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != schema.StatusComplete || got.Error != "" {
		t.Errorf("stored record: %s %q, want the record as uploaded (complete)", got.Status, got.Error)
	}
}
